"""One SQS batch for the score function: what reaches the worker, what is retried, what is going to the DLQ."""

from __future__ import annotations

from datetime import datetime, timezone

from leadscore.dev.sqs import sqs_record
from leadscore.scoring import score_records
from leadscore.worker import BatchResult
from scoring_core import Event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"
AT = datetime(2026, 11, 1, tzinfo=timezone.utc)


class RecordingWorker:
    """Takes the batch as the worker would; fails the messages it is told to."""

    def __init__(self, failing: frozenset[str] = frozenset()):
        self.failing = failing
        self.given: list[tuple[str, Event]] = []

    def process(self, messages, now):
        self.given += messages
        return BatchResult(failed={m for m, _ in messages if m in self.failing}, applied=len(messages))


def record(message_id: str, body: str | None = None, receive_count: int = 1) -> dict:
    event = Event(event_id=message_id, type="page_view", occurred_at=AT, received_at=AT, source="test", anonymous_id="v1")
    return sqs_record(message_id, event.model_dump_json() if body is None else body, QUEUE_ARN, receive_count)


def test_a_record_that_is_not_an_event_fails_alone_and_names_no_value():
    worker = RecordingWorker()
    records = [record("m1"), record("poison", '{"type": "page_view", "email": "secret.person@acme.example"}'), record("m2")]

    scored = score_records(records, worker, AT.timestamp(), max_receives=5)

    assert [m for m, _ in worker.given] == ["m1", "m2"]
    assert scored.batch_item_failures == [{"itemIdentifier": "poison"}]
    assert "secret.person" not in " ".join(scored.errors)


def test_the_records_the_worker_could_not_finish_are_retried_after_the_invalid_ones():
    scored = score_records([record("m2"), record("bad", "not json"), record("m1")], RecordingWorker(frozenset({"m2", "m1"})),
                           AT.timestamp(), max_receives=5)

    assert scored.batch_item_failures == [{"itemIdentifier": m} for m in ("bad", "m1", "m2")]
    assert scored.counts()["RecordsRetried"] == 2


def test_only_failing_records_on_their_last_receive_count_as_sent_to_the_dead_letter_queue():
    records = [record("last", "not json", receive_count=5), record("early", "not json", receive_count=4),
               record("fine", receive_count=9)]

    scored = score_records(records, RecordingWorker(), AT.timestamp(), max_receives=5)

    assert scored.to_dlq == 1 and scored.counts()["SentToDLQ"] == 1
