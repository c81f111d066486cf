"""AWS calls per event of the scoring worker on moto, against a naive worker, same stream, same scores.

A realistic stream of canonical events around leads drawn (fixed seed) from
../shared/data/leads_xeducation.csv (`testbed.leads_stream`: sessions of page
views, anonymous browsing before an `identify`, forms, email opens and clicks,
bounces, unsubscribes, chat, bookings, demos and purchases, a few sender
retries), interleaved in order of receipt as the queue delivers them, is cut
into SQS batches of 10.

The stream goes through the real handler (functions/score/app.py) on moto with
the table and bus from template.yaml and, in the same run (a forked process
with its own moto, one core each; --serial runs it afterwards here), through a
naive worker (`testbed.naive_worker`): powertools idempotency per event on its
own table, GetItem the lead's JSON blob (following an anonymous visitor's
pointer to its lead), the same engine, PutItem, one PutEvents per transition.
Our worker publishes nothing itself: the stream publisher (functions/publish)
runs on the table's stream as its event source mapping would
(`testbed.stream_publisher.Publisher`: its batching window on a clock modelled
at --rate events per second).
Every AWS API call is counted through botocore's event system
(`provide-client-params` / `after-call` registered on boto3's default session
and the handlers' botocore session before the workers' clients exist). Final scores of every lead, evaluated at
one instant from each worker's table, must be identical.

Write request units follow DynamoDB's rules (`testbed.request_units`: 1 WRU
per started KB of the larger of the item before and after, failed conditional
writes billed on the existing item, transactions 2x), item sizes read from
moto's backend before and after each write (not through the API, so not
counted); GSI writes (the sparse ByStage index) are counted apart.

The handler's clock is the batch's receipt time (a queue delivers within
seconds); batches go to one of --containers warm workers at random, each with
its own alias-redirect cache, as Lambda spreads batches over containers.
Wall time per batch is split into time inside AWS calls (botocore + moto) and
our own compute. Moto here is in-process and single-threaded: fine for
counting, not for latency; a few of its slowest checks are skipped to fit the
time budget (`testbed.fast_moto`; --exact-moto keeps them, same results).

Last line: {"events": N, "ddb_writes_per_event": .., "ddb_reads_per_event": ..,
"eb_calls_per_transition": .., "transitions": .., "ddb_write_wru_per_event": ..,
"lambda_ms_per_batch": .., ..., "naive": {same keys}}
Targets (issue 5): <= 1.0 DynamoDB write requests and 0 reads per event for
known visitors (amortized over batches), <= 0.2 EventBridge calls per
transition, final scores identical to the naive worker's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
from leadscore import dependencies, settings
from leadscore.aws_clients import botocore_session
from leadscore.adapters.leads import deserialize, state_of
from leadscore.dev.functions import LambdaContext, load_module
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.dev.template import create_buses, create_tables, load_template
from moto import mock_aws
from scoring_core import Engine, load_model

from testbed.environment import as_deployed
from testbed.fast_moto import faster_moto
from testbed.leads_stream import END, QUEUE_ARN, Delivery, stream
from testbed.naive_worker import load_state, naive_handler
from testbed.request_units import Meter, attribute_size, item_size
from testbed.stream_publisher import Publisher

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"ddb_writes_per_event": 1.0, "ddb_reads_per_event_outside_merges": 0, "eb_calls_per_transition": 0.2}


class _Sink:
    """Where the handlers' logs and EMF metrics go: counted, not printed."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, s: str) -> int:
        self.bytes += len(s.encode())
        return len(s)

    def flush(self) -> None:
        pass


