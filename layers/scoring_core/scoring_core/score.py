"""A lead's score at one instant, the reasons behind it, and a stage change.

`Engine.evaluate` makes a `Score`; `Engine.advance` also makes the
`Transition` when the stage moves. Points are kept in exact integer cents,
so the reasons of a score sum exactly to its total.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from .stages import Stage

#: The two kinds of points (a rule's section, a reason's `kind`).
FIT = "fit"
ENGAGEMENT = "engagement"
#: the section of an interest category's pseudo-rule (scoring_core.interests): in no score
INTEREST = "interest"


class Reason(NamedTuple):
    """One rule's contribution to a score, after decay and caps."""

    rule: str
    cents: int  # points × 100, exact
    kind: str  # "fit" or "engagement"

    @property
    def points(self) -> float:
        return self.cents / 100


@dataclass(frozen=True)
class Score:
    """A lead's score at one instant. `reasons` sum exactly to `total_cents`."""

    fit_cents: int
    engagement_cents: int
    grade: str
    band: str
    reasons: tuple[Reason, ...]
    disqualified_by: tuple[str, ...]
    customer: bool
    at: float

    @property
    def fit(self) -> float:
        return self.fit_cents / 100

    @property
    def engagement(self) -> float:
        return self.engagement_cents / 100

    @property
    def total_cents(self) -> int:
        return self.fit_cents + self.engagement_cents

    @property
    def total(self) -> float:
        return self.total_cents / 100

    def as_dict(self) -> dict[str, Any]:
        return {
            "fit": self.fit,
            "engagement": self.engagement,
            "score": self.total,
            "grade": self.grade,
            "band": self.band,
            "reasons": [{"rule": r.rule, "points": r.points} for r in self.reasons],
            "disqualified_by": list(self.disqualified_by),
        }


@dataclass(frozen=True)
class Transition:
    """A lead's stage change, with the score that caused it."""

    from_stage: Stage
    to_stage: Stage
    at: float
    score: Score
    seq: int  # the lead's transition counter before this one: makes the id deterministic

    def transition_id(self, lead_key: str) -> str:
        return transition_id(lead_key, self.seq, self.from_stage, self.to_stage)


def transition_id(lead_key: str, seq: int, from_stage: str, to_stage: str) -> str:
    """Deterministic id of a lead's `seq`-th stage change: the same change always gets the same id."""
    return hashlib.sha256(f"{lead_key}|{seq}|{from_stage}|{to_stage}".encode()).hexdigest()[:32]
