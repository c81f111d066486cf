"""Mutation fuzzing of every ingest route's real handler: the requests, and the check of each answer.

Requests start from the real samples (events/segment/*.json, every message of a batch also as
a single call, events/webhooks/*/*.json, pixel hits of a page and of an email) and are mutated:
JSON values swapped for hostile ones (huge and tiny numbers, 1e999, NaN and Infinity literals,
"NaN" strings, lone surrogates, nesting 20 to 5,000 deep, wrong types, empty and very long
strings, year-1 and year-9999 times), keys deleted or added, random byte flips, deletions and
insertions, gzip (valid, truncated, garbage), other Content-Encodings and Content-Types, bad or
missing write keys and signatures, stale and future signature times, and Lambda-event oddities
(a text body holding a lone surrogate, a body flagged base64 that is not). Webhook bodies are
signed again after mutation with the source's secret (`testbed.signing`, an independent signer)
most of the time, so the mutation reaches the parser behind the signature check.

`Fuzzer` sends each request to its function's handler as the API Gateway v2 event
(`leadscore.dev.http.http_api_event`) and checks: no exception, no 5xx, the pixel always
answers its GIF, a 4xx has a JSON `{"error": ...}` that never repeats the canary values
mutations plant, a refused request queued nothing, and whatever a 2xx queued is an event
`scoring_core.Event` accepts. bench/fuzz.py runs it for 10,000 requests,
tests/integration/test_fuzz.py for 1,500; the same seed makes the same requests.
"""

from __future__ import annotations

import base64
import collections
import gzip
import json
import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed import signing

ROOT = Path(__file__).resolve().parents[1]
WRITE_KEY = "wk_fuzz"
SECRETS = {"generic": "gen-fuzz-s3cret", "typeform": "tf-fuzz-s3cret", "tally": "tally-fuzz-s3cret",
           "calendly": "cal-fuzz-s3cret", "stripe": "whsec_fuzz_s3cret"}
SIGNERS: dict[str, Callable[..., dict[str, str]]] = {
    "generic": signing.sign_generic, "typeform": signing.sign_typeform, "tally": signing.sign_tally,
    "calendly": signing.sign_calendly, "stripe": signing.sign_stripe,
}
#: Planted in hostile values (not in keys: a 400 names the field, and a key is one); an error message
#: that contains it echoed a value the sender sent.
CANARY = "canary7f3a"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def environment() -> dict[str, str]:
    """What the handlers need besides QUEUE_URL: the write key and every source's secret."""
    env = {"WRITE_KEYS": WRITE_KEY, **{f"WEBHOOK_SECRET_{s.upper()}": v for s, v in SECRETS.items()}}
    return env


# ---------------------------------------------------------------- requests


@dataclass
class Request:
    """One HTTP request to one route, before it becomes an API Gateway event."""

    function: str  # template logical id
    route: str  # the label counts are kept under: "/v1/batch", "/hooks/stripe", "/t.gif"
    method: str
    path: str
    route_key: str
    parameters: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Lambda-event changes API Gateway itself might make: applied to the built event
    event_patch: Callable[[dict[str, Any]], None] | None = None


class Raw:
    """A JSON token written as given (NaN, 1e999, nesting beyond what json.dumps will write)."""

    def __init__(self, token: bytes):
        self.token = token

    def __repr__(self) -> str:  # a str() of a mutated value is part of a body: the same on every run
        return self.token[:64].decode("latin-1")


def _nest(depth: int, kind: str = "object") -> Raw:
    if kind == "object":
        return Raw(b'{"a":' * depth + b"1" + b"}" * depth)
    return Raw(b"[" * depth + b"]" * depth)


