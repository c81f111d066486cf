"""Notifiers: EventBridge `LeadStageChanged` events → Slack, email, the CRM webhook; `LeadTriggered`
events (the model's triggers) → Slack and email, for the channels `ALERT_TRIGGERS` names.

One module, three functions in template.yaml (`app.slack_handler`,
`app.email_handler`, `app.crm_handler`), each with its own rule, retries and
on-failure destination. A channel's library (slack_sdk, the SES client) is
imported on its first alert, not at cold start.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import dependencies
from leadscore.notify import deliver

logger = Logger(service="notify")
metrics = Metrics(namespace="leadscore", service="notify")  # names like SlackAlertsSent, CrmAlertsParked


def _handle(channel: str, event: dict, context) -> dict:
    detail = event.get("detail") if isinstance(event, dict) else None
    where = {"channel": channel}
    if isinstance(detail, dict) and event.get("detail-type") == "LeadTriggered":  # ids only, as below
        where.update(lead=detail.get("lead_id"), firing=detail.get("firing_id"), trigger=detail.get("trigger"))
    elif isinstance(detail, dict):  # ids only: never the email, name or a webhook URL
        where.update(lead=detail.get("lead_id"), transition=detail.get("transition_id"), to_stage=detail.get("to_stage"))
    try:
        result = deliver.notify(dependencies.current(), channel, event, context)
    except Exception as exc:
        logger.warning("alert not delivered, will retry", extra={**where, "error": str(exc) if isinstance(exc, deliver.Transient) else exc.__class__.__name__})
        metrics.add_metric(name=f"{channel.capitalize()}AlertsRetried", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
        raise
    status = result.get("status", "sent")
    metrics.add_metric(name=f"{channel.capitalize()}Alerts{status.capitalize()}", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    log = logger.warning if status in ("parked", "invalid") else logger.info
    log(f"alert {status}", extra={**where, **{k: v for k, v in result.items() if k in ("reason", "http_status")}})
    return result


def slack_handler(event, context):
    return _handle("slack", event, context)


def email_handler(event, context):
    return _handle("email", event, context)


def crm_handler(event, context):
    return _handle("crm", event, context)
