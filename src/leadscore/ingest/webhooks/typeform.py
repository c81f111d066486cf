"""`typeform`: a Typeform `form_response` webhook becomes one `form_submitted` event.

Signature: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>`,
no timestamp, so replays are caught by the dedupe on the payload's `event_id`.

Answers are typed objects whose value sits under the key named by `type`
(`{"type": "email", "email": "…", "field": {"id": "…", "ref": "…"}}`). They are
mapped on the field's `ref` (stable, editable in Typeform's builder) with
`definition.fields` giving each question's title:

1. `field_map[ref]`, then `field_map[title]`;
2. `canonical_name(ref)` unless the ref is one Typeform generated (a UUID or ULID);
3. `canonical_name(title)`.

Email answers (and any answer whose name is `email`) give the event's email.
Hidden fields (`form_response.hidden`) are named the same way: `anonymous_id`
or `vid` links the response to the browsing visitor, `utm_*` go to
`properties.utm`, the rest are traits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import AwareDatetime, ConfigDict, Field
from scoring_core import Event

from ...edge import BadRequest
from ...signing import verify_base64
from .base import Delivery
from .payloads import LeadFacts, SenderModel, default_name, form_submission, parse

HEADER = "Typeform-Signature"
PREFIX = "sha256="

# refs Typeform makes up when the form author did not name a question
_GENERATED_REF = re.compile(
    r"(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"  # UUID
    r"|[0-9A-HJKMNP-TV-Z]{26}",  # ULID
)
#: Answer types that are not facts about the lead.
_SKIPPED_TYPES = frozenset({"payment", "file_url"})


class FieldRef(SenderModel):
    id: str
    ref: str | None = None
    type: str | None = None


class FieldDefinition(SenderModel):
    id: str
    ref: str | None = None
    title: str | None = None
    type: str | None = None


class Definition(SenderModel):
    id: str | None = None
    title: str | None = None
    fields: list[FieldDefinition] = Field(default_factory=list)


class Answer(SenderModel):
    # the value is under the key named by `type`, which varies: keep unknown keys
    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    field: FieldRef

    def value(self) -> Any:
        raw = (self.model_extra or {}).get(self.type)
        if self.type == "choice" and isinstance(raw, Mapping):
            return raw.get("other") or raw.get("label")
        if self.type == "choices" and isinstance(raw, Mapping):
            labels = [label for label in raw.get("labels") or [] if isinstance(label, str)]
            other = raw.get("other")
            return labels + [other] if isinstance(other, str) and other else labels
        if isinstance(raw, (str, int, float, bool)) or raw is None:
            return raw
        return None  # an answer shape we do not know: not a fact we can score


class FormResponse(SenderModel):
    form_id: str
    token: str | None = None
    submitted_at: AwareDatetime
    definition: Definition = Field(default_factory=Definition)
    answers: list[Answer] = Field(default_factory=list)
    hidden: dict[str, Any] = Field(default_factory=dict)


class TypeformPayload(SenderModel):
    event_id: str = Field(min_length=1, max_length=256)
    event_type: str
    form_response: FormResponse | None = None


def _ref_name(ref: str | None) -> str | None:
    return None if not ref or _GENERATED_REF.fullmatch(ref) else ref


class TypeformSource:
    name = "typeform"

    def verify(self, delivery: Delivery, secret: str) -> None:
        verify_base64(delivery.body, delivery.header(HEADER), secret, prefix=PREFIX)

    def to_events(self, delivery: Delivery, field_map: Mapping[str, str]) -> list[Event]:
        payload = parse(TypeformPayload, delivery.body)
        if payload.event_type != "form_response":
            return []  # e.g. partial responses: not a submission
        response = payload.form_response
        if response is None:
            raise BadRequest("form_response: Field required")

        facts = LeadFacts(field_map)
        titles = {field.id: field.title for field in response.definition.fields}
        for answer in response.answers:
            if answer.type in _SKIPPED_TYPES:
                continue
            ref, title = answer.field.ref, titles.get(answer.field.id)
            name = facts.name_for(ref, title, fallback=default_name(_ref_name(ref), title))
            facts.add(name, answer.value(), is_email=answer.type == "email")
        for key, value in response.hidden.items():
            facts.add(facts.name_for(key, fallback=default_name(key)), value)

        return [
            form_submission(self.name, payload.event_id, response.submitted_at, delivery.received_at, facts,
                            "form_response", form_id=response.form_id, form_title=response.definition.title,
                            response_id=response.token)
        ]
