"""GET /t.gif: always answers the transparent GIF; usable hits are queued as events.

One fixed route, so no event-handler resolver: powertools' resolver package
imports every resolver it has (AppSync pulls in asyncio), ~50 ms of cold start
for routing a single path. The API Gateway v2 event is read directly.
"""

import base64

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import dependencies
from leadscore.ingest.pixel import GIF, queue_hit

logger = Logger(service="pixel")
metrics = Metrics(namespace="leadscore", service="pixel")
RESPONSE = {
    "statusCode": 200,
    # an <img> needs no CORS; the header lets a page's fetch() read the answer too
    "headers": {"Content-Type": "image/gif", "Cache-Control": "no-store, max-age=0", "Access-Control-Allow-Origin": "*"},
    "body": base64.b64encode(GIF).decode("ascii"),
    "isBase64Encoded": True,
}


def init() -> None:
    """Build what every request needs (the SQS client, the event model); once per container."""
    dependencies.current().queue  # noqa: B018 (built at cold start)
    import scoring_core.events  # noqa: F401  (pydantic model, needed by every usable hit)


def pixel(event: dict) -> None:
    dropped = queue_hit(dependencies.current(), event)
    name = f"PixelDropped_{dropped}" if dropped else "PixelQueued"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@metrics.log_metrics
def lambda_handler(event, context):
    try:
        pixel(event)
    except Exception:  # a page must never break: log it, count it, answer the GIF
        logger.exception("pixel hit not queued")
        metrics.add_metric(name="PixelFailed", unit=MetricUnit.Count, value=1)
    return dict(RESPONSE)
