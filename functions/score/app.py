"""The scoring worker: SQS batches of canonical events → lead state → stage transitions.

powertools batch processing parses each record (a record that is not a valid
event fails alone and reaches the DLQ after its retries); the worker applies
the valid ones grouped by lead and reports the records it could not finish,
so only those are redelivered.
"""

import time

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from leadscore import runtime
from leadscore.ingest.errors import describe_validation_error
from pydantic import ValidationError
from scoring_core.events import Event

logger = Logger(service="score")
clock = time.time  # tests move time forward to act as a later redelivery
metrics = Metrics(namespace="leadscore", service="score")


class InvalidEvent(Exception):
    """A queued message that is not a canonical event: it will never succeed."""


def init() -> None:
    runtime.worker()


def lambda_handler(event, context):
    parsed: list[tuple[str, Event]] = []

    def parse(record: SQSRecord) -> None:
        try:
            parsed.append((record.message_id, Event.model_validate_json(record.body)))
        except ValidationError as exc:
            # the message names fields and problems, never values (no emails in logs)
            raise InvalidEvent(describe_validation_error(exc)) from None

    processor = BatchProcessor(event_type=EventType.SQS)
    with processor(records=event["Records"], handler=parse):
        processor.process()
    invalid = [{"itemIdentifier": r.message_id} for r in processor.fail_messages]
    if invalid:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=len(invalid))
        logger.warning("invalid events", extra={"count": len(invalid), "errors": [str(e[1]) for e in processor.exceptions]})

    result = runtime.worker().process(parsed, clock())
    metrics.add_metric(name="EventsApplied", unit=MetricUnit.Count, value=result.applied)
    metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=result.duplicates)
    metrics.add_metric(name="Transitions", unit=MetricUnit.Count, value=len(result.transitions))
    metrics.add_metric(name="Merges", unit=MetricUnit.Count, value=result.merges)
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=len(result.failed))
    metrics.add_metric(name="EventsNotApplied", unit=MetricUnit.Count, value=result.events_failed)
    metrics.add_metric(name="LeadUpdatesFailed", unit=MetricUnit.Count, value=result.leads_failed)
    metrics.add_metric(name="EventsDroppedFlood", unit=MetricUnit.Count, value=result.flooded)
    failing = {f["itemIdentifier"] for f in invalid} | result.failed
    last_try = runtime.settings().max_receives  # the queue's maxReceiveCount
    to_dlq = sum(1 for r in event["Records"]
                 if r["messageId"] in failing and int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)) >= last_try)
    metrics.add_metric(name="SentToDLQ", unit=MetricUnit.Count, value=to_dlq)
    if to_dlq:
        logger.error("records going to the dead-letter queue", extra={"count": to_dlq})
    metrics.flush_metrics()
    if logger.log_level <= 10:  # DEBUG (the local stack's readable log): one line per event
        for lead, type_, points in result.events:
            score, stage = result.scores.get(runtime.worker().resolve(lead), (None, None))
            logger.debug("scored", extra={"lead": lead, "type": type_, "points": round(points, 2), "score": score, "stage": stage})
    for t in result.transitions:
        logger.info("stage changed", extra={"lead": t["lead_id"], "from": t["from_stage"], "to": t["to_stage"], "score": t["score"]})
    return {"batchItemFailures": invalid + [{"itemIdentifier": m} for m in sorted(result.failed)]}
