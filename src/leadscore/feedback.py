"""Sales' feedback on a lead: the one path every channel takes (the API, Slack's buttons, email links).

`give_feedback(deps, key, FeedbackIn(...), source=...)`:

1. finds the lead by any of its keys, following merges (`LeadReader.find`); none: `NotFound`;
2. a `feedback_id` the lead has recorded before (its kept history, the last `FEEDBACK_KEPT`):
   the same outcome answers the first result again, `duplicate=True`, and writes nothing;
   another outcome is a `Conflict` (409);
3. applies `scoring_core.stages.apply_feedback` (with the model's `stages.sql_by`) and
   `Engine.advance(state, now, trusted=True)`: sales are a trusted sender;
4. records it all in one conditional write (`LeadTable.record_feedback`): the pin and recycled
   mark, the history entry, and the stage change if there is one, with its `LeadStageChanged`
   detail (saying it came from feedback: outcome, reason, who, channel) in `ob`, so the stream
   publisher sends it like any other transition: one alert per channel, the CRM webhook too.
   The write is conditioned on the lead's transition counter and feedback counter: a lost race
   (a stage change or another feedback recorded since the read) reads the lead again and
   starts over from step 2, so nothing is applied twice or half.

Feedback that moves no stage (accepting an SQL, say) is still recorded and answered.
Nothing here logs who gave the feedback, the reason or the lead's address. docs/model.md,
Sales feedback; the item's `fb`/`fbn`/`pinned`: docs/data-model.md.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .contracts import MAX_LEAD_ID
from .edge import Conflict, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from .dependencies import Dependencies

Source = Literal["api", "slack", "email"]
MAX_REASON = 500
MAX_BY = 200
MAX_ATTEMPTS = 5  # lost races (concurrent stage changes or feedback on the lead) before giving up
_FEEDBACK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")


def _feedback_id(value: str) -> str:
    if not _FEEDBACK_ID.match(value):
        # never the value itself: the error is answered and may be logged
        raise ValueError("must be 1-100 letters, digits and . _ : - (starting with a letter or digit)")
    return value


def _blank_is_none(value: str | None) -> str | None:
    return value or None


class FeedbackIn(BaseModel):
    """The request body of `POST /leads/{id}/feedback`, and what Slack and email links give."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: Literal["accepted", "rejected", "won", "lost"]
    #: why (kept on the lead and sent with the transition)
    reason: Annotated[str | None, Field(max_length=MAX_REASON), AfterValidator(_blank_is_none)] = None
    #: who gave it: a name, an email address or a Slack user, as given; never logged
    by: Annotated[str | None, Field(max_length=MAX_BY), AfterValidator(_blank_is_none)] = None
    #: the client's idempotency key; one is made when absent (then a retry is a new feedback)
    feedback_id: Annotated[str | None, AfterValidator(lambda v: v if v is None else _feedback_id(v))] = None


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback did: the lead's stage after it and before it, whether it moved, and whether
    it was a repeat of one recorded before (then nothing was written)."""

    lead_id: str
    outcome: str
    stage: str
    previous_stage: str
    changed: bool
    duplicate: bool
    feedback_id: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "feedback_id": self.feedback_id, "outcome": self.outcome,
                "stage": self.stage, "previous_stage": self.previous_stage, "changed": self.changed,
                "duplicate": self.duplicate}


def new_feedback_id() -> str:
    return f"fb_{uuid.uuid4().hex}"


def give_feedback(deps: Dependencies, lead_key: str, given: FeedbackIn, *, source: Source) -> FeedbackResult:
    """Record `given` on the lead `lead_key` names (any of its keys) and move its stage.

    Raises `NotFound` (no such lead) and `Conflict` (the feedback id was used for another
    outcome). Idempotent on `given.feedback_id`."""
    from scoring_core.stages import apply_feedback

    from .adapters.leads import state_of
    from .adapters.leads.protocol import FEEDBACK_KEPT
    from .contracts import FeedbackGiven
    from .worker import transition_detail

    if not lead_key or len(lead_key) > MAX_LEAD_ID:  # no lead has such a key
        raise NotFound("no such lead")
    store, engine = deps.leads_store, deps.engine
    feedback_id = given.feedback_id or new_feedback_id()
    item = store.find(lead_key)
    for _ in range(MAX_ATTEMPTS):
        if not item or "n" not in item:  # no lead there (a team's counter, a domain's owner item: no events)
            raise NotFound("no such lead")
        key = str(item["pk"])
        history = [dict(entry) for entry in item.get("fb") or []]
        earlier = next((entry for entry in history if entry.get("id") == feedback_id), None)
        if earlier is not None:
            if earlier.get("outcome") != given.outcome:
                raise Conflict("feedback_id was already used for another outcome")
            return FeedbackResult(key, given.outcome, str(earlier["stage"]), str(earlier["from"]),
                                  earlier["stage"] != earlier["from"], True, feedback_id)

        now = deps.clock()
        state = state_of(item)
        expected, previous = state.transitions, state.stage
        apply_feedback(state, given.outcome, sql_by=engine.stage_policy.sql_by)
        score, tr = engine.advance(state, now, trusted=True)
        entry: dict[str, Any] = {"id": feedback_id, "outcome": given.outcome, "source": source, "at": round(now, 3),
                                 "from": previous, "stage": state.stage}
        if given.reason is not None:
            entry["reason"] = given.reason
        if given.by is not None:
            entry["by"] = given.by
        detail = None
        if tr is not None:
            told = FeedbackGiven.model_construct(outcome=given.outcome, reason=given.reason, by=given.by, source=source,
                                                 feedback_id=feedback_id)
            router = deps.router  # a routing file: the change's route and the owner the lead has (none assigned here)
            routed = router.fields(store, key, item, state, tr.to_stage, score.band, now) if router else None
            detail = transition_detail(key, state, score, tr, feedback=told, routed=routed,
                                       interests=engine.interests(state, tr.at))
        history = (history + [entry])[-FEEDBACK_KEPT:]
        recorded, current = store.record_feedback(key, state, expected, history, int(item.get("fbn", 0)), detail, now)
        if recorded:
            _log(source, given.outcome, previous, state.stage)
            return FeedbackResult(key, given.outcome, state.stage, previous, tr is not None, False, feedback_id)
        # a stage change or another feedback came first: start again from the lead as it is now
        item = store.find(key) if not current or current.get("merged_into") else current
    raise RuntimeError("the lead kept changing while feedback was recorded")  # a 5xx: the client retries


def _log(source: str, outcome: str, previous: str, stage: str) -> None:
    """Kinds only: never who gave it, the reason, the lead's key or address."""
    logging.getLogger("leadscore.feedback").info(
        "feedback recorded", extra={"detail": {"source": source, "outcome": outcome, "from_stage": previous,
                                               "to_stage": stage}})
