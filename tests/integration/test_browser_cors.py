"""What a page on another origin may do, through the local stack (the template's routes, the real handlers):
the ingest routes take the browser SDKs' requests from any origin, RudderStack's beacon is a route, and
the leads API is readable cross-origin only from the configured console origins.

The browsers themselves, with the real SDK packages: tests/e2e/test_browser_sdks.py.
"""

from __future__ import annotations

import json
import os
import threading
import uuid

import pytest
from leadscore import settings
from leadscore.dev.http import GatewayCors, LambdaHttpServer, Route

from tests.support.local_stack import http_call, running_stack
from tests.support.polling import wait_until

SITE = "https://www.customer.example"
CONSOLE = "https://console.customer.example"
# the headers each SDK's requests carry beyond the safelisted ones (leadscore.cors names the files)
RUDDERSTACK = ["accept", "anonymousid", "authorization", "content-type", "sentat", "rsa-recovered",
               "rsa-retry-attempt", "rsa-since-last-attempt", "rsa-since-first-attempt", "rsa-retry-reason"]
ANALYTICS_JS = ["authorization", "content-type", "x-retry-count"]


@pytest.fixture(scope="module")
def local():
    console_origins = os.environ.pop("CONSOLE_ORIGINS", None)
    with running_stack() as s:
        yield s
    if console_origins is not None:
        os.environ["CONSOLE_ORIGINS"] = console_origins


@pytest.fixture
def console(monkeypatch):
    """CONSOLE_ORIGINS set as the template's ConsoleOrigins parameter would set it."""
    monkeypatch.setenv("CONSOLE_ORIGINS", f"{CONSOLE}, https://other-console.example")
    settings.reset()
    yield CONSOLE
    monkeypatch.delenv("CONSOLE_ORIGINS")
    settings.reset()


http = http_call


def preflight(s, path, origin, method, headers):
    return http(s, "OPTIONS", path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                             "Access-Control-Request-Headers": ",".join(headers)})


def browser_allows(answer_headers, origin, method, request_headers) -> bool:
    """A browser's CORS check of a preflight answer (Fetch standard, CORS-preflight fetch), for a request
    without credentials."""
    allow_origin = answer_headers.get("Access-Control-Allow-Origin")
    if allow_origin not in ("*", origin):
        return False
    methods = {m.strip().upper() for m in answer_headers.get("Access-Control-Allow-Methods", "").split(",")}
    if method not in methods | {"GET", "HEAD", "POST"}:
        return False
    allowed = {h.strip().lower() for h in answer_headers.get("Access-Control-Allow-Headers", "").split(",")}
    return all(h in allowed or (h != "authorization" and "*" in allowed) for h in request_headers)


def named(answer_headers, request_headers) -> set[str]:
    """The request headers the answer names one by one (what a browser without the `*` wildcard needs)."""
    allowed = {h.strip().lower() for h in answer_headers.get("Access-Control-Allow-Headers", "").split(",")}
    return {h for h in request_headers if h in allowed}


def lead(s, lead_id):
    status, _, body = http(s, "GET", f"/leads/{lead_id}", headers={"Authorization": f"Bearer {os.environ['API_TOKEN']}"})
    return json.loads(body) if status == 200 else None


# ---------------------------------------------------------------- ingest: any origin, every SDK header


def test_a_rudderstack_call_from_any_origin_passes_the_preflight_with_every_header_it_sends(local):
    status, headers, _ = preflight(local, "/v1/track", SITE, "POST", RUDDERSTACK)

    assert status in (200, 204)
    assert browser_allows(headers, SITE, "POST", RUDDERSTACK), headers
    assert named(headers, RUDDERSTACK) == set(RUDDERSTACK), headers


def test_an_analytics_js_retry_passes_the_preflight_with_x_retry_count(local):
    status, headers, _ = preflight(local, "/v1/t", SITE, "POST", ANALYTICS_JS)

    assert status in (200, 204)
    assert browser_allows(headers, SITE, "POST", ANALYTICS_JS), headers
    assert named(headers, ANALYTICS_JS) == set(ANALYTICS_JS), headers


def test_an_sdk_reads_the_answer_to_its_call_from_another_origin_even_a_rejection(local):
    """A 400 or 401 the page cannot read looks like a network error: the SDKs would retry it, not report it."""
    body = json.dumps({"type": "track", "event": "Webinar Attended", "anonymousId": "v-1"}).encode()

    status, headers, answer = http(local, "POST", "/v1/track", body, {"Origin": SITE, "Content-Type": "text/plain"})

    assert status == 401, answer
    assert headers.get("Access-Control-Allow-Origin") == "*"


# ---------------------------------------------------------------- RudderStack's beacon


def _beacon_batch(visitor):
    now = "2026-12-03T10:00:00.000Z"
    return {"batch": [{"type": "track", "event": "Webinar Attended", "anonymousId": visitor, "messageId": str(uuid.uuid4()),
                       "originalTimestamp": now, "sentAt": now, "channel": "web",
                       "context": {"library": {"name": "RudderLabs JavaScript SDK"}}},
                      {"type": "page", "name": "Pricing", "anonymousId": visitor, "messageId": str(uuid.uuid4()),
                       "properties": {"url": "https://www.customer.example/pricing", "path": "/pricing"}}],
            "sentAt": now}


