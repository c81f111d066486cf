"""The stream publisher's logic: the leads table's stream records → `LeadStageChanged` details.

A transition is recorded on its lead by the worker's conditional write
(`LeadStore.record_transition`), which puts the detail, compressed, in the
item's `ob` attribute; the lead's next apply removes it. So a stream record
carries a transition to publish exactly when its new image holds an `ob`
that its old image did not hold (the same bytes in both: a later write that
left `ob` alone, e.g. a trim of the recent list). The event source mapping's
filter passes only records whose new image has `ob`; this check makes the
publisher right without the filter too.

Records arrive as Lambda delivers them: DynamoDB JSON, binary values base64.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from .adapters.leads import OUTBOX, unpack_detail


class BadRecord(Exception):
    """A stream record whose `ob` is not a transition this code wrote: it can never succeed."""


def _outbox(image: dict[str, Any] | None) -> str | None:
    value = (image or {}).get(OUTBOX)
    return value.get("B") if isinstance(value, dict) else None


def transitions_in(records: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | BadRecord]]:
    """(sequence number, detail) for every record that recorded a transition, in stream order;
    a record whose `ob` cannot be read gives a BadRecord in place of the detail."""
    found: list[tuple[str, dict[str, Any] | BadRecord]] = []
    for record in records:
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        ddb = record.get("dynamodb") or {}
        new = _outbox(ddb.get("NewImage"))
        if new is None or new == _outbox(ddb.get("OldImage")):
            continue
        seq = str(ddb.get("SequenceNumber", ""))
        try:
            detail = unpack_detail(base64.b64decode(new))
            if not isinstance(detail, dict) or not isinstance(detail.get("transition_id"), str):
                raise ValueError("no transition_id")
        except Exception as exc:  # zlib.error, ValueError (JSON, base64), TypeError
            found.append((seq, BadRecord(f"{exc.__class__.__name__} in the ob attribute")))
            continue
        found.append((seq, detail))
    return found
