"""Stages and how a lead moves between them.

`lead → mql → sql → customer`, plus `disqualified`. Score-driven moves use a
Schmitt trigger: a lead reaches a stage when its score reaches the stage's
threshold (and its fit the stage's `min_fit`), and leaves it only when the
score falls below threshold − hysteresis. A lead hovering around a threshold
therefore qualifies once.

Sales feedback pins a stage: `accepted` → sql, `won` → customer, `rejected`
→ disqualified; `lost` returns the lead to `lead`, "recycled": it
re-qualifies only after its score has first fallen below the MQL threshold −
hysteresis, so a lost deal does not alert sales again at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    from .engine import LeadState, Score
    from .model import Stages

Stage = Literal["lead", "mql", "sql", "customer", "disqualified"]
Outcome = Literal["accepted", "rejected", "won", "lost"]
STAGES: tuple[Stage, ...] = ("lead", "mql", "sql", "customer", "disqualified")
_LADDER: tuple[Stage, ...] = ("lead", "mql", "sql")


class StagePolicy:
    def __init__(self, stages: Stages):
        self.hysteresis = stages.hysteresis
        self.low_trust_top = _LADDER.index(stages.low_trust_max)
        # (threshold score, min fit) for mql and sql
        self.steps = ((stages.mql.score, stages.mql.min_fit), (stages.sql.score, stages.sql.min_fit))

    def _reaches(self, level: int, score: Score) -> bool:
        threshold, min_fit = self.steps[level - 1]
        return score.total >= threshold and (min_fit is None or score.fit >= min_fit)

    def _keeps(self, level: int, score: Score) -> bool:
        threshold, min_fit = self.steps[level - 1]
        h = self.hysteresis
        return score.total >= threshold - h and (min_fit is None or score.fit >= min_fit - h)

    def next_stage(self, current: Stage, score: Score, pinned: Stage | None, recycled: bool,
                   trusted: bool = True) -> tuple[Stage, bool]:
        """The stage a lead should be in now, and whether it is still recycled.

        Precedence: a `disqualified` pin, then disqualifying rules, then
        customer (pin or rule), then other pins, then the score ladder. Not
        `trusted` (only low-trust events moved the score): the ladder rises no
        higher than `low_trust_max`, or the current stage if that is higher."""
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
        top = 2 if trusted else max(level, self.low_trust_top)
        while level < top and self._reaches(level + 1, score):
            level += 1
        while level > 0 and not self._keeps(level, score):
            level -= 1
        return _LADDER[level], recycled


def apply_feedback(state: LeadState, outcome: Outcome) -> None:
    """Record sales' verdict on the state; the next `Engine.advance` moves the stage."""
    if outcome == "accepted":
        state.pinned = "sql"
    elif outcome == "won":
        state.pinned = "customer"
    elif outcome == "rejected":
        state.pinned = "disqualified"
    elif outcome == "lost":
        state.pinned, state.recycled = None, True
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
