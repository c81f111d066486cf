"""GET /t.gif: always answers the transparent GIF; usable hits are queued as events."""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import runtime
from leadscore.ingest.pixel import GIF, event_from_hit

logger = Logger(service="pixel")
metrics = Metrics(namespace="leadscore", service="pixel")
app = APIGatewayHttpResolver()
GIF_HEADERS = {"Cache-Control": "no-store, max-age=0"}


def init() -> None:
    """Build what every request needs (the SQS client); runs once per container."""
    runtime.event_queue()


@app.get("/t.gif")
def pixel() -> Response:
    try:
        request = app.current_event
        event, reason = event_from_hit(
            request.query_string_parameters or {},
            request.headers or {},
            request.request_context.http.source_ip,
            request.request_context.request_id,
            datetime.now(timezone.utc),
        )
        if event is None:
            metrics.add_metric(name=f"PixelDropped_{reason}", unit=MetricUnit.Count, value=1)
        else:
            runtime.event_queue().send([event])
            metrics.add_metric(name="PixelQueued", unit=MetricUnit.Count, value=1)
    except Exception:  # a page must never break: log it, count it, answer the GIF
        logger.exception("pixel hit not queued")
        metrics.add_metric(name="PixelFailed", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type="image/gif", body=GIF, headers=GIF_HEADERS)


@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
