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

This module imports nothing of the engine: the policy reads a score and a
state through the two small protocols below, which `Score` and `LeadState`
satisfy, so the other modules can import `Stage` from here without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:  # pragma: no cover
    from .model import Stages

Stage = Literal["lead", "mql", "sql", "customer", "disqualified"]
Outcome = Literal["accepted", "rejected", "won", "lost"]
#: Every stage, in the order a lead moves through them (`disqualified` last).
STAGES: tuple[Stage, ...] = get_args(Stage)
#: The stages a lead reaches by qualifying: sales has been (or is being) told about it.
QUALIFIED: tuple[Stage, ...] = ("mql", "sql", "customer")
_LADDER: tuple[Stage, ...] = STAGES[:3]  # the stages the score alone moves a lead between


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


class StagePolicy:
    """The model's thresholds and hysteresis, applied to a score."""

    def __init__(self, stages: Stages):
        self.hysteresis = stages.hysteresis
        # (threshold score, min fit) for mql and sql
        self.steps = ((stages.mql.score, stages.mql.min_fit), (stages.sql.score, stages.sql.min_fit))

    def _reaches(self, level: int, score: Standing) -> bool:
        threshold, min_fit = self.steps[level - 1]
        return score.total >= threshold and (min_fit is None or score.fit >= min_fit)

    def _keeps(self, level: int, score: Standing) -> bool:
        threshold, min_fit = self.steps[level - 1]
        h = self.hysteresis
        return score.total >= threshold - h and (min_fit is None or score.fit >= min_fit - h)

    def next_stage(self, current: Stage, score: Standing, pinned: Stage | None, recycled: bool) -> tuple[Stage, bool]:
        """The stage a lead should be in now, and whether it is still recycled.

        Precedence: a `disqualified` pin, then disqualifying rules, then
        customer (pin or rule), then other pins, then the score ladder."""
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
        while level < 2 and self._reaches(level + 1, score):
            level += 1
        while level > 0 and not self._keeps(level, score):
            level -= 1
        return _LADDER[level], recycled


def apply_feedback(state: Verdicts, outcome: Outcome) -> None:
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
