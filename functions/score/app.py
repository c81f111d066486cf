"""The scoring worker: SQS batches of canonical events → lead state → stage transitions.

`leadscore.scoring` parses the records and runs the worker; this handler counts
what happened and answers the records to redeliver (partial batch failures).
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import dependencies
from leadscore.scoring import score_records

logger = Logger(service="score")
metrics = Metrics(namespace="leadscore", service="score")


def init() -> None:
    dependencies.current().worker  # noqa: B018 (built at cold start)


def lambda_handler(event, context):
    deps = dependencies.current()
    scored = score_records(event["Records"], deps.worker, deps.clock(), deps.settings.max_receives)

    if scored.invalid:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=len(scored.invalid))
        logger.warning("invalid events", extra={"count": len(scored.invalid), "errors": scored.errors})
    for name, value in scored.counts().items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if scored.to_dlq:
        logger.error("records going to the dead-letter queue", extra={"count": scored.to_dlq})
    metrics.flush_metrics()
    _log_scores(deps, scored.result)
    return {"batchItemFailures": scored.batch_item_failures}


def _log_scores(deps, result) -> None:
    if logger.log_level <= 10:  # DEBUG (the local stack's readable log): one line per event
        for lead, type_, points in result.events:
            score, stage = result.scores.get(deps.worker.resolve(lead), (None, None))
            logger.debug("scored", extra={"lead": lead, "type": type_, "points": round(points, 2), "score": score, "stage": stage})
    for t in result.transitions:
        logger.info("stage changed", extra={"lead": t["lead_id"], "from": t["from_stage"], "to": t["to_stage"], "score": t["score"]})
    for f in result.firings:  # ids only: never the email or a name
        logger.info("trigger fired", extra={"lead": f["lead_id"], "trigger": f["trigger"], "kind": f["kind"], "firing": f["firing_id"]})
