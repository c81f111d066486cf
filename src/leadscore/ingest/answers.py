"""The HTTP answers the SDK and webhook routes share for rejected and unqueued requests."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from .errors import Rejected


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def rejection(exc: Rejected, **extra: str) -> Response:
    """`{"error": ...}` with the rejection's message; a 401 says no more than "unauthorized"."""
    message = "unauthorized" if exc.status == 401 else exc.message
    return json_response(exc.status, {"error": message, **{k: (message if v is None else v) for k, v in extra.items()}})


def not_queued() -> Response:
    # 503: SDKs and webhook senders retry 5xx, so nothing is lost
    return json_response(503, {"error": "could not queue events, retry"})
