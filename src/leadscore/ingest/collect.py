"""What `POST /v1/{kind}` and the beacon do with a request: parse the SDK calls, screen them, queue the events.

Called by `functions/collect` with the container's `Dependencies`; returns what the
handler counts and logs. Refusals raise `leadscore.edge.Rejected` (the handler answers
them); a queue that cannot take the events raises `QueueError` (answered 503).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from ..edge import UnknownSource, raw_body
from .segment import KINDS, parse_calls
from .trust import screen

if TYPE_CHECKING:  # pragma: no cover
    from ..dependencies import Dependencies


class Collected(NamedTuple):
    queued: int
    key_kind: str
    screened: Counter[str]  # reason -> events a public key may not send, dropped (not refused)


def queue_calls(deps: Dependencies, kind: str, request: Any, url_key: str | None = None) -> Collected:
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
