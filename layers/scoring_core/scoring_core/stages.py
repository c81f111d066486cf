"""Stages and how a lead moves between them.

`lead → mql → sql → customer`, plus `disqualified`: `Stage`, `STAGES` and
`QUALIFIED` are the project's one declaration of them (import them from here
or from `scoring_core`). Score-driven moves use a Schmitt trigger: a lead
reaches a stage when its score reaches the stage's threshold (and its fit the
stage's `min_fit`), and leaves it only when the score falls below threshold −
hysteresis. A lead hovering around a threshold therefore qualifies once.

Sales feedback pins a stage: `accepted` → sql, `won` → customer, `rejected`
→ disqualified; `lost` returns the lead to `lead`, "recycled": it
re-qualifies only after its score has first fallen below the MQL threshold −
hysteresis, so a lost deal does not alert sales again at once.

How SQL is reached is the model's `stages.sql_by` (`SqlBy`): `either` (the
default: the score may make an SQL, and sales' acceptance always does),
`acceptance` (the score ladder stops at MQL; only `accepted` makes an SQL) or
`score` (only the score does; `accepted` is recorded as an outcome and pins
nothing).

A lead whose events came only from low-trust senders (the pixel, a public
write key: anyone can send those, for anyone) rises no higher than the
model's `stages.low_trust_max` (docs/model.md, Who may qualify a lead).

This module imports nothing of the engine, not even for types: the policy
takes its thresholds as numbers and reads a score and a state through the two
small protocols below (which `Score` and `LeadState` satisfy), so the model
schema, the state and the score all import `Stage` from here.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

#: The stages the score alone moves a lead between, in order.
LadderStage = Literal["lead", "mql", "sql"]
Stage = Literal[LadderStage, "customer", "disqualified"]
Outcome = Literal["accepted", "rejected", "won", "lost"]
#: What makes a lead an SQL (the model's `stages.sql_by`).
SqlBy = Literal["score", "acceptance", "either"]
#: Every stage, in the order a lead moves through them (`disqualified` last).
STAGES: tuple[Stage, ...] = get_args(Stage)
#: The stages a lead reaches by qualifying: sales has been (or is being) told about it.
QUALIFIED: tuple[Stage, ...] = ("mql", "sql", "customer")
_LADDER: tuple[Stage, ...] = get_args(LadderStage)


class Standing(Protocol):
    """What the policy reads of a score (a `Score` is one)."""

    @property
    def total(self) -> float: ...
    @property
    def fit(self) -> float: ...
    @property
    def disqualified_by(self) -> tuple[str, ...]: ...
    @property
    def customer(self) -> bool: ...


class Verdicts(Protocol):
    """What sales' feedback sets on a lead (a `LeadState` has these)."""

    pinned: Stage | None
    recycled: bool


Step = tuple[float, float | None]  # a stage's (threshold score, min fit)


class StagePolicy:
    """The model's `stages:` thresholds, hysteresis, low-trust ceiling and `sql_by`, applied to a score."""

    def __init__(self, mql: Step, sql: Step, *, hysteresis: float = 0.0, low_trust_max: LadderStage = "mql",
                 sql_by: SqlBy = "either"):
        self.hysteresis = hysteresis
        self.low_trust_top = _LADDER.index(low_trust_max)
        self.sql_by: SqlBy = sql_by
        # `acceptance`: the score raises a lead no higher than MQL
        self.score_top = 1 if sql_by == "acceptance" else 2
        self.steps = (mql, sql)

    def _reaches(self, level: int, score: Standing) -> bool:
        threshold, min_fit = self.steps[level - 1]
        return score.total >= threshold and (min_fit is None or score.fit >= min_fit)

    def _keeps(self, level: int, score: Standing) -> bool:
        threshold, min_fit = self.steps[level - 1]
        h = self.hysteresis
        return score.total >= threshold - h and (min_fit is None or score.fit >= min_fit - h)

    def next_stage(self, current: Stage, score: Standing, pinned: Stage | None, recycled: bool,
                   trusted: bool = True) -> tuple[Stage, bool]:
        """The stage a lead should be in now, and whether it is still recycled.

        Precedence: a `disqualified` pin, then disqualifying rules, then
        customer (pin or rule), then other pins, then the score ladder. Not
        `trusted` (only low-trust events moved the score): the ladder rises no
        higher than `low_trust_max`, or the current stage if that is higher.
        With `sql_by: acceptance` it rises no higher than `mql` either (a stage
        already reached is kept while the score keeps it, as for low trust)."""
        if pinned == "disqualified" or score.disqualified_by:
            return "disqualified", recycled
        if pinned == "customer" or score.customer:
            return "customer", recycled
        if pinned is not None:
            return pinned, recycled
        if recycled:
            if self._keeps(1, score):
                return "lead", True
            recycled = False
        level = _LADDER.index(current) if current in _LADDER else 0
        top = self.score_top if trusted else max(level, min(self.low_trust_top, self.score_top))
        while level < top and self._reaches(level + 1, score):
            level += 1
        while level > 0 and not self._keeps(level, score):
            level -= 1
        return _LADDER[level], recycled


def apply_feedback(state: Verdicts, outcome: Outcome, sql_by: SqlBy = "either") -> None:
    """Record sales' verdict on the state; the next `Engine.advance` moves the stage.

    `sql_by` is the model's (`Engine.stage_policy.sql_by`): with `score`, `accepted`
    pins nothing (it releases an earlier pin and recycled mark: the score decides)."""
    if outcome == "accepted":
        if sql_by == "score":
            state.pinned, state.recycled = None, False
        else:
            state.pinned = "sql"
    elif outcome == "won":
        state.pinned = "customer"
    elif outcome == "rejected":
        state.pinned = "disqualified"
    elif outcome == "lost":
        state.pinned, state.recycled = None, True
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
