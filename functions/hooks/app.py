"""POST /hooks/{source}: signed webhooks from form builders, schedulers and shops."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import dependencies
from leadscore.adapters.queue import QueueError
from leadscore.edge import Rejected, UnknownSource, json_response, not_queued, rejection
from leadscore.ingest.hooks import NoSecret, queue_delivery

logger = Logger(service="hooks")
metrics = Metrics(namespace="leadscore", service="hooks")
app = APIGatewayHttpResolver()


def init() -> None:
    dependencies.current().queue  # noqa: B018 (the SQS client, built at cold start)


@app.post("/hooks/<source>")
def hook(source: str) -> Response:
    queued = queue_delivery(dependencies.current(), source, app.current_event)
    metrics.add_metric(name="HookEventsQueued", unit=MetricUnit.Count, value=queued)
    logger.info("queued", extra={"source": source, "events": queued})
    return json_response(202, {"queued": queued})


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    if isinstance(exc, NoSecret):
        logger.warning("no signing secret configured", extra={"source": exc.source})
    metrics.add_metric(name=f"HookRejected_{exc.status}", unit=MetricUnit.Count, value=1)
    logger.info("rejected", extra={"status": exc.status, "reason": exc.message})
    return rejection(exc)


@app.not_found
def no_route(exc: NotFoundError) -> Response:
    # a {source} with characters outside powertools' path pattern (non-ASCII) matches no route: our 404 still
    return rejected(UnknownSource("unknown webhook source"))


@app.exception_handler(QueueError)
def queue_failed(exc: QueueError) -> Response:
    logger.error("events not queued", extra={"failed": exc.failed})
    return not_queued()


@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
