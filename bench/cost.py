"""Dollars per million events at AWS list prices, from the worker's measured AWS calls.

Inputs: the figures of bench/aws_calls.py (run here in-process, or read with
--from FILE, the last JSON line of its output) and the pixel's compute per
request (bench/pixel.py, run in a subprocess). Each event is assumed to:

- arrive by one API Gateway HTTP API request (a pixel hit or a webhook);
- run one ingest Lambda invocation (the pixel function: the template's architecture, its MemorySize
  from template.yaml) that sends one SQS message;
- be received with 9 others by the worker: one ReceiveMessage and one
  DeleteMessageBatch per batch (the event source mapping), one worker
  invocation per batch (its architecture and MemorySize from template.yaml);
- cost the DynamoDB write and read request units aws_calls measured (table and
  GSI), and EventBridge entries per transition (billed per entry, 64 KB chunks);
- share the stream publisher's invocations (its architecture and MemorySize): aws_calls
  counts them per event, at its --rate. Reading a DynamoDB stream from a Lambda
  trigger is free, and records the trigger's filter drops invoke nothing.

Lambda durations are modelled, not measured on AWS: our compute measured on
this machine (one full core) scaled by Lambda's CPU share (a full vCPU at
1,769 MB, proportionally less below), plus each AWS call at an assumed
client-observed latency (constants below), rounded up to the billed 1 ms.
Free tiers are left out (marginal cost at volume). CloudWatch Logs (platform
lines and EMF metrics) is printed apart: it is not in the issue's list.

Last line: {"usd_per_million_events": .., "components": {...}, "naive_usd_per_million_events": .., ...}
Target (issue 5): <= $2.50 per million events.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_USD = 2.50

# AWS list prices, us-east-1, USD, as published on the pricing pages below and checked on 2026-11-23
# (first volume tier; free tiers not applied).
PRICES_AS_OF = "2026-11-23"
PRICES = {
    # https://aws.amazon.com/api-gateway/pricing/ : HTTP APIs, first 300 million requests a month
    # (then $0.90); requests metered in 512 KB increments.
    "apigw_http_per_million_requests": 1.00,
    # https://aws.amazon.com/lambda/pricing/ : requests (any architecture), and duration by
    # architecture (first tier: 6 billion GB-s a month for x86, 7.5 billion for Arm), billed in 1 ms increments.
    "lambda_per_million_requests": 0.20,
    "lambda_x86_64_per_gb_second": 0.0000166667,
    "lambda_arm64_per_gb_second": 0.0000133334,
    # https://aws.amazon.com/sqs/pricing/ : standard queues, first 100 billion requests a month;
    # each 64 KB chunk of a request's payload is one request.
    "sqs_standard_per_million_requests": 0.40,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ : on-demand throughput after the
    # November 2024 reduction (-50%); GSI writes are billed as write request units too.
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    # https://aws.amazon.com/eventbridge/pricing/ : custom events published to an event bus,
    # per entry (each 64 KB chunk of an entry is one event).
    "eventbridge_per_million_custom_events": 1.00,
    # https://aws.amazon.com/cloudwatch/pricing/ : log ingestion, Standard class; Lambda logs are
    # tiered since May 2025, the first tier at this price. (Shown apart, not in the total.)
    "cloudwatch_logs_per_gb_ingested": 0.50,
}

# Assumptions (not measurable here; change them to see how the total moves).
FULL_VCPU_MB = 1769  # Lambda gives one vCPU at 1,769 MB and a proportional share below
LATENCY_MS = {  # client-observed latency of one call from a Lambda function in the same region (SDK overhead included)
    "sqs_send": 8.0,  # SendMessage / SendMessageBatch (ingest)
    "dynamodb": 6.0,  # UpdateItem / PutItem / GetItem
    "dynamodb_transaction": 12.0,  # TransactWriteItems (2 items)
    "eventbridge": 20.0,  # PutEvents
}
PIXEL_US_FALLBACK = 100.0  # the pixel's compute per request when bench/pixel.py cannot run (its target is <= 100 µs)
PLATFORM_LOG_BYTES = 330  # START, END and REPORT lines Lambda writes per invocation (text format)
PIXEL_LOG_BYTES_FALLBACK = 400  # one EMF metrics line per pixel request


def architecture() -> str:
    """The functions' architecture (Globals' Architectures in template.yaml): the price of a GB-second."""
    from leadscore.dev.template import load_template

    (arch,) = ((load_template().get("Globals") or {}).get("Function") or {}).get("Architectures", ["x86_64"])
    return arch


def memory_sizes() -> dict[str, int]:
    """MemorySize of the pixel (ingest) and score (worker) functions, from template.yaml."""
    from leadscore.dev.template import load_template

    template = load_template()
    default = int(((template.get("Globals") or {}).get("Function") or {}).get("MemorySize", 128))
    fns = template["Resources"]
    return {name: int(fns[logical]["Properties"].get("MemorySize", default)) for name, logical in
            (("ingest", "PixelFunction"), ("worker", "ScoreFunction"), ("publisher", "PublishFunction"))}


def pixel_compute_us(log: Any) -> tuple[float, str]:
    """Our compute per pixel request (EMF metrics included, SQS call excluded), from bench/pixel.py."""
    try:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "pixel.py"), "--json", "--requests", "3000"],
                             capture_output=True, text=True, timeout=120, check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        return float(figures["us_excluding_botocore_call"]), "bench/pixel.py us_excluding_botocore_call"
    except Exception as exc:  # noqa: BLE001 (fall back to a stated assumption)
        log(f"bench/pixel.py did not run ({exc.__class__.__name__}); assuming {PIXEL_US_FALLBACK} µs per request")
        return PIXEL_US_FALLBACK, "assumed"


PIXEL_LOG_PROBE = """
import contextlib, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("pixel_bench", sys.argv[1])
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
app = bench.load_module(bench.ROOT / "functions" / "pixel")
events = bench.requests(500)
queue, _ = bench.stubbed_queue(2000)
bench.dependencies.use(bench.dependencies.Dependencies(bench.settings.settings(), queue=queue))
class Sink:
    n = 0
    def write(self, s): Sink.n += len(s.encode()); return len(s)
    def flush(self): pass
