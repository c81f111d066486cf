"""The real handlers, invoked as Lambda invokes them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.http import http_api_event

from tests.support.template import ROUTES

NOTIFY = Path(__file__).resolve().parents[2] / "functions" / "notify"


def invoke(function: str, path: str, *, method: str | None = None, headers: dict[str, str] | None = None,
           query: dict[str, str] | None = None, body: bytes = b"", path_parameters: dict[str, str] | None = None,
           source_ip: str = "203.0.113.7") -> dict[str, Any]:
    """Invoke a function's real handler with the API Gateway v2 event for this request."""
    route = ROUTES[function]
    event = http_api_event(method or route.method, path, urlencode(query or {}), headers or {}, body,
                           f"{route.method} {route.path}", path_parameters or {}, source_ip)
    return load_handler(route.code_uri, route.handler)(event, LambdaContext(function))


def invoke_notifier(channel: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke a notifier's real handler as Lambda does (a fresh copy of the event each time)."""
    handler = load_handler(NOTIFY, f"app.{channel}_handler")
    return handler(copy.deepcopy(event), LambdaContext(f"{channel.capitalize()}NotifyFunction"))
