"""The score function's work on one SQS batch: records → canonical events → the worker → what to retry.

powertools batch processing parses each record (a record that is not a valid
event fails alone and reaches the DLQ after its retries); the worker applies
the valid ones grouped by lead; the answer names every record to redeliver
(invalid or not finished), as `ReportBatchItemFailures` expects. The outcome
also says how many of those records are on their last receive (`MAX_RECEIVES`,
the queue's maxReceiveCount): they go to the dead-letter queue now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from pydantic import ValidationError
from scoring_core.events import Event

from .edge import describe_validation_error

if TYPE_CHECKING:  # pragma: no cover
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from .worker import BatchResult, Worker


class InvalidEvent(Exception):
    """A queued message that is not a canonical event: it will never succeed."""


@dataclass
class Scored:
    result: BatchResult  # the worker's
    invalid: list[str] = field(default_factory=list)  # message ids of records that are not events
    errors: list[str] = field(default_factory=list)  # why each invalid one is (fields, never values)
    to_dlq: int = 0  # failing records on their last receive

    @property
    def batch_item_failures(self) -> list[dict[str, str]]:
        return [{"itemIdentifier": m} for m in self.invalid + sorted(self.result.failed)]

    def counts(self) -> dict[str, int]:
        """The metrics of the batch, by name."""
        r = self.result
        return {"EventsApplied": r.applied, "DuplicatesSkipped": r.duplicates, "Transitions": len(r.transitions),
                "Merges": r.merges, "RecordsRetried": len(r.failed), "EventsNotApplied": r.events_failed,
                "LeadUpdatesFailed": r.leads_failed, "EventsDroppedFlood": r.flooded, "SentToDLQ": self.to_dlq,
                "EventsDroppedErased": r.erased, "TriggersFired": len(r.firings)}


def score_records(records: list[dict[str, Any]], worker: Worker, now: float, max_receives: int) -> Scored:
    """Parse and apply one batch of SQS records at time `now`."""
    parsed: list[tuple[str, Event]] = []

    def parse(record: SQSRecord) -> None:
        try:
            parsed.append((record.message_id, Event.model_validate_json(record.body)))
        except ValidationError as exc:
            # the message names fields and problems, never values (no emails in logs)
            raise InvalidEvent(describe_validation_error(exc)) from None

    processor = BatchProcessor(event_type=EventType.SQS)
    with processor(records=records, handler=parse):
        processor.process()
    invalid = [r.message_id for r in processor.fail_messages]  # type: ignore[union-attr]  # SQS records only
    result = worker.process(parsed, now)
    failing = set(invalid) | result.failed
    to_dlq = sum(1 for r in records
                 if r["messageId"] in failing and int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)) >= max_receives)
    return Scored(result, invalid, [str(e[1]) for e in processor.exceptions], to_dlq)
