"""What `POST /hooks/{source}` does with a request: check its signature, map its payload, queue the events.

Called by `functions/hooks` with the container's `Dependencies`; returns how many
events were queued. Refusals raise `leadscore.edge.Rejected` (the handler answers
them); a queue that cannot take the events raises `QueueError` (answered 503).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..edge import BadRequest, Unauthorized, raw_body
from .webhooks import get_source
from .webhooks.base import Delivery

if TYPE_CHECKING:  # pragma: no cover
    from ..dependencies import Dependencies

MAX_BODY = 1024 * 1024


class NoSecret(Unauthorized):
    """No signing secret is configured for the source: answered 401 like a bad signature, but a
    deployment problem the handler logs as a warning."""

    def __init__(self, source: str):
        super().__init__("no secret configured")
        self.source = source


def queue_delivery(deps: Dependencies, source: str, request: Any) -> int:
    """`POST /hooks/<source>`: a signed delivery's events, queued; returns how many."""
    sender = get_source(source)  # UnknownSource: 404
    body = raw_body(request)
    if len(body) > MAX_BODY:
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
