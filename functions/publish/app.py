"""The stream publisher: the leads table's stream → `LeadStageChanged` and `LeadTriggered` events on EventBridge.

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
from leadscore import dependencies
from leadscore.publish import publish

logger = Logger(service="publish")
metrics = Metrics(namespace="leadscore", service="publish")


def init() -> None:
    dependencies.current().publisher  # noqa: B018 (built at cold start)


def lambda_handler(event, context):
    published = publish(event.get("Records") or [], dependencies.current().publisher)

    for seq, err in published.unreadable:  # a bug, not an outage: logged and skipped
        logger.error("unreadable transition in the stream", extra={"sequence_number": seq, "error": str(err)})
    metrics.add_metric(name="TransitionsPublished", unit=MetricUnit.Count, value=published.published)
    metrics.add_metric(name="TransitionsRetried", unit=MetricUnit.Count, value=published.failed)
    if published.unreadable:
        metrics.add_metric(name="UnreadableTransitions", unit=MetricUnit.Count, value=len(published.unreadable))
    metrics.flush_metrics()
    for d in published.sent:  # ids and stages only: never the email or facts
        if "firing_id" in d:
            logger.info("trigger published", extra={"lead": d["lead_id"], "trigger": d["trigger"], "firing": d["firing_id"]})
            continue
        logger.info("transition published", extra={"lead": d["lead_id"], "transition": d["transition_id"],
                                                  "from": d["from_stage"], "to": d["to_stage"]})
    if published.retry_from is not None:
        logger.warning("transitions not published, the stream is retried from the first", extra={"count": published.failed})
        return {"batchItemFailures": [{"itemIdentifier": published.retry_from}]}
    return {"batchItemFailures": []}
