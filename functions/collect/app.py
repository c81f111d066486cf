"""POST /v1/{kind}: the Segment-compatible SDK endpoint; POST /beacon/v1/batch: RudderStack's beacon.

`kind` is batch, track, identify, page, screen, group or alias, or one of
analytics.js's short forms (b, t, i, p, s, g, a); see leadscore.ingest.segment.KINDS.
The beacon carries a batch as text/plain with the write key in `?writeKey=`.
CORS (any origin, the browser SDKs' headers): leadscore.cors.
"""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from leadscore import runtime
from leadscore.adapters.queue import QueueError
from leadscore.cors import ingest_cors
from leadscore.ingest.answers import not_queued, rejection
from leadscore.ingest.errors import Rejected, UnknownSource
from leadscore.ingest.segment import KINDS, parse_calls
from leadscore.ingest.trust import screen

logger = Logger(service="collect")
metrics = Metrics(namespace="leadscore", service="collect")
app = APIGatewayHttpResolver(cors=ingest_cors())


def init() -> None:
    runtime.event_queue()


@app.post("/v1/<kind>")
def collect(kind: str) -> dict:
    if kind not in KINDS:
        raise UnknownSource(f"unknown call /v1/{kind}")
    return _queue(kind)


@app.post("/beacon/v1/batch")
def beacon() -> dict:
    return _queue("batch", url_key=app.current_event.get_query_string_value("writeKey"))


def _queue(kind: str, url_key: str | None = None) -> dict:
    request = app.current_event
    calls = parse_calls(kind, request.headers or {}, runtime.raw_body(request), runtime.settings().write_keys(),
                        datetime.now(timezone.utc), url_key=url_key)
    # a public key's forbidden events are dropped, not refused: a 200, so the SDK does not retry them
    events, screened = screen(calls.events, calls.key_kind, runtime.restrictions())
    for reason, count in screened.items():
        metrics.add_metric(name=f"SdkScreened_{reason}", unit=MetricUnit.Count, value=count)
    if screened:
        logger.info("screened", extra={"key_kind": calls.key_kind, **screened})
    if events:
        runtime.event_queue().send(events)
    metrics.add_metric(name="SdkEventsQueued", unit=MetricUnit.Count, value=len(events))
    logger.info("queued", extra={"kind": kind, "events": len(events)})
    return {"success": True}


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    metrics.add_metric(name=f"SdkRejected_{exc.status}", unit=MetricUnit.Count, value=1)
    logger.info("rejected", extra={"status": exc.status, "reason": exc.message if exc.status != 401 else "unauthorized"})
    # `code` and `message` as Segment's API answers (its SDKs read them), `error` as all our routes do
    code = {400: "invalid_request", 401: "unauthorized", 404: "not_found"}.get(exc.status, "error")
    return rejection(exc, code=code, message=None)


@app.exception_handler(QueueError)
def queue_failed(exc: QueueError) -> Response:
    logger.error("events not queued", extra={"failed": exc.failed})
    return not_queued()


@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
