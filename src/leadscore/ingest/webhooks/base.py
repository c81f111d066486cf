"""What every webhook source provides: a signature check and a payload mapper."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from scoring_core import Event

@dataclass(frozen=True)
class Delivery:
    """One webhook request as received: header names lowercased, the body as the raw bytes
    the sender signed (never re-serialized)."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    url: str = ""
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class WebhookSource(Protocol):
    """A sender of webhooks (Typeform, Tally, Calendly, Stripe, our generic scheme)."""

    #: the `{source}` path segment and the `WEBHOOK_SECRET_<NAME>` suffix
    name: str

    def verify(self, delivery: Delivery, secret: str) -> None:
        """Raise `Unauthorized` unless the delivery carries a valid, fresh signature
        made with `secret` (compared in constant time)."""

    def to_events(self, delivery: Delivery, field_map: Mapping[str, str]) -> list[Event]:
        """Canonical events for a verified delivery; `BadRequest` when malformed.

        The sender's own delivery id becomes each event's `event_id`, so a retry
        of the same delivery yields the same ids. `field_map` maps the sender's
        field keys (a Typeform `ref`, a Tally `key` or label, ...) to trait
        names, on top of the defaults in `leadscore.ingest.traits`. Events the
        engine has no use for (e.g. a Stripe event type we do not map) give []."""
