"""The scoring worker on moto: each event applied once, each transition published once."""

from __future__ import annotations

import itertools
import json
import random
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from leadscore import dependencies, settings
from leadscore.adapters.bus import TransitionBus
from leadscore.adapters.leads import state_of
from leadscore.dev.functions import LambdaContext, load_handler, load_module
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from scoring_core import Engine, Event, LeadState, load_model

from tests.support.queues import published
from tests.support.worker import NOW, ev, run

ENGINE = Engine(load_model())



def lead_item(stack, email="ann@acme.example") -> dict:
    return dependencies.current().worker.store.get(email_key(email, LOCAL_KEY_SECRET))


def snapshot(item, at=None, engine=ENGINE):
    """What must be identical however the events arrived: the accumulated state and the score."""
    st = state_of(item)
    score = engine.evaluate(st, at or NOW + timedelta(hours=1))
    return ({k: v for k, v in st.acc.items() if v}, {k: frozenset(v) for k, v in st.occurrences.items()},
            {k: f.value for k, f in st.facts.items()}, set(st.flags), st.event_count, score.total_cents, score.reasons)


def expected_snapshot(events, at=None, engine=ENGINE):
    st = LeadState()
    for e in {e.event_id: e for e in events}.values():
        engine.apply(st, e)
    score = engine.evaluate(st, at or NOW + timedelta(hours=1))
    return ({k: v for k, v in st.acc.items() if v}, {k: frozenset(v) for k, v in st.occurrences.items()},
            {k: f.value for k, f in st.facts.items()}, set(st.flags), st.event_count, score.total_cents, score.reasons)


def stream(n=60, seed=1, email="ann@acme.example"):
    rng = random.Random(seed)
    events = [ev(0, "identify", email=email, days_ago=20, traits={"job_title": "VP Marketing", "company_size": 300, "industry": "software", "country": "DE"})]
    kinds = [("page_view", {"properties": {"url": "https://relaywise.example/features"}}),
             ("page_view", {"properties": {"url": "https://relaywise.example/pricing"}}),
             ("email_opened", {}), ("email_clicked", {}), ("form_submitted", {}), ("webinar_attended", {})]
    for i in range(1, n):
        kind, extra = rng.choice(kinds)
        events.append(ev(i, kind, email=email, days_ago=rng.uniform(0, 19), **json.loads(json.dumps(extra))))
    return events


def test_every_event_applied_once_however_often_it_is_delivered(stack):
    events = stream()

    run(events)
    first = snapshot(lead_item(stack))
    run(events)  # SQS redelivers everything
    run(events[10:30], batch=7)  # and some again, batched differently

    assert snapshot(lead_item(stack)) == first == expected_snapshot(events)


def test_a_shuffled_stream_gives_the_identical_state(stack):
    events = stream(seed=2)
    shuffled = random.Random(5).sample(events, len(events))

    run(shuffled, batch=3)

    assert snapshot(lead_item(stack)) == expected_snapshot(events)


def test_the_same_event_twice_in_one_batch_counts_once(stack):
    a = ev(1, "demo_requested")
    again = ev(1, "demo_requested")  # a sender's retry: same delivery id

    run([a, again, ev(2, "page_view", properties={"url": "https://relaywise.example/pricing"})])

    assert snapshot(lead_item(stack)) == expected_snapshot([a, ev(2, "page_view", properties={"url": "https://relaywise.example/pricing"})])


def test_four_workers_on_one_hot_lead_lose_no_update(stack, atomic_dynamodb, monkeypatch):
    events = stream(n=200, seed=3)
    handler = load_handler(__import__("pathlib").Path("functions/score"), "app.lambda_handler")
    # four threads share this one module, as Lambda never has them share a container: powertools'
    # metric set is per process, so one thread's flush could empty it between another's check and
    # its serialization ("Must contain at least one metric"); a flush at a time, as in Lambda
    metrics = load_module(Path("functions/score"), "app").metrics
    flushing, flush = threading.Lock(), metrics.flush_metrics

    def one_flush_at_a_time(*args, **kwargs):
        with flushing:
            return flush(*args, **kwargs)

    monkeypatch.setattr(metrics, "flush_metrics", one_flush_at_a_time)
    dependencies.current().worker  # noqa: B018 one container's worker, shared by the threads as Lambda would not; the table is the only shared state
    parts = [events[i::4] for i in range(4)]
    errors = []

    def work(part):
        try:
            failures = run(part, batch=5, handler=handler)
            if failures:
                errors.append(("batch item failures", failures))
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert snapshot(lead_item(stack)) == expected_snapshot(events)
    chain = [(d["from_stage"], d["to_stage"]) for d in sorted(published(stack), key=lambda d: d["sequence"])]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain)), chain  # one consistent history, no fork
    assert (chain[-1][1] if chain else "lead") == lead_item(stack)["stage"]


