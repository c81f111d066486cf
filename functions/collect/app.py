"""POST /v1/{kind}: the Segment-compatible SDK endpoint; POST /beacon/v1/batch: RudderStack's beacon.

`kind` is batch, track, identify, page, screen, group or alias, or one of
analytics.js's short forms (b, t, i, p, s, g, a); see leadscore.ingest.segment.KINDS.
The beacon carries a batch as text/plain with the write key in `?writeKey=`.
CORS (any origin, the browser SDKs' headers): leadscore.cors.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import dependencies
from leadscore.adapters.queue import QueueError
from leadscore.cors import ingest_cors
from leadscore.edge import Rejected, UnknownSource, not_queued, rejection
from leadscore.ingest.collect import Collected, queue_calls

logger = Logger(service="collect")
metrics = Metrics(namespace="leadscore", service="collect")
app = APIGatewayHttpResolver(cors=ingest_cors())


def init() -> None:
    dependencies.current().queue  # noqa: B018 (the SQS client, built at cold start)


@app.post("/v1/<kind>")
def collect(kind: str) -> dict:
    return _counted(kind, queue_calls(dependencies.current(), kind, app.current_event))


@app.post("/beacon/v1/batch")
def beacon() -> dict:
    url_key = app.current_event.get_query_string_value("writeKey")
    return _counted("batch", queue_calls(dependencies.current(), "batch", app.current_event, url_key=url_key))


def _counted(kind: str, collected: Collected) -> dict:
    for reason, count in collected.screened.items():
        metrics.add_metric(name=f"SdkScreened_{reason}", unit=MetricUnit.Count, value=count)
    if collected.screened:
        logger.info("screened", extra={"key_kind": collected.key_kind, **collected.screened})
    metrics.add_metric(name="SdkEventsQueued", unit=MetricUnit.Count, value=collected.queued)
    logger.info("queued", extra={"kind": kind, "events": collected.queued})
    return {"success": True}


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    metrics.add_metric(name=f"SdkRejected_{exc.status}", unit=MetricUnit.Count, value=1)
    logger.info("rejected", extra={"status": exc.status, "reason": exc.message if exc.status != 401 else "unauthorized"})
    return rejection(exc, segment=True)  # `code` and `message` as Segment's API answers (its SDKs read them)


@app.not_found
def no_route(exc: NotFoundError) -> Response:
    # a {kind} with characters outside powertools' path pattern (non-ASCII) matches no route: our 404 still
    return rejected(UnknownSource("unknown call"))


@app.exception_handler(QueueError)
def queue_failed(exc: QueueError) -> Response:
    logger.error("events not queued", extra={"failed": exc.failed})
    return not_queued()


@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
