"""The downgrade sweep, on an EventBridge schedule: leads whose decayed score crossed their exit threshold move down,
and the model's time-based triggers (inactive, not_followed) fire.

`leadscore.sweep` finds the due leads (a Query per bucket of the sparse ByDue
index, never a Scan) and records each downgrade as the worker records a
transition; the stream publisher puts it on the bus. This handler counts what
happened. A lead that fails is left in the index for the next run.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import dependencies

logger = Logger(service="sweep")
metrics = Metrics(namespace="leadscore", service="sweep")


def init() -> None:
    dependencies.current().sweep  # noqa: B018 (built at cold start)


def lambda_handler(event, context):
    deps = dependencies.current()
    result = deps.sweep.run(deps.clock())
    counts = {"LeadsDue": result.due, "Downgrades": len(result.transitions), "DueTimesMoved": result.rescheduled,
              "LeadsSkipped": result.skipped, "LeadsFailed": result.failed, "TriggersFired": len(result.firings)}
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()
    for t in result.transitions:  # ids only: never the email or a name
        logger.info("stage decayed", extra={"lead": t["lead_id"], "from": t["from_stage"], "to": t["to_stage"], "score": t["score"]})
    for f in result.firings:  # ids only
        logger.info("trigger fired", extra={"lead": f["lead_id"], "trigger": f["trigger"], "kind": f["kind"], "firing": f["firing_id"]})
    return {"due": result.due, "downgraded": len(result.transitions), "triggered": len(result.firings),
            "rescheduled": result.rescheduled, "failed": result.failed}