def deliver(handler: Any, batches: list[list[Delivery]], meter: Meter, clock: list[float], before_batch: Any = None,
            after_batch: Any = None) -> dict[str, Any]:
    sink = _Sink()
    wall = 0.0
    failures = 0
    ctx = LambdaContext("score", memory_mb=512, timeout_s=30)
    with contextlib.redirect_stdout(sink):  # type: ignore[type-var]
        for b, batch in enumerate(batches):
            records = [sqs_record(f"m-{b}-{i}", d.body, QUEUE_ARN) for i, d in enumerate(batch)]
            event = sqs_event(records)
            clock[0] = max(d.received for d in batch) + 1.0  # the batch is delivered about a second after its last message
            if before_batch:
                before_batch()
            meter.merged_in_batch = False
            meter.active = True
            t0 = time.perf_counter()
            response = handler(event, ctx)
            took = time.perf_counter() - t0
            wall += took
            meter.active = False
            failures += len(response.get("batchItemFailures", []))
            if after_batch:
                after_batch(took)
    return {"wall_s": wall, "failures": failures, "log_bytes": sink.bytes}


def scores(ddb: Any, table: str, engine: Engine, at: float, naive: bool) -> dict[str, tuple]:
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            item = deserialize(raw)
            if item.get("merged_into"):
                continue
            st = load_state(item.get("state")) if naive else state_of(item)
            s = engine.evaluate(st, at)
            out[str(item["pk"])] = (s.fit_cents, s.engagement_cents, s.reasons, s.disqualified_by)
    return out


def item_stats(ddb: Any, table: str, retention_days: int = 400) -> dict[str, Any]:
    """Sizes of the lead items at the end (pointers left out): mean, max, mean bytes by attribute
    family, and dedupe buckets (s.<day>) older than the window the worker's last write removes."""
    sizes: list[int] = []
    parts: Counter[str] = Counter()
    stale = stale_bytes = 0
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if "merged_into" in item:
                continue
            sizes.append(item_size(item))
            for name, value in item.items():
                family = name.split(".", 1)[0] + "." if "." in name else name
                parts[family] += len(name.encode()) + attribute_size(value)
            if "expires_at" in item:
                week = (int(item["expires_at"]["N"]) - retention_days * 86400) // (7 * 86400)  # the last apply's week
                for name, value in item.items():
                    if name.startswith("s.") and int(name[2:]) < week - 1:  # older than the two weeks checked
                        stale += 1
                        stale_bytes += len(name.encode()) + attribute_size(value)
    n = len(sizes) or 1
    return {"mean": round(sum(sizes) / n, 1), "max": max(sizes, default=0),
            "by_part": {k: round(v / n, 1) for k, v in parts.most_common(8)},
            "stale_dedupe_buckets": stale, "stale_dedupe_bytes": stale_bytes}


def figures(meter: Meter, run: dict[str, Any], n_events: int, n_batches: int, transitions: int, items: dict[str, Any]) -> dict[str, Any]:
    calls = dict(sorted(meter.calls.items()))
    eb_calls = sum(n for k, n in calls.items() if ".PutEvents" in k)
    ddb_calls = {k: n for k, n in calls.items() if k.startswith("dynamodb.")}
    return {
        "events": n_events,
        "ddb_writes_per_event": round(meter.writes / n_events, 4),
        "ddb_reads_per_event": round(meter.reads / n_events, 4),
        "ddb_reads_per_event_outside_merges": round(
            sum(n for k, n in calls.items() if k.startswith("dynamodb.") and "[read-after-merge]" not in k
                and any(op in k for op in (".GetItem", ".Query", ".BatchGetItem", ".Scan"))) / n_events, 4),
        "eb_calls_per_transition": round(eb_calls / transitions, 4) if transitions else None,
        "transitions": transitions,
        "ddb_write_wru_per_event": round(meter.wru / n_events, 4),
        "lambda_ms_per_batch": round(run["wall_s"] * 1000 / n_batches, 3),
        "gsi_wru_per_event": round(meter.gsi_wru / n_events, 4),
        "ddb_read_rru_per_event": round(meter.rru / n_events, 4),
        "eb_entries_per_event": round(meter.eb_entries / n_events, 5),
        "eb_calls_per_event": round(eb_calls / n_events, 5),
        "aws_call_ms_per_batch": round(meter.call_s * 1000 / n_batches, 3),
        "compute_ms_per_batch": round((run["wall_s"] - meter.call_s) * 1000 / n_batches, 3),
        "ddb_calls_per_batch": round(sum(n for k, n in ddb_calls.items() if "TransactWriteItems" not in k) / n_batches, 4),
        "ddb_transactions_per_batch": round(sum(n for k, n in ddb_calls.items() if "TransactWriteItems" in k) / n_batches, 4),
        "eb_calls_per_batch": round(eb_calls / n_batches, 4),
        "log_bytes_per_batch": round(run["log_bytes"] / n_batches, 1),
        "lead_item_bytes_mean": items["mean"],
        "lead_item_bytes_max": items["max"],
        "lead_item_bytes_by_part": items["by_part"],
        "stale_dedupe_buckets": items["stale_dedupe_buckets"],
        "wru_by_call": {k: round(v, 1) for k, v in sorted(meter.wru_by.items())},
        "failed_applies_redirected": meter.redirects,
        "batch_item_failures": run["failures"],
        "calls": calls,
        "failed_calls": dict(sorted(meter.failed.items())),
    }


