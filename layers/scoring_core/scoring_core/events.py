"""The canonical event: what every ingest path (pixel, SDK, webhooks) normalizes to.

The engine only ever sees `Event`. Validation happens here, at the edge; the
engine trusts the types it is given. See docs/event-schema.md.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

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


#: What an event's `properties` and `traits` may hold (docs/event-schema.md, "Limits"):
#: JSON values nested at most MAX_DEPTH levels (`{"a": 1}` is depth 1); numbers that a
#: DynamoDB number can hold exactly (finite, magnitude below 1e125 and, when not zero,
#: at least 1e-130; integers of at most 38 digits); strings that are valid Unicode (no
#: lone surrogate, which no UTF-8 encoder writes); no bytes, sets or other types.
MAX_DEPTH = 8
MAX_ABS_NUMBER = 1e125
MIN_ABS_NUMBER = 1e-130
MAX_INT = 10**38 - 1
#: The range of event times (`occurred_at`, `received_at`) that is accepted.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


#: The facts every lead may keep, whatever the model reads: who the lead is, as alerts,
#: the leads API and the CRM show it (ingest maps senders' names onto these). A lead
#: also keeps the facts its model's fit rules and disqualifiers read; other traits are
#: not stored, so what one lead can store is bounded by the model, not by its senders.
PROFILE_FACTS = frozenset({
    "email", "first_name", "last_name", "name", "job_title", "seniority", "company", "company_size", "industry",
    "country", "annual_revenue", "tech_stack", "phone", "website",
})
#: A fact's stored value: text is cut to MAX_FACT_CHARS characters; any other value
#: (a list, an object) whose compact JSON exceeds MAX_FACT_BYTES is not stored.
MAX_FACT_CHARS = 256
MAX_FACT_BYTES = 1024


def storable(value: Any, depth: int = 0) -> str | None:
    """Why `value` (a JSON value) is not one an event may carry, or None when it is.

    Bounded work however hostile the input: it stops at the first level beyond MAX_DEPTH.
    The reason names the problem, never the value."""
    cls = value.__class__
    if value is None or cls is bool:
        return None
    if cls is str:
        return "a string with a lone surrogate (not valid Unicode)" if _SURROGATE.search(value) else None
    if cls is int:
        return None if -MAX_INT <= value <= MAX_INT else "an integer of more than 38 digits"
    if cls is float:
        magnitude = abs(value)
        if not math.isfinite(value) or magnitude >= MAX_ABS_NUMBER or (magnitude and magnitude < MIN_ABS_NUMBER):
            return "a number that is not finite or outside 1e-130..1e125"
        return None
    if cls is dict or cls is list:
        if depth >= MAX_DEPTH:
            return f"values nested deeper than {MAX_DEPTH} levels"
        for key, item in (value.items() if cls is dict else enumerate(value)):
            if cls is dict and (key.__class__ is not str or _SURROGATE.search(key)):
                return "a key that is not valid Unicode text"
            why = storable(item, depth + 1)
            if why:
                return why
        return None
    return f"a value of type {cls.__name__} (JSON values only)"


def _check_json_field(name: str, value: dict[str, Any]) -> None:
    for key, item in value.items():
        why = storable({key: item})
        if why:
            where = f"{name}.{key}" if _PLAIN_KEY.match(key) else name
            raise ValueError(f"{where}: {why}")


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
    #: False when a low-trust sender (the pixel, a public write key) sent it: anyone can, for
    #: anyone (docs/ingest.md, Trust levels). The edge sets it; offline replays keep the default.
    trusted: bool = True
    #: Derived: `occurred_at` in epoch seconds, computed once at validation for
    #: the engine's hot path. Overwritten if given, never serialized.
    occurred_ts: float = Field(default=0.0, exclude=True, repr=False)

    @field_validator("occurred_at", "received_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # e.g. year 1 with a positive offset: before datetime.min in UTC
            raise ValueError("a time outside 2000-01-01..9000-01-01") from None
        if not EARLIEST <= utc < LATEST:
            raise ValueError("a time outside 2000-01-01..9000-01-01")
        return utc

    @field_validator("event_id", "anonymous_id", "lead_id")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and _SURROGATE.search(value):
            raise ValueError("a string with a lone surrogate (not valid Unicode)")
        return value

    @field_validator("properties", "traits")
    @classmethod
    def _json(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        _check_json_field(info.field_name, value)
        return value

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
