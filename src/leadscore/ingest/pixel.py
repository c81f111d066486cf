"""The tracking pixel: a `GET /t.gif` hit becomes one canonical event, or is dropped.

The answer is always the same transparent GIF (the handler's job); here we
decide what the hit means (`event_from_hit`) and queue it (`queue_hit`). Query parameters: `vid` anonymous visitor id, `e`
event type (default `page_view`), `url`, `ref` referrer, `lid` known lead id
(email pixels), `cid` campaign, `eid` an optional client-made id for the hit
(our snippet sends one per page view, so a double-fired pixel dedupes); `sig` and
`exp` sign a `lid` hit (leadscore.ingest.signed_pixel); `sec` the engaged seconds of a
`page_engaged` report (whole seconds, at most a day), the event's `engaged_seconds`.

The pixel is a low-trust source (docs/ingest.md, Trust levels): anyone can make a hit. A
`lid` hit counts only when signed, and no hit may send an event the model reserves for
trusted senders (a purchase, an opt-out: `scoring_core.restrictions`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..dependencies import Dependencies

#: The 43-byte transparent 1×1 GIF.
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_URL = 2048
_SECONDS = re.compile(r"^[0-9]{1,5}$")
MAX_ENGAGED_S = 86_400  # one page view's engaged time: more is not a person reading

# Reasons a hit is dropped, for the metric; never the hit's content.
BOT, NO_CONSENT, NO_IDENTITY, BAD_INPUT = "bot", "no_consent", "no_identity", "bad_input"
UNSIGNED, RESTRICTED = "unsigned", "restricted"

_bot_cache: dict[str, bool] = {}


def is_bot(user_agent: str) -> bool:
    """True for crawlers, by the maintained `crawler-user-agents` list (compiled on first use)."""
    known = _bot_cache.get(user_agent)
    if known is None:
        import crawleruseragents  # lazily: its ~600 patterns compile on the first hit, not at cold start

        known = crawleruseragents.is_crawler(user_agent)
        if len(_bot_cache) > 10_000:
            _bot_cache.clear()
        _bot_cache[user_agent] = known
    return known


def _text(query: Mapping[str, str], name: str, limit: int = _MAX_URL) -> str | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    return value[:limit]


def _signal(value: str | None, *, extensions: bool = False) -> bool:
    """True when a privacy header says `1`, however it is spaced (`DNT:  1  `) and when a
    repeated header arrives comma-joined (`1,1`). `DNT` may carry extension characters
    after its `1` (Tracking Preference Expression, DNT-field-value); `Sec-GPC` is `1` only."""
    if not value:
        return False
    first = value.split(",", 1)[0].strip()
    return first[:1] == "1" if extensions else first == "1"


def event_from_hit(
    query: Mapping[str, str],
    headers: Mapping[str, str],
    source_ip: str | None,
    request_id: str,
    received_at: datetime,
    *,
    pixel_key: Callable[[], bytes],
    restrictions: Callable[[], Any],
):
    """(event, None) for a usable hit, or (None, reason) for one to drop.

    `headers` have lowercased names. A hit needs a visitor id (`vid`) or a lead id
    (`lid`); crawlers are dropped; an unidentified visitor who sends `DNT: 1` or
    `Sec-GPC: 1` is not tracked. A `lid` hit needs a valid `sig` (`pixel_key()` is called
    only for one, so only such a hit reads the secret) and then names the lead alone; an event
    `restrictions()` forbids is dropped."""
    user_agent = headers.get("user-agent") or ""
    if not user_agent or is_bot(user_agent):
        return None, BOT
    vid, lid = query.get("vid"), query.get("lid")
    vid = vid if vid and _ID.match(vid) else None
    lid = lid if lid and _ID.match(lid) else None
    if vid is None and lid is None:
        return None, NO_IDENTITY
    dnt = _signal(headers.get("dnt"), extensions=True)
    gpc = _signal(headers.get("sec-gpc"))
    if (dnt or gpc) and lid is None:
        return None, NO_CONSENT
    etype = query.get("e") or "page_view"
    if not _TYPE.match(etype):
        return None, BAD_INPUT
    if lid is not None:
        from .signed_pixel import valid_hit

        if not valid_hit(lid, etype, query.get("cid") or None, query.get("exp"), query.get("sig"), pixel_key(),
                         now=received_at.timestamp()):
            return None, UNSIGNED
        vid = None  # the signature names one lead: a visitor id added to the URL does not join it
    eid = query.get("eid")
    properties = {}
    url = _text(query, "url") or headers.get("referer", "")[:_MAX_URL] or None
    if url:
        properties["url"] = url
    for key, name in (("ref", "referrer"), ("cid", "campaign")):
        value = _text(query, key)
        if value:
            properties[name] = value
    seconds = query.get("sec")
    if seconds:
        if not _SECONDS.match(seconds) or int(seconds) > MAX_ENGAGED_S:
            return None, BAD_INPUT
        properties["engaged_seconds"] = int(seconds)

    from scoring_core.events import Event  # pydantic: loaded on the first usable hit
    from pydantic import ValidationError

    try:
        event = Event(
            event_id=f"px-{eid}" if eid and _ID.match(eid) else f"px-{request_id}",
            type=etype,
            occurred_at=received_at,
            received_at=received_at,
            source="pixel",
            trusted=False,
            anonymous_id=vid,
            lead_id=lid,
            properties=properties,
            context={
                "ip": source_ip,
                "user_agent": user_agent[:1024],
                "consent": {"do_not_track": dnt, "global_privacy_control": gpc},
            },
        )
    except ValidationError:
        return None, BAD_INPUT
    if restrictions().forbids(event):
        return None, RESTRICTED
    return event, None


def queue_hit(deps: Dependencies, event: dict[str, Any]) -> str | None:
    """`GET /t.gif`: the hit's event, queued; returns why it was dropped instead, or None."""
    context = event.get("requestContext") or {}
    hit, reason = event_from_hit(
        event.get("queryStringParameters") or {},
        event.get("headers") or {},
        (context.get("http") or {}).get("sourceIp"),
        context.get("requestId") or "",
        datetime.now(timezone.utc),
        pixel_key=deps.pixel_key,
        restrictions=lambda: deps.restrictions,
    )
    if hit is None:
        return reason
    deps.queue.send([hit])
    return None
