"""Exactly once under faults: an event stream through the pipeline on moto with throttled writes and refused entries.

The stream is `testbed.leads_stream`'s (leads drawn from ../shared/data/leads_xeducation.csv,
sender retries included). It runs end to end on moto with every resource from
template.yaml:

- **the queue**, emulated in memory as the SQS event source mapping delivers it: batches
  of 10 (the template's BatchSize), the messages visible first going first; a message its
  batch reports as a batch item failure, or every message of an invocation that raises,
  becomes visible again after the queue's VisibilityTimeout (180 s on the handler's
  clock) with its ApproximateReceiveCount one higher; one that fails on its
  maxReceiveCount-th receive (5) goes to the dead-letter queue and stays there;
- **the scoring worker**: the real handler (functions/score/app.py), its clock the
  batch's delivery time;
- **the stream publisher**: the real handler (functions/publish/app.py) on the table's
  stream through `StreamPump` (the template's filter and batch size; a reported failure is
  delivered again from its record), pumped every `PUMP_EVERY` batches and at the end;
- **the notifier**: the template's Slack rule on the bus, its events captured in a queue
  and each given to the real Slack handler (functions/notify/app.py, `deliver.notify` with
  its idempotency table), which posts to a recorder on 127.0.0.1 (`testbed.recorder`). An
  alert is a request the recorder received. EventBridge delivers at least once:
  `--bus-duplicates` (0.2) of those events are given to the notifier twice.

Faults are injected through botocore's event system on the clients our code uses
(`Dependencies.aws_client("dynamodb")`, `Dependencies.aws_client("events")`), seeded, never by
changing our code:

- `--ddb-throttle` (0.2) of the writes to the leads table (UpdateItem, PutItem,
  TransactWriteItems) fail with `ProvisionedThroughputExceededException` or
  `ThrottlingException` and are not applied;
- `--eb-fail` (0.2) of the PutEvents entries come back with an `ErrorCode`
  (`ThrottlingException` / `InternalFailure`) and are not put on the bus: they are taken
  out of the request (`provide-client-params`) and put back into the parsed response, as
  failed entries, at their positions (`after-call`); a call whose entries all fail is
  answered without being sent (`before-call`).

`--layer call` (the default) injects the throttles at `before-call`, which is *after*
botocore's retry layer: every injected throttle reaches our code as the ClientError of a
write whose retries are spent, so our own failure paths (batch item failures, redelivery,
dedupe) take all of them. `--layer send` injects them at `before-send`, the HTTP attempt,
*before* the retry layer: botocore's DynamoDB retries (legacy mode, 10 attempts, 50 ms
exponential backoff, real sleeps) absorb nearly all of them. PutEvents entry failures are
not retried by botocore either way (the call succeeds): our publisher's retries and the
stream's retry from the reported record take them.

What is counted: every successful apply UpdateItem's event hashes (the `ADD s.<week>`
set), so each distinct event's number of applications (1: applied, 2 or more: a
duplicate, 0: lost); every lead item, compared with a reference that applies each
distinct event exactly once in memory with the same Engine (the event's lead: its first
key, through the pointer its alias should have become: every alias an event names with
an email must point at that email's lead), evaluated at one instant; the transitions the
stream carried, the events on the bus and the alerts per transition.

`run` returns {"events_sent": .., "distinct_events": .., "applied": .., "duplicates": ..,
"lost": .., "dead_lettered": .., "transitions": .., "alerts_per_transition": {min, max,
mean}, "faults": {kind: n}, ...}. Target (issue 15): applied = distinct events,
duplicates 0, lost 0, exactly one alert per alerted transition.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from leadscore import dependencies, settings
from leadscore.adapters.bus import TransitionBus
from leadscore.adapters.leads import deserialize, state_of
from leadscore.dev.functions import LambdaContext, load_handler, load_module
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.dev.streams import StreamPump, streams_client
from leadscore.dev.template import bus_rules, create_buses, create_queues, create_tables, load_template, stream_sources
from leadscore.identity import LOCAL_KEY_SECRET, event_hash, keys_of
from leadscore.publish import transitions_in
from moto import mock_aws
from scoring_core import Engine, LeadState, load_model

from testbed import leads_stream
from testbed.environment import AS_DEPLOYED, NOT_DEPLOYED, environment
from testbed.fast_moto import faster_moto
from testbed.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
BATCH = 10  # the template's BatchSize for the events queue
VISIBILITY_S = 180.0  # EventsQueue's VisibilityTimeout
MAX_RECEIVES = 5  # EventsQueue's RedrivePolicy maxReceiveCount
PUMP_EVERY = 10  # worker batches between two stream publisher pumps
SLACK_PATH = "/services/T0BENCH/B0FAULTS/benchfaultssecret"
TARGETS = {"duplicates": 0, "lost": 0, "alerts_per_transition": 1}
DDB_WRITES = ("UpdateItem", "PutItem", "TransactWriteItems")
THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
ENTRY_ERRORS = ("ThrottlingException", "InternalFailure")


# -- fault injection ---------------------------------------------------------------------


class Faults:
    """Seeded faults on our clients, through botocore's event hooks; also the log of successful applies."""

    def __init__(self, table: str, ddb_rate: float, eb_rate: float, seed: int, layer: str = "call"):
        if layer not in ("call", "send"):
            raise ValueError("layer: call (after botocore's retries) or send (before them)")
        self.table, self.ddb_rate, self.eb_rate, self.layer = table, ddb_rate, eb_rate, layer
        self._ddb_rng, self._eb_rng = random.Random(seed), random.Random(seed + 1)
        self.injected: Counter[str] = Counter()
        self.applications: Counter[str] = Counter()  # event hash -> successful apply UpdateItems carrying it
        self.attempts: Counter[str] = Counter()  # writes to the leads table, by operation (what our code sent)

    def install(self, ddb: Any, events: Any) -> None:
        hooks = ddb.meta.events
        for op in DDB_WRITES:
            hooks.register(f"provide-client-params.dynamodb.{op}", self._remember)
            if self.layer == "call":  # first: before anything else may answer the call
                hooks.register_first(f"before-call.dynamodb.{op}", self._throttle_call)
            else:  # first: before moto's own before-send handler answers the request
                hooks.register_first(f"before-send.dynamodb.{op}", self._throttle_send)
        hooks.register("after-call.dynamodb.UpdateItem", self._log_apply)
        hooks = events.meta.events
        hooks.register("provide-client-params.eventbridge.PutEvents", self._take_out_entries)
        hooks.register_first("before-call.eventbridge.PutEvents", self._answer_all_failed)
        hooks.register("after-call.eventbridge.PutEvents", self._put_back_entries)

    # DynamoDB

    def _ours(self, params: dict[str, Any]) -> bool:
        if "TransactItems" in params:
            return any(next(iter(i.values())).get("TableName") == self.table for i in params["TransactItems"])
        return params.get("TableName") == self.table

    def _remember(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if self._ours(params):
            context["faults.params"] = params
            self.attempts[model.name] += 1

    def _draw(self, op: str) -> str | None:
        if self._ddb_rng.random() >= self.ddb_rate:
            return None
        code = self._ddb_rng.choice(THROTTLES)
        self.injected[f"dynamodb.{op}:{code}"] += 1
        return code

    @staticmethod
    def _error(code: str) -> dict[str, Any]:
        return {"Error": {"Code": code, "Message": "injected by testbed.faults"},
                "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0}}

    def _throttle_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        """After the retry layer: answer the call with a throttle; botocore raises it as a ClientError."""
        if "faults.params" not in context:
            return None
        code = self._draw(model.name)
        if code is None:
            return None
        return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, {}, None), self._error(code)

    def _throttle_send(self, request: Any, **kwargs: Any) -> Any:
        """Before the retry layer: one HTTP attempt answered 400 with a throttle; botocore retries it."""
        context = getattr(request, "context", {}) or {}
        if "faults.params" not in context:
            return None
        op = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        code = self._draw(op)
        if code is None:
            return None
        # botocore calls every before-send handler and uses the first answer: moto's would still apply
        # the write. A throttled request is not applied, so it is pointed where moto serves nothing.
        request.url = "https://throttled.faults.invalid/"
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected by testbed.faults"}).encode()

        class _Raw:  # what AWSResponse.content reads
            def __init__(self, data: bytes):
                self._data = data

            def stream(self, **_: Any) -> Any:
                yield self._data

        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    def _log_apply(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        """A successful UpdateItem that ADDs event hashes to a dedupe bucket applied those events."""
        params = context.get("faults.params")
        if params is None or http_response.status_code != 200:
            return
        expression = params.get("UpdateExpression", "")
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        added = re.search(r"\bADD (.*?)(?: REMOVE |$)", expression)
        for name, value in re.findall(r"(#n\d+) (:v\d+)", added.group(1) if added else ""):
            if names.get(name, "").startswith("s."):
                for h in values[value].get("SS", []):
                    self.applications[h] += 1

    # EventBridge

    def _take_out_entries(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        entries = params.get("Entries") or []
        failed = {i: self._eb_rng.choice(ENTRY_ERRORS) for i in range(len(entries)) if self._eb_rng.random() < self.eb_rate}
        if not failed:
            return
        for code in failed.values():
            self.injected[f"events.PutEvents entry:{code}"] += 1
        context["faults.entries"] = (len(entries), failed)
        kept = [e for i, e in enumerate(entries) if i not in failed]
        if kept:
            params["Entries"] = kept
        else:  # none is sent: `_answer_all_failed` answers for EventBridge
            context["faults.none_sent"] = True

    def _answer_all_failed(self, context: dict[str, Any], **_: Any) -> Any:
        if not context.get("faults.none_sent"):
            return None
        return (AWSResponse("https://events.us-east-1.amazonaws.com/", 200, {}, None),
                {"FailedEntryCount": 0, "Entries": [], "ResponseMetadata": {"HTTPStatusCode": 200}})

    def _put_back_entries(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        info = context.get("faults.entries")
        if info is None:
            return
        n, failed = info
        sent = iter(parsed.get("Entries", []))
        parsed["Entries"] = [{"ErrorCode": failed[i], "ErrorMessage": "injected by testbed.faults"} if i in failed else next(sent)
                             for i in range(n)]
        parsed["FailedEntryCount"] = int(parsed.get("FailedEntryCount", 0)) + len(failed)


# -- the queue ------------------------------------------------------------------------------


@dataclass(order=True)
class _Message:
    visible_at: float
    seq: int
    message_id: str = field(compare=False)
    delivery: Any = field(compare=False)
    receives: int = field(default=0, compare=False)


class Queue:
    """The events queue as the event source mapping sees it: visibility timeout, receive count, redrive to a DLQ."""

    def __init__(self, deliveries: list[Any]):
        self._heap = [_Message(d.received, i, f"m-{i}", d) for i, d in enumerate(deliveries)]
        heapq.heapify(self._heap)
        self._seq = len(deliveries)
        self.dead: list[_Message] = []
        self.receives: Counter[int] = Counter()  # receive count -> messages received that many times (final)

    def __len__(self) -> int:
        return len(self._heap)

    def receive(self, n: int) -> list[_Message]:
        batch = [heapq.heappop(self._heap) for _ in range(min(n, len(self._heap)))]
        for m in batch:
            m.receives += 1
        return batch

    def settle(self, batch: list[_Message], failed: set[str], now: float) -> None:
        """Delete what succeeded; make the failures visible again later, or dead-letter them."""
        for m in batch:
            if m.message_id not in failed:
                self.receives[m.receives] += 1
            elif m.receives >= MAX_RECEIVES:
                self.dead.append(m)
                self.receives[m.receives] += 1
            else:
                self._seq += 1
                m.visible_at, m.seq = now + VISIBILITY_S, self._seq
                heapq.heappush(self._heap, m)


# -- running --------------------------------------------------------------------------------



@contextlib.contextmanager
def _silenced(logger: logging.Logger):
    saved = logger.propagate, logger.handlers[:]
    logger.propagate, logger.handlers = False, [logging.NullHandler()]
    try:
        yield
    finally:
        logger.propagate, logger.handlers = saved


class _Sink:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


def _snapshot(st: LeadState, engine: Engine, at: float) -> tuple:
    """What must be identical however often the events were delivered (as tests/integration/test_worker.py)."""
    score = engine.evaluate(st, at)
    return ({k: v for k, v in st.acc.items() if v}, {k: frozenset(v) for k, v in st.occurrences.items()},
            {k: f.value for k, f in st.facts.items()}, set(st.flags), st.event_count, score.total_cents, score.reasons)


def _spread(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"min": None, "max": None, "mean": None}
    return {"min": min(values), "max": max(values), "mean": round(sum(values) / len(values), 4)}


def run(n_events: int = 5000, ddb_rate: float = 0.2, eb_rate: float = 0.2, seed: int = 2026, span_days: float = 30.0,
        layer: str = "call", log: Any = None, fast_moto: bool = True, bus_dup_rate: float = 0.2) -> dict[str, Any]:
    """The stream through the pipeline under faults; the figures (the module docstring says which).
    Runs in the environment a deployed function sees (`testbed.environment`), put back afterwards."""
    with environment(AS_DEPLOYED, unset=NOT_DEPLOYED):
        return _run(n_events, ddb_rate, eb_rate, seed, span_days, layer, log, fast_moto, bus_dup_rate)


def _run(n_events: int, ddb_rate: float, eb_rate: float, seed: int, span_days: float, layer: str, log: Any,
         fast_moto: bool, bus_dup_rate: float) -> dict[str, Any]:
    log = log or (lambda *a: None)
    t_start = time.perf_counter()
    if fast_moto:  # the speed-ups (same results); a test keeps moto as installed
        faster_moto()
    deliveries, n_leads = leads_stream.stream(n_events, span_days, seed)
    distinct = {d.event.event_id: d for d in deliveries}
    log(f"stream: {len(deliveries):,} deliveries, {len(distinct):,} distinct events, {n_leads} leads over {span_days:g} days")
    template = load_template()
    engine = Engine(load_model())
    at = leads_stream.END.timestamp() + 86400
    clock = [0.0]
    slept: list[float] = []

    with Recorder() as slack, mock_aws():
        setup = {s: boto3.client(s) for s in ("dynamodb", "events", "sqs")}
        tables, buses = create_tables(setup["dynamodb"], template), create_buses(setup["events"], template)
        queues = create_queues(setup["sqs"], template)
        capture = setup["sqs"].create_queue(QueueName="bench-slack-rule")["QueueUrl"]
        capture_arn = setup["sqs"].get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = next(r for r in bus_rules(template) if r.function == "SlackNotifyFunction")
        setup["events"].put_rule(Name="bench-slack", EventBusName=buses[rule.bus], EventPattern=json.dumps(rule.pattern))
        setup["events"].put_targets(Rule="bench-slack", EventBusName=buses[rule.bus], Targets=[{"Id": "q", "Arn": capture_arn}])
        env = {"LEADS_TABLE": tables["LeadsTable"], "BUS_NAME": buses["LeadsBus"], "ALERTS_TABLE": tables["AlertsTable"],
               "ALERTS_DLQ_URL": queues["AlertsDeadLetterQueue"], "QUEUE_URL": queues["EventsQueue"],
               "MAX_RECEIVES": str(MAX_RECEIVES), "SLACK_WEBHOOK_URL": slack.url + SLACK_PATH}
        quiet = logging.getLogger("leadscore")  # the worker's and the bus's warnings on every injected fault
        unset = ("SLACK_WEBHOOK_URL_MQL", "SLACK_WEBHOOK_URL_SQL", "CONSOLE_ALERTS", "LEAD_URL_BASE")
        with environment(env, unset), contextlib.redirect_stdout(_Sink()), _silenced(quiet):  # type: ignore[type-var]
            settings.reset()
            faults = Faults(tables["LeadsTable"], ddb_rate, eb_rate, seed, layer)
            # the handlers' container: the bench's clock, and the publisher's retry waits on no clock of ours
            container = dependencies.Dependencies(settings.settings(), clock=lambda: clock[0])
            container.publisher = TransitionBus(container.aws_client("events"), container.settings.required("bus_name"),
                                                sleep=slept.append)
            dependencies.use(container)
            faults.install(container.aws_client("dynamodb"), container.aws_client("events"))

            score = load_module(ROOT / "functions" / "score")
            source = next(s for s in stream_sources(template) if s.function == "PublishFunction")
            publish = load_module(source.code_uri)
            notify = load_handler(ROOT / "functions" / "notify", "app.slack_handler")
            for app in (score, publish):
                app.logger.registered_handler.setStream(_Sink())

            recorded: dict[str, dict[str, Any]] = {}  # transition_id -> detail, from the stream records that carry one

            def publisher(event: dict[str, Any], context: Any) -> Any:
                for _, detail in transitions_in(event.get("Records") or []):
                    if isinstance(detail, dict):
                        recorded.setdefault(detail["transition_id"], detail)
                return publish.lambda_handler(event, context)

            pump = StreamPump(setup["dynamodb"], streams_client(), tables[source.table], source, publisher,
                              LambdaContext("publish"))
            on_bus: Counter[str] = Counter()  # transition_id -> events the Slack rule delivered
            alerts: Counter[str] = Counter()  # transition_id -> Slack requests its notifier invocations made
            notify_errors: Counter[str] = Counter()
            bus_rng = random.Random(seed + 2)

            def notify_all() -> None:
                sqs = setup["sqs"]
                for _ in range(10_000):
                    msgs = sqs.receive_message(QueueUrl=capture, MaxNumberOfMessages=10).get("Messages", [])
                    if not msgs:
                        return
                    for m in msgs:
                        event = json.loads(m["Body"])
                        tid = event["detail"]["transition_id"]
                        on_bus[tid] += 1
                        before = len(slack.to(SLACK_PATH))
                        times = 2 if bus_rng.random() < bus_dup_rate else 1  # EventBridge delivers at least once
                        if times == 2:
                            faults.injected["eventbridge.delivered twice"] += 1
                        for _ in range(times):
                            for _attempt in range(3):  # Lambda's asynchronous invocation: 2 retries
                                try:
                                    notify(event, LambdaContext("notify"))
                                    break
                                except Exception as exc:  # noqa: BLE001 (counted)
                                    notify_errors[exc.__class__.__name__] += 1
                        alerts[tid] += len(slack.to(SLACK_PATH)) - before
                        sqs.delete_message(QueueUrl=capture, ReceiptHandle=m["ReceiptHandle"])

            def publish_all(final: bool = False) -> int:
                left = pump.pump()
                for _ in range(200 if final else 0):  # a reported failure is retried from its record
                    if not left:
                        break
                    left = pump.pump()
                notify_all()
                return left

            queue = Queue(deliveries)
            batches = invocation_errors = 0
            ctx = LambdaContext("score", memory_mb=512, timeout_s=30)
            for _ in range(10 * len(deliveries)):  # bounded: each message is received at most MAX_RECEIVES times
                if not queue:
                    break
                batch = queue.receive(BATCH)
                clock[0] = max(clock[0], max(m.visible_at for m in batch) + 1.0)
                records = [sqs_record(m.message_id, m.delivery.body, leads_stream.QUEUE_ARN, receive_count=m.receives) for m in batch]
                try:
                    response = score.lambda_handler(sqs_event(records), ctx)
                    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
                except Exception:  # noqa: BLE001 (the invocation failed: the whole batch is redelivered)
                    invocation_errors += 1
                    failed = {m.message_id for m in batch}
                queue.settle(batch, failed, clock[0])
                batches += 1
                if batches % PUMP_EVERY == 0:
                    publish_all()
            stream_left = publish_all(final=True)
            dependencies.use(None)
            log(f"ran {batches} batches ({time.perf_counter() - t_start:.1f}s)")

            # -- what the table holds --------------------------------------------------------
            items = {}
            for page in setup["dynamodb"].get_paginator("scan").paginate(TableName=tables["LeadsTable"], ConsistentRead=True):
                for raw in page["Items"]:
                    item = deserialize(raw)
                    items[str(item["pk"])] = item
            settings.reset()

    # applications per distinct event, from the successful applies
    counts = Counter(faults.applications[event_hash(eid)] for eid in distinct)
    applied_once = counts[1]
    duplicates = sum(n for k, n in counts.items() if k >= 2)
    lost_ids = [eid for eid in distinct if faults.applications[event_hash(eid)] == 0]
    dead_ids = {m.delivery.event.event_id for m in queue.dead}

    # the reference: each distinct event applied once, on the lead it belongs to
    should_point: dict[str, str] = {}
    for d in deliveries:
        keys = keys_of(d.event, LOCAL_KEY_SECRET)
        if keys[0].startswith("e:"):
            for alias in keys[1:]:
                should_point.setdefault(alias, keys[0])
    links_missing = sum(1 for alias, lead in should_point.items() if items.get(alias, {}).get("merged_into") != lead)
    expected: dict[str, LeadState] = defaultdict(LeadState)
    for eid, d in distinct.items():
        key = keys_of(d.event, LOCAL_KEY_SECRET)[0]
        for _ in range(5):
            key = should_point.get(key, key)
        engine.apply(expected[key], d.event)
    leads = [k for k, item in items.items() if not item.get("merged_into")]
    differ = [k for k in set(expected) | set(leads)
              if k not in items or items[k].get("merged_into") or k not in expected
              or _snapshot(state_of(items[k]), engine, at) != _snapshot(expected[k], engine, at)]
    # a lead whose difference no dead-lettered message explains would be a bug
    dead_people = {m.delivery.lead for m in queue.dead}
    person_keys: dict[str, set[int]] = defaultdict(set)
    for d in deliveries:
        for k in keys_of(d.event, LOCAL_KEY_SECRET):  # an alias left unmerged is a lead of its own
            person_keys[k].add(d.lead)
            person_keys[should_point.get(k, k)].add(d.lead)
    unexplained = [k for k in differ if not person_keys.get(k, set()) & dead_people]

    # transitions: one chain per lead, ending at its stage; alerts per alerted transition
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in recorded.values():
        chains[d["lead_id"]].append(d)
    forked = 0
    for lead, ds in chains.items():
        ds.sort(key=lambda d: d["sequence"])
        steps = [(d["from_stage"], d["to_stage"]) for d in ds]
        if [d["sequence"] for d in ds] != list(range(1, len(ds) + 1)) or any(a[1] != b[0] for a, b in zip(steps, steps[1:])) \
                or items.get(lead, {}).get("stage") != steps[-1][1]:
            forked += 1
    alerted = [tid for tid, d in recorded.items() if d["to_stage"] in rule.pattern["detail"]["to_stage"]]
    unrecorded_alerts = sum(n for tid, n in alerts.items() if tid not in recorded)

    figures = {
        "events_sent": len(deliveries),
        "distinct_events": len(distinct),
        "applied": applied_once,
        "duplicates": duplicates,
        "lost": len(lost_ids),
        "lost_in_dead_letter_queue": sum(1 for eid in lost_ids if eid in dead_ids),
        "dead_lettered_messages": len(queue.dead),
        "dead_lettered_events_applied": sum(1 for eid in dead_ids if faults.applications[event_hash(eid)] >= 1),
        "leads": len(leads),
        "leads_differing_from_reference": len(differ),
        "leads_differing_without_a_dead_lettered_message": len(unexplained),
        "aliases_not_linked": links_missing,
        "transitions": len(recorded),
        "transitions_by_stage": dict(sorted(Counter(f"{d['from_stage']}->{d['to_stage']}" for d in recorded.values()).items())),
        "forked_or_broken_chains": forked,
        "alerted_transitions": len(alerted),
        "alerts_per_transition": _spread([alerts[tid] for tid in alerted]),
        "bus_events_per_alerted_transition": _spread([on_bus[tid] for tid in alerted]),
        "alerts_for_unrecorded_transitions": unrecorded_alerts,
        "notifier_errors": dict(notify_errors),
        "stream_records_left": stream_left,
        "faults": dict(sorted(faults.injected.items())),
        "fault_rates": {"ddb_writes": ddb_rate, "eb_entries": eb_rate, "layer": layer, "bus_duplicates": bus_dup_rate},
        "leads_table_writes_sent": dict(sorted(faults.attempts.items())),
        "messages_by_receives": {str(k): v for k, v in sorted(queue.receives.items())},
        "batches": batches,
        "invocation_errors": invocation_errors,
        "publisher_invocations": pump.invocations,
        "publisher_retry_wait_s": round(sum(slept), 1),
        "targets": TARGETS,
        "seed": seed,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    return figures