app.logger.registered_handler.setStream(Sink())
with contextlib.redirect_stdout(Sink()):
    for e in events:
        app.lambda_handler(e, bench.LambdaContext("pixel"))
print(json.dumps({"bytes_per_request": Sink.n / len(events)}))
"""


def pixel_log_bytes(log: Any) -> float:
    """Bytes the pixel handler logs per request (its EMF metrics line), measured on stubbed SQS."""
    try:
        out = subprocess.run([sys.executable, "-c", PIXEL_LOG_PROBE, str(ROOT / "bench" / "pixel.py")],
                             capture_output=True, text=True, timeout=120, check=True)
        return float(json.loads(out.stdout.strip().splitlines()[-1])["bytes_per_request"])
    except Exception as exc:  # noqa: BLE001
        log(f"pixel log probe did not run ({exc.__class__.__name__}); assuming {PIXEL_LOG_BYTES_FALLBACK} bytes per request")
        return PIXEL_LOG_BYTES_FALLBACK


def worker_ms(fig: dict[str, Any], cpu_scale: float) -> float:
    """Billed duration of one worker invocation (one batch): scaled compute plus its calls."""
    ms = (fig["compute_ms_per_batch"] * cpu_scale
          + fig["ddb_calls_per_batch"] * LATENCY_MS["dynamodb"]
          + fig["ddb_transactions_per_batch"] * LATENCY_MS["dynamodb_transaction"]
          + fig["eb_calls_per_batch"] * LATENCY_MS["eventbridge"])
    return float(math.ceil(ms))


def model(fig: dict[str, Any], batch: int, mem: dict[str, int], pixel_us: float) -> tuple[dict[str, float], dict[str, Any]]:
    """$ per million events by component, and what each was computed from."""
    m = 1_000_000
    p = PRICES
    gb_s = p[f"lambda_{architecture()}_per_gb_second"]
    ingest_ms = float(math.ceil(pixel_us / 1000 * FULL_VCPU_MB / mem["ingest"] + LATENCY_MS["sqs_send"]))
    batch_ms = worker_ms(fig, FULL_VCPU_MB / mem["worker"])
    invocations = m / batch
    pub = fig.get("publisher")  # the naive worker publishes inline: no publisher
    pub_invocations = pub["invocations_per_event"] * m if pub else 0.0
    pub_ms = float(math.ceil(pub["compute_ms_per_invocation"] * FULL_VCPU_MB / mem["publisher"]
                             + pub["put_events_calls_per_invocation"] * LATENCY_MS["eventbridge"])) if pub else 0.0
    wru = fig["ddb_write_wru_per_event"] + fig["gsi_wru_per_event"]
    components = {
        "api_gateway_http": m * p["apigw_http_per_million_requests"] / m,
        "lambda_requests": (m + invocations + pub_invocations) * p["lambda_per_million_requests"] / m,
        "lambda_ingest_duration": m * mem["ingest"] / 1024 * ingest_ms / 1000 * gb_s,
        "lambda_worker_duration": invocations * mem["worker"] / 1024 * batch_ms / 1000 * gb_s,
        "lambda_publisher_duration": pub_invocations * mem["publisher"] / 1024 * pub_ms / 1000 * gb_s,
        "sqs": (m + 2 * invocations) * p["sqs_standard_per_million_requests"] / m,
        "dynamodb_writes": wru * m * p["dynamodb_per_million_wru"] / m,
        "dynamodb_reads": fig["ddb_read_rru_per_event"] * m * p["dynamodb_per_million_rru"] / m,
        "eventbridge": fig["eb_entries_per_event"] * m * p["eventbridge_per_million_custom_events"] / m,
    }
    share_in, share_w = FULL_VCPU_MB / mem["ingest"], FULL_VCPU_MB / mem["worker"]
    basis = {
        "api_gateway_http": "1 request per event",
        "lambda_requests": f"1 ingest + 1/{batch} worker + {pub_invocations / m:.5f} publisher invocations per event",
        "lambda_ingest_duration": (f"{ingest_ms:.0f} ms billed at {mem['ingest']} MB ({pixel_us:.0f} µs compute x {share_in:.1f} CPU share"
                                   f" + SQS send {LATENCY_MS['sqs_send']:.0f} ms)"),
        "lambda_worker_duration": (f"{batch_ms:.0f} ms per batch at {mem['worker']} MB ({fig['compute_ms_per_batch']:.1f} ms compute"
                                   f" x {share_w:.2f} + {fig['ddb_calls_per_batch']:.2f} DynamoDB, {fig['ddb_transactions_per_batch']:.2f}"
                                   f" transactions, {fig['eb_calls_per_batch']:.2f} PutEvents calls)"),
        "lambda_publisher_duration": (f"{pub_ms:.0f} ms per invocation at {mem['publisher']} MB, "
                                      f"{pub['transitions_per_invocation']:.1f} transitions each" if pub else "none: published inline"),
        "sqs": f"1 SendMessage per event + ReceiveMessage and DeleteMessageBatch per {batch}",
        "dynamodb_writes": f"{fig['ddb_write_wru_per_event']:.3f} table + {fig['gsi_wru_per_event']:.3f} GSI WRU per event",
        "dynamodb_reads": f"{fig['ddb_read_rru_per_event']:.3f} RRU per event",
        "eventbridge": f"{fig['eb_entries_per_event']:.4f} entries per event",
    }
    return components, {"basis": basis, "ingest_ms": ingest_ms, "worker_ms_per_batch": batch_ms}


def logs_usd(fig: dict[str, Any], batch: int, pixel_bytes: float) -> float:
    """CloudWatch Logs ingestion per million events: platform lines of every invocation, EMF and log lines."""
    m = 1_000_000
    gb = (m * (PLATFORM_LOG_BYTES + pixel_bytes) + m / batch * (PLATFORM_LOG_BYTES + fig["log_bytes_per_batch"])) / 1024**3
    return gb * PRICES["cloudwatch_logs_per_gb_ingested"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", help="aws_calls output (its last line is used) instead of running it")
    parser.add_argument("--pixel-us", type=float, help="the pixel's compute per request, µs (default: run bench/pixel.py)")
    parser.add_argument("--events", type=int, default=10_000, help="events for aws_calls when it runs here")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    if args.source:
        lines = [ln for ln in Path(args.source).read_text(encoding="utf-8").splitlines() if ln.strip()]
        calls = json.loads(lines[-1])
    else:
        import aws_calls

        calls = aws_calls.run(args.events, log=log)
    batch = int(calls.get("batch_size", 10))
    mem = memory_sizes()
    pixel_us, pixel_source = (args.pixel_us, "--pixel-us") if args.pixel_us else pixel_compute_us(log)
    pixel_bytes = pixel_log_bytes(log)

    ours, ours_info = model(calls, batch, mem, pixel_us)
    naive, naive_info = model(calls["naive"], batch, mem, pixel_us)
    total, naive_total = sum(ours.values()), sum(naive.values())
    logs, naive_logs = logs_usd(calls, batch, pixel_bytes), logs_usd(calls["naive"], batch, pixel_bytes)

    if not args.json:
        print(f"$ per million events, us-east-1 list prices of {PRICES_AS_OF} "
              f"({calls['events']:,} events measured on moto, batches of {batch})", file=sys.stderr)
        print(f"  {'component':24s} {'ours':>8s} {'naive':>8s}   basis (ours)", file=sys.stderr)
        for name, usd in ours.items():
            print(f"  {name:24s} {usd:8.3f} {naive[name]:8.3f}   {ours_info['basis'][name]}", file=sys.stderr)
        print(f"  {'total':24s} {total:8.3f} {naive_total:8.3f}   target <= {TARGET_USD:.2f}: "
              f"{'met' if total <= TARGET_USD else 'NOT met'}", file=sys.stderr)
        print(f"  {'(CloudWatch Logs)':24s} {logs:8.3f} {naive_logs:8.3f}   not in the total: "
              f"{PLATFORM_LOG_BYTES} B platform lines per invocation, {pixel_bytes:.0f} B EMF per pixel request, "
              f"{calls['log_bytes_per_batch']:.0f} B logged per worker batch", file=sys.stderr)
        print(f"  assumptions: latencies {LATENCY_MS} ms; Lambda CPU share = memory / {FULL_VCPU_MB} MB; "
              f"pixel compute {pixel_us:.0f} µs ({pixel_source}); memory {mem} MB", file=sys.stderr)
    print(json.dumps({
        "usd_per_million_events": round(total, 4),
        "components": {k: round(v, 4) for k, v in ours.items()},
        "naive_usd_per_million_events": round(naive_total, 4),
        "naive_components": {k: round(v, 4) for k, v in naive.items()},
        "target_usd": TARGET_USD,
        "meets_target": total <= TARGET_USD,
        "cloudwatch_logs_usd_per_million_events": round(logs, 4),
        "naive_cloudwatch_logs_usd_per_million_events": round(naive_logs, 4),
        "ingest_billed_ms": ours_info["ingest_ms"],
        "worker_billed_ms_per_batch": ours_info["worker_ms_per_batch"],
        "naive_worker_billed_ms_per_batch": naive_info["worker_ms_per_batch"],
        "inputs": {"events": calls["events"], "batch_size": batch, "memory_mb": mem, "pixel_compute_us": pixel_us,
                   "pixel_log_bytes": round(pixel_bytes, 1), "ddb_write_wru_per_event": calls["ddb_write_wru_per_event"],
                   "gsi_wru_per_event": calls["gsi_wru_per_event"], "ddb_read_rru_per_event": calls["ddb_read_rru_per_event"],
                   "eb_entries_per_event": calls["eb_entries_per_event"], "compute_ms_per_batch": calls["compute_ms_per_batch"]},
        "prices": PRICES,
        "prices_as_of": PRICES_AS_OF,
        "assumptions": {"latency_ms": LATENCY_MS, "full_vcpu_mb": FULL_VCPU_MB, "platform_log_bytes": PLATFORM_LOG_BYTES},
    }))


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    main()
