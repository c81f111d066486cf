"""POST /hooks/{source}: signed webhooks from form builders, schedulers and shops."""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import runtime
from leadscore.adapters.queue import QueueError
from leadscore.ingest.answers import json_response, not_queued, rejection
from leadscore.ingest.errors import BadRequest, Rejected, Unauthorized
from leadscore.ingest.webhooks import get_source
from leadscore.ingest.webhooks.base import Delivery

MAX_BODY = 1024 * 1024

logger = Logger(service="hooks")
metrics = Metrics(namespace="leadscore", service="hooks")
app = APIGatewayHttpResolver()


def init() -> None:
    runtime.event_queue()


@app.post("/hooks/<source>")
def hook(source: str) -> Response:
    sender = get_source(source)  # UnknownSource: 404
    request = app.current_event
    body = runtime.raw_body(request)
    if len(body) > MAX_BODY:
        raise BadRequest("body larger than 1 MB")
    secret = runtime.settings().webhook_secret(source)
    if not secret:
        logger.warning("no signing secret configured", extra={"source": source})
        raise Unauthorized("no secret configured")
    delivery = Delivery(
        headers=request.headers or {},
        body=body,
        received_at=datetime.now(timezone.utc),
        url=f"https://{request.request_context.domain_name}{request.raw_path}",
        query=request.query_string_parameters or {},
    )
    sender.verify(delivery, secret)
    events = sender.to_events(delivery, runtime.settings().field_map(source))
    runtime.event_queue().send(events)
    metrics.add_metric(name="HookEventsQueued", unit=MetricUnit.Count, value=len(events))
    logger.info("queued", extra={"source": source, "events": len(events)})
    return json_response(202, {"queued": len(events)})


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    metrics.add_metric(name=f"HookRejected_{exc.status}", unit=MetricUnit.Count, value=1)
    logger.info("rejected", extra={"status": exc.status, "reason": exc.message})
    return rejection(exc)


@app.exception_handler(QueueError)
def queue_failed(exc: QueueError) -> Response:
    logger.error("events not queued", extra={"failed": exc.failed})
    return not_queued()


@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
