"""What the SDK and webhook routes do with a request: parse it, check it, queue its events.

One function per route, called by its handler (`functions/collect`, `functions/hooks`)
with the container's `Dependencies`; each returns what the handler counts and logs
(the pixel's is `ingest.pixel.queue_hit`, which needs none of these parsers). Refusals raise `leadscore.edge.Rejected` (the handler answers
them), a queue that cannot take the events raises `QueueError` (answered 503).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from ..edge import BadRequest, Unauthorized, UnknownSource, raw_body
from .segment import KINDS, parse_calls
from .trust import screen
from .webhooks import get_source
from .webhooks.base import Delivery

if TYPE_CHECKING:  # pragma: no cover
    from ..dependencies import Dependencies

MAX_HOOK_BODY = 1024 * 1024


class NoSecret(Unauthorized):
    """No signing secret is configured for the source: answered 401 like a bad signature, but a
    deployment problem the handler logs as a warning."""

    def __init__(self, source: str):
        super().__init__("no secret configured")
        self.source = source


class Collected(NamedTuple):
    queued: int
    key_kind: str
    screened: Counter[str]  # reason -> events a public key may not send, dropped (not refused)


def sdk_calls(deps: Dependencies, kind: str, request: Any, url_key: str | None = None) -> Collected:
    """`POST /v1/<kind>` (and the beacon, whose write key is `url_key`): the calls' events, queued."""
    if kind not in KINDS:
        raise UnknownSource(f"unknown call /v1/{kind}")
    calls = parse_calls(kind, request.headers or {}, raw_body(request), deps.settings.write_keys(),
                        datetime.now(timezone.utc), url_key=url_key)
    # a public key's forbidden events are dropped, not refused: a 200, so the SDK does not retry them
    events, screened = screen(calls.events, calls.key_kind, deps.restrictions)
    if events:
        deps.queue.send(events)
    return Collected(len(events), calls.key_kind, screened)


def webhook(deps: Dependencies, source: str, request: Any) -> int:
    """`POST /hooks/<source>`: a signed delivery's events, queued; returns how many."""
    sender = get_source(source)  # UnknownSource: 404
    body = raw_body(request)
    if len(body) > MAX_HOOK_BODY:
        raise BadRequest("body larger than 1 MB")
    secret = deps.settings.webhook_secret(source)
    if not secret:
        raise NoSecret(source)
    delivery = Delivery(
        headers=request.headers or {},
        body=body,
        received_at=datetime.now(timezone.utc),
        url=f"https://{request.request_context.domain_name}{request.raw_path}",
        query=request.query_string_parameters or {},
    )
    sender.verify(delivery, secret)
    events = sender.to_events(delivery, deps.settings.field_map(source))
    deps.queue.send(events)
    return len(events)
