"""Segment HTTP Tracking API requests -> canonical events.

`parse_request` takes one request to `/v1/batch`, `/v1/track`, `/v1/identify`,
`/v1/page`, `/v1/screen`, `/v1/group` or `/v1/alias` exactly as an SDK of the
Segment family sends it (segment-analytics-python, analytics.js, RudderStack)
and returns the canonical events it carries, in message order. Pure parsing and
checking: no AWS, no logging. See docs/ingest.md.

What Segment does and we do too (segment-docs: sources/.../http-api/index.md,
spec/common.md):

- the write key is the HTTP Basic user name (`base64("<key>:")`) or `writeKey`
  in the body; analytics-python 2.4 sends both, 2.3 only the body key, 2.2
  and older only Basic auth, RudderStack only Basic auth, analytics.js both;
  RudderStack's beacon (`/beacon/v1/batch`) sends it as `?writeKey=`;
- gzip request bodies (`Content-Encoding: gzip`; a gzip body without the
  header is recognised by its magic bytes);
- 500 KB per request and 32 KB per message, else 400;
- `timestamp = receivedAt - (sentAt - originalTimestamp)`: the client's clock
  skew is measured by `sentAt` against our receipt time and taken out;
- `messageId` is the dedupe key.

Errors are `BadRequest` (the request will never succeed as sent) or
`Unauthorized`; their messages name the field or the limit and never echo a
sender's value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, NamedTuple, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError
from pydantic_core import from_json
from scoring_core.events import EARLIEST, LATEST, Event, normalize_email

from leadscore.edge import BadRequest, Unauthorized
from leadscore.ingest.traits import canonical_name, clean_traits, snake

SOURCE = "segment"

#: Segment's limits. "KB" is read as KiB: analytics-python stops filling a
#: batch once its messages reach 475,000 bytes, so its largest batch (one more
#: 32 KiB message, separators and the envelope) is about 508,000 bytes, which
#: 500,000 would refuse and 512,000 accepts.
MAX_REQUEST_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024

#: path -> call type; None is a batch. analytics.js posts single calls to
#: `/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`, `/v1/a` and batches to `/v1/b`;
#: `/v1/import` is Segment's older name for `/v1/batch`.
KINDS: dict[str, str | None] = {
    "batch": None, "b": None, "import": None,
    "track": "track", "t": "track",
    "identify": "identify", "i": "identify",
    "page": "page", "p": "page",
    "screen": "screen", "s": "screen",
    "group": "group", "g": "group",
    "alias": "alias", "a": "alias",
}

#: Segment spec event names (snake_cased) -> our event types. Every other
#: `track` event keeps its own snake_cased name.
SPEC_EVENTS = {
    "order_completed": "purchase",  # e-commerce spec v2
    "completed_order": "purchase",  # its v1 name, which v2 aliases
    "email_opened": "email_opened",  # email spec
    "email_link_clicked": "email_clicked",
    "email_bounced": "email_bounced",
    "unsubscribed": "unsubscribed",
    "form_submitted": "form_submitted",
    "cart_abandoned": "cart_abandoned",  # not in Segment's spec; the common name
}

_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_GZIP_MAGIC = b"\x1f\x8b"
_PAGE_FIELDS = ("url", "path", "title", "referrer", "search")
#: Group traits that are firmographic facts of the lead's company, under our
#: names (after `canonical_name`). Other group traits are kept as `company_<name>`:
#: a group's `email`, `phone` or `name` is not the lead's.
_COMPANY_FACTS = frozenset({"company", "company_size", "industry", "annual_revenue", "tech_stack", "website", "country"})
#: Keys left out of a message when hashing it for a made-up event id: they
#: change from one delivery attempt to the next.
_VOLATILE = frozenset({"sentAt", "writeKey", "_metadata", "receivedAt"})


# ---------------------------------------------------------------- messages


def _as_id(value: Any) -> Any:
    """Segment ids are strings; SDKs stringify numbers (analytics-python's `stringify_id`)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("must be a string or a number")
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _as_time(value: Any) -> Any:
    return None if value == "" else value


def _as_dict(value: Any) -> Any:
    return {} if value is None else value


_Id = Annotated[Optional[Annotated[str, StringConstraints(max_length=256)]], BeforeValidator(_as_id)]
_Time = Annotated[Optional[datetime], BeforeValidator(_as_time)]
_Dict = Annotated[dict[str, Any], BeforeValidator(_as_dict)]


class Message(BaseModel):
    """One call, any type (spec/common.md and the spec page of each call). Senders
    add fields of their own (`channel`, `integrations`, `_metadata`, `version`,
    ...): allowed, ignored. One model rather than one per call type: each pydantic
    model costs milliseconds of Lambda cold start to build; the few fields a type
    requires are listed in `REQUIRED`."""

    model_config = ConfigDict(extra="allow")

    messageId: _Id = None
    userId: _Id = None
    anonymousId: _Id = None
    previousId: _Id = None  # alias
    groupId: _Id = None  # group
    timestamp: _Time = None
    sentAt: _Time = None
    context: _Dict = {}
    properties: _Dict = {}  # track, page, screen
    traits: _Dict = {}  # identify, group
    event: Optional[Annotated[str, StringConstraints(max_length=1024)]] = None  # track
    name: Optional[str] = None  # page, screen
    category: Optional[str] = None  # page, screen


#: Call types and the fields each requires besides userId or anonymousId.
REQUIRED: dict[str, tuple[str, ...]] = {
    "track": ("event",),
    "page": (),
    "screen": (),
    "identify": (),
    "group": ("groupId",),
    "alias": ("previousId", "userId"),
}
_FIELD_NAMES = frozenset(Message.model_fields)


# ---------------------------------------------------------------- the request


class Calls(NamedTuple):
    """A request's events, and the kind of the write key that sent them (`public` or `server`)."""

    events: list[Event]
    key_kind: str


def parse_request(
    kind: str,
    headers: Mapping[str, str],
    body: bytes,
    write_keys: Mapping[str, str] | frozenset[str],
    received_at: datetime,
    *,
    url_key: str | None = None,
) -> list[Event]:
    """The canonical events of one Segment-style request, in message order (`parse_calls`'s events)."""
    return parse_calls(kind, headers, body, write_keys, received_at, url_key=url_key).events


def parse_calls(
    kind: str,
    headers: Mapping[str, str],
    body: bytes,
    write_keys: Mapping[str, str] | frozenset[str],
    received_at: datetime,
    *,
    url_key: str | None = None,
) -> Calls:
    """The canonical events of one Segment-style request, in message order, and its key's kind.

    `kind` is the last path segment (`batch`, `track`, ...), `headers` have
    lowercased names, `body` is the raw (maybe gzipped) body, `url_key` the
    `?writeKey=` of RudderStack's beacon (`/beacon/v1/batch`); `write_keys` maps each
    key to its kind (a set: every key public). Raises
    `BadRequest` for a malformed, oversize or invalid request and
    `Unauthorized` when no valid write key comes with it (an empty
    `write_keys` accepts none)."""
    if kind not in KINDS:
        raise BadRequest("unknown call type")
    call = KINDS[kind]
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=timezone.utc)

    payload = _json_object(_inflate(bytes(body), headers.get("content-encoding", "")))
    key_kind = _authenticate((_basic_user(headers.get("authorization")), payload.get("writeKey"), url_key), write_keys)

    if call is None:
        messages = payload.get("batch")
        if not isinstance(messages, list):
            raise BadRequest("batch must be a list of messages")
        envelope_context = payload.get("context")
        envelope_context = envelope_context if isinstance(envelope_context, dict) else {}
        envelope_sent_at = payload.get("sentAt")
    else:
        messages, envelope_context, envelope_sent_at = [payload], {}, None

    events = []
    for index, raw in enumerate(messages):
        if not isinstance(raw, dict):
            raise BadRequest(f"message {index}: must be a JSON object")
        if _size(raw) > MAX_MESSAGE_BYTES:
            raise BadRequest(f"message {index}: larger than 32 KB")
        msg_type = call or raw.get("type")
        if not isinstance(msg_type, str) or msg_type.lower() not in REQUIRED:
            raise BadRequest(f"message {index}: type must be one of track, identify, page, screen, group, alias")
        events.append(_event(index, msg_type.lower(), raw, envelope_context, envelope_sent_at, received_at))
    return Calls(events, key_kind)