CRASH_EVENTS = [ev(0, "identify", traits={"job_title": "CTO", "company_size": 300, "industry": "software", "country": "US"}),
                ev(1, "demo_requested"), ev(2, "page_view", properties={"url": "https://relaywise.example/pricing"})]


def redeliver_later(monkeypatch, events):
    """SQS redelivers the messages after the visibility timeout (twice, for good measure)."""
    deps = dependencies.current()
    real_clock = deps.clock
    monkeypatch.setattr(deps, "clock", lambda: real_clock() + 181)
    run(events)
    run(events)


@pytest.mark.parametrize("moment", ["before the record", "after the record"])
def test_a_worker_crash_around_the_write_still_publishes_each_transition_once(stack, monkeypatch, moment):
    store = dependencies.current().worker.store
    real = store.record_transition

    def crash(*args, **kwargs):
        if moment == "after the record":
            real(*args, **kwargs)
        raise SystemExit(f"worker died {moment}")

    monkeypatch.setattr(store, "record_transition", crash)
    with pytest.raises(SystemExit):
        run(CRASH_EVENTS)
    assert lead_item(stack)["n"] == 3  # the events were applied before the crash
    monkeypatch.setattr(store, "record_transition", real)
    redeliver_later(monkeypatch, CRASH_EVENTS)

    details = published(stack)
    assert [(d["from_stage"], d["to_stage"]) for d in details] == [("lead", "sql")]
    assert lead_item(stack)["stage"] == "sql"


def test_a_publisher_that_fails_after_the_write_publishes_each_transition_once_on_retry(stack, monkeypatch):
    """The worker's write is in the stream; PutEvents failing (the publisher's crash, then a
    refused entry) makes the stream be delivered again, and the transition goes out once."""
    run(CRASH_EVENTS)
    deps = dependencies.current()
    real = deps.aws_client("events")
    calls = []

    class FailingEvents:  # EventBridge as the publisher's crash, then refusals, then itself
        def put_events(self, **kwargs):
            calls.append(len(kwargs["Entries"]))
            if len(calls) == 1:
                raise SystemExit("publisher died before PutEvents")
            if len(calls) <= 4:  # every attempt of the second invocation: the entry is refused
                return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}
            return real.put_events(**kwargs)

    bus = TransitionBus(FailingEvents(), deps.settings.required("bus_name"), sleep=lambda s: None)
    dependencies.use(dependencies.Dependencies(deps.settings, publisher=bus))
    stack.pump.read()
    with pytest.raises(SystemExit):
        stack.pump.deliver()
    assert stack.pump.deliver() == 1  # three refusals: reported as a batch item failure, kept
    assert published(stack) != []  # the next delivery publishes it
    redeliver_later(monkeypatch, CRASH_EVENTS)

    assert [(d["from_stage"], d["to_stage"]) for d in published(stack)] == []  # nothing new, nothing twice
    assert calls == [1, 1, 1, 1, 1]


def test_a_transition_is_published_once_though_later_writes_keep_it_on_the_lead(stack):
    run(CRASH_EVENTS)
    item = lead_item(stack)
    assert item.get("ob") is not None  # the detail stays until the lead's next apply
    dependencies.current().worker.store.record_recycled(item["pk"], False, int(item["tr"]))  # a later write that leaves `ob` alone

    assert len(published(stack)) == 1
    run([ev(3, "page_view", properties={"url": "https://relaywise.example/docs"})])
    assert "ob" not in lead_item(stack)  # the apply removed it
    assert published(stack) == []


