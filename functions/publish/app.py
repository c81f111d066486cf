"""The stream publisher: the leads table's stream → `LeadStageChanged` events on EventBridge.

The worker records each transition on its lead (one conditional write, the
detail in the item's `ob`); this function, on the table's stream, publishes
the transitions of many workers' writes together: PutEvents of up to 10
entries, failed entries retried (adapters/bus.py). Entries that still fail:
the batch item failure names the first record not published, so Lambda
retries the stream from there (records after it may be published again, with
the same `transition_id`: consumers dedupe on it). See docs/data-model.md.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import runtime
from leadscore.publish import BadRecord, transitions_in

logger = Logger(service="publish")
metrics = Metrics(namespace="leadscore", service="publish")


def init() -> None:
    runtime.publisher()


def lambda_handler(event, context):
    found = transitions_in(event.get("Records") or [])
    bad = [(seq, err) for seq, err in found if isinstance(err, BadRecord)]
    for seq, err in bad:  # a bug, not an outage: retrying cannot help, so it is logged and skipped
        logger.error("unreadable transition in the stream", extra={"sequence_number": seq, "error": str(err)})
    details = [(seq, d) for seq, d in found if not isinstance(d, BadRecord)]
    failed = runtime.publisher().publish([d for _, d in details]) if details else set()
    first_failed = next((seq for seq, d in details if d["transition_id"] in failed), None)

    metrics.add_metric(name="TransitionsPublished", unit=MetricUnit.Count, value=len(details) - len(failed))
    metrics.add_metric(name="TransitionsRetried", unit=MetricUnit.Count, value=len(failed))
    if bad:
        metrics.add_metric(name="UnreadableTransitions", unit=MetricUnit.Count, value=len(bad))
    metrics.flush_metrics()
    for _, d in details:
        if d["transition_id"] not in failed:  # ids and stages only: never the email or facts
            logger.info("transition published", extra={"lead": d["lead_id"], "transition": d["transition_id"],
                                                      "from": d["from_stage"], "to": d["to_stage"]})
    if first_failed is not None:
        logger.warning("transitions not published, the stream is retried from the first", extra={"count": len(failed)})
        return {"batchItemFailures": [{"itemIdentifier": first_failed}]}
    return {"batchItemFailures": []}
