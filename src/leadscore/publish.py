"""The stream publisher's logic: the leads table's stream records → `LeadStageChanged` and `LeadTriggered` events.

A transition is recorded on its lead by the worker's conditional write
(`LeadStore.record_transition`), which puts the detail, compressed, in the
item's `ob` attribute; the lead's next apply removes it. So a stream record
carries a transition to publish exactly when its new image holds an `ob`
that its old image did not hold (the same bytes in both: a later write that
left `ob` alone, e.g. a trim of the recent list). The event source mapping's
filter passes only records whose new image has `ob`; this check makes the
publisher right without the filter too.

Trigger firings travel the same way in their own attribute, `ot` (a list: one write
may fire several triggers): a record carries firings to publish when its new image
holds an `ot` its old image did not. A write that records both a transition and
firings publishes both. Each `LeadTriggered` detail goes out with that detail-type.

Records arrive as Lambda delivers them: DynamoDB JSON, binary values base64.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .adapters.leads import OUTBOX, unpack_detail
from .adapters.leads.codec import TRIGGER_OUTBOX, unpack_details

if TYPE_CHECKING:  # pragma: no cover
    from .adapters.bus import TransitionBus


class BadRecord(Exception):
    """A stream record whose `ob` is not a transition this code wrote: it can never succeed."""


def _outbox(image: dict[str, Any] | None, name: str = OUTBOX) -> str | None:
    value = (image or {}).get(name)
    return value.get("B") if isinstance(value, dict) else None


def event_id(detail: dict[str, Any]) -> str:
    """The id consumers dedupe a detail on: a transition's `transition_id`, a firing's `firing_id`."""
    return str(detail.get("transition_id") or detail.get("firing_id"))


def transitions_in(records: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | BadRecord]]:
    """(sequence number, detail) for every transition and trigger firing the records recorded, in
    stream order (a record's transition before its firings); a record whose `ob` or `ot` cannot be
    read gives a BadRecord in place of the detail."""
    found: list[tuple[str, dict[str, Any] | BadRecord]] = []
    for record in records:
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        ddb = record.get("dynamodb") or {}
        seq = str(ddb.get("SequenceNumber", ""))
        new = _outbox(ddb.get("NewImage"))
        if new is not None and new != _outbox(ddb.get("OldImage")):
            try:
                detail = unpack_detail(base64.b64decode(new))
                if not isinstance(detail, dict) or not isinstance(detail.get("transition_id"), str):
                    raise ValueError("no transition_id")
            except Exception as exc:  # zlib.error, ValueError (JSON, base64), TypeError
                found.append((seq, BadRecord(f"{exc.__class__.__name__} in the ob attribute")))
            else:
                found.append((seq, detail))
        fired = _outbox(ddb.get("NewImage"), TRIGGER_OUTBOX)
        if fired is not None and fired != _outbox(ddb.get("OldImage"), TRIGGER_OUTBOX):
            try:
                details = unpack_details(base64.b64decode(fired))
                if not all(isinstance(d, dict) and isinstance(d.get("firing_id"), str) for d in details):
                    raise ValueError("no firing_id")
            except Exception as exc:  # zlib.error, ValueError (JSON, base64), TypeError
                found.append((seq, BadRecord(f"{exc.__class__.__name__} in the ot attribute")))
            else:
                found += [(seq, d) for d in details]
    return found


@dataclass
class Published:
    """What one stream batch came to: what was sent, what could not be read, where to retry from."""

    sent: list[dict[str, Any]] = field(default_factory=list)  # details published
    published: int = 0  # how many (details less the failed transition ids)
    failed: int = 0  # transition and firing ids PutEvents still refused after its retries
    unreadable: list[tuple[str, BadRecord]] = field(default_factory=list)  # (sequence number, why): skipped
    retry_from: str | None = None  # the sequence number of the first detail not published


def publish(records: Iterable[dict[str, Any]], bus: TransitionBus) -> Published:
    """Publish the transitions in `records`. An unreadable record is a bug, not an outage:
    retrying cannot help, so it is reported and skipped. When entries still fail, the batch is
    retried from the first one not published (the ones after it may be published twice, with the
    same `transition_id` or `firing_id`: consumers dedupe on it)."""
    found = transitions_in(records)
    out = Published(unreadable=[(seq, err) for seq, err in found if isinstance(err, BadRecord)])
    details = [(seq, d) for seq, d in found if not isinstance(d, BadRecord)]
    failed = bus.publish([d for _, d in details]) if details else set()
    out.failed, out.published = len(failed), len(details) - len(failed)
    out.sent = [d for _, d in details if event_id(d) not in failed]
    out.retry_from = next((seq for seq, d in details if event_id(d) in failed), None)
    return out
