"""`tally`: a Tally `FORM_RESPONSE` webhook becomes one `form_submitted` event.

Signature: `Tally-Signature: <base64 HMAC-SHA256(secret, raw body)>` (no prefix,
no timestamp), so replays are caught by the dedupe on `eventId`.

`data.fields[]` carry `key` (generated, `question_xxxx`), `label` (the question
as written, or a hidden field's name), `type` and `value`. Choice fields
(`MULTIPLE_CHOICE`, `DROPDOWN`, `CHECKBOXES`, `MULTI_SELECT`) send option ids,
mapped here to the options' text. A field is named by `field_map[key]`, then
`field_map[label]`, then `canonical_name(label)`: labels such as "Work email",
"Company" or "Job title" land on the model's names by themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AwareDatetime, Field
from scoring_core import Event

from ...edge import BadRequest
from ...signing import verify_base64
from .base import Delivery
from .payloads import LeadFacts, SenderModel, default_name, form_submission, parse

HEADER = "Tally-Signature"

#: Single-answer choice fields: one option's text, not a list.
_SINGLE_CHOICE = frozenset({"MULTIPLE_CHOICE", "DROPDOWN"})
#: Fields that are not facts about the lead (files, signatures, a payment's
#: sub-fields, grids) or that only repeat another field.
_SKIPPED_TYPES = frozenset({"FILE_UPLOAD", "SIGNATURE", "PAYMENT", "MATRIX", "RANKING"})


class Option(SenderModel):
    id: str
    text: str | None = None


class TallyField(SenderModel):
    key: str
    label: str | None = None
    type: str
    value: Any = None
    options: list[Option] = Field(default_factory=list)

    def resolved(self) -> Any:
        """The answer, with option ids replaced by the options' text."""
        value = self.value
        if not self.options:
            return value
        texts = {option.id: option.text for option in self.options}
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value
        chosen = [texts.get(item) or item for item in value if isinstance(item, str)]
        if self.type in _SINGLE_CHOICE:
            return chosen[0] if chosen else None
        return chosen


class ResponseData(SenderModel):
    responseId: str | None = None
    submissionId: str | None = None
    respondentId: str | None = None
    formId: str
    formName: str | None = None
    createdAt: AwareDatetime | None = None
    fields: list[TallyField] = Field(default_factory=list)


class TallyPayload(SenderModel):
    eventId: str = Field(min_length=1, max_length=256)
    eventType: str
    createdAt: AwareDatetime
    data: ResponseData | None = None


class TallySource:
    name = "tally"

    def verify(self, delivery: Delivery, secret: str) -> None:
        verify_base64(delivery.body, delivery.header(HEADER), secret)

    def to_events(self, delivery: Delivery, field_map: Mapping[str, str]) -> list[Event]:
        payload = parse(TallyPayload, delivery.body)
        if payload.eventType != "FORM_RESPONSE":
            return []
        data = payload.data
        if data is None:
            raise BadRequest("data: Field required")

        facts = LeadFacts(field_map)
        grouped = {field.key for field in data.fields if field.options}
        for field in data.fields:
            if field.type in _SKIPPED_TYPES or _is_checkbox_echo(field, grouped):
                continue
            name = facts.name_for(field.key, field.label, fallback=default_name(field.label))
            facts.add(name, field.resolved(), is_email=field.type == "INPUT_EMAIL")

        return [
            form_submission(self.name, payload.eventId, data.createdAt or payload.createdAt, delivery.received_at, facts,
                            "data", form_id=data.formId, form_title=data.formName, response_id=data.responseId,
                            respondent_id=data.respondentId)
        ]


def _is_checkbox_echo(field: TallyField, grouped: set[str]) -> bool:
    """Tally follows a `CHECKBOXES` field with one `true`/`false` field per option
    (`key` = `<question key>_<option id>`); the grouped field already says it all."""
    if field.type != "CHECKBOXES" or not isinstance(field.value, bool):
        return False
    return any(field.key.startswith(f"{key}_") for key in grouped)