def test_anonymous_browsing_then_identify_scores_the_combined_history(stack):
    visitor = "v-7c1f"
    browsing = [ev(i, "page_view", email=None, anon=visitor, days_ago=3 - i / 10,
                   properties={"url": f"https://relaywise.example/{p}"}) for i, p in enumerate(["", "features", "pricing", "pricing/enterprise"])]
    identify = ev(10, "identify", anon=visitor, days_ago=1, traits={"job_title": "Head of Growth", "company_size": 120})
    later = [ev(20, "page_view", email=None, anon=visitor, properties={"url": "https://relaywise.example/pricing"})]

    run(browsing)
    run([identify])
    run(later)  # the visitor's later events reach the lead

    everything = browsing + [identify] + later
    assert snapshot(lead_item(stack)) == expected_snapshot(everything)
    visitor_item = dependencies.current().worker.store.get(f"v:{visitor}")
    assert visitor_item["merged_into"] == email_key("ann@acme.example", LOCAL_KEY_SECRET)
    assert not [k for k in visitor_item if k.startswith("a.")]  # nothing left to count twice


def test_a_poison_message_fails_alone(stack):
    good = [ev(i, "page_view", properties={"url": "https://relaywise.example/"}) for i in range(4)]
    records = [sqs_record(f"m-{e.event_id}", e.model_dump_json(), "arn:aws:sqs:us-east-1:1:q") for e in good]
    records.insert(2, sqs_record("m-poison", '{"event_id": "x", "type": "page_view", "email": "secret.person@acme.example"}', "arn:aws:sqs:us-east-1:1:q"))

    response = load_handler(__import__("pathlib").Path("functions/score"), "app.lambda_handler")(sqs_event(records), LambdaContext("score"))

    assert response["batchItemFailures"] == [{"itemIdentifier": "m-poison"}]
    assert lead_item(stack)["n"] == 4


def test_no_email_appears_in_the_workers_logs(stack, capsys):
    run(stream(n=20, seed=9, email="private.person@acme.example"))

    out = capsys.readouterr()
    assert "private.person@acme.example" not in out.out + out.err


def test_a_poison_message_on_its_last_receive_is_counted_as_sent_to_the_dead_letter_queue(stack, capsys):
    records = [sqs_record("m-poison", "not json", "arn:aws:sqs:us-east-1:1:q", receive_count=5)]

    response = load_handler(__import__("pathlib").Path("functions/score"), "app.lambda_handler")(
        sqs_event(records + [sqs_record("m-ok", ev(1, "page_view").model_dump_json(), "arn:aws:sqs:us-east-1:1:q")]),
        LambdaContext("score"))

    assert response["batchItemFailures"] == [{"itemIdentifier": "m-poison"}]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m["SentToDLQ"] for m in emf if "SentToDLQ" in m] == [[1.0]]


def test_a_late_event_redelivered_days_later_is_still_applied_once(stack):
    worker = dependencies.current().worker
    late = ev(1, "demo_requested", days_ago=20)
    applied_at = NOW.timestamp()

    worker.process([("m1", late)], applied_at)
    worker.process([("m1", late)], applied_at + 2 * 86400)  # the sender retries two days later

    assert lead_item(stack)["n"] == 1
    assert snapshot(lead_item(stack)) == expected_snapshot([late])


def test_an_anonymous_visitor_does_not_alert_sales_until_identified(stack):
    visitor = "v-hot"
    hot = [ev(i, kind, email=None, anon=visitor, properties={"url": "https://relaywise.example/pricing"})
           for i, kind in enumerate(["demo_requested", "page_view", "meeting_booked", "webinar_attended", "form_submitted"])]

    run(hot)
    assert published(stack) == []

    run([ev(9, "identify", anon=visitor, traits={"job_title": "CEO", "company_size": 200})])
    assert [d["to_stage"] for d in published(stack)] == ["sql"]


