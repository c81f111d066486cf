"""`calendly`: Calendly v2 `invitee.created` / `invitee.canceled` webhooks.

Signature: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "{t}.{raw body}")>`
with the subscription's signing key; a `t` more than 300 s from our clock, either way,
is rejected (Calendly's sample only checks old ones; a genuine delivery is signed
when sent, so one from the future is never Calendly's).

The invitee's fields sit directly under `payload` (`email`, `name`,
`questions_and_answers`, `uri`, `scheduled_event`, `tracking`). The event id is
the invitee URI plus the webhook event, so a booking and its cancellation are
two events while each retry of either is the same one.

| Calendly event | canonical type |
|---|---|
| `invitee.created` | `meeting_booked` |
| `invitee.canceled` | `meeting_canceled` |
| `invitee.canceled` with `rescheduled: true` | `meeting_rescheduled` (the meeting moved; the new time arrives as its own `invitee.created`) |
| anything else | none |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AwareDatetime, Field, ValidationError
from scoring_core import Event

from ...edge import BadRequest
from ...signing import TOLERANCE_S, verify_timestamped
from .base import Delivery
from .payloads import LeadFacts, SenderModel, build_event, default_name, describe, parse

HEADER = "Calendly-Webhook-Signature"
CREATED, CANCELED = "invitee.created", "invitee.canceled"


class QuestionAndAnswer(SenderModel):
    question: str
    answer: str | None = None


class ScheduledEvent(SenderModel):
    uri: str | None = None
    name: str | None = None
    start_time: AwareDatetime | None = None


class Tracking(SenderModel):
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None


class Cancellation(SenderModel):
    canceler_type: str | None = None
    reason: str | None = None


class Invitee(SenderModel):
    uri: str = Field(min_length=1)
    email: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    questions_and_answers: list[QuestionAndAnswer] = Field(default_factory=list)
    scheduled_event: ScheduledEvent | None = None
    tracking: Tracking | None = None
    rescheduled: bool = False
    old_invitee: str | None = None
    cancellation: Cancellation | None = None
    updated_at: AwareDatetime | None = None


class Envelope(SenderModel):
    event: str
    created_at: AwareDatetime | None = None
    payload: dict[str, Any]


class CalendlySource:
    name = "calendly"

    def verify(self, delivery: Delivery, secret: str) -> None:
        verify_timestamped(
            delivery.body, delivery.header(HEADER), secret,
            now=delivery.received_at, tolerance_s=TOLERANCE_S, reject_future=True,
        )

    def to_events(self, delivery: Delivery, field_map: Mapping[str, str]) -> list[Event]:
        envelope = parse(Envelope, delivery.body)
        if envelope.event not in (CREATED, CANCELED):
            return []
        try:
            invitee = Invitee.model_validate(envelope.payload)
        except ValidationError as error:
            raise BadRequest(describe(error, "payload")) from None

        facts = LeadFacts(field_map)
        facts.add("email", invitee.email)
        for key in ("name", "first_name", "last_name"):
            facts.add(facts.name_for(key, fallback=key), getattr(invitee, key))
        for qa in invitee.questions_and_answers:
            facts.add(facts.name_for(qa.question, fallback=default_name(qa.question)), qa.answer)
        if invitee.tracking:
            facts.add_utm({key.removeprefix("utm_"): value for key, value in invitee.tracking})

        properties: dict[str, Any] = {}
        meeting = invitee.scheduled_event
        if meeting and meeting.name:
            properties["event_name"] = meeting.name
        if meeting and meeting.start_time:
            properties["start_time"] = meeting.start_time.isoformat()
        if meeting and meeting.uri:
            properties["scheduled_event"] = meeting.uri
        if invitee.timezone:
            properties["timezone"] = invitee.timezone
        if facts.utm:
            properties["utm"] = facts.utm
        if envelope.event == CREATED:
            kind = "meeting_booked"
            if invitee.old_invitee:
                properties["rescheduled_from"] = invitee.old_invitee
        else:
            kind = "meeting_rescheduled" if invitee.rescheduled else "meeting_canceled"
            if invitee.cancellation and invitee.cancellation.canceler_type:
                properties["canceled_by"] = invitee.cancellation.canceler_type
            if invitee.cancellation and invitee.cancellation.reason:
                properties["cancel_reason"] = invitee.cancellation.reason

        return [
            build_event(
                source=self.name,
                event_id=f"{invitee.uri}#{envelope.event}",
                type=kind,
                occurred_at=envelope.created_at or invitee.updated_at or delivery.received_at,
                received_at=delivery.received_at,
                email=facts.email,
                anonymous_id=facts.anonymous_id,
                lead_id=facts.lead_id,
                properties=properties,
                traits=facts.traits,
                where="payload",
            )
        ]