def hostile_values(rng: random.Random) -> list[Any]:
    return [
        10**40, -(10**39), 10**400, 2**63, -(2**63) - 1, 1e308, -1e-320, 5e-324, 0, -1, 1.5,
        Raw(b"1e999"), Raw(b"-1e999"), Raw(b"NaN"), Raw(b"Infinity"), Raw(b"-Infinity"), Raw(b"1" * 5000),
        "NaN", "nan", "inf", "-Infinity", "1e999", "1" * 400,
        Raw(b'"\\ud800"'), Raw(b'"' + CANARY.encode() + b'\\udfff"'), Raw(b'"\\udc00\\ud800"'), "\u0000", "\uffff",
        "🚀" * 50, "e\u0301",
        _nest(20), _nest(199), _nest(250), _nest(1000), _nest(5000, "array"), json.loads('{"a":' * 9 + "1" + "}" * 9),
        "", " ", None, True, False, [], {}, [None], {"": None}, {"\u0000": 1},
        f"{CANARY}-" + "x" * rng.choice((300, 5000, 40_000)),
        f"{CANARY}@evil.example", f"not-an-email-{CANARY}", f"<script>{CANARY}</script>",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59Z", "2026-13-45T99:99:99Z",
        "2026-10-14", "yesterday", 0.0, 1796306499, 1796306499000, -1796306499,
        [1, "two", {"three": [4]}], {"nested": {"email": f"{CANARY}@evil.example"}},
    ]


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, path + (index,))


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def dumps(value: Any) -> bytes:
    """JSON with `Raw` tokens written as they are."""
    raws: list[bytes] = []

    def placeholder(obj: Any) -> Any:
        if isinstance(obj, Raw):
            raws.append(obj.token)
            return f"\u0001RAW{len(raws) - 1}\u0001"
        raise TypeError(type(obj).__name__)

    text = json.dumps(value, default=placeholder, ensure_ascii=False).encode("utf-8")
    for index, token in enumerate(raws):
        text = text.replace(f'"\\u0001RAW{index}\\u0001"'.encode(), token, 1)
    return text


def mutate_json(data: Any, rng: random.Random) -> Any:
    """One to three structural mutations of a parsed JSON document (a copy)."""
    data = json.loads(json.dumps(data))
    hostile = hostile_values(rng)
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = list(_walk(data))
        path = rng.choice(paths)
        if not path:  # the whole document
            data = rng.choice(hostile + [[data], "body"])
            if not isinstance(data, (dict, list)):
                return data
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        if isinstance(parent, Raw) or not isinstance(parent, (dict, list)):
            continue
        action = rng.random()
        if action < 0.65:
            parent[key] = rng.choice(hostile)
        elif action < 0.8:
            del parent[key]
        elif action < 0.9 and isinstance(parent, dict):
            parent[rng.choice(("extra_field", "", "\u0000", "email", "type", "__proto__"))] = rng.choice(hostile)
        else:  # the same value, another type
            value = parent[key]
            parent[key] = str(value) if not isinstance(value, str) else ([value] if rng.random() < 0.5 else {"v": value})
    return data


def mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        if not data:
            data += bytes([rng.randrange(256)])
            continue
        at = rng.randrange(len(data))
        action = rng.random()
        if action < 0.4:
            data[at] ^= 1 << rng.randrange(8)
        elif action < 0.6:
            del data[at:at + rng.choice((1, 2, 8, 64))]
        elif action < 0.8:
            data[at:at] = rng.choice((b"\x00", b"\xff", b"\xed\xa0\x80", b'"', b"{", b"]", b"\\", b"\\u", b"\xc3", b"NaN"))
        elif action < 0.9:
            del data[at:]
        else:
            data[at:at] = data[max(0, at - 32):at]
    return bytes(data)


