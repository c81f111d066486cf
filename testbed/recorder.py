"""A real HTTP server on 127.0.0.1 that records every request and answers as told.

Stands in for Slack's incoming webhooks, a CRM endpoint, or any HTTP receiver:

    with Recorder() as rec:
        rec.answer("/hook", 429, retry_after=1)   # the first request to /hook
        rec.answer("/hook", 500)                  # the second
        rec.answer("/hook", "hang", 2)            # the third: no answer for 2 s
        post(rec.url + "/hook")                   # ... the code under test
        rec.wait_for(3, timeout=5)
        method, path, headers, body = rec.requests[0]

Answers are queued per path (the query string is not part of it) and used once
each, in order; a path with nothing queued answers 200 `ok`. An answer is
`"ok"` (200), a status code (optionally with `body=`, `headers=`,
`retry_after=`), or `"hang", seconds` (the request is recorded, then nothing is
sent for that long, then 200 `ok` if the client is still there). Each request
is recorded when it arrives, before it is answered, as a `Recorded(method,
path, headers, body)`; header names are lower-cased (HTTP names are
case-insensitive, and urllib sends `X-leadscore-signature`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit


class Recorded(NamedTuple):
    method: str
    path: str  # as requested, query string included
    headers: dict[str, str]  # lower-cased names
    body: bytes


class _Answer(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]
    hang_s: float


OK = _Answer(200, b"ok", {"Content-Type": "text/plain"}, 0.0)


class Recorder:
    """A threaded HTTP server recording requests; start and stop it with `with`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._address = (host, port)
        self._lock = threading.Condition()
        self._requests: list[Recorded] = []
        self._times: list[float] = []
        self._answers: dict[str, deque[_Answer]] = defaultdict(deque)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Recorder:
        self._server = ThreadingHTTPServer(self._address, self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, no trailing slash."""
        assert self._server is not None, "the recorder is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # programming answers

    def answer(self, path: str, what: str | int = "ok", seconds: float | None = None, *, body: bytes | str | None = None,
               headers: dict[str, str] | None = None, retry_after: float | None = None) -> Recorder:
        """Queue the answer to the next not-yet-answered request to `path`."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = f"{retry_after:g}"
        if what == "ok":
            status, hang = 200, 0.0
        elif what == "hang":
            if seconds is None:
                raise ValueError('("hang", seconds): say how long')
            status, hang = 200, float(seconds)
        elif isinstance(what, int):
            status, hang = what, 0.0
        else:
            raise ValueError(f"unknown answer {what!r}")
        if body is None:
            body = b"ok" if status < 400 else f"error {status}".encode()
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self._answers[path].append(_Answer(status, data, {"Content-Type": "text/plain", **extra}, hang))
        return self

    # what was received

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def times(self) -> list[float]:
        """`time.monotonic()` at each request's arrival, parallel to `requests`."""
        with self._lock:
            return list(self._times)

    def to(self, path: str) -> list[Recorded]:
        """The requests to one path (query string ignored)."""
        return [r for r in self.requests if urlsplit(r.path).path == path]

    def wait_for(self, n: int, timeout: float = 5.0, path: str | None = None) -> list[Recorded]:
        """Block until at least `n` requests (to `path`, if given) arrived; returns them.
        Raises `AssertionError` after `timeout` seconds."""
        deadline = time.monotonic() + timeout

        def got() -> list[Recorded]:
            return [r for r in self._requests if path is None or urlsplit(r.path).path == path]

        with self._lock:
            while len(got()) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} requests{f' to {path}' if path else ''} within {timeout} s, got {len(got())}")
                self._lock.wait(left)
            return got()

    # the server side

    def _record(self, request: Recorded) -> _Answer:
        with self._lock:
            self._requests.append(request)
            self._times.append(time.monotonic())
            self._lock.notify_all()
            queue = self._answers.get(urlsplit(request.path).path)
            return queue.popleft() if queue else OK

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple for every client

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = recorder._record(Recorded(self.command, self.path, headers, body))
                if answer.hang_s and recorder._stopping.wait(answer.hang_s):
                    return  # stopping: drop the connection
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out)
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        return Handler