def test_a_rudderstack_beacon_batch_in_text_plain_with_the_key_in_the_query_is_scored(local):
    visitor = f"beacon-{uuid.uuid4().hex[:12]}"
    body = json.dumps(_beacon_batch(visitor)).encode()

    status, headers, answer = http(local, "POST", f"/beacon/v1/batch?writeKey={local.write_key}", body,
                                   {"Origin": SITE, "Content-Type": "text/plain;charset=UTF-8"})

    assert (status, json.loads(answer)) == (200, {"success": True})
    assert headers.get("Access-Control-Allow-Origin") == "*"
    scored = wait_until(lambda: (found := lead(local, f"v:{visitor}")) and found["events"] == 2 and found)
    assert sorted(r["type"] for r in scored["recent"]) == ["page_view", "webinar_attended"]


@pytest.mark.parametrize("query", ["", "?writeKey=", "?writeKey=wk_not_ours"])
def test_a_beacon_without_a_valid_write_key_is_refused(local, query):
    body = json.dumps(_beacon_batch("v-beacon")).encode()

    status, _, answer = http(local, "POST", f"/beacon/v1/batch{query}", body, {"Content-Type": "text/plain"})

    assert (status, json.loads(answer)["error"]) == (401, "unauthorized")


@pytest.mark.parametrize("body, error", [
    (b"{not json", "body is not valid JSON"),
    (b'{"batch": {"type": "track"}}', "batch must be a list of messages"),
    (b'{"batch": [{"type": "track", "anonymousId": "v"}]}', "message 0: event: Field required"),
])
def test_a_malformed_beacon_is_a_clear_400(local, body, error):
    status, _, answer = http(local, "POST", f"/beacon/v1/batch?writeKey={local.write_key}", body,
                             {"Content-Type": "text/plain"})

    assert (status, json.loads(answer)["error"]) == (400, error)


# ---------------------------------------------------------------- the leads API: console origins only


def test_no_other_site_can_read_the_leads_api_by_default(local):
    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}

    status, headers, _ = preflight(local, "/leads", "https://evil.example", "GET", ["authorization"])
    assert not browser_allows(headers, "https://evil.example", "GET", ["authorization"]), (status, headers)
    status, headers, _ = preflight(local, "/leads/e:x", SITE, "GET", ["authorization"])
    assert not browser_allows(headers, SITE, "GET", ["authorization"]), (status, headers)

    status, headers, _ = http(local, "GET", "/leads?stage=mql", headers={**token, "Origin": "https://evil.example"})
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


def test_the_console_origin_can_read_the_leads_api_and_no_other(local, console):
    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}

    _, headers, _ = preflight(local, "/leads/e:x", console, "GET", ["authorization"])
    assert browser_allows(headers, console, "GET", ["authorization"]), headers
    assert headers["Access-Control-Allow-Origin"] == console
    _, headers, _ = http(local, "GET", "/leads?stage=mql", headers={**token, "Origin": console})
    assert headers.get("Access-Control-Allow-Origin") == console

    _, headers, _ = preflight(local, "/leads", SITE, "GET", ["authorization"])
    assert not browser_allows(headers, SITE, "GET", ["authorization"]), headers
    _, headers, _ = http(local, "GET", "/leads?stage=mql", headers={**token, "Origin": SITE})
    assert "Access-Control-Allow-Origin" not in headers


def test_the_console_origin_can_send_feedback_and_no_other(local, console):
    asked = ["authorization", "content-type"]  # a JSON POST with the token

    status, headers, _ = preflight(local, "/leads/e:x/feedback", console, "POST", asked)
    assert browser_allows(headers, console, "POST", asked), (status, headers)
    assert "POST" in headers.get("Access-Control-Allow-Methods", "")
    _, headers, _ = preflight(local, "/leads/e:x/feedback", SITE, "POST", asked)
    assert not browser_allows(headers, SITE, "POST", asked), headers


# ---------------------------------------------------------------- the local stack, when a template has CorsConfiguration


def test_with_an_api_wide_cors_configuration_the_gateway_answers_preflights_and_its_headers_win():
    """API Gateway's behaviour with a CorsConfiguration: preflights never reach a function, and the
    function's own CORS headers are replaced by the configuration's."""
    calls = []

    def handler(event, context):
        calls.append(event["requestContext"]["http"]["method"])
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://function.example"}, "body": "{}"}

    cors = GatewayCors.from_config({"AllowOrigins": [CONSOLE], "AllowMethods": ["GET"], "AllowHeaders": ["authorization"],
                                    "MaxAge": 60})
    server = LambdaHttpServer(("127.0.0.1", 0), [Route("GET", "/leads", handler, "leads"), Route("OPTIONS", "/leads", handler, "leads")],
                              cors=cors)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        local = type("Local", (), {"port": port})

        status, headers, _ = preflight(local, "/leads", CONSOLE, "GET", ["authorization"])
        assert status == 204 and browser_allows(headers, CONSOLE, "GET", ["authorization"]), headers
        assert headers["Access-Control-Max-Age"] == "60"
        _, headers, _ = http(local, "GET", "/leads", headers={"Origin": CONSOLE})
        assert headers["Access-Control-Allow-Origin"] == CONSOLE
        _, headers, _ = http(local, "GET", "/leads", headers={"Origin": SITE})
        assert "Access-Control-Allow-Origin" not in headers
        assert calls == ["GET", "GET"]
    finally:
        server.shutdown()
        server.server_close()