def test_an_identify_with_sixty_traits_is_applied_whole(stack, monkeypatch, tmp_path):
    # a model that reads sixty custom facts: a lead keeps the facts its model reads
    default = (Path("layers/scoring_core/scoring_core/models/default.yaml")).read_text(encoding="utf-8")
    rules = "".join(f"  - id: custom_{i:02d}\n    when: {{custom_field_{i:02d}: \"value {i}\"}}\n    points: 1\n" for i in range(60))
    model = tmp_path / "sixty.yaml"
    model.write_text(default.replace("fit:\n", "fit:\n" + rules, 1), encoding="utf-8")
    monkeypatch.setenv("MODEL_FILE", str(model))
    settings.reset()
    traits = {f"custom_field_{i:02d}": f"value {i}" for i in range(60)} | {"job_title": "CTO"}
    big = ev(1, "identify", traits=traits)
    sizes = []  # moto does not enforce DynamoDB's 4 KB expression limit: measure what is sent
    client = dependencies.current().aws_client("dynamodb")  # the leads table's client
    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", lambda params, **kw: sizes.append(
        max(len(params.get("UpdateExpression", "").encode()), len(params.get("ConditionExpression", "").encode()))))

    assert run([big]) == []

    assert sizes and max(sizes) <= 4096, sizes

    item = lead_item(stack)
    assert {k[2:] for k in item if k.startswith("f.")} == set(traits)
    assert snapshot(item, engine=dependencies.current().engine) == expected_snapshot([big], engine=dependencies.current().engine)
    settings.reset()


def test_an_accumulator_three_eras_old_is_dropped_when_its_rule_is_next_touched(stack):
    # page views decay with a 7-day half-life: an era is 32 half-lives, 224 days
    era_s = 32 * 7 * 86400.0
    era_now = int(NOW.timestamp() // era_s)
    old_ts = (era_now - 3) * era_s + 86400  # a day into the era three before today's
    old = ev(1, "page_view", days_ago=(NOW.timestamp() - old_ts) / 86400, properties={"url": "https://relaywise.example/"})
    new = ev(2, "page_view", properties={"url": "https://relaywise.example/"})
    worker = dependencies.current().worker
    worker.process([("m1", old)], old.occurred_ts)

    worker.process([("m2", new)], NOW.timestamp())

    eras = sorted(int(k.rsplit(".", 1)[1]) for k in lead_item(stack) if k.startswith("a.page_view."))
    assert len(eras) == 1  # the old era is gone; only the current one remains
    score = ENGINE.evaluate(state_of(lead_item(stack)), NOW)
    assert score.total_cents == ENGINE.evaluate(expected_state([new]), NOW).total_cents


def expected_state(events):
    st = LeadState()
    for e in events:
        ENGINE.apply(st, e)
    return st


def throttle_first(client, operation: str, times: int = 1) -> list[str]:
    """Answer the first `times` calls of `operation` with a throttle, after botocore's retry layer
    (as bench/faults.py does): the request never reaches the table. Returns the codes sent back."""
    from botocore.awsrequest import AWSResponse

    answered: list[str] = []

    def throttle(**_):
        if len(answered) >= times:
            return None
        answered.append("ProvisionedThroughputExceededException")
        return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, {}, None), {
            "Error": {"Code": answered[-1], "Message": "throttled by the test"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0}}

    client.meta.events.register_first(f"before-call.dynamodb.{operation}", throttle)
    return answered


def test_a_throttled_lead_write_is_retried_within_the_invocation_and_applied_once(stack):
    import boto3

    from leadscore.adapters.leads import LeadStore
    from leadscore.identity import event_hash
    from leadscore.worker import Worker

    client, waits = boto3.client("dynamodb"), []
    worker = Worker(ENGINE, LeadStore(client, stack.table, sleep=waits.append), LOCAL_KEY_SECRET)
    throttled = throttle_first(client, "UpdateItem", times=2)
    demo = ev(1, "demo_requested")

    result = worker.process([("m1", demo)], NOW.timestamp())

    assert (result.failed, result.applied, len(throttled), len(waits)) == (set(), 1, 2, 2)
    item = lead_item(stack)
    assert item["n"] == 1
    assert [h for name, hashes in item.items() if name.startswith("s.") for h in hashes] == [event_hash(demo.event_id)]
    assert snapshot(item) == expected_snapshot([demo])


