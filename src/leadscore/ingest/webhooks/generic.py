"""`generic`: our own webhook format and signature, for senders without a format of
their own (a backend, a CRM, a script). See docs/signatures.md.

Header `X-Leadscore-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
(several `v1` accepted while a secret rotates; `t` within 300 s of our clock,
either way). Body: one event object, or `{"events": [...]}` with 1 to 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AwareDatetime, Field, ValidationError
from scoring_core import Event

from ...edge import BadRequest
from ...signing import TOLERANCE_S, verify_timestamped
from ..traits import clean_traits, snake
from .base import Delivery
from .payloads import SenderModel, build_event, describe, parse_object, usable_email

HEADER = "X-Leadscore-Signature"
MAX_EVENTS = 100


class GenericEvent(SenderModel):
    """One event in our own format: close to the canonical event, minus what ingest sets."""

    event_id: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime | None = None
    email: str | None = None
    anonymous_id: str | None = Field(default=None, min_length=1, max_length=256)
    lead_id: str | None = Field(default=None, min_length=1, max_length=256)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)


class GenericBatch(SenderModel):
    events: list[GenericEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class GenericSource:
    """Our own signed format: events already (almost) canonical."""

    name = "generic"

    def verify(self, delivery: Delivery, secret: str) -> None:
        verify_timestamped(
            delivery.body, delivery.header(HEADER), secret,
            now=delivery.received_at, tolerance_s=TOLERANCE_S, reject_future=True,
        )

    def to_events(self, delivery: Delivery, field_map: Mapping[str, str]) -> list[Event]:
        payload = parse_object(delivery.body)
        try:
            if "events" in payload:
                items = GenericBatch.model_validate(payload).events
                where = [f"events[{i}]" for i in range(len(items))]
            else:
                items = [GenericEvent.model_validate(payload)]
                where = [""]
        except ValidationError as error:
            raise BadRequest(describe(error)) from None
        return [self._event(item, at, delivery, field_map) for item, at in zip(items, where)]

    def _event(self, item: GenericEvent, where: str, delivery: Delivery, field_map: Mapping[str, str]) -> Event:
        traits = {field_map.get(key, key): value for key, value in item.traits.items() if field_map.get(key, key)}
        return build_event(
            source=self.name,
            event_id=item.event_id,
            # "Form Submitted" and "form_submitted" are the same event type
            type=snake(item.type),
            occurred_at=item.occurred_at or delivery.received_at,
            received_at=delivery.received_at,
            email=usable_email(item.email),
            anonymous_id=item.anonymous_id,
            lead_id=item.lead_id,
            properties=item.properties,
            traits=clean_traits(traits),
            where=where,
        )
