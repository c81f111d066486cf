"""Memory of `leadscore dev` over a long run: RSS while 50,000 events go through the real HTTP routes.

`leadscore dev` starts in a subprocess on a free port (its console output
discarded), so the figures are the stack's own: moto's server, the handlers,
the queue worker, the stream pump and the notifiers' pollers. Driver threads
send the events over keep-alive connections as the SDKs and the pixel would:
one request in five is a pixel hit (`GET /t.gif`, one event), the rest are
`POST /v1/batch` calls of `--batch` events (tracks and pages, one identify in
fifty with a work email), for visitors drawn from a pool of `--visitors`, so
some of them qualify and their alerts are printed. When every event has been
accepted the bench waits for the pipeline to drain (the events queue and the
rules' queues empty, as moto's SQS reports them, at most `--drain` seconds),
then samples once more.

RSS is read from /proc/<pid>/status (VmRSS) every `--every` seconds and
printed with the events sent so far and the events queue's depth.

Usage: bench/dev_memory.py [--events N] [--max-s S] [--json]
With --json, the last line: {"events": .., "start_rss_mb": .., "peak_rss_mb": .., "end_rss_mb": ..,
"events_per_s": .., "drain_s": .., "target_peak_rss_mb": 500}
events_per_s is events accepted over HTTP per second of sending; drain_s is the
time after the last request until the queues were empty.
Target: peak RSS under 500 MB over 50,000 events.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from leadscore.dev.stack import free_port

ROOT = Path(__file__).resolve().parents[1]

TARGET_MB = 500
TYPES = ["Webinar Attended", "Email Opened", "Email Clicked", "Form Submitted", "Pricing Viewed", "Demo Requested"]
PAGES = ["/demo/", "/demo/features.html", "/demo/pricing.html", "/demo/book-a-demo.html", "/demo/blog/why.html"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def start_stack(port: int) -> tuple[subprocess.Popen, str]:
    """`leadscore dev` on this port; returns the process and the emulator's endpoint from its banner."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")}  # this checkout's stack
    for name in ("AWS_ENDPOINT_URL", "QUEUE_URL", "LEADS_TABLE", "BUS_NAME", "SLACK_WEBHOOK_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "leadscore.cli", "dev", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    deadline = time.monotonic() + 60
    while "Ctrl-C stops everything" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
    if "Ctrl-C stops everything" not in seen:
        proc.kill()
        raise SystemExit(f"leadscore dev did not start:\n{seen}")
    # from here on its output is only read to be thrown away (a full pipe would stall it)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, re.search(r"AWS on moto at (http://[0-9.:]+)", seen).group(1)


class Driver:
    def __init__(self, port: int, events: int, batch: int, visitors: int, write_key: str, seed: int, until: float):
        self.port, self.total, self.batch, self.until = port, events, batch, until
        self.visitors = [f"bench-{seed}-{i}" for i in range(visitors)]
        self.auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self.sent = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def _claim(self, n: int) -> int:
        with self._lock:
            n = min(n, self.total - self.sent) if time.monotonic() < self.until else 0
            self.sent += n
            return n

    def _event(self, rng: random.Random) -> dict:
        vid = rng.choice(self.visitors)
        roll = rng.random()
        if roll < 0.02:
            n = self.visitors.index(vid)
            return {"type": "identify", "anonymousId": vid, "messageId": os.urandom(8).hex(),
                    "traits": {"email": f"person{n}@company{n % 97}.example", "name": f"Person {n}", "title": "Marketing Manager"}}
        if roll < 0.4:
            return {"type": "page", "anonymousId": vid, "messageId": os.urandom(8).hex(),
                    "properties": {"url": "http://127.0.0.1" + rng.choice(PAGES)}}
        return {"type": "track", "event": rng.choice(TYPES), "anonymousId": vid, "messageId": os.urandom(8).hex()}

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while True:
            pixel = rng.random() < 0.2
            n = self._claim(1 if pixel else self.batch)
            if n == 0:
                break
            try:
                if pixel:
                    query = urlencode({"vid": rng.choice(self.visitors), "url": "http://127.0.0.1" + rng.choice(PAGES)})
                    conn.request("GET", f"/t.gif?{query}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"})
                else:
                    body = json.dumps({"batch": [self._event(rng) for _ in range(n)]})
                    conn.request("POST", "/v1/batch", body=body, headers={"Content-Type": "application/json", "Authorization": self.auth})
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    with self._lock:
                        self.errors += n
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.errors += n
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()