def test_a_throttled_merge_is_retried_and_moves_the_history_once(stack):
    import boto3

    from leadscore.adapters.leads import LeadStore
    from leadscore.worker import Worker

    client, waits = boto3.client("dynamodb"), []
    worker = Worker(ENGINE, LeadStore(client, stack.table, sleep=waits.append), LOCAL_KEY_SECRET)
    browsing = [ev(i, "page_view", email=None, anon="v-t", days_ago=1 - i / 10,
                   properties={"url": "https://relaywise.example/pricing"}) for i in range(3)]
    identify = ev(9, "identify", anon="v-t", traits={"job_title": "CTO"})
    worker.process([(f"m{i}", e) for i, e in enumerate(browsing)], NOW.timestamp())
    throttled = throttle_first(client, "TransactWriteItems")

    result = worker.process([("m9", identify)], NOW.timestamp())

    assert (result.failed, result.merges, len(throttled), len(waits)) == (set(), 1, 1, 1)
    assert snapshot(lead_item(stack)) == expected_snapshot([*browsing, identify])


def test_the_in_memory_store_and_dynamodb_agree(stack):
    """The unit tests' store does to a lead what the DynamoDB store does: the same stream,
    with redeliveries, a merge and stage changes, gives the same state in both."""
    from leadscore.adapters.leads import InMemoryLeadStore
    from leadscore.worker import Worker

    visitor = [ev(100 + i, "page_view", email=None, anon="v-agree", days_ago=21 - i,
                  properties={"url": "https://relaywise.example/pricing"}) for i in range(3)]
    events = visitor + stream(n=80, seed=11) + [ev(200, "identify", anon="v-agree", traits={"company": "Acme"})]
    memory = Worker(ENGINE, InMemoryLeadStore(), LOCAL_KEY_SECRET)
    dynamo = dependencies.current().worker
    for worker in (memory, dynamo):
        for start in range(0, len(events), 7):
            batch = [(f"m-{e.event_id}", e) for e in events[start : start + 7]]
            worker.process(batch + batch[:2], NOW.timestamp())  # some delivered twice

    key = email_key("ann@acme.example", LOCAL_KEY_SECRET)
    mine, theirs = memory.store.get(key), dynamo.store.get(key)
    assert snapshot(mine) == snapshot(theirs) == expected_snapshot(events)
    assert {k: mine[k] for k in ("stage", "tr", "n", "first_at", "last_at")} == {k: theirs[k] for k in ("stage", "tr", "n", "first_at", "last_at")}
    assert sorted(mine["recent"]) == sorted(theirs["recent"])
    assert set(mine["merged_from"]) == set(theirs["merged_from"]) == {"v:v-agree"}
    assert memory.store.get("v:v-agree")["merged_into"] == theirs["pk"] == dynamo.store.get("v:v-agree")["merged_into"]


def test_messages_redriven_from_the_dead_letter_queue_are_recognised_as_applied(stack):
    """A redrive (StartMessageMoveTask, or a person moving messages by hand) sends the dead
    letters' bodies to the queue again as new messages: the events in them that an earlier
    receive applied are duplicates, the others are applied. moto has no StartMessageMoveTask,
    so the move is done here as the console's redrive does it: receive, send, delete."""
    sqs = stack.sqs
    dlq = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    applied_before = [ev(i, "page_view", properties={"url": "https://relaywise.example/"}) for i in range(3)]
    never_applied = [ev(10, "demo_requested")]
    run(applied_before)
    for e in applied_before + never_applied:  # what a message that failed 5 receives leaves in the DLQ
        sqs.send_message(QueueUrl=dlq, MessageBody=e.model_dump_json())

    redriven = []
    while (messages := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])):
        for m in messages:
            redriven.append(Event.model_validate_json(m["Body"]))
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
    result = dependencies.current().worker.process([(f"redriven-{i}", e) for i, e in enumerate(redriven)], NOW.timestamp())

    assert (result.applied, result.duplicates, result.failed) == (1, 3, set())
    assert lead_item(stack)["n"] == 4
    assert snapshot(lead_item(stack)) == expected_snapshot(applied_before + never_applied)
