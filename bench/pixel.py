"""Warm pixel handler compute per request, SQS stubbed with botocore's Stubber.

Realistic hits (page views with visitor ids, URLs, referrers, a few dozen
browser user agents, some crawlers and DNT hits) go through the real
`functions/pixel/app.py` handler; SendMessageBatch is answered by a Stubber,
so what is measured is our compute plus botocore's request building. The
naive baseline, in the same run: the same hits through powertools'
APIGatewayHttpResolver with the crawler list checked on every hit (no cache).

Also measured: the same handler with an in-process client that answers
SendMessageBatch without botocore (`us_excluding_botocore_call`): our own
compute, EMF metrics included.

Last line: {"us_per_request": .., "naive_us_per_request": .., "ratio": .., "us_excluding_botocore_call": .., "requests": N}
Target (issue 4): ≤ 100 µs per request.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/leadscore-events"
os.environ["QUEUE_URL"] = QUEUE_URL

from botocore.stub import Stubber  # noqa: E402
from leadscore import dependencies, settings  # noqa: E402
from leadscore.adapters.queue import EventQueue  # noqa: E402
from leadscore.dev.functions import LambdaContext, load_module  # noqa: E402
from leadscore.dev.http import http_api_event  # noqa: E402
from leadscore.ingest import pixel as pixel_logic  # noqa: E402

BROWSERS = [
    f"Mozilla/5.0 ({os_}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
    for os_ in ("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64")
    for v in range(118, 130)
] + ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"]
BOTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"]
PAGES = ["/", "/pricing", "/features", "/blog/scoring-101", "/careers", "/demo"]


def requests(n: int) -> list[dict]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        headers = {"user-agent": rng.choice(BOTS) if rng.random() < 0.1 else rng.choice(BROWSERS)}
        if rng.random() < 0.05:
            headers["dnt"] = "1"
        query = f"vid=v{rng.randrange(5000)}&url=https%3A%2F%2Facme.example{rng.choice(PAGES)}&ref=https%3A%2F%2Fwww.google.com%2F"
        out.append(http_api_event("GET", "/t.gif", query, headers, b"", "GET /t.gif", {}))
    return out


def stubbed_queue(n: int) -> tuple[EventQueue, Stubber]:
    client = dependencies.current().aws_client("sqs", validate=False)  # as the handler's queue has it (Dependencies.queue)
    stubber = Stubber(client)
    for _ in range(n):
        stubber.add_response("send_message_batch", {"Successful": [{"Id": "0", "MessageId": "m", "MD5OfMessageBody": "x"}], "Failed": []})
    stubber.activate()
    return EventQueue(client, QUEUE_URL), stubber


class _NoCallClient:
    """Answers SendMessageBatch without botocore: isolates our own compute."""

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 (boto3's argument names)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def naive_handler():
    """The obvious implementation: a resolver for one route, the crawler list scanned on every hit."""
    import crawleruseragents
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

    app = APIGatewayHttpResolver()
    deps = dependencies.current()

    @app.get("/t.gif")
    def gif():
        request = app.current_event
        ua = request.headers.get("user-agent", "")
        if not crawleruseragents.is_crawler(ua):
            pixel_logic._bot_cache.clear()
            event, _ = pixel_logic.event_from_hit(request.query_string_parameters or {}, request.headers, "1.2.3.4",
                                                  request.request_context.request_id, _now(),
                                                  pixel_key=deps.pixel_key, restrictions=lambda: deps.restrictions)
            if event is not None:
                deps.queue.send([event])
        return Response(200, "image/gif", pixel_logic.GIF, headers={"Cache-Control": "no-store"})

    return lambda event, context: app.resolve(event, context)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def timed(handler, events: list[dict]) -> float:
    context = LambdaContext("bench")
    # EMF metric lines go to stdout as in Lambda; here to /dev/null so the JSON line stays last
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for event in events[:200]:  # warm: caches, compiled patterns, first-use imports
            handler(event, context)
        t0 = time.perf_counter()
        for event in events:
            handler(event, context)
        return (time.perf_counter() - t0) / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    app = load_module(ROOT / "functions" / "pixel")
    events = requests(args.requests)
    queue, _ = stubbed_queue(args.requests * 2 + 400)
    dependencies.use(dependencies.Dependencies(settings.settings(), queue=queue))  # the handler's queue, answered by the Stubber
    ours = timed(app.lambda_handler, events)
    naive = timed(naive_handler(), events)
    no_call = EventQueue(_NoCallClient(), QUEUE_URL)
    dependencies.use(dependencies.Dependencies(settings.settings(), queue=no_call))
    own = timed(app.lambda_handler, events)
    result = {"us_per_request": round(ours, 1), "naive_us_per_request": round(naive, 1),
              "ratio": round(naive / ours, 2), "us_excluding_botocore_call": round(own, 1), "requests": len(events)}
    if not args.json:
        print(f"pixel: {ours:.1f} µs/request with the Stubbed SQS call (naive {naive:.1f} µs, {naive / ours:.1f}x); "
              f"{own:.1f} µs without botocore's request building", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
