"""Engaged time, in a real browser: the snippet counts the seconds a visitor spends on a page with
it visible and active, and reports them once when the page is left, not once a second.

Headless Chromium (tests/support/chromium.py) runs the demo site of the local stack
(`leadscore dev`, tests/support/local_stack.py). Playwright's clock drives the page's
timers, so two minutes of reading take a moment: between clock steps the mouse moves, as a
reader's would. The report goes through the real pixel route and the worker, and the
lead's score says whether the default model's `pricing_read` rule (2+ minutes on pricing)
fired.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote, urlsplit

import pytest

from tests.support.chromium import browser_context
from tests.support.local_stack import http_call, running_stack
from tests.support.polling import wait_until

ACTIVE_STEP_MS = 10_000  # the mouse moves every 10 s: within the snippet's 15 s idle window


@pytest.fixture(scope="module")
def stack():
    with running_stack() as s:
        yield s


@pytest.fixture
def page():
    with browser_context("leadscore-engaged-", {"width": 1280, "height": 900}) as context:
        context.add_init_script(RECORD_BEACONS)
        yield context.new_page()


# Every navigator.sendBeacon call the pages make, kept in localStorage (it outlives the page that
# unloads; Playwright does not report requests a page makes while unloading).
RECORD_BEACONS = """(() => {
  const send = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {
    const log = JSON.parse(localStorage.getItem("__beacons") || "[]");
    log.push({url: String(url), data: String(data)});
    localStorage.setItem("__beacons", JSON.stringify(log));
    return send(url, data);
  };
})();"""


def engaged_reports(page) -> list[dict]:
    """The `Page Engaged` calls the pages have sent so far: (beacon URL, the call)."""
    sent = json.loads(page.evaluate("localStorage.getItem('__beacons') || '[]'"))
    return [{"url": b["url"], **call} for b in sent for call in json.loads(b["data"])["batch"]
            if call.get("event") == "Page Engaged"]


def read(page, steps: int) -> None:
    """`steps` × 10 s of an active reader: a mouse move, then the page's clock runs 10 s."""
    for i in range(steps):
        page.mouse.move(200 + i % 50, 300 + i % 40)
        page.clock.run_for(ACTIVE_STEP_MS)


def leave(page, stack) -> None:
    """Go to another page, and give the browser a moment to send what the old one had to say."""
    page.goto(f"http://127.0.0.1:{stack.port}/demo/features.html")
    page.wait_for_timeout(1000)  # Playwright delivers request events while it waits


def lead(stack, vid: str) -> dict:
    status, _, body = http_call(stack, "GET", "/leads/" + quote(f"v:{vid}", safe=""),
                                headers={"Authorization": f"Bearer {os.environ['API_TOKEN']}"})
    return json.loads(body) if status == 200 else {}


def test_two_minutes_reading_pricing_send_one_report_and_earn_the_pricing_read_points(stack, page):
    page.clock.install()
    page.goto(f"http://127.0.0.1:{stack.port}/demo/pricing.html")
    vid = page.evaluate("localStorage.getItem('leadscore_vid')")

    read(page, 13)  # 130 s active
    page.clock.run_for(60_000)  # a minute without moving: the idle window's 15 s count, the rest does not
    assert engaged_reports(page) == []  # counting is local: nothing is sent while the page is open

    leave(page, stack)  # leaving the page reports it

    [report] = engaged_reports(page)
    assert urlsplit(report["url"]).path == "/beacon/v1/batch"
    assert report["properties"]["path"] == "/demo/pricing.html"
    assert 130 <= report["properties"]["engaged_seconds"] <= 130 + 15
    scored = wait_until(lambda: (view := lead(stack, vid)) and "pricing_read" in {r["rule"] for r in view["reasons"]} and view,
                        timeout=30)
    assert "page_engaged" in {a["type"] for a in scored["recent"]}


def test_a_glance_is_reported_but_earns_nothing_and_a_hidden_tab_does_not_count(stack, page):
    page.clock.install()
    page.goto(f"http://127.0.0.1:{stack.port}/demo/pricing.html")
    vid = page.evaluate("localStorage.getItem('leadscore_vid')")
    read(page, 3)  # 30 s
    page.evaluate("""() => {  // the visitor switches tabs: the page is hidden
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    assert len(engaged_reports(page)) == 1  # hidden: reported at once
    read(page, 12)  # two minutes with the mouse moving over a hidden page: not engaged
    leave(page, stack)

    [report] = engaged_reports(page)  # hidden, then left with nothing new: one report
    assert 30 <= report["properties"]["engaged_seconds"] <= 30 + 15
    view = wait_until(lambda: (v := lead(stack, vid)) and "page_engaged" in {a["type"] for a in v["recent"]} and v, timeout=30)
    assert "pricing_read" not in {r["rule"] for r in view["reasons"]}