def _surrogate_text_body(event: dict[str, Any]) -> None:
    """A text body holding a lone surrogate: what a Lambda event's JSON may carry as `"\\ud800"`."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return
    at = len(body) // 2
    event["body"] = body[:at] + "\ud800" + body[at:]


def _bad_base64(event: dict[str, Any]) -> None:
    event["body"], event["isBase64Encoded"] = "not*base64!" + (event.get("body") or "")[:10], True


def _surrogate_query(event: dict[str, Any]) -> None:
    query = event.get("queryStringParameters") or {}
    for key in list(query) or ["writeKey"]:
        query[key] = f"{CANARY}\ud800"
    event["queryStringParameters"] = query


def _surrogate_header(event: dict[str, Any]) -> None:
    headers = event.setdefault("headers", {})
    name = random.Random(len(headers)).choice(sorted(headers) or ["user-agent"])
    headers[name] = f"{headers.get(name, '')}\ud800"


EVENT_PATCHES = (_surrogate_text_body, _bad_base64, _surrogate_query, _surrogate_header)


def mutate_headers(headers: dict[str, str], body: bytes, rng: random.Random, *, sdk: bool) -> tuple[dict[str, str], bytes]:
    headers = dict(headers)
    action = rng.random()
    if action < 0.2:
        headers["Content-Encoding"] = "gzip"
        body = rng.choice((gzip.compress(body, mtime=0), gzip.compress(body, mtime=0)[:-rng.randrange(1, 12)], b"\x1f\x8b" + body,
                           gzip.compress(body, mtime=0) + b"garbage", mutate_bytes(gzip.compress(body, mtime=0), rng)))
    elif action < 0.3:
        headers["Content-Encoding"] = rng.choice(("br", "deflate", "GZIP ", "identity", "gzip, br", ""))
    elif action < 0.45:
        if rng.random() < 0.3:
            headers.pop("Content-Type", None)
        else:
            headers["Content-Type"] = rng.choice(("text/plain", "multipart/form-data; boundary=x",
                                                  "application/x-www-form-urlencoded", "application/octet-stream",
                                                  "application/json; charset=latin-1", "image/gif"))
    elif action < 0.75 and sdk:
        choice = rng.random()
        if choice < 0.25:
            headers.pop("Authorization", None)
        elif choice < 0.5:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{CANARY}:".encode()).decode()
        elif choice < 0.75:
            headers["Authorization"] = rng.choice(("Basic", "Basic !!!", "Bearer " + WRITE_KEY, "Basic " + "A" * 5000,
                                                   "Basic " + base64.b64encode(b"\xed\xa0\x80:").decode(), "basic  " +
                                                   base64.b64encode(WRITE_KEY.encode()).decode()))
        else:
            headers["User-Agent"] = rng.choice(("", "\x00", "x" * 10_000, BOT))
    return headers, body


# ---------------------------------------------------------------- seeds


def _sdk_request(kind: str, body: bytes, headers: dict[str, str] | None = None, *, beacon: bool = False) -> Request:
    if beacon:
        return Request("CollectFunction", "/beacon/v1/batch", "POST", "/beacon/v1/batch", "POST /beacon/v1/batch", {},
                       {"Content-Type": "text/plain", **(headers or {})}, {"writeKey": WRITE_KEY}, body)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
    return Request("CollectFunction", f"/v1/{kind}", "POST", f"/v1/{kind}", "POST /v1/{kind}", {"kind": kind},
                   {"Content-Type": "application/json", "User-Agent": "analytics-python/2.4.0", **auth, **(headers or {})},
                   {}, body)


def sdk_seeds() -> list[tuple[str, Any]]:
    """(kind, document) for every Segment sample and every message of a batch as its own call."""
    out: list[tuple[str, Any]] = []
    for path in sorted((ROOT / "events" / "segment").glob("*.json")):
        data = json.loads(path.read_text())
        if "writeKey" in data:
            data["writeKey"] = WRITE_KEY
        if isinstance(data.get("batch"), list):
            out.append(("batch", data))
            for message in data["batch"]:
                out.append((message.get("type", "track"), {k: v for k, v in message.items() if k != "type"}))
        else:
            out.append(("track", data))
    return out


def hook_seeds() -> list[tuple[str, Any]]:
    return [(path.parent.name, json.loads(path.read_text()))
            for path in sorted((ROOT / "events" / "webhooks").glob("*/*.json"))]


PIXEL_SEEDS = [
    {"vid": "3c1f9a2e-5b7d-4e8a-9f10-2d6b8c4e7a91", "eid": "pv-1", "url": "https://www.relaywise.example/pricing",
     "ref": "https://www.google.com/"},
    {"lid": "lead_8f2c41d7", "e": "email_opened", "cid": "nov-webinar"},
    {"vid": "nojs"},
]
SHORT_KINDS = {"track": "t", "identify": "i", "page": "p", "screen": "s", "group": "g", "alias": "a", "batch": "b"}


def generate(n: int, seed: int) -> Iterator[Request]:
    """`n` mutated requests over every ingest route, the same ones for the same seed."""
    rng = random.Random(seed)
    sdk, hooks = sdk_seeds(), hook_seeds()
    for _ in range(n):
        family = rng.random()
        if family < 0.4:
            yield _sdk(rng, sdk)
        elif family < 0.8:
            yield _hook(rng, hooks)
        else:
            yield _pixel(rng)


def _body(document: Any, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.65:
        return dumps(mutate_json(document, rng))
    if roll < 0.9:
        return mutate_bytes(dumps(document), rng)
    return rng.choice((b"", b"null", b"[]", b"{}", b'"text"', b"\xef\xbb\xbf" + dumps(document), dumps(document) * 2))


def _sdk(rng: random.Random, seeds: list[tuple[str, Any]]) -> Request:
    kind, document = rng.choice(seeds)
    if kind != "batch" and rng.random() < 0.3:
        kind = SHORT_KINDS.get(kind, kind)
    elif kind == "batch" and rng.random() < 0.15:
        kind = rng.choice(("b", "import", "v2", "track"))  # and a batch sent to a single call's path
    beacon = kind == "batch" and rng.random() < 0.2
    body = _body(document, rng)
    request = _sdk_request(kind, body, beacon=beacon)
    if rng.random() < 0.4:
        request.headers, request.body = mutate_headers(request.headers, request.body, rng, sdk=True)
    if beacon and rng.random() < 0.2:
        request.query = rng.choice(({}, {"writeKey": ""}, {"writeKey": CANARY}, {"writeKey": WRITE_KEY + "\u0000"}))
    if rng.random() < 0.04:
        request.event_patch = rng.choice(EVENT_PATCHES)
    return request


def _hook(rng: random.Random, seeds: list[tuple[str, Any]]) -> Request:
    source, document = rng.choice(seeds)
    if rng.random() < 0.02:
        source = rng.choice(("hubspot", "Typeform", "..", CANARY))
    body = _body(document, rng)
    secret = SECRETS.get(source, "unknown")
    sign = SIGNERS.get(source, signing.sign_generic)
    roll = rng.random()
    if roll < 0.85:
        kwargs: dict[str, Any] = {}
        if source in ("generic", "calendly", "stripe") and rng.random() < 0.1:
            kwargs["timestamp"] = int(time.time()) + rng.choice((-86400, -301, -200, 200, 301, 365 * 86400))
        headers = sign(body, secret, **kwargs)
    elif roll < 0.92:
        headers = sign(dumps(document), secret)  # signed before the mutation: a tampered body
    else:
        headers = {**signing.JSON, rng.choice(("Typeform-Signature", "Tally-Signature", "Calendly-Webhook-Signature",
                                                "Stripe-Signature", "X-Leadscore-Signature")):
                   rng.choice(("", "sha256=", "t=,v1=", "t=1,v1=00", "t=99999999999999,v1=ab", "v1=" + "0" * 64,
                               "t=1796306499,v1=" + "g" * 64, "sha256=" + "=" * 44, "t=１２,v1=ab", "\u00e9" * 10))}
    if rng.random() < 0.25:
        headers, body = mutate_headers(headers, body, rng, sdk=False)
        if rng.random() < 0.5 and source in SIGNERS:  # gzip and all, signed as sent
            headers = {**headers, **{k: v for k, v in sign(body, secret).items() if k != "Content-Type"}}
    if rng.random() < 0.01:
        body = b"{" + b" " * (1024 * 1024) + b"}"
        headers = {**headers, **sign(body, secret)}
    request = Request("HooksFunction", f"/hooks/{source}", "POST", f"/hooks/{source}", "POST /hooks/{source}",
                      {"source": source}, headers, {}, body)
    if rng.random() < 0.04:
        request.event_patch = rng.choice(EVENT_PATCHES)
    return request


def _pixel(rng: random.Random) -> Request:
    query = dict(rng.choice(PIXEL_SEEDS))
    headers = {"User-Agent": BROWSER, "Referer": "https://www.relaywise.example/features"}
    hostile = [v for v in hostile_values(rng) if isinstance(v, str)] + ["a" * 129, "ok-id", "Page View", "page_view"]
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        roll = rng.random()
        if roll < 0.5:
            query[rng.choice(("vid", "lid", "e", "url", "ref", "cid", "eid"))] = rng.choice(hostile)
        elif roll < 0.65 and query:
            del query[rng.choice(sorted(query))]
        elif roll < 0.8:
            headers[rng.choice(("DNT", "Sec-GPC"))] = rng.choice(("1", " 1 ", "  1  ", "0", "1,1", "", "yes", "\x00"))
        elif roll < 0.9:
            headers["User-Agent"] = rng.choice(("", BOT, "x" * 5000, "curl/8.0", "\u0000"))
        else:
            headers["Referer"] = rng.choice(hostile)
    request = Request("PixelFunction", "/t.gif", "GET", "/t.gif", "GET /t.gif", {}, headers, query, b"")
    if rng.random() < 0.04:
        request.event_patch = rng.choice((_surrogate_query, _surrogate_header))
    return request


# ---------------------------------------------------------------- running


def api_event(request: Request) -> dict[str, Any]:
    """The API Gateway v2 event. A text body that is not UTF-8 goes base64-encoded, as binary does."""
    from urllib.parse import urlencode

    from leadscore.dev.http import http_api_event

    query = urlencode(request.query)
    try:
        event = http_api_event(request.method, request.path, query, request.headers, request.body,
                               request.route_key, request.parameters)
    except UnicodeDecodeError:
        event = http_api_event(request.method, request.path, query, request.headers, b"x",
                               request.route_key, request.parameters)
        event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode("ascii"), True
    if request.event_patch is not None:
        request.event_patch(event)
    return event


@dataclass
class Outcome:
    counts: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    requests: int = 0
    server_errors: int = 0
    exceptions: int = 0
    violations: list[str] = field(default_factory=list)

    def summary(self, seconds: float) -> dict[str, Any]:
        return {"routes": {route: dict(sorted(c.items())) for route, c in sorted(self.counts.items())},
                "requests": self.requests, "5xx": self.server_errors, "exceptions": self.exceptions,
                "violations": len(self.violations), "seconds": round(seconds, 2)}


class Fuzzer:
    """Sends requests to the real handlers and checks each answer and what it queued.

    Needs QUEUE_URL (a moto queue) and `environment()` set."""

    def __init__(self) -> None:
        from leadscore.dev.functions import LambdaContext, load_handler
        from leadscore.dev.template import http_routes, load_template

        routes = {r.function: r for r in reversed(http_routes(load_template()))}
        self.handlers = {name: load_handler(r.code_uri, r.handler) for name, r in routes.items()
                         if name in ("CollectFunction", "HooksFunction", "PixelFunction")}
        self.context = LambdaContext
        self.outcome = Outcome()
        self.sent: list[str] = []
        # every message body the handlers put on the queue, read as SendMessageBatch gets it (the call
        # still reaches moto): one AWS call per request instead of a receive and a delete
        from leadscore import dependencies

        client = dependencies.current().aws_client("sqs", validate=False)  # the events queue's client
        send_message_batch = client.send_message_batch

        def recorded(**kwargs: Any) -> Any:
            self.sent += [entry["MessageBody"] for entry in kwargs.get("Entries", [])]
            return send_message_batch(**kwargs)

        client.send_message_batch = recorded

    def _drain(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent

    def send(self, request: Request) -> None:
        from scoring_core.events import Event

        out = self.outcome
        out.requests += 1
        try:
            response = self.handlers[request.function](api_event(request), self.context(request.function))
            status = int(response["statusCode"])
        except Exception:
            out.exceptions += 1
            out.counts[request.route]["exception"] += 1
            out.violations.append(f"{request.route}: exception\n{traceback.format_exc(limit=-4)}")
            self._drain()
            return
        out.counts[request.route][str(status)] += 1
        if status >= 500:
            out.server_errors += 1
            out.violations.append(f"{request.route}: {status} {response.get('body', '')[:200]}")
        queued = self._drain()
        problem = self._check(request, status, response, queued, Event)
        if problem:
            out.violations.append(f"{request.route}: {status}: {problem} ({response.get('body', '')[:300]})")

    @staticmethod
    def _check(request: Request, status: int, response: dict[str, Any], queued: list[str], event_model: Any) -> str | None:
        if request.function == "PixelFunction":
            if status != 200 or response["headers"].get("Content-Type") != "image/gif":
                return "the pixel did not answer its GIF"
        elif status >= 400:
            try:
                error = json.loads(response.get("body") or "")["error"]
            except (ValueError, KeyError, TypeError):
                return "a refusal without a JSON {\"error\"}"
            if CANARY in error:
                return "the error message repeats the sender's input"
        if status >= 300 and queued:
            return f"refused, yet {len(queued)} event(s) queued"
        for body in queued:
            try:
                event_model.model_validate_json(body)
            except ValueError as exc:
                return f"queued an event the Event model refuses: {str(exc).splitlines()[0]}"
        if request.function == "HooksFunction" and status == 202 and json.loads(response["body"])["queued"] != len(queued):
            return "202's count is not what was queued"
        return None


def run(n: int, seed: int, on_request: Callable[[], Any] | None = None) -> Outcome:
    """`generate(n, seed)` through the handlers, `on_request()` after each. Needs QUEUE_URL and `environment()`."""
    fuzzer = Fuzzer()
    for request in generate(n, seed):
        fuzzer.send(request)
        if on_request is not None:
            on_request()
    return fuzzer.outcome
