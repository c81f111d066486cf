"""The browser SDKs of the Segment family, unmodified, on a customer's page of another origin.

The npm packages themselves (tests/e2e/sdks/package.json, exact versions, `npm ci` into
tests/e2e/sdks/node_modules on first use) run in headless Chromium on a page served from
http://127.0.0.1:<site port>; the API is the local stack (`DevStack`) on
http://127.0.0.1:<api port>, another origin, so every call is a real cross-origin request
with the browser's own preflight. Nothing intercepts requests (Playwright's `page.route`
would answer preflights itself and hide a CORS failure); the test only listens to the
responses the page sees. Each test then reads the lead through the leads API.

One browser, one stack and one site for the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.chromium import browser_context, in_ci
from tests.support.local_stack import running_stack

SDKS = Path(__file__).resolve().parent / "sdks"
WAIT_S = 20  # for events to go page -> API -> queue -> worker -> table
SEGMENT_HEADERS = {"authorization", "content-type", "x-retry-count"}  # beyond what a browser sets itself
RUDDERSTACK_HEADERS = {"accept", "authorization", "content-type", "anonymousid", "sentat", "rsa-recovered",
                       "rsa-retry-attempt", "rsa-since-last-attempt", "rsa-since-first-attempt", "rsa-retry-reason"}
BROWSER_HEADERS = {"accept", "origin", "referer", "user-agent", "accept-language", "sec-ch-ua", "sec-ch-ua-mobile",
                   "sec-ch-ua-platform", "content-length", "host", "connection", "accept-encoding"}


# ---------------------------------------------------------------- fixtures


def _installed() -> bool:
    lock = SDKS / "node_modules" / ".package-lock.json"
    return lock.exists() and lock.stat().st_mtime >= (SDKS / "package-lock.json").stat().st_mtime


@pytest.fixture(scope="module")
def sdks():
    """The SDKs' npm packages, installed exactly as locked (npm ci) unless they already are."""
    if not _installed():
        npm = shutil.which("npm")
        if npm is None:
            if in_ci():
                pytest.fail("npm is missing under CI: the browser SDK tests need it to install the SDKs")
            pytest.skip("npm is missing: the browser SDK tests install the SDKs from the npm registry")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDKS, check=True, timeout=300)
    return SDKS


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@pytest.fixture(scope="module")
def site(sdks):
    """The customer's site: the SDK folder, served on its own port (its own origin)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(sdks)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack():
    with running_stack(unset=("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_MQL", "SLACK_WEBHOOK_URL_SQL", "CRM_WEBHOOK_URL",
                              "ALERT_EMAIL_FROM", "ALERT_EMAIL_TO", "SECRETS_ARN", "WRITE_KEYS", "API_TOKEN")) as dev:
        dev.base = f"http://127.0.0.1:{dev.port}"
        dev.logs = dev.lines
        yield dev


@pytest.fixture(scope="module")
def browser():
    with browser_context("leadscore-e2e-sdks-", {"width": 1024, "height": 700}) as context:
        yield context


class Page:
    """A fresh page of the customer's site with one SDK, and what the page saw of the API."""

    def __init__(self, browser, site: str, api: str, sdk: str):
        self.page = browser.new_page()
        self.api = api
        self.responses: list[tuple[str, str, int, dict[str, str]]] = []  # method, path, status, request headers
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.page.on("response", self._response)
        self.page.on("requestfailed", lambda r: self.failures.append(f"{r.method} {r.url}: {r.failure}")
                     if r.url.startswith(api) else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(f"{site}/page.html?sdk={sdk}")

    def _response(self, response) -> None:
        request = response.request
        if request.url.startswith(self.api):
            try:
                headers = request.all_headers()
            except Exception:  # the page navigated away meanwhile
                headers = dict(request.headers)
            self.responses.append((request.method, request.url[len(self.api):], response.status, headers))

    def sent(self, path_prefix: str, status: int | None = None) -> list[dict[str, str]]:
        return [h for m, p, s, h in self.responses if m == "POST" and p.startswith(path_prefix) and status in (None, s)]

    def wait(self, seconds: float) -> None:
        """Sleep while Playwright delivers the page's events (time.sleep would hold them back)."""
        self.page.wait_for_timeout(seconds * 1000)

    def wait_for(self, condition, timeout: float = WAIT_S):
        deadline = time.monotonic() + timeout
        while not (value := condition()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s; API responses: {self.responses}; failed: {self.failures}")
            self.wait(0.1)
        return value

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_page(browser, site, stack):
    pages: list[Page] = []

    def open_(sdk: str) -> Page:
        pages.append(Page(browser, site, stack.base, sdk))
        return pages[-1]

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def fail_once(stack):
    """The next SQS send carrying `marker` is made, then reported as failed (the connection dropped
    after SQS took it): the real collect handler answers 503 with the event queued, so the SDK's
    retry queues it a second time, as happens in AWS."""
    from botocore.exceptions import ConnectionClosedError
    from leadscore import dependencies

    client = dependencies.current().aws_client("sqs", validate=False)  # the events queue's client
    state = {"marker": None, "failed": 0}

    def before_send(params, **_):
        state["this"] = bool(state["marker"]) and not state["failed"] and any(
            state["marker"] in e["MessageBody"] for e in params.get("Entries", []))

    def after_call(**_):
        if state.get("this"):
            state["this"], state["failed"] = False, state["failed"] + 1
            raise ConnectionClosedError(endpoint_url="sqs (fault injected by the test)")

    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", before_send)
    client.meta.events.register("after-call.sqs.SendMessageBatch", after_call)

    def arm(marker: str) -> dict:
        state["marker"] = marker
        return state

    yield arm
    client.meta.events.unregister("provide-client-params.sqs.SendMessageBatch", before_send)
    client.meta.events.unregister("after-call.sqs.SendMessageBatch", after_call)


def _lead(stack, lead_id: str) -> dict | None:
    request = urllib.request.Request(f"{stack.base}/leads/{lead_id}",
                                     headers={"Authorization": f"Bearer {os.environ['API_TOKEN']}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def wait_for_events(stack, visitor: str, types: list[str], page: Page) -> dict:
    """The visitor's lead once its recent activity holds `types` (as a multiset); fails after WAIT_S.
    Waits with the page's own timer, so Playwright keeps delivering the page's events meanwhile."""
    deadline = time.monotonic() + WAIT_S
    lead = None
    while time.monotonic() < deadline:
        lead = _lead(stack, f"v:{visitor}")
        if lead and sorted(r["type"] for r in lead["recent"]) == sorted(types):
            return lead
        page.wait(0.2)
    raise AssertionError(f"lead v:{visitor} did not get {types} in {WAIT_S} s: {lead}\nAPI responses: {page.responses}\n"
                         f"failed requests: {page.failures}\nstack: {stack.logs}")


def _extra_headers(headers: dict[str, str]) -> set[str]:
    return {name for name in headers if name.lower() not in BROWSER_HEADERS and not name.startswith(("sec-", ":"))}


# ---------------------------------------------------------------- analytics.js


def _load_segment(page: Page, stack, visitor: str, delivery: dict | None = None, options: dict | None = None) -> None:
    settings = {"apiKey": stack.write_key, "apiHost": f"{stack.base.removeprefix('http://')}/v1", "protocol": "http"}
    page.page.evaluate(
        """async ([writeKey, settings, delivery, options, visitor]) => {
            const integrations = delivery ? {'Segment.io': {deliveryStrategy: delivery}} : undefined;
            const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
                {writeKey, cdnSettings: {integrations: {'Segment.io': settings}}},
                {integrations, ...options});
            analytics.setAnonymousId(visitor);
            window.analytics = analytics;
        }""",
        [stack.write_key, settings, delivery, options or {}, visitor])


def test_analytics_js_on_another_origin_delivers_page_track_and_identify(open_page, stack):
    visitor = f"ajs-{uuid.uuid4().hex[:12]}"
    page = open_page("segment")
    _load_segment(page, stack, visitor)

    page.page.evaluate("""async () => {
        await analytics.page();
        await analytics.track('Webinar Attended', {webinar: 'scoring 101'});
        await analytics.identify({title: 'CTO'});
    }""")

    lead = wait_for_events(stack, visitor, ["page_view", "webinar_attended", "identify"], page)
    assert lead["facts"].get("job_title") == "CTO"
    page.wait_for(lambda: len(page.sent("/v1/")) == 3)
    assert {(p, s) for m, p, s, _ in page.responses if m == "POST"} == {("/v1/p", 200), ("/v1/t", 200), ("/v1/i", 200)}
    sent = set().union(*(_extra_headers(h) for h in page.sent("/v1/")))
    assert {"authorization", "content-type"} <= sent <= SEGMENT_HEADERS, sent
    assert not page.errors, page.errors


def test_analytics_js_batching_delivers_a_batch_to_v1_b(open_page, stack):
    visitor = f"ajs-batch-{uuid.uuid4().hex[:12]}"
    page = open_page("segment")
    _load_segment(page, stack, visitor, {"strategy": "batching", "config": {"size": 3, "timeout": 60_000}})

    page.page.evaluate("""() => {
        analytics.page();
        analytics.track('Webinar Attended');
        analytics.track('Pricing Viewed');
    }""")

    wait_for_events(stack, visitor, ["page_view", "webinar_attended", "pricing_viewed"], page)
    page.wait_for(lambda: page.sent("/v1/"))
    assert [(m, p, s) for m, p, s, _ in page.responses if m == "POST"] == [("POST", "/v1/b", 200)], page.responses
    assert not page.errors, page.errors


def test_analytics_js_batching_flushes_on_page_unload(open_page, stack):
    visitor = f"ajs-unload-{uuid.uuid4().hex[:12]}"
    page = open_page("segment")
    _load_segment(page, stack, visitor, {"strategy": "batching", "config": {"size": 100, "timeout": 60_000}})
    page.page.evaluate("""() => { analytics.track('Webinar Attended'); analytics.track('Pricing Viewed'); }""")
    page.wait(0.5)
    assert not page.sent("/v1/"), "nothing is sent before the page goes away (size 100, timeout 60 s)"

    page.page.click("#away")  # the visitor leaves: pagehide, the batch goes out with keepalive
    page.page.wait_for_url("**/away.html")

    wait_for_events(stack, visitor, ["webinar_attended", "pricing_viewed"], page)


def test_analytics_js_retries_after_a_503_and_the_event_counts_once(open_page, stack, fail_once):
    visitor = f"ajs-retry-{uuid.uuid4().hex[:12]}"
    fault = fail_once(visitor)
    page = open_page("segment")
    _load_segment(page, stack, visitor)

    page.page.evaluate("() => analytics.track('Webinar Attended')")

    wait_for_events(stack, visitor, ["webinar_attended"], page)  # queued by the attempt that got the 503
    page.wait_for(lambda: page.sent("/v1/t", 200))
    assert fault["failed"] == 1
    tracks = [(s, h.get("x-retry-count")) for m, p, s, h in page.responses if m == "POST" and p == "/v1/t"]
    assert tracks == [(503, None), (200, "1")], page.responses
    page.wait(1.5)  # the duplicate the 503 left on the queue has been scored (or skipped) by now
    lead = _lead(stack, f"v:{visitor}")
    assert lead["events"] == 1, lead
    assert [r["type"] for r in lead["recent"]] == ["webinar_attended"]


# ---------------------------------------------------------------- RudderStack


def _load_rudderstack(page: Page, stack, visitor: str, options: dict | None = None) -> None:
    page.page.evaluate(
        """([writeKey, dataPlaneUrl, options, visitor]) => new Promise((resolve) => {
            const source = {source: {id: 'e2e', name: 'e2e', writeKey, enabled: true, workspaceId: 'e2e',
                                     config: {}, destinations: []}};
            const rs = new rudderanalytics.RudderAnalytics();  // the UMD build's module is window.rudderanalytics
            window.rs = rs;
            rs.load(writeKey, dataPlaneUrl, {
                getSourceConfig: () => source,
                onLoaded: () => { rs.setAnonymousId(visitor); resolve(); },
                logLevel: 'ERROR',
                ...options,
            });
        })""",
        [stack.write_key, stack.base, options or {}, visitor])


def test_rudderstack_on_another_origin_delivers_page_track_and_identify(open_page, stack):
    visitor = f"rs-{uuid.uuid4().hex[:12]}"
    page = open_page("rudderstack")
    _load_rudderstack(page, stack, visitor)

    page.page.evaluate("""() => {
        rs.page();
        rs.track('Webinar Attended', {webinar: 'scoring 101'});
        rs.identify({title: 'CTO'});
    }""")

    lead = wait_for_events(stack, visitor, ["page_view", "webinar_attended", "identify"], page)
    assert lead["facts"].get("job_title") == "CTO"
    page.wait_for(lambda: len(page.sent("/v1/")) == 3)
    statuses = {(p, s) for m, p, s, _ in page.responses if m == "POST"}
    assert statuses == {("/v1/page", 200), ("/v1/track", 200), ("/v1/identify", 200)}, page.responses
    sent = set().union(*(_extra_headers(h) for h in page.sent("/v1/")))
    assert {"authorization", "content-type", "anonymousid", "sentat"} <= sent <= RUDDERSTACK_HEADERS, sent


def test_rudderstack_retries_after_a_503_with_its_retry_headers_and_the_event_counts_once(open_page, stack, fail_once):
    visitor = f"rs-retry-{uuid.uuid4().hex[:12]}"
    fault = fail_once(visitor)
    page = open_page("rudderstack")
    _load_rudderstack(page, stack, visitor)

    page.page.evaluate("() => rs.track('Webinar Attended')")

    wait_for_events(stack, visitor, ["webinar_attended"], page)  # queued by the attempt that got the 503
    page.wait_for(lambda: page.sent("/v1/track", 200))
    assert fault["failed"] == 1
    tracks = [(s, h) for m, p, s, h in page.responses if m == "POST" and p == "/v1/track"]
    assert [s for s, _ in tracks] == [503, 200], (page.responses, page.failures, page.errors)
    retry = tracks[1][1]
    assert retry.get("rsa-retry-attempt") == "1", retry
    # 3.34.1 reports "client-network" as the reason even for a 503 (it reads the reason back from
    # the in-progress entry, which does not keep it): only the header's presence is ours to check
    assert {"rsa-retry-reason", "rsa-since-last-attempt", "rsa-since-first-attempt"} <= set(retry), retry
    page.wait(1.5)
    assert _lead(stack, f"v:{visitor}")["events"] == 1


def test_rudderstack_beacon_transport_delivers_to_beacon_v1_batch(open_page, stack):
    visitor = f"rs-beacon-{uuid.uuid4().hex[:12]}"
    page = open_page("rudderstack")
    _load_rudderstack(page, stack, visitor, {"useBeacon": True, "beaconQueueOptions": {"flushQueueInterval": 200}})

    page.page.evaluate("""() => {
        rs.page();
        rs.track('Webinar Attended');
    }""")

    wait_for_events(stack, visitor, ["page_view", "webinar_attended"], page)
    page.wait_for(lambda: page.sent("/beacon/"))
    beacons = [(p.partition("?")[0], s) for m, p, s, _ in page.responses if m == "POST"]
    assert set(beacons) == {("/beacon/v1/batch", 200)}, page.responses
