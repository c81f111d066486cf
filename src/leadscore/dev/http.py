"""Serve Lambda handlers over real HTTP, as API Gateway HTTP API (payload 2.0) would.

Each request becomes the event API Gateway sends (headers lowercased and
comma-joined, query parameters, cookies, the body base64-encoded unless it is
text, requestContext with method, path, source IP, user agent, request id),
the handler runs exactly as in Lambda, and its answer (status, headers,
cookies, base64 bodies) becomes the HTTP response.

CORS is what the template says. With a `CorsConfiguration` on the HttpApi,
API Gateway answers every preflight itself and puts the configured headers on
every answer to a cross-origin request, ignoring the integration's own
(`GatewayCors`). Without one (leadscore's template), an OPTIONS request is a
request like any other: it reaches the function of a matching OPTIONS route,
or gets API Gateway's 404.

A request API Gateway would refuse is refused here the same way, with its JSON
`{"message": ...}` and the connection closed (the rest of what was sent is
never read): a `Content-Length` over the 10 MB payload limit gets 413 at once;
one that is not a number, or a body that stops short of it for
`BODY_READ_TIMEOUT_S`, gets 400; so do a body sent with no `Content-Length`,
a malformed chunked body, and a request line or header that does not parse.
Chunked bodies are read whole and handed over as one body, as API Gateway does.
A body that is not UTF-8 reaches the handler base64-encoded
(`isBase64Encoded`), whatever its content type.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .functions import LambdaContext, container_lock

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# powertools' HTTP resolvers keep the request being handled in one class attribute that every resolver
# in the process shares (BaseRouter.current_event). In Lambda each function is a process of its own;
# here they all share this one, so HTTP invocations run one at a time across functions, or a function
# could read another function's request (its headers, its body) and answer with them.
_ONE_RESOLVER_AT_A_TIME = threading.Lock()
PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway HTTP API's request payload limit
BODY_READ_TIMEOUT_S = 5.0  # a body still short of its length after this gets a 400 (a client that hangs)
INTEGRATION_TIMEOUT_S = 30.0  # API Gateway's: a request whose function cannot run by then gets 503
_MESSAGES = {400: "Bad Request", 413: "Request Entity Too Large"}  # API Gateway's own wording
_DIGITS = re.compile(r"[0-9]{1,20}")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,8}")
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml", "application/javascript")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # /hooks/{source}
    handler: Handler
    name: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$")


@dataclass(frozen=True)
class GatewayCors:
    """An HTTP API's CorsConfiguration, applied as API Gateway applies it."""

    origins: tuple[str, ...]
    methods: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    credentials: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> GatewayCors | None:
        if not config:
            return None
        names = lambda key: tuple(str(v) for v in config.get(key) or ())  # noqa: E731
        max_age = config.get("MaxAge")
        return cls(names("AllowOrigins"), names("AllowMethods"), names("AllowHeaders"), names("ExposeHeaders"),
                   int(max_age) if max_age is not None else None, bool(config.get("AllowCredentials")))

    def allows(self, origin: str) -> str | None:
        if origin in self.origins:
            return origin
        return "*" if origin and "*" in self.origins else None

    def response_headers(self, origin: str) -> dict[str, str]:
        allowed = self.allows(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed}
        if self.expose:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose)
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight_headers(self, origin: str) -> dict[str, str]:
        headers = self.response_headers(origin)
        if headers:
            headers.pop("Access-Control-Expose-Headers", None)
            headers["Access-Control-Allow-Methods"] = ",".join(self.methods)
            if self.headers:
                headers["Access-Control-Allow-Headers"] = ",".join(self.headers)
            if self.max_age is not None:
                headers["Access-Control-Max-Age"] = str(self.max_age)
        return headers