@contextlib.contextmanager
def stack(template: dict[str, Any]):
    """Tables and bus from the template on moto, a Meter hooked into boto3's default session and
    the handlers' botocore session before any client exists (a client copies its session's handlers
    when created)."""
    settings.reset()
    with mock_aws():
        # boto3.client() uses boto3's default session (the naive worker's clients); our handlers'
        # clients come from leadscore.aws_clients' botocore session: hook both
        sessions = [boto3._get_default_session()._session, botocore_session()]  # botocore sessions  # noqa: SLF001
        setup_ddb, setup_events = boto3.client("dynamodb"), boto3.client("events")
        tables, buses = create_tables(setup_ddb, template), create_buses(setup_events, template)
        meter = Meter(template, tables)
        for session in sessions:
            session.register("provide-client-params", meter.before)
            session.register("after-call", meter.after)
        yield SimpleNamespace(ddb=setup_ddb, tables=tables, buses=buses, meter=meter)
        for session in sessions:
            session.unregister("provide-client-params", meter.before)
            session.unregister("after-call", meter.after)
    settings.reset()


def run_ours(batches: list[list[Delivery]], n_events: int, containers: int, seed: int,
             rate: float = 1000.0) -> tuple[dict[str, Any], dict[str, tuple]]:
    """The real handler, batches spread over warm containers; (figures, scores)."""
    template = load_template()
    clock = [0.0]
    with stack(template) as aws:
        os.environ["LEADS_TABLE"], os.environ["BUS_NAME"] = aws.tables["LeadsTable"], aws.buses["LeadsBus"]
        settings.reset()  # read again, with this run's table and bus
        app = load_module(ROOT / "functions" / "score")
        # warm containers, each its own worker, built (init) before counting starts; their clock: when
        # the batch is delivered
        warm = [dependencies.Dependencies(settings.settings(), clock=lambda: clock[0]) for _ in range(containers)]
        for container in warm:
            container.worker  # noqa: B018 (built now)
        dependencies.use(warm[0])
        pick = random.Random(seed + 1)

        def choose() -> None:
            dependencies.use(warm[pick.randrange(len(warm))])

        publisher = Publisher(aws, template, len(batches[0]), rate, aws.meter)
        sink = _Sink()
        app.logger.registered_handler.setStream(sink)
        publisher.app.logger.registered_handler.setStream(sink)
        try:
            result = deliver(app.lambda_handler, batches, aws.meter, clock, choose, publisher.after_batch)
            with contextlib.redirect_stdout(sink):  # type: ignore[type-var]
                publisher.drain()  # what is left when the last window closes
        finally:
            dependencies.use(None)
        result["log_bytes"] += sink.bytes
        if not aws.meter.calls:
            raise SystemExit("no AWS call of the worker was counted: the hook missed its clients")
        table = aws.tables["LeadsTable"]
        transitions = aws.meter.eb_entries
        out = figures(aws.meter, result, n_events, len(batches), transitions, item_stats(aws.ddb, table))
        # the worker calls no EventBridge now: its batches' PutEvents are the publisher's
        out["eb_calls_per_batch"] = 0.0
        out["publisher"] = publisher.figures(n_events, transitions)
        return out, scores(aws.ddb, table, Engine(load_model()), END.timestamp() + 86400, naive=False)


