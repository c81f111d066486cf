"""The events leadscore publishes for others: `LeadStageChanged` and `LeadTriggered`, one model for both ends.

The worker builds the detail (`worker.transition_detail`), the stream publisher
puts it on the bus with source `leadscore` and detail-type `LeadStageChanged`
(DESIGN.md, docs/data-model.md#stage-transitions), and every notifier parses the
EventBridge event it is given as `LeadStageChangedEvent`. A field added here is
added for both.

The limits (`max_length`) are the notifiers' guard at their edge: an event that
exceeds them is parked as invalid, not sent. The worker does not re-validate its
own values (`LeadStageChanged.model_construct`), so a lead the notifiers would
refuse still records its transition.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# the engine's stage literal; its split (issue 16) gives one `Stage` for everything that names a stage
from scoring_core.stages import Stage

#: the EventBridge event's `source` and `detail-type` (adapters/bus.py still spells them itself)
SOURCE = "leadscore"
DETAIL_TYPE = "LeadStageChanged"


class Reason(BaseModel):
    """One rule's contribution to the score, as the engine explains it."""

    rule: str = Field(max_length=200)
    points: float


class Activity(BaseModel):
    """One of the lead's recent events."""

    type: str = Field(max_length=100)
    at: AwareDatetime  # the worker writes UTC with Z; a time without an offset is not a transition of ours


class Interest(BaseModel):
    """The lead's interest in one content category of the model (docs/model.md, Interests): its
    decayed weight (page views plus engaged minutes) and its whole-percent share of all of them."""

    category: str = Field(max_length=64)
    weight: float
    share: int = Field(ge=0, le=100)


class FeedbackGiven(BaseModel):
    """Sales' verdict that caused a stage change (`leadscore.feedback`): the outcome, why,
    who gave it (a name, an email address or a Slack user, as given) and through which channel."""

    outcome: Literal["accepted", "rejected", "won", "lost"]
    reason: str | None = Field(default=None, max_length=500)
    by: str | None = Field(default=None, max_length=200)
    source: Literal["api", "slack", "email"]
    feedback_id: str = Field(min_length=1, max_length=100)


class Owner(BaseModel):
    """The salesperson who owns the lead (docs/routing.md): a member of a routing file's team,
    assigned once per lead, round-robin within the team, shared by a company domain's leads."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=320, exclude_if=lambda value: value is None)
    team: str = Field(min_length=1, max_length=40)


#: our lead keys: a two-character prefix (`u:`, `v:`, …) and a sender's id of at most 256 (scoring_core.events)
MAX_LEAD_ID = 2 + 256


class LeadStageChanged(BaseModel):
    """The `detail` of a `LeadStageChanged` event: the lead, its score and why, and the change.

    `transition_id` is deterministic (the same change recorded twice has the same id):
    consumers dedupe on it. `facts` and `recent` are what an alert shows of the lead.
    `feedback` is set when sales' feedback made the change (absent when the score did).
    `interests` are the lead's top content categories, largest first (absent when it has none,
    as for every lead of a model without `interests:`)."""

    model_config = ConfigDict(extra="ignore")

    lead_id: str = Field(min_length=1, max_length=MAX_LEAD_ID)
    email: str | None = Field(default=None, max_length=320)
    from_stage: Stage
    to_stage: Stage
    fit: float
    engagement: float
    score: float
    grade: str | None = Field(default=None, max_length=4)
    band: str | None = Field(default=None, max_length=20)
    reasons: list[Reason] = Field(default_factory=list, max_length=500)
    disqualified_by: list[str] = Field(default_factory=list)
    changed_at: AwareDatetime
    transition_id: str = Field(min_length=1, max_length=200)
    sequence: int | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    recent: list[Activity] = Field(default_factory=list, max_length=50)
    # only on changes feedback made: a score-made change serializes as it always has (the CRM's body too)
    feedback: FeedbackGiven | None = Field(default=None, exclude_if=lambda value: value is None)
    #: what moved the stage when it was not an event: `decay` (the downgrade sweep: the decayed score
    #: crossed the stage's exit threshold); absent or null: an event (or sales' feedback)
    cause: str | None = Field(default=None, max_length=40, exclude_if=lambda value: value is None)
    #: the lead's top content categories at the change; absent when empty, so a model without
    #: `interests:` sends the body it always has (the CRM's too)
    interests: list[Interest] = Field(default_factory=list, max_length=50, exclude_if=lambda value: not value)
    #: with a routing file (docs/routing.md): the route the change took (its id) and the lead's owner;
    #: absent without one (or when no route matched / no owner was assigned), so the CRM body is unchanged
    route: str | None = Field(default=None, max_length=64, exclude_if=lambda value: value is None)
    owner: Owner | None = Field(default=None, exclude_if=lambda value: value is None)

    @property
    def downgrade(self) -> bool:
        """A move down the score ladder (sql → mql, sql or mql → lead)."""
        ladder = ("lead", "mql", "sql")
        return (self.from_stage in ladder and self.to_stage in ladder
                and ladder.index(self.to_stage) < ladder.index(self.from_stage))


class LeadStageChangedEvent(BaseModel):
    """The EventBridge event a rule delivers to a notifier, around the detail."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    source: Literal["leadscore"]
    detail_type: Literal["LeadStageChanged"] = Field(alias="detail-type")
    detail: LeadStageChanged


#: the detail-type of a trigger's firing (the model's `triggers:`; docs/notifications.md, Triggers)
TRIGGERED_DETAIL_TYPE = "LeadTriggered"
TriggerKind = Literal["score_above", "inactive", "repeated", "not_followed"]


class LeadTriggered(BaseModel):
    """The `detail` of a `LeadTriggered` event: one episode of one of the model's triggers.

    `firing_id` is deterministic (the same episode recorded or published twice has the same id):
    consumers dedupe on it. The lead is summarised as alerts show it (score, grade, band, facts);
    `matched` holds what made it fire, by kind (docs/notifications.md, Triggers)."""

    model_config = ConfigDict(extra="ignore")

    trigger: str = Field(min_length=1, max_length=64)
    kind: TriggerKind
    firing_id: str = Field(min_length=1, max_length=200)
    fired_at: AwareDatetime
    lead_id: str = Field(min_length=1, max_length=MAX_LEAD_ID)
    email: str | None = Field(default=None, max_length=320)
    stage: Stage
    score: float
    fit: float
    engagement: float
    grade: str | None = Field(default=None, max_length=4)
    band: str | None = Field(default=None, max_length=20)
    facts: dict[str, Any] = Field(default_factory=dict)
    matched: dict[str, Any] = Field(default_factory=dict)
    #: with a routing file (docs/routing.md): the route the lead takes at its stage and band, and the
    #: owner it has (a firing assigns none); absent without them, like `LeadStageChanged`'s
    route: str | None = Field(default=None, max_length=64, exclude_if=lambda value: value is None)
    owner: Owner | None = Field(default=None, exclude_if=lambda value: value is None)


class LeadTriggeredEvent(BaseModel):
    """The EventBridge event around a `LeadTriggered` detail."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    source: Literal["leadscore"]
    detail_type: Literal["LeadTriggered"] = Field(alias="detail-type")
    detail: LeadTriggered
