"""The canonical event: what every ingest path (pixel, SDK, webhooks) normalizes to.

The engine only ever sees `Event`. Validation happens here, at the edge; the
engine trusts the types it is given. See docs/event-schema.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_IDENT = r"^[a-z][a-z0-9_]{0,63}$"

#: Event types the default model scores. Other lowercase identifiers are
#: accepted (custom `track` events) and scored by whatever rules name them.
KNOWN_EVENT_TYPES = (
    "page_view",
    "form_submitted",
    "demo_requested",
    "email_opened",
    "email_clicked",
    "email_bounced",
    "unsubscribed",
    "opt_out",
    "webinar_attended",
    "meeting_booked",
    "meeting_canceled",
    "purchase",
    "cart_abandoned",
    "identify",
    "alias",
)


def normalize_email(raw: str) -> str:
    """Trim and lowercase an address; raise ValueError when it is not one.

    Plus-tags and dots are kept: `a.b+x@corp.com` is a different mailbox
    at many providers, and merging two people is worse than missing a merge.
    """
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not an email address")
    return email


def path_of(url: str) -> str:
    """The path of a URL (or of a bare path), without a trailing slash, '/' for the root."""
    try:
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    except ValueError:
        return ""
    path = path.rstrip("/")
    return path or "/"


class Consent(BaseModel):
    """Privacy signals the sender gave with the event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    do_not_track: bool = False  # `DNT: 1`
    global_privacy_control: bool = False  # `Sec-GPC: 1`
    opted_out: bool = False  # an explicit opt-out (form checkbox, preference centre)


class EventContext(BaseModel):
    """Where the event came from: the client's address, agent and consent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=1024)
    consent: Consent = Consent()


class Event(BaseModel):
    """One thing a lead did or one fact learnt about them, from any source.

    `event_id` is the sender's delivery id and the dedupe key: the same
    delivery sent twice carries the same id. At least one identity
    (`anonymous_id`, `email` or `lead_id`) is required.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=256)
    type: str = Field(pattern=_IDENT)
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    source: str = Field(pattern=_IDENT)
    anonymous_id: str | None = Field(default=None, min_length=1, max_length=256)
    email: str | None = None
    lead_id: str | None = Field(default=None, min_length=1, max_length=256)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: EventContext = EventContext()
    #: Derived: `occurred_at` in epoch seconds, computed once at validation for
    #: the engine's hot path. Overwritten if given, never serialized.
    occurred_ts: float = Field(default=0.0, exclude=True, repr=False)

    @field_validator("occurred_at", "received_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(timezone.utc)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @model_validator(mode="after")
    def _identity_and_path(self) -> Event:
        if not (self.anonymous_id or self.email or self.lead_id):
            raise ValueError("an event needs anonymous_id, email or lead_id")
        if self.occurred_at > self.received_at:
            # a sender's clock ahead of ours: nothing happens after we hear of it,
            # and a future event would count more than its points until then
            object.__setattr__(self, "occurred_at", self.received_at)
        url = self.properties.get("url")
        if isinstance(url, str) and "path" not in self.properties:
            # frozen model: the dict itself is ours (pydantic copied it on validation)
            self.properties["path"] = path_of(url)
        object.__setattr__(self, "occurred_ts", self.occurred_at.timestamp())  # frozen: set once, here
        return self