def _inflate(body: bytes, content_encoding: str) -> bytes:
    """The body, gunzipped when it is gzip, never more than MAX_REQUEST_BYTES.

    Decompression stops one byte past the limit, so a small gzip bomb costs at
    most the limit in memory and time, not what it would inflate to."""
    if len(body) > MAX_REQUEST_BYTES:
        raise BadRequest("batch larger than 500 KB")
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip") or body[:2] == _GZIP_MAGIC:
        return _gunzip(body)
    if encoding not in ("", "identity"):
        raise BadRequest("unsupported Content-Encoding: send gzip or no encoding")
    return body


def _gunzip(data: bytes) -> bytes:
    out = bytearray()
    try:
        while True:  # one pass per gzip member (RFC 1952 allows several)
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while True:
                out += inflater.decompress(data, MAX_REQUEST_BYTES + 1 - len(out))
                if len(out) > MAX_REQUEST_BYTES:
                    raise BadRequest("batch larger than 500 KB")
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                data = inflater.unconsumed_tail
            if not inflater.eof:
                raise BadRequest("body is not valid gzip: truncated")
            data = inflater.unused_data
            if not data.strip(b"\x00"):
                return bytes(out)
            if data[:2] != _GZIP_MAGIC:
                raise BadRequest("body is not valid gzip: trailing garbage")
    except zlib.error:
        raise BadRequest("body is not valid gzip") from None


