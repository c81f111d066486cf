"""The local stack's HTTP layer, on malformed requests: an answer as API Gateway would give, never a
dropped connection, a hang or a traceback. Raw sockets, because urllib cannot send most of these."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
from leadscore.dev import http as devhttp

from tests.support.local_stack import running_stack


@pytest.fixture(scope="module")
def local():
    with running_stack() as s:
        yield s


@pytest.fixture
def short_body_timeout(monkeypatch):
    monkeypatch.setattr(devhttp, "BODY_READ_TIMEOUT_S", 0.5, raising=False)


def sdk_headers(local) -> str:
    key = base64.b64encode(f"{local.write_key}:".encode()).decode()
    return f"Host: 127.0.0.1\r\nAuthorization: Basic {key}\r\n"


def exchange(local, raw: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes, float]:
    """Send raw bytes, read one HTTP answer: (status, headers, body, seconds it took). An answer that
    never comes (a hang, a dropped connection) fails the test with what was received."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", local.port), timeout=timeout) as sock:
        sock.sendall(raw)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer (received {received!r})"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed mid-answer (received {received + body!r})"
            body += chunk
    return int(status_line.split()[1]), headers, body, time.monotonic() - started


def post(path: str, extra_headers: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\n{extra_headers}".encode() + b"\r\n" + body


def test_a_body_that_is_not_utf8_gets_a_400_from_the_handler_and_no_traceback(local, capfd):
    body = b'{"batch": [\xff\xfe\x80]}'

    status, _, answer, _ = exchange(local, post("/v1/batch", sdk_headers(local) +
                                                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n", body))

    assert status == 400
    assert "error" in json.loads(answer)
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_shorter_than_its_content_length_gets_a_400_after_a_short_wait(local, short_body_timeout):
    body = b'{"batch": []}'

    status, headers, answer, took = exchange(local, post("/v1/batch", sdk_headers(local) +
                                                         f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n", body))

    assert status == 400
    assert took < 3
    assert headers.get("connection") == "close"


def test_a_content_length_over_the_payload_limit_gets_a_413_at_once(local):
    status, _, answer, took = exchange(local, post("/v1/batch", sdk_headers(local) +
                                                   "Content-Type: application/json\r\nContent-Length: 99999999999\r\n", b"{}"))

    assert status == 413
    assert json.loads(answer) == {"message": "Request Entity Too Large"}
    assert took < 1


@pytest.mark.parametrize("length", ["abc", "-5", "12, 13"])
def test_a_content_length_that_is_not_a_number_gets_a_400(local, length):
    status, _, answer, _ = exchange(local, post("/v1/batch", sdk_headers(local) + f"Content-Length: {length}\r\n", b"{}"))

    assert status == 400
    assert json.loads(answer) == {"message": "Bad Request"}


def test_a_body_sent_without_content_length_gets_a_400(local):
    status, _, answer, _ = exchange(local, post("/v1/batch", sdk_headers(local) + "Content-Type: application/json\r\n",
                                                b'{"batch": []}'))

    assert status == 400
    assert json.loads(answer) == {"message": "Bad Request"}


def test_a_chunked_body_reaches_the_handler_whole(local):
    event = json.dumps({"batch": [{"type": "track", "event": "Webinar Attended", "anonymousId": "chunky"}]}).encode()
    half = len(event) // 2
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (event[:half], event[half:])) + b"0\r\n\r\n"

    status, _, answer, _ = exchange(local, post("/v1/batch", sdk_headers(local) +
                                                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunked))

    assert (status, json.loads(answer)) == (200, {"success": True})


def test_a_malformed_chunked_body_gets_a_400(local):
    status, _, answer, _ = exchange(local, post("/v1/batch", sdk_headers(local) + "Transfer-Encoding: chunked\r\n",
                                                b"zz\r\nnot a chunk\r\n0\r\n\r\n"))

    assert status == 400
    assert json.loads(answer) == {"message": "Bad Request"}


@pytest.mark.parametrize("request_line, expected", [
    (b"\x00\xff\xfe garbage\r\n\r\n", 400),
    (b"GET\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\n\r\n", 505),
    (b"GET http://[::1/x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /t.gif HTTP/1.1\r\nno colon in this header\r\n\r\n", 400),
])
def test_a_garbage_request_gets_a_json_answer_and_the_connection_closed(local, request_line, expected):
    status, headers, answer, _ = exchange(local, request_line)

    assert status == expected
    assert headers.get("content-type") == "application/json"
    assert headers.get("connection") == "close"
    assert "message" in json.loads(answer)


def test_a_function_that_stays_busy_delays_other_requests_only_until_the_gateways_timeout(monkeypatch):
    """A hung invocation (say, a handler waiting on an AWS endpoint that went away) holds its container;
    the next request waits for it at most the integration timeout, then gets API Gateway's 503."""
    import threading
    import urllib.error
    import urllib.request

    from leadscore.dev.stack import free_port

    monkeypatch.setattr(devhttp, "INTEGRATION_TIMEOUT_S", 0.5)
    release, entered = threading.Event(), threading.Event()

    def hangs(event, context):
        entered.set()
        release.wait(10)
        return {"statusCode": 200, "body": "late"}

    def answers(event, context):
        return {"statusCode": 200, "body": "ok"}

    server = devhttp.LambdaHttpServer(("127.0.0.1", free_port()), [devhttp.Route("GET", "/slow", hangs, "Slow"),
                                                                    devhttp.Route("GET", "/fast", answers, "Fast")])
    server.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    slow = threading.Thread(target=lambda: urllib.request.urlopen(f"{base}/slow", timeout=15).read())
    try:
        slow.start()
        assert entered.wait(5)
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as busy:
            urllib.request.urlopen(f"{base}/fast", timeout=5)
        assert busy.value.code == 503 and json.loads(busy.value.read()) == {"message": "Service Unavailable"}
        assert time.monotonic() - started < 3
        release.set()
        slow.join(5)
        assert urllib.request.urlopen(f"{base}/fast", timeout=5).read() == b"ok"  # the locks were given back
    finally:
        release.set()
        server.shutdown()
        server.server_close()



def test_path_parameters_reach_the_function_percent_decoded_as_api_gateway_sends_them():
    """A browser or an HTTP client may encode the `:` of a lead key (`/leads/e%3Aabc`); API Gateway's
    HTTP API decodes the path and its parameters before invoking the function, and so does this one."""
    import urllib.request

    from leadscore.dev.stack import free_port

    def echo(event, context):
        return {"statusCode": 200, "body": json.dumps({"id": event["pathParameters"]["id"], "raw": event["rawPath"]})}

    server = devhttp.LambdaHttpServer(("127.0.0.1", free_port()), [devhttp.Route("GET", "/leads/{id}", echo, "Leads")])
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/leads/e%3Aab%20c", timeout=5) as r:
            answer = json.loads(r.read())
    finally:
        server.shutdown()
        server.server_close()
    assert answer == {"id": "e:ab c", "raw": "/leads/e:ab c"}