def queue_depth(sqs, urls: list[str]) -> int | None:
    """Messages in these queues (visible and in flight); None when the emulator did not answer in time
    (a loaded machine: the sample is skipped, the run goes on)."""
    from botocore.exceptions import BotoCoreError

    total = 0
    for url in urls:
        try:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                            "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        except BotoCoreError:
            return None
        total += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=50, help="events per /v1/batch call")
    parser.add_argument("--visitors", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--drain", type=float, default=600.0, help="at most this long waiting for the queues to empty")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--max-s", type=float, default=None, help="stop sending after this long (fewer events than --events)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import boto3

    port = free_port()
    proc, endpoint = start_stack(port)
    from botocore.config import Config

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local",
                       config=Config(read_timeout=20, retries={"max_attempts": 1}))
    urls = [u for u in sqs.list_queues().get("QueueUrls", []) if "dead" not in u.lower() and "dlq" not in u.lower()]
    events_queue = [u for u in urls if "event" in u.lower() and "rule" not in u.lower()]
    try:
        time.sleep(1)
        start = rss_mb(proc.pid)
        peak = start
        print(f"{'t_s':>6} {'sent':>7} {'rss_mb':>7} {'queued':>7}", flush=True)
        print(f"{0:6.0f} {0:7d} {start:7.1f} {0:7d}", flush=True)
        began = time.monotonic()
        until = began + args.max_s if args.max_s else float("inf")
        driver = Driver(port, args.events, args.batch, args.visitors, "wk_demo", args.seed, until)
        threads = [threading.Thread(target=driver.run, args=(args.seed + i,), daemon=True) for i in range(args.threads)]
        for t in threads:
            t.start()

        def sample() -> int | None:
            nonlocal peak
            rss = rss_mb(proc.pid)
            peak = max(peak, rss)
            depth = queue_depth(sqs, events_queue)
            print(f"{time.monotonic() - began:6.0f} {driver.sent:7d} {rss:7.1f} {'?' if depth is None else depth:>7}", flush=True)
            return depth

        next_sample = began + args.every
        while any(t.is_alive() for t in threads):
            time.sleep(0.2)
            peak = max(peak, rss_mb(proc.pid))
            if time.monotonic() >= next_sample:
                sample()
                next_sample += args.every
        sending_s = time.monotonic() - began
        sent_at = time.monotonic()
        drained = None
        while time.monotonic() - sent_at < args.drain:
            time.sleep(args.every)
            if sample() == 0 and queue_depth(sqs, urls) == 0:
                drained = time.monotonic() - sent_at
                break
        time.sleep(2)
        end = rss_mb(proc.pid)
        peak = max(peak, end)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    accepted = driver.sent - driver.errors
    result = {"events": driver.sent, "accepted": accepted, "start_rss_mb": round(start, 1), "peak_rss_mb": round(peak, 1),
              "end_rss_mb": round(end, 1), "events_per_s": round(accepted / sending_s, 1),
              "drain_s": round(drained, 1) if drained is not None else None, "target_peak_rss_mb": TARGET_MB}
    print(f"start {start:.0f} MB, peak {peak:.0f} MB, end {end:.0f} MB; {result['events_per_s']:.0f} events/s sent,"
          f" drained {'in %.0f s' % drained if drained is not None else 'not within --drain'}; target peak < {TARGET_MB} MB")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