def run_naive(batches: list[list[Delivery]], n_events: int) -> tuple[dict[str, Any], dict[str, tuple]]:
    """The naive worker on its own tables; (figures, scores)."""
    template = load_template()
    clock = [0.0]
    with stack(template) as aws:
        for name, key in (("naive-leads", "pk"), ("naive-idempotency", "id")):
            aws.ddb.create_table(TableName=name, AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                                 KeySchema=[{"AttributeName": key, "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        ddb, events = boto3.client("dynamodb"), boto3.client("events")
        handler = naive_handler(Engine(load_model()), ddb, events, "naive-leads", "naive-idempotency", aws.buses["LeadsBus"], clock)
        result = deliver(handler, batches, aws.meter, clock)
        return (figures(aws.meter, result, n_events, len(batches), aws.meter.eb_entries, item_stats(aws.ddb, "naive-leads")),
                scores(aws.ddb, "naive-leads", Engine(load_model()), END.timestamp() + 86400, naive=True))


def _child(conn: Any, batches: list[list[Delivery]], n_events: int) -> None:
    try:
        conn.send(("ok", run_naive(batches, n_events)))
    except BaseException as exc:  # noqa: BLE001 (reported by the parent)
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def run(n_events: int = 10_000, batch_size: int = 10, span_days: float = 30.0, containers: int = 4, seed: int = 2026,
        log: Any = None, exact_moto: bool = False, parallel: bool = True, rate: float = 1000.0) -> dict[str, Any]:
    log = log or (lambda *a: None)
    t_start = time.perf_counter()
    as_deployed()
    if not exact_moto:
        faster_moto()
    deliveries, n_leads = stream(n_events, span_days, seed)
    batches = [deliveries[i : i + batch_size] for i in range(0, len(deliveries), batch_size)]
    unique = len({d.event.event_id for d in deliveries})
    per_batch = sum(len({d.lead for d in b}) for b in batches) / len(batches)
    log(f"stream: {len(deliveries):,} deliveries ({unique:,} distinct events, {len(deliveries) - unique} sender retries) "
        f"of {n_leads} leads over {span_days:g} days; {len(batches)} batches of {batch_size}, {per_batch:.2f} leads per batch "
        f"({time.perf_counter() - t_start:.1f}s)")

    if parallel:  # the naive worker in a forked process (its own moto), ours here: one core each
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(send, batches, len(deliveries)), daemon=True)
        child.start()
        send.close()
    t0 = time.perf_counter()
    ours, ours_scores = run_ours(batches, len(deliveries), containers, seed, rate)
    log(f"ours:  {len(batches)} batches in {time.perf_counter() - t0:.1f}s")
    if parallel:
        status, payload = receive.recv()
        child.join()
        if status != "ok":
            raise SystemExit(f"naive worker failed: {payload}")
        naive, naive_scores = payload
    else:
        t0 = time.perf_counter()
        naive, naive_scores = run_naive(batches, len(deliveries))
    log(f"naive: done after {time.perf_counter() - t0:.1f}s")

    if ours_scores.keys() != naive_scores.keys():
        raise SystemExit(f"different leads: {len(ours_scores.keys() ^ naive_scores.keys())} keys differ")
    differ = [k for k in ours_scores if ours_scores[k] != naive_scores[k]]
    if differ:
        k = differ[0]
        raise SystemExit(f"{len(differ)} of {len(ours_scores)} leads score differently, e.g. {k}: {ours_scores[k][:2]} vs {naive_scores[k][:2]}")
    return {
        **ours,
        "naive": naive,
        "identical_scores": True,
        "leads_scored": len(ours_scores),
        "unique_events": unique,
        "sender_retries": len(deliveries) - unique,
        "leads": n_leads,
        "batches": len(batches),
        "batch_size": batch_size,
        "leads_per_batch": round(per_batch, 3),
        "span_days": span_days,
        "containers": containers,
        "targets": TARGETS,
        "seconds": round(time.perf_counter() - t_start, 1),
    }


def report(r: dict[str, Any]) -> None:
    def line(name: str, key: str, target: str = "", fmt: str = "{:.3f}") -> None:
        ours, naive = r[key], r["naive"][key]
        def show(v: Any) -> str:
            return "-" if v is None else fmt.format(v)

        print(f"  {name:34s} {show(ours):>10s} {show(naive):>10s}   {target}", file=sys.stderr)

    print(f"{r['events']:,} events ({r['sender_retries']} sender retries), {r['leads']} leads, {r['batches']} batches, "
          f"{r['leads_per_batch']:.2f} leads per batch, {r['containers']} containers; scores identical for {r['leads_scored']} leads",
          file=sys.stderr)
    print(f"  {'':34s} {'ours':>10s} {'naive':>10s}   target", file=sys.stderr)
    line("DynamoDB write requests / event", "ddb_writes_per_event", "<= 1.0")
    line("DynamoDB reads / event", "ddb_reads_per_event", "")
    line("  outside the merge path", "ddb_reads_per_event_outside_merges", "0 for known visitors")
    line("EventBridge calls / transition", "eb_calls_per_transition", "<= 0.2")
    line("transitions", "transitions", "", "{:d}")
    pub = r["publisher"]
    print(f"    (ours: the stream publisher, {pub['window_s']:g} s window at {pub['rate_events_per_s']:g} events/s: "
          f"{pub['invocations']} invocations, {pub['transitions_per_invocation']:.2f} transitions each; calls per "
          f"transition at other rates (events/s): {pub['eb_calls_per_transition_by_rate']})", file=sys.stderr)
    line("table WRU / event", "ddb_write_wru_per_event")
    line("GSI WRU / event", "gsi_wru_per_event")
    line("RRU / event", "ddb_read_rru_per_event")
    line("handler ms / batch (on moto)", "lambda_ms_per_batch", "", "{:.2f}")
    line("  of which inside AWS calls", "aws_call_ms_per_batch", "", "{:.2f}")
    line("  our compute", "compute_ms_per_batch", "", "{:.2f}")
    line("lead item bytes (mean)", "lead_item_bytes_mean", "", "{:.0f}")
    line("lead item bytes (max)", "lead_item_bytes_max", "", "{:d}")
    line("log bytes / batch", "log_bytes_per_batch", "", "{:.0f}")
    print(f"  ours: lead item bytes by attribute family (mean) {r['lead_item_bytes_by_part']}; "
          f"{r['stale_dedupe_buckets']} dedupe buckets older than the removal window left in items; "
          f"{r['failed_applies_redirected']} failed applies were alias redirects", file=sys.stderr)
    for who, fig in (("ours", r), ("naive", r["naive"])):
        print(f"  {who} calls: " + ", ".join(f"{k} {v}" for k, v in fig["calls"].items()), file=sys.stderr)
        print(f"  {who} WRU (table + GSI) by call: " + ", ".join(f"{k} {v:g}" for k, v in fig["wru_by_call"].items()), file=sys.stderr)
        if fig["failed_calls"]:
            print(f"  {who} failed (billed) calls: " + ", ".join(f"{k} {v}" for k, v in fig["failed_calls"].items()), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10, help="SQS batch size (the template's BatchSize)")
    parser.add_argument("--span-days", type=float, default=30.0, help="days the stream spans (sets how many sessions overlap)")
    parser.add_argument("--containers", type=int, default=4, help="warm worker containers batches are spread over")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="events per second reaching the worker, for the stream publisher's batching window "
                             "(default: a backlog drained by 4 containers at about 40 ms per batch of 10)")
    parser.add_argument("--exact-moto", action="store_true", help="moto as installed, without the bench's speed-ups (slow)")
    parser.add_argument("--serial", action="store_true", help="run the naive worker after ours, in this process")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    result = run(args.events, args.batch, args.span_days, args.containers, args.seed, log, args.exact_moto, not args.serial, args.rate)
    if not args.json:
        report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
