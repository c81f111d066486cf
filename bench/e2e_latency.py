"""End-to-end alert latency of the local stack: the pixel hit that makes a lead an MQL → the Slack alert.

`DevStack` (what `leadscore dev` runs: moto's server, the real handlers behind
HTTP, the worker polling SQS, EventBridge rules delivering to the notifiers)
starts on a free port with `SLACK_WEBHOOK_URL` pointing at a recording HTTP
server (tests/recorder.py). Each run is a new visitor (fresh visitor id, fresh
email), sent over plain HTTP as a browser and the snippet would send it:

1. `POST /v1/identify` (HTTP Basic, the first of `WRITE_KEYS`): email at a company
   domain, title "Marketing Manager", 200 employees, industry software: fit 35
   (email_corporate 5 + title_manager 8 + company_mid 12 + industry_core 10);
2. `POST /v1/track` "Form Submitted": engagement +8 (43);
3. `GET /t.gif?vid=..&url=http://127.0.0.1:PORT/demo/` and `.../demo/features.html`
   with a desktop Chrome User-Agent: +1 each (45);
4. the bench then waits until the leads API (`GET /leads/v:<vid>`) shows 45, stage
   lead: everything before the clock starts has been scored; then a random pause of
   0 to 1 s (seeded), so the final hit does not arrive in step with a poller's rhythm
   (the naive poller below last looked right after scoring those events);
5. **the clock starts** immediately before the final qualifying request is sent: the
   pixel hit `GET /t.gif?vid=..&url=http://127.0.0.1:PORT/demo/pricing.html`
   (page_view +1, pricing_page +10: 56, over the MQL threshold of 50 and under SQL's 80);
6. **the clock stops** when the recording Slack endpoint receives the alert that names
   this run's email (the recorder's `time.monotonic()` at the request's arrival).

So one figure covers: the pixel handler queueing the event (SQS on moto), the
worker's long poll picking it up, scoring, the DynamoDB writes (apply, then the
transition's record), the stream publisher reading the table's stream (polled
every `STREAM_POLL_S`; the template's 1 s batching window is not emulated and
would add up to 1 s on AWS) and its EventBridge put, the rule's delivery and the
Slack notifier's idempotency record and POST.

The naive baseline, in the same process, same flow and same number of runs: the
worker's SQS polling replaced by a fixed-interval short poll (receive without
long polling; when the queue is empty, sleep `NAIVE_POLL_S` = 1 s and poll
again), what a cron-style poller does. Everything else (the EventBridge rules'
pollers included) is unchanged. Also reported: the final pixel request's own
round trip (`pixel_rtt_median_ms`).

Each stack gets one warm-up run first (the Slack client and other lazy imports
load on the first alert), reported but not counted. p95 is the nearest-rank
95th percentile (with 20 runs, the 19th fastest; with 10, the slowest).
The handlers' log lines are turned off (WARNING) so the table stays readable.

Usage: bench/e2e_latency.py [--runs N] [--json]
Prints one line per run and a table; with --json, then as the last line: {"median_ms": .., "p95_ms": .., "runs": N, "target_median_ms": 2000,
"baseline_median_ms": .., "baseline_p95_ms": .., "pixel_rtt_median_ms": .., "warmup_ms": ..}
Target: median ≤ 2000 ms from the pixel hit to the Slack alert.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import os
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from leadscore import settings
from leadscore.dev import stack as stack_module
from leadscore.dev.stack import DevStack, free_port

from testbed.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]

TARGET_MEDIAN_MS = 2000
NAIVE_POLL_S = 1.0
SLACK_PATH = "/slack/services/T000/B000/BENCH"
# a real visitor's browser: the pixel drops crawler user agents
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
BEFORE_CLOCK_SCORE = 45.0  # fit 35 + form 8 + two page views
ALERT_TIMEOUT_S = 20.0


# -- the naive baseline: the worker short-polls every second -----------------------------------

class _ShortPolling:
    """An SQS client whose receive_message never long-polls: an empty queue is looked at again
    `interval` seconds later."""

    def __init__(self, client: Any, interval: float):
        self._client, self._interval = client, interval

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        kwargs["WaitTimeSeconds"] = 0
        got = self._client.receive_message(**kwargs)
        if not got.get("Messages"):
            time.sleep(self._interval)
        return got


class NaiveStack(DevStack):
    """The same stack, but the worker's event-source poller (its thread is `sqs-<function>`)
    polls on a fixed interval instead of long polling."""

    def client(self, service: str) -> Any:
        client = super().client(service)
        if service == "sqs" and threading.current_thread().name.startswith("sqs-"):
            return _ShortPolling(client, NAIVE_POLL_S)
        return client


# -- one run ---------------------------------------------------------------------------------

class Visitor:
    def __init__(self, base: str, write_key: str, token: str, tag: str):
        self.base, self.write_key, self.token = base, write_key, token
        self.vid = str(uuid.uuid4())
        self.email = f"bench.{tag}.{self.vid[:8]}@northwind-analytics.com"

    def _post(self, kind: str, message: dict[str, Any]) -> None:
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        body = {"anonymousId": self.vid, "messageId": str(uuid.uuid4()), "timestamp": now, "sentAt": now,
                "context": {"userAgent": USER_AGENT}, **message}
        auth = base64.b64encode(f"{self.write_key}:".encode()).decode()
        request = urllib.request.Request(f"{self.base}/v1/{kind}", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}",
                                                  "User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"/v1/{kind} answered {response.status}")

    def identify(self) -> None:
        self._post("identify", {"traits": {"email": self.email, "name": "Bench Visitor", "company": "Northwind Analytics",
                                           "title": "Marketing Manager", "company_size": 200, "industry": "software"}})

    def track(self, event: str) -> None:
        self._post("track", {"event": event, "properties": {"form": "newsletter"}})

    def pixel(self, page: str) -> float:
        """One page view through the pixel; returns its round trip in seconds."""
        query = urlencode({"vid": self.vid, "url": f"{self.base}/demo/{page}", "eid": uuid.uuid4().hex})
        request = urllib.request.Request(f"{self.base}/t.gif?{query}", headers={"User-Agent": USER_AGENT})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/t.gif answered {response.status}")
        return time.monotonic() - started

    def lead(self) -> dict[str, Any] | None:
        request = urllib.request.Request(f"{self.base}/leads/v:{quote(self.vid)}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def _wait_scored(visitor: Visitor, timeout: float = ALERT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lead = visitor.lead()
        if lead and lead.get("email") == visitor.email and lead["score"] >= BEFORE_CLOCK_SCORE - 0.5:
            if lead["stage"] != "lead":
                raise RuntimeError(f"qualified before the clock started: {lead['stage']} at {lead['score']}")
            return
        time.sleep(0.02)
    raise RuntimeError(f"the events before the clock were not scored within {timeout} s (last: {lead})")


def _wait_alert(recorder: Recorder, email: str, timeout: float = ALERT_TIMEOUT_S) -> float:
    """The arrival time (monotonic) of the Slack alert naming `email`."""
    deadline = time.monotonic() + timeout
    needle = email.encode()
    while time.monotonic() < deadline:
        for request, at in zip(recorder.requests, recorder.times):
            if needle in request.body:
                return at
        time.sleep(0.005)
    raise RuntimeError(f"no Slack alert for {email} within {timeout} s")


def one_run(stack: DevStack, recorder: Recorder, tag: str, rng: random.Random) -> tuple[float, float]:
    """(pixel hit → alert, the pixel request's round trip), in seconds."""
    v = Visitor(f"http://127.0.0.1:{stack.port}", os.environ["WRITE_KEYS"].split(",")[0].strip(),
                os.environ["API_TOKEN"], tag)
    v.identify()
    v.track("Form Submitted")
    v.pixel("")
    v.pixel("features.html")
    _wait_scored(v)
    time.sleep(rng.uniform(0, NAIVE_POLL_S))  # visitors arrive at any moment of a poll interval
    started = time.monotonic()  # the clock: right before the final qualifying pixel hit is sent
    rtt = v.pixel("pricing.html")
    arrived = _wait_alert(recorder, v.email)
    return arrived - started, rtt


# -- a stack's series of runs ----------------------------------------------------------------

def _quiet() -> None:
    for name in stack_module.LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _reset_runtime() -> None:
    """A second stack in this process: its own emulator, so no client of the first may stay cached."""
    settings.reset()


def series(kind: type[DevStack], label: str, runs: int, recorder: Recorder, out: list[str]) -> dict[str, Any]:
    port = free_port()
    while port == 3000:
        port = free_port()
    _reset_runtime()
    stack = kind("127.0.0.1", port, out=out.append)
    stack.start()
    rng = random.Random(7)  # the same pauses for both stacks
    try:
        _quiet()
        warmup, _ = one_run(stack, recorder, f"{label}-warmup", rng)
        alerts_before = len(recorder.requests)
        latencies, rtts = [], []
        for i in range(runs):
            latency, rtt = one_run(stack, recorder, f"{label}-{i}", rng)
            latencies.append(latency)
            rtts.append(rtt)
            print(f"  {label:<8} run {i + 1:>3}   pixel hit → Slack alert {latency * 1000:8.1f} ms"
                  f"   pixel round trip {rtt * 1000:6.1f} ms", flush=True)
        time.sleep(0.5)  # a duplicate alert would have arrived by now
        alerts = len(recorder.requests) - alerts_before
        if alerts != runs:
            raise RuntimeError(f"{label}: expected {runs} Slack alerts (one per run), got {alerts}")
    finally:
        stack.stop()
        _reset_runtime()
    return {"latencies": latencies, "rtts": rtts, "warmup": warmup}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per stack (default 20)")
    parser.add_argument("--json", action="store_true", help="end with the JSON summary line (after the table)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    for name in ("SLACK_WEBHOOK_URL_MQL", "SLACK_WEBHOOK_URL_SQL", "CRM_WEBHOOK_URL", "ALERT_EMAIL_FROM",
                 "ALERT_EMAIL_TO", "ALERT_EMAIL_TO_MQL", "SECRETS_ARN"):
        os.environ.pop(name, None)
    out: list[str] = []
    with Recorder() as recorder:
        os.environ["SLACK_WEBHOOK_URL"] = recorder.url + SLACK_PATH  # before start(): the stack only sets defaults
        print(f"e2e latency: {args.runs} runs per stack, pixel hit → Slack alert", flush=True)
        real = series(DevStack, "dev", args.runs, recorder, out)
        naive = series(NaiveStack, "naive", args.runs, recorder, out)
    if out:
        print("stack said:\n  " + "\n  ".join(out), file=sys.stderr)

    ms = lambda s: round(s * 1000, 1)  # noqa: E731
    rows = [
        ("leadscore dev (long poll)", real),
        (f"naive ({NAIVE_POLL_S:g} s short poll)", naive),
    ]
    print()
    print(f"{'stack':<28} {'median ms':>10} {'p95 ms':>10} {'min ms':>10} {'max ms':>10} {'warm-up ms':>11} {'pixel rtt ms':>13}")
    for name, r in rows:
        lat = r["latencies"]
        print(f"{name:<28} {ms(statistics.median(lat)):>10} {ms(p95(lat)):>10} {ms(min(lat)):>10} {ms(max(lat)):>10}"
              f" {ms(r['warmup']):>11} {ms(statistics.median(r['rtts'])):>13}")
    median = ms(statistics.median(real["latencies"]))
    verdict = "met" if median <= TARGET_MEDIAN_MS else "NOT met"
    print(f"target: median ≤ {TARGET_MEDIAN_MS} ms: {verdict}", flush=True)
    if not args.json:
        return 0
    print(json.dumps({
        "median_ms": median,
        "p95_ms": ms(p95(real["latencies"])),
        "runs": args.runs,
        "target_median_ms": TARGET_MEDIAN_MS,
        "baseline_median_ms": ms(statistics.median(naive["latencies"])),
        "baseline_p95_ms": ms(p95(naive["latencies"])),
        "baseline": f"worker short-polls SQS every {NAIVE_POLL_S:g} s instead of long polling",
        "pixel_rtt_median_ms": ms(statistics.median(real["rtts"])),
        "warmup_ms": ms(real["warmup"]),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
