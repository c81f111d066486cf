"""Parsing a sender's payload into lead facts, with errors that never echo values.

Senders' payload models subclass `SenderModel` (unknown fields ignored: senders
add fields over time). `parse` turns any JSON or shape problem into a
`BadRequest` naming the field, built from pydantic's error *locations and
messages only*: pydantic's own `str(ValidationError)` repeats the input, which
may hold emails, so it is never chained or logged.

`LeadFacts` collects what a form or booking says about its lead, answer by
answer: the email, the visitor or lead id that links it to earlier browsing,
UTM tags, and traits under the names the scoring model reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from scoring_core import Event, normalize_email

from ...edge import BadRequest, describe_validation_error
from ..traits import canonical_name

M = TypeVar("M", bound=BaseModel)

#: Field names (after mapping) that carry the browser's visitor id: a form embedded
#: with `?vid=<visitor id>` links the submission to the visitor's earlier page views.
ANONYMOUS_ID_NAMES = frozenset({"anonymous_id", "vid", "visitor_id"})
#: Field names that carry a known lead id (the email pixel's `lid`).
LEAD_ID_NAMES = frozenset({"lead_id", "lid"})
_UTM_PREFIX = "utm_"
_MAX_ID = 256


class SenderModel(BaseModel):
    """A sender's payload: unknown fields ignored, nothing coerced silently into strings."""

    model_config = ConfigDict(extra="ignore", frozen=True)


describe = describe_validation_error  # the shared wording, without values


def parse(model: type[M], body: bytes) -> M:
    """The body validated as `model`; `BadRequest` naming the first bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise BadRequest(describe(error)) from None


_JSON_OBJECT = TypeAdapter(dict[str, Any])


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; `BadRequest` otherwise."""
    try:
        return _JSON_OBJECT.validate_json(body)
    except ValidationError as error:
        message = describe(error)
        raise BadRequest(message if message == "body is not valid JSON" else "body must be a JSON object") from None


def usable_email(raw: object) -> str | None:
    """The normalized address, or None when `raw` is not one."""
    if not isinstance(raw, str):
        return None
    try:
        return normalize_email(raw)
    except ValueError:
        return None


def _identifier(raw: object) -> str | None:
    if isinstance(raw, (int, str)) and not isinstance(raw, bool):
        text = str(raw).strip()
        if 0 < len(text) <= _MAX_ID:
            return text
    return None


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


class LeadFacts:
    """What one delivery says about its lead, collected field by field.

    `field_map` (sender key -> trait name) wins over the default names; mapping a
    key to "" drops that field. The first usable email becomes the event's
    email and is never kept as a trait (an email trait is not validated).
    """

    def __init__(self, field_map: Mapping[str, str]):
        self.field_map = field_map
        self.email: str | None = None
        self.anonymous_id: str | None = None
        self.lead_id: str | None = None
        self.traits: dict[str, Any] = {}
        self.utm: dict[str, Any] = {}

    def name_for(self, *keys: str | None, fallback: str | None = None) -> str | None:
        """The mapped name of the first key `field_map` knows, else `fallback`."""
        for key in keys:
            if key is not None and key in self.field_map:
                return self.field_map[key]
        return fallback

    def add(self, name: str | None, value: Any, *, is_email: bool = False) -> None:
        if not name or _empty(value):
            return
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return
        if is_email or name == "email":
            if self.email is None:
                self.email = usable_email(value)
            return
        if name in ANONYMOUS_ID_NAMES:
            self.anonymous_id = self.anonymous_id or _identifier(value)
        elif name in LEAD_ID_NAMES:
            self.lead_id = self.lead_id or _identifier(value)
        elif name.startswith(_UTM_PREFIX) and len(name) > len(_UTM_PREFIX):
            self.utm.setdefault(name[len(_UTM_PREFIX):], value)
        else:
            self.traits.setdefault(name, value)

    def add_utm(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            if not _empty(value):
                self.utm.setdefault(key, value)

    @property
    def has_identity(self) -> bool:
        return bool(self.email or self.anonymous_id or self.lead_id)


def default_name(*candidates: str | None) -> str | None:
    """Our name for the first non-empty candidate (`canonical_name`)."""
    for candidate in candidates:
        if candidate and candidate.strip():
            name = canonical_name(candidate)
            if name:
                return name
    return None


def build_event(
    *,
    source: str,
    event_id: str,
    type: str,
    occurred_at: datetime,
    received_at: datetime,
    email: str | None = None,
    anonymous_id: str | None = None,
    lead_id: str | None = None,
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    where: str = "",
) -> Event:
    """A canonical event; `BadRequest` (naming `where`) when it has no identity or
    does not validate."""
    if not (email or anonymous_id or lead_id):
        prefix = f"{where}: " if where else ""
        raise BadRequest(f"{prefix}no usable identity: a valid email, anonymous_id or lead_id is required")
    try:
        return Event(
            event_id=event_id,
            type=type,
            occurred_at=occurred_at,
            received_at=received_at,
            source=source,
            email=email,
            anonymous_id=anonymous_id,
            lead_id=lead_id,
            properties=properties or {},
            traits=traits or {},
        )
    except ValidationError as error:
        raise BadRequest(describe(error, where)) from None


def form_submission(source: str, event_id: str, occurred_at: datetime | None, received_at: datetime,
                    facts: LeadFacts, where: str, **form: str | None) -> Event:
    """The `form_submitted` event of a form builder: the form's ids in `properties`
    (form_id, form_title, response_id, ... as given, empty ones left out), UTM tags,
    and the lead facts its answers carried."""
    properties: dict[str, Any] = {k: v.strip() if k == "form_title" else v for k, v in form.items() if v}
    if facts.utm:
        properties["utm"] = facts.utm
    return build_event(
        source=source, event_id=event_id, type="form_submitted", occurred_at=occurred_at, received_at=received_at,
        email=facts.email, anonymous_id=facts.anonymous_id, lead_id=facts.lead_id,
        properties=properties, traits=facts.traits, where=where,
    )
