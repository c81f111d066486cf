"""When time alone will next move a lead's stage: the downgrade a decaying score brings.

`stage_change_at(engine, state, now)` is the first whole second `s` at or
after `now` (and after the lead's last event) at which
`engine.advance(state, s, trusted=False)` would move the stage, if no event
arrived meanwhile; None when time alone never moves it. It is exact to the
second: the answer is found by evaluating the engine itself, never a
re-derivation of its arithmetic, so it agrees with `Engine.advance` by
construction (tests/unit/test_timing.py checks it against evaluation at every
second of random models with negative points, caps and fit floors).

Why a bisection on bounds, not a formula: a score is fit (constant in time)
plus, per engagement rule, a value `c·2^(−t/h)` of one sign (every era and
occurrence of a rule share its half-life), capped and rounded to cents.
Each rule's cents therefore only shrink in size as time passes: the sum of
the positive reasons P(t) never rises, the sum of the negative ones N(t)
never falls. On an interval [a, b] the total lies in [P(b) + N(a),
P(a) + N(b)], and the policy keeps a stage for an interval of totals
(`StagePolicy`: at least the exit threshold, below the next entry
threshold), so if it keeps the stage at both bounds it keeps it everywhere in
[a, b]. Otherwise the interval is halved. With positive points only the total
itself is monotone and this is a binary search (some 2·log2(range)
evaluations); negative points may make the total rise and fall, and the
bounds still never skip a second. Intervals grow geometrically from `now`
until every decaying reason has rounded to zero: from then on the score is
constant, so a stage kept then is kept for ever.

`trusted=False`: time is no sender, so decay alone never lifts a lead past the
model's `stages.low_trust_max` (the sweep that applies these moves calls
`advance` the same way).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .score import ENGAGEMENT

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine
    from .score import Score
    from .state import LeadState

FIRST_STEP_S = 60  # the first interval searched; each next one is twice as long
MAX_STEPS = 160  # 60 s · 2^160: far beyond any half-life the model allows to matter


@dataclass(frozen=True)
class _Standing:
    """A score's standing with another total (what `StagePolicy` reads)."""

    total: float
    fit: float
    disqualified_by: tuple[str, ...]
    customer: bool


def stage_change_at(engine: Engine, state: LeadState, now: float, trusted: bool = False) -> int | None:
    """The first whole epoch second at or after `now` (and after the state's newest event)
    at which `engine.advance(state, s, trusted)` would change the stage, or None if time
    alone never changes it. Reads `state`, never changes it."""
    return _first_change(_Search(engine, state, trusted), math.ceil(max(now, _newest(state))))


def score_below_at(engine: Engine, state: LeadState, now: float, cents: int) -> int | None:
    """The first whole epoch second at or after `now` (and after the state's newest event) at
    which the total score is below `cents`, or None if time alone never takes it there (the same
    search as `stage_change_at`: the totals that keep `total >= cents` are an interval too)."""
    return _first_change(_Search(engine, state, False, lambda score, total: total >= cents),
                         math.ceil(max(now, _newest(state))))


def _first_change(search: _Search, start: int) -> int | None:
    if search.changes(start):
        return start
    a, step = start, FIRST_STEP_S
    for _ in range(MAX_STEPS):
        b = a + step
        found = search.first(a, b)
        if found is not None:
            return found
        if not search.decaying(b):
            return None  # the score is constant from b on, and keeps the stage
        a, step = b, step * 2
    return a  # unreachable in practice; a due time that is too early is only re-examined


def _newest(state: LeadState) -> float:
    """The newest time anything in the state happened (an era or occurrence later than `now`
    would count as not yet happened, and the score would not be monotone before it)."""
    newest = state.last_seen or 0.0
    for times in state.occurrences.values():
        if times:
            newest = max(newest, max(times) / 1000)
    return newest


class _Search:
    """`keeps(score, total_cents)` says whether a total keeps what is searched for (by default the
    stage); the totals that keep it must be an interval, as the bounds below assume."""

    def __init__(self, engine: Engine, state: LeadState, trusted: bool,
                 keeps: Callable[[Score, int], bool] | None = None):
        self.engine = engine
        self.state = state
        self.trusted = trusted
        if keeps is not None:
            self.keeps = keeps  # type: ignore[method-assign,assignment]
        self.scores: dict[int, Score] = {}
        self.sums: dict[int, tuple[int, int]] = {}  # second -> (positive cents, negative cents)

    def score(self, s: int) -> Score:
        score = self.scores.get(s)
        if score is None:
            score = self.scores[s] = self.engine.evaluate(self.state, s)
            pos = sum(r.cents for r in score.reasons if r.cents > 0)
            neg = sum(r.cents for r in score.reasons if r.cents < 0)
            self.sums[s] = (pos, neg)
        return score

    def keeps(self, score: Score, total_cents: int) -> bool:
        state = self.state
        standing = _Standing(total_cents / 100, score.fit, score.disqualified_by, score.customer)
        stage, _ = self.engine.stage_policy.next_stage(state.stage, standing, state.pinned, state.recycled, self.trusted)
        return stage == state.stage

    def changes(self, s: int) -> bool:
        score = self.score(s)
        return not self.keeps(score, score.total_cents)

    def decaying(self, s: int) -> bool:
        """Whether any reason at second `s` still decays (else the score is constant from `s` on)."""
        rules = self.engine.rules
        for r in self.score(s).reasons:
            if r.kind == ENGAGEMENT:
                rule = rules.get(r.rule)
                if rule is not None and rule.decay.half_life_s is not None:
                    return True
        return False

    def first(self, a: int, b: int) -> int | None:
        """The first second in (a, b] at which the stage changes; `a` is known not to."""
        score_a = self.score(a)
        self.score(b)
        pos_a, neg_a = self.sums[a]
        pos_b, neg_b = self.sums[b]
        # fit, disqualifiers and customer flags do not change with time: either bound's score carries them
        if self.keeps(score_a, pos_b + neg_a) and self.keeps(score_a, pos_a + neg_b):
            return None
        if b == a + 1:
            return b if self.changes(b) else None
        mid = (a + b) // 2
        found = self.first(a, mid)
        # None: nothing in (a, mid] changes, mid included, so mid is a known start
        return found if found is not None else self.first(mid, b)

__all__ = ["score_below_at", "stage_change_at"]