def http_api_event(method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes,
                   route_key: str, path_parameters: dict[str, str], source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """The API Gateway HTTP API v2 event for one request."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    content_type = lowered.get("content-type", "")
    is_text = bool(body) and content_type.startswith(_TEXT_TYPES) and "content-encoding" not in lowered and _is_utf8(body)
    now = datetime.now(timezone.utc)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "127",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text and bool(body),
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode("ascii")
    return event


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Refused(Exception):
    """A request API Gateway would answer itself, without invoking the function."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class _Busy(Exception):
    """The function could not start before the integration timeout."""


@contextmanager
def _container(handler: Callable[..., Any], deadline: float) -> Iterator[None]:
    """Hold what one invocation of `handler` needs (the process-wide resolver lock, its container
    lock), waiting until `deadline` at most: a hung invocation delays the others, never forever."""
    held: list[threading.Lock] = []
    try:
        for lock in (_ONE_RESOLVER_AT_A_TIME, container_lock(handler)):
            if not lock.acquire(timeout=max(0.0, deadline - time.perf_counter())):
                raise _Busy
            held.append(lock)
        yield
    finally:
        for lock in reversed(held):
            lock.release()


class LambdaHttpServer(ThreadingHTTPServer):
    """A threaded HTTP server dispatching to Lambda handlers by route."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: list[Route], cors: GatewayCors | None = None,
                 extra: Callable[[BaseHTTPRequestHandler], bool] | None = None, log: Callable[[str], None] | None = None):
        self.routes = routes
        self.cors = cors  # the HttpApi's CorsConfiguration; None: CORS is the functions' business
        self.extra = extra  # a hook for non-Lambda paths (the demo site); returns True when it answered
        self.log = log or (lambda line: None)
        super().__init__(address, _RequestHandler)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="lambda-http", daemon=True)
        thread.start()
        return thread

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    server: LambdaHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the stack logs one line per event itself
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the standard library answers a request it cannot parse with (an HTML page, none at all
        to what it takes for HTTP/0.9), answered as API Gateway does: JSON, then the connection closed."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # a status line and headers, whatever the request line said
        text = _MESSAGES.get(code) or (HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error")
        body = json.dumps({"message": text}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_expect_100(self) -> bool:
        try:
            self._declared_length()
        except Refused:
            return True  # refused by _dispatch, without inviting the body first
        return super().handle_expect_100()

    def _declared_length(self) -> int | None:
        """The body length the headers declare (None: chunked); refused as API Gateway would refuse it."""
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") is not None:
            if self.headers["Transfer-Encoding"].strip().lower() != "chunked" or lengths:
                raise Refused(400)  # both at once is how requests are smuggled: refused (RFC 9112, 6.1)
            return None
        if not lengths:
            if self.command in ("POST", "PUT", "PATCH") and self._bytes_waiting():
                raise Refused(400)  # a body with no length: where it ends cannot be known
            return 0
        if len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0].strip()):
            raise Refused(400)
        length = int(lengths[0])
        if length > PAYLOAD_LIMIT:
            raise Refused(413)
        return length

    def _bytes_waiting(self) -> bool:
        """Whether bytes already follow the headers (buffered, or arrived), without waiting for any."""
        self.connection.setblocking(False)
        try:
            return bool(self.rfile.peek(1))
        except OSError:
            return False
        finally:
            self.connection.setblocking(True)

    def _read(self, size: int, deadline: float) -> bytes:
        parts, got = [], 0
        while got < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Refused(400)
            self.connection.settimeout(left)
            try:
                chunk = self.rfile.read1(size - got)
            except TimeoutError:
                raise Refused(400) from None
            if not chunk:  # the client gave up
                raise Refused(400)
            parts.append(chunk)
            got += len(chunk)
        self.connection.settimeout(None)
        return b"".join(parts)

    def _read_line(self, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Refused(400)
        self.connection.settimeout(left)
        try:
            line = self.rfile.readline(1024)
        except TimeoutError:
            raise Refused(400) from None
        self.connection.settimeout(None)
        if not line.endswith(b"\n"):
            raise Refused(400)
        return line

    def _read_chunked(self, deadline: float) -> bytes:
        body = bytearray()
        while True:
            size_text = self._read_line(deadline).split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise Refused(400)
            size = int(size_text, 16)
            if len(body) + size > PAYLOAD_LIMIT:
                raise Refused(413)
            if size == 0:
                break
            body += self._read(size, deadline)
            if self._read(2, deadline) != b"\r\n":
                raise Refused(400)
        for _ in range(100):  # trailer fields, up to the blank line
            if self._read_line(deadline) in (b"\r\n", b"\n"):
                return bytes(body)
        raise Refused(400)

    def _read_body(self) -> bytes:
        length = self._declared_length()
        deadline = time.monotonic() + BODY_READ_TIMEOUT_S
        if length is None:
            return self._read_chunked(deadline)
        return self._read(length, deadline) if length else b""

    def _dispatch(self) -> None:
        try:
            if self.headers.defects:  # a header line that does not parse
                raise Refused(400)
            self._serve()
        except Refused as refused:
            self.send_error(refused.status)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away
        except Exception as exc:  # never a traceback and a dropped connection: what API Gateway answers
            self.server.log(f"{self.command} {self.path[:200]!r} -> 500 ({exc.__class__.__name__})")
            self.send_error(500)

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            parts = urlsplit(self.path)
        except ValueError:
            raise Refused(400) from None
        body = self._read_body()
        cors, origin = self.server.cors, self.headers.get("Origin") or ""
        if cors is not None and self.command == "OPTIONS" and origin and self.headers.get("Access-Control-Request-Method"):
            self._send(204, cors.preflight_headers(origin), b"")
            return
        if self.server.extra is not None and self.server.extra(self):
            return
        for route in self.server.routes:
            match = route.pattern.match(parts.path)
            if match and route.method in (self.command, "ANY"):
                # API Gateway HTTP API hands the function the path and its parameters percent-decoded
                # (`/leads/e%3Aabc` arrives as `e:abc`); the route is matched on the path as sent
                event = http_api_event(self.command, unquote(parts.path), parts.query, dict(self.headers.items()), body,
                                       f"{route.method} {route.path}",
                                       {k: unquote(v) for k, v in match.groupdict().items()}, self.client_address[0])
                try:
                    with _container(route.handler, started + INTEGRATION_TIMEOUT_S):
                        result = route.handler(event, LambdaContext(route.name))
                except _Busy:  # as API Gateway when the integration times out
                    self.server.log(f"{self.command} {parts.path} -> 503 (the function stayed busy for {INTEGRATION_TIMEOUT_S:.0f} s)")
                    self._send(503, {"Content-Type": "application/json"}, b'{"message":"Service Unavailable"}')
                    return
                except Exception as exc:  # as API Gateway: the function failed
                    self.server.log(f"{self.command} {parts.path} -> 500 ({exc.__class__.__name__})")
                    self._send(500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}')
                    return
                self._answer(result)
                self.server.log(f"{self.command} {parts.path} -> {result.get('statusCode')} ({(time.perf_counter() - started) * 1000:.0f} ms)")
                return
        self._send(404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}')

    def _answer(self, result: dict[str, Any]) -> None:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        if self.server.cors is not None:  # the gateway's CORS headers replace the integration's
            headers = {k: v for k, v in headers.items() if not k.lower().startswith("access-control-")}
            headers.update(self.server.cors.response_headers(self.headers.get("Origin") or ""))
        self._send(int(result.get("statusCode", 200)), headers, raw, result.get("cookies") or [])

    def _send(self, status: int, headers: dict[str, str], body: bytes, cookies: list[str] | None = None) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() != "content-length":
                self.send_header(k, v)
        for cookie in cookies or []:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _dispatch

    def __getattr__(self, name: str) -> Any:
        # any other method (TRACE, CONNECT, ...) is routed like these: no route has it, so API Gateway's
        # 404, not http.server's 501 for a method it has no do_ for
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)
