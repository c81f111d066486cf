"""Events delivered to the scoring worker's real handler in SQS batches, as the event source mapping delivers them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.sqs import sqs_event, sqs_record
from scoring_core import Event

NOW = datetime.now(timezone.utc).replace(microsecond=0)  # the worker scores at the wall clock: events are placed before it
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"


def ev(i, type_, *, email="ann@acme.example", anon=None, days_ago=0.0, **fields) -> Event:
    """Event `e-<i>` of `type_`, `days_ago` before `NOW`."""
    at = NOW - timedelta(days=days_ago)
    return Event(event_id=fields.pop("event_id", f"e-{i}"), type=type_, occurred_at=at, received_at=at,
                 source="test", email=email, anonymous_id=anon, **fields)


def run(events, batch=10, handler=None):
    """Deliver events in SQS batches of `batch`; returns the batchItemFailures of each batch."""
    handler = handler or load_handler(Path("functions/score"), "app.lambda_handler")
    failures = []
    for start in range(0, len(events), batch):
        records = [sqs_record(f"m-{e.event_id}", e.model_dump_json(), QUEUE_ARN) for e in events[start : start + batch]]
        failures += handler(sqs_event(records), LambdaContext("score"))["batchItemFailures"]
    return failures