def _json_object(data: bytes) -> dict[str, Any]:
    """The body as a JSON object. pydantic-core's parser refuses what would fail later
    as a 500: NaN and Infinity, lone surrogates (`"\\ud800"`, which no UTF-8 encoder
    writes) and nesting beyond its recursion limit (about 200 levels)."""
    try:
        payload = from_json(data, allow_inf_nan=False)
    except ValueError as exc:  # also invalid UTF-8
        if "recursion limit" in str(exc):
            raise BadRequest("body is not valid JSON: nested too deeply (properties and traits: at most 8 levels)") from None
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    return payload


def _basic_user(authorization: str | None) -> str | None:
    """The user name of `Authorization: Basic base64(user:password)`; Segment also
    accepts the key encoded without the colon."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None  # e.g. Segment's OAuth `Bearer`, which carries no write key
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError
        return None
    return decoded.partition(":")[0] or None


def _authenticate(given_keys: tuple[Any, ...], write_keys: Mapping[str, str] | frozenset[str]) -> str:
    """The kind of the keys given (Basic user, body `writeKey`, beacon `?writeKey=`): one must be
    valid; `server` only when every valid one given is a server key (the lower trust wins)."""
    candidates = [key for key in given_keys if isinstance(key, str) and key]
    if not candidates:
        raise Unauthorized("missing write key")
    kinds = write_keys if isinstance(write_keys, Mapping) else dict.fromkeys(write_keys, "public")
    found: set[str] = set()
    for candidate in candidates:
        given = candidate.encode("utf-8", "surrogatepass")  # a `?writeKey=` may hold a lone surrogate
        for key, key_kind in kinds.items():  # every comparison in constant time, none cut short
            if hmac.compare_digest(given, key.encode("utf-8")):
                found.add(key_kind)
    if not found:
        raise Unauthorized("unknown write key")
    return "server" if found == {"server"} else "public"


def _size(message: dict[str, Any]) -> int:
    """A message's size as compact UTF-8 JSON: never more than analytics-python's
    own measure (`json.dumps` with spaces and \\u escapes), so whatever that client
    lets through, we accept."""
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


# ---------------------------------------------------------------- one message


def _event(
    index: int,
    msg_type: str,
    raw: dict[str, Any],
    envelope_context: dict[str, Any],
    envelope_sent_at: Any,
    received_at: datetime,
) -> Event:
    fields = dict(raw)
    fields.pop("type", None)  # the path or the batch entry decided it
    if fields.get("sentAt") is None and envelope_sent_at is not None:
        fields["sentAt"] = envelope_sent_at
    if envelope_context:  # a batch's context is merged under each message's own
        own = fields.get("context")
        fields["context"] = {**envelope_context, **(own if isinstance(own, dict) else {})}
    try:
        msg = Message.model_validate(fields)
    except ValidationError as exc:
        raise BadRequest(f"message {index}: {_describe(exc)}") from None
    for name in REQUIRED[msg_type]:
        if not getattr(msg, name):
            raise BadRequest(f"message {index}: {name}: Field required")
    if not (msg.userId or msg.anonymousId):
        raise BadRequest(f"message {index}: userId or anonymousId is required")

    context = msg.context
    context_traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
    library = context.get("library")
    library_name = library.get("name") if isinstance(library, dict) else None

    properties: dict[str, Any] = {}
    # context.traits: the user's traits at the time of the call (spec/common.md)
    traits = clean_traits(context_traits)
    context_email = traits.pop("email", None)
    own_email = None
    anonymous_id, lead_id = msg.anonymousId, msg.userId

    if msg_type == "track":
        event_type = _track_type(index, msg.event)
        properties = dict(msg.properties)
        if event_type == "purchase":
            _purchase(properties)
    elif msg_type in ("page", "screen"):
        event_type = "page_view" if msg_type == "page" else "screen_view"
        properties = dict(msg.properties)
        page = context.get("page") if isinstance(context.get("page"), dict) else {}
        for name in _PAGE_FIELDS:
            if properties.get(name) in (None, "") and page.get(name) not in (None, ""):
                properties[name] = page[name]
        for name in ("name", "category"):
            value = getattr(msg, name)
            if value and name not in properties:
                properties[name] = value
    elif msg_type == "identify":
        event_type = "identify"
        # some RudderStack SDK versions put identify traits under context.traits only
        own = clean_traits(msg.traits)
        own_email = own.pop("email", None)
        traits.update(own)
    elif msg_type == "group":
        event_type = "group"
        properties = {"group_id": msg.groupId}
        traits.update(_company_facts(msg.traits))
    else:  # alias: the previous id and the new one are one lead
        event_type = "alias"
        anonymous_id, lead_id = msg.previousId, msg.userId

    email = _first_email(own_email, context_email)

    if isinstance(library_name, str) and library_name:
        properties.setdefault("library", library_name)
    utm = _utm(context.get("campaign"))
    if utm:
        properties.setdefault("utm", utm)

    for name in ("timestamp", "sentAt"):
        if not _in_range(getattr(msg, name)):
            raise BadRequest(f"message {index}: {name}: a time outside 2000-01-01..9000-01-01")
    try:
        occurred_at = _corrected(msg.timestamp, msg.sentAt, received_at)
    except OverflowError:  # a sentAt thousands of years after the timestamp moves it before year 1
        raise BadRequest(f"message {index}: timestamp: before 2000-01-01 once corrected by sentAt") from None
    if not _in_range(occurred_at):
        raise BadRequest(f"message {index}: timestamp: before 2000-01-01 once corrected by sentAt")

    try:
        return Event(
            event_id=msg.messageId or _made_up_id(raw),
            type=event_type,
            occurred_at=occurred_at,
            received_at=received_at,
            source=SOURCE,
            anonymous_id=anonymous_id,
            email=email,
            lead_id=lead_id,
            properties=properties,
            traits=traits,
            context={"ip": _ip(context), "user_agent": _user_agent(context)},
        )
    except ValidationError as exc:
        raise BadRequest(f"message {index}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """The first error as `field: problem`, without the offending value."""
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(part for part in error["loc"] if isinstance(part, str) and part in _FIELD_NAMES)
    return f"{where}: {error['msg']}" if where else error["msg"]


def _track_type(index: int, name: str) -> str:
    key = snake(name)
    event_type = SPEC_EVENTS.get(key, key)
    if not _TYPE.match(event_type):
        raise BadRequest(
            f"message {index}: event name does not make an event type "
            "(letters, digits and separators, starting with a letter, at most 64 characters)"
        )
    return event_type


def _purchase(properties: dict[str, Any]) -> None:
    """`Order Completed`: `amount` from `total`, else `revenue`, else `value`
    (e-commerce spec v2); `currency` upper-cased."""
    for name in ("total", "revenue", "value"):
        value = properties.get(name)
        if _is_amount(value):
            properties["amount"] = value
            break
    currency = properties.get("currency")
    if isinstance(currency, str) and currency.strip():
        properties["currency"] = currency.strip().upper()


def _is_amount(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value.replace(",", ""))
        except ValueError:
            return False
        return True
    return False


def _company_facts(group_traits: dict[str, Any]) -> dict[str, Any]:
    """Group traits (spec/group.md) as facts about the lead's company:
    `name` -> company, `employees` -> company_size, `industry`, `website`, ..."""
    out: dict[str, Any] = {}
    for key, value in group_traits.items():
        if value is None or value == "" or value == []:
            continue
        name = canonical_name(key)
        if not name or name == "id":
            continue  # the group's id is `properties.group_id`
        if name == "name":
            name = "company"
        elif name not in _COMPANY_FACTS and not name.startswith("company_"):
            name = f"company_{name}"
        out.setdefault(name, value)
    return out


def _first_email(*candidates: Any) -> str | None:
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return normalize_email(candidate)
            except ValueError:
                continue  # not an address: dropped, never echoed
    return None


def _utm(campaign: Any) -> dict[str, str]:
    """analytics.js's `context.campaign` (utm_* query parameters; `name` is utm_campaign)."""
    if not isinstance(campaign, dict):
        return {}
    utm = {("campaign" if key == "name" else key): value for key, value in campaign.items()
           if isinstance(value, str) and value}
    return utm


def _ip(context: dict[str, Any]) -> str | None:
    ip = context.get("ip")
    return ip if isinstance(ip, str) and 0 < len(ip) <= 64 else None


def _user_agent(context: dict[str, Any]) -> str | None:
    agent = context.get("userAgent", context.get("user_agent"))
    return agent[:1024] if isinstance(agent, str) and agent else None


def _in_range(moment: datetime | None) -> bool:
    """None, or a time the canonical event accepts. Year 1 with a positive offset is
    before `datetime.min` in UTC: comparing it is fine, converting it overflows."""
    if moment is None:
        return True
    try:
        return EARLIEST <= _aware(moment) < LATEST
    except OverflowError:
        return False


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _corrected(timestamp: datetime | None, sent_at: datetime | None, received_at: datetime) -> datetime:
    """Segment's clock-skew correction, `receivedAt - (sentAt - originalTimestamp)`,
    clamped to our receipt; no timestamp means now."""
    if timestamp is None:
        return received_at
    occurred = _aware(timestamp)
    if sent_at is not None:
        occurred = received_at - (_aware(sent_at) - occurred)
    return min(occurred, received_at)


def _made_up_id(raw: dict[str, Any]) -> str:
    """A message without a `messageId`: an id from its content, so that the same
    message delivered again gets the same id (what changes per attempt is left out)."""
    stable = {key: value for key, value in raw.items() if key not in _VOLATILE}
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "segment-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]
