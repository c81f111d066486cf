"""Issue 15: what one hostile event or lead can do to the others, and what the edge lets through."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from leadscore import dependencies
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.identity import LOCAL_KEY_SECRET, email_key

from tests.support.handlers import invoke
from tests.support.queues import queued

WRITE_KEY = "wk_hostile_test"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def collect(batch: list[dict]) -> dict:
    body = json.dumps({"batch": batch, "sentAt": NOW.isoformat()}).encode()
    return invoke("CollectFunction", "/v1/batch", body=body, path_parameters={"kind": "batch"},
                  headers={"Content-Type": "application/json", "Authorization": _basic(WRITE_KEY)})


def message(i: int, **fields) -> dict:
    return {"type": "track", "event": "Page Viewed", "messageId": f"m-{i}", "userId": None,
            "anonymousId": f"visitor-{i}", "timestamp": NOW.isoformat(), "properties": {}, **fields}


def score(events: list[dict]) -> dict:
    records = [sqs_record(f"q-{e['event_id']}", json.dumps(e), QUEUE_ARN) for e in events]
    return load_handler(Path("functions/score"), "app.lambda_handler")(sqs_event(records), LambdaContext("score"))


@pytest.fixture
def sdk(stack, monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", f"server:{WRITE_KEY}")  # a server key: purchases and their amounts get through
    return stack


def test_a_purchase_worth_1e999_does_not_keep_nine_other_leads_from_being_scored(sdk):
    batch = [message(i) for i in range(9)]
    batch.append(message(9, event="Order Completed", userId="buyer-9", properties={"total": "1e999", "currency": "EUR"}))
    assert collect(batch)["statusCode"] == 200

    response = score(queued(sdk))

    assert response == {"batchItemFailures": []}
    store = dependencies.current().worker.store
    assert all(store.get(f"v:visitor-{i}") for i in range(9))
    assert store.get("u:buyer-9")["stage"] == "customer"  # the purchase counts; its unreadable amount brings no points


@pytest.mark.parametrize("total", ["inf", "nan", "-1e999", "1" * 400])
def test_an_amount_no_number_can_hold_brings_no_points_and_fails_nothing(sdk, total):
    assert collect([message(1, event="Order Completed", userId="buyer", properties={"total": total})])["statusCode"] == 200

    assert score(queued(sdk)) == {"batchItemFailures": []}


def test_a_lead_that_cannot_be_written_fails_alone_is_logged_without_its_key_and_is_counted(sdk, caplog, capsys):
    # a victim whose item DynamoDB refuses to update (its event counter is not a number: the
    # worker's ADD is a ValidationException, as an item at the 400 KB limit would be), next to three healthy leads
    victim = email_key("victim@acme.example", LOCAL_KEY_SECRET)
    sdk.ddb.put_item(TableName=sdk.table, Item={"pk": {"S": victim}, "n": {"S": "corrupt"}})
    events = [{"event_id": f"e-{i}", "type": "page_view", "occurred_at": NOW.isoformat(), "received_at": NOW.isoformat(),
               "source": "test", "email": email, "properties": {"url": "https://relaywise.example/pricing"}}
              for i, email in enumerate(["a@acme.example", "victim@acme.example", "b@acme.example", "c@acme.example"])]

    with caplog.at_level(logging.WARNING, logger="leadscore.worker"):
        response = score(events)

    assert response == {"batchItemFailures": [{"itemIdentifier": "q-e-1"}]}
    store = dependencies.current().worker.store
    assert all(store.get(email_key(e, LOCAL_KEY_SECRET)) for e in ["a@acme.example", "b@acme.example", "c@acme.example"])
    failures = [r for r in caplog.records if r.getMessage() == "lead update failed"]
    assert [r.detail["code"] for r in failures] == ["ValidationException"]
    assert victim not in caplog.text and "victim@acme.example" not in caplog.text
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m["LeadUpdatesFailed"] for m in emf if "LeadUpdatesFailed" in m] == [[1.0]]


@pytest.mark.parametrize("properties", [
    {"company_size": 10**45},
    {"x": 1e-200},
    {"deep": json.loads("[" * 20 + "]" * 20)},
    {"deep": json.loads('{"a":' * 300 + "1" + "}" * 300)},
], ids=["46-digit-integer", "tiny-float", "nested-20", "nested-300"])
def test_a_value_dynamodb_cannot_store_is_refused_at_the_edge_with_a_400_and_nothing_queued(sdk, properties):
    response = collect([message(1), message(2, event="Signed Up", properties=properties)])

    assert response["statusCode"] == 400
    assert re.search(r"properties|nested", json.loads(response["body"])["error"])
    assert queued(sdk) == []


def test_traits_too_big_for_a_number_are_refused_without_echoing_them(sdk):
    response = collect([message(1, type="identify", userId="u1", traits={"company_size": 10**45, "email": "x@acme.example"})])

    assert response["statusCode"] == 400
    assert "1000000000000000000000000000000000000000000000" not in response["body"]
    assert "x@acme.example" not in response["body"]
    assert queued(sdk) == []


def test_a_lone_surrogate_in_a_property_is_a_400_not_a_500(sdk):
    body = ('{"batch": [{"type": "track", "event": "Page Viewed", "messageId": "m1", "anonymousId": "v1", '
            '"properties": {"title": "\\ud800"}}]}').encode()

    response = invoke("CollectFunction", "/v1/batch", body=body, path_parameters={"kind": "batch"},
                      headers={"Content-Type": "application/json", "Authorization": _basic(WRITE_KEY)})

    assert response["statusCode"] == 400
    assert queued(sdk) == []


def test_an_event_from_before_2000_is_refused(sdk):
    old = (NOW - timedelta(days=365 * 30)).isoformat()

    response = collect([message(1, timestamp=old)])  # sentAt: now (the batch's)

    assert response["statusCode"] == 400
    assert queued(sdk) == []


def _event(event_id: str, at: datetime, *, type: str = "demo_requested", email: str = "ann@acme.example", **fields):  # noqa: A002
    from scoring_core import Event

    return Event(event_id=event_id, type=type, occurred_at=at, received_at=at, source="test", email=email, **fields)


def test_a_retry_across_utc_midnight_counts_once(stack):
    worker = dependencies.current().worker
    midnight = NOW.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    first, retry = _event("msg-1", midnight - timedelta(seconds=5)), _event("msg-1", midnight + timedelta(seconds=5))

    worker.process([("q1", first)], first.occurred_ts)
    worker.process([("q2", retry)], retry.occurred_ts)

    assert worker.store.get(email_key("ann@acme.example", LOCAL_KEY_SECRET))["n"] == 1


@pytest.mark.parametrize("days_later", [1, 3, 5, 7])
def test_a_retry_within_the_dedupe_window_counts_once_whatever_its_event_time(stack, days_later):
    worker = dependencies.current().worker
    applied = NOW.timestamp()
    first = _event("msg-2", NOW - timedelta(days=20))  # a late event: backfilled, then replayed
    retry = _event("msg-2", NOW - timedelta(days=19, hours=3))  # the sender recomputed its time

    worker.process([("q1", first)], applied)
    worker.process([("q2", retry)], applied + days_later * 86400)

    assert worker.store.get(email_key("ann@acme.example", LOCAL_KEY_SECRET))["n"] == 1


def _item_bytes(stack, key: str) -> int:
    """The item's size as DynamoDB counts it, near enough: names plus values as stored."""
    item = stack.ddb.get_item(TableName=stack.table, Key={"pk": {"S": key}})["Item"]
    return sum(len(name.encode()) + len(json.dumps(value, separators=(",", ":")).encode()) for name, value in item.items())


def test_sixteen_identifies_with_thirty_kilobytes_of_traits_each_cannot_brick_a_lead(stack):
    worker = dependencies.current().worker
    victim = email_key("victim@acme.example", LOCAL_KEY_SECRET)
    at = NOW - timedelta(hours=1)
    for i in range(16):
        traits = {"job_title": "T" * 10_000, "company": "C" * 10_000, "tech_stack": ["x" * 100] * 50,
                  **{f"junk_{i}_{j}": "j" * 100 for j in range(100)}}
        worker.process([(f"q{i}", _event(f"identify-{i}", at + timedelta(seconds=i), type="identify",
                                          email="victim@acme.example", traits=traits))], NOW.timestamp())

    after = worker.process([("q-last", _event("after", NOW, type="page_view", email="victim@acme.example"))], NOW.timestamp())

    assert after.failed == set()
    item = worker.store.get(victim)
    assert item["n"] == 17
    assert len(item["f.job_title"]["v"]) == 256 and "f.tech_stack" not in item  # cut, and dropped (over 1 KB)
    assert not any(name.startswith("f.junk") for name in item)  # facts no model reads are not stored
    assert _item_bytes(stack, victim) < 10_000


def test_a_flood_on_one_lead_is_bounded_each_week_and_the_lead_keeps_working(stack):
    from leadscore.adapters.leads import LeadStore
    from leadscore.worker import Worker

    # the weekly budget is MAX_EVENTS_PER_WEEK (2,000); 200 here keeps the test fast, the mechanism is the same
    live = dependencies.current().worker
    worker = Worker(live.engine, LeadStore(dependencies.current().aws_client("dynamodb"), live.store.table, max_events_per_week=200), LOCAL_KEY_SECRET)
    key = email_key("ann@acme.example", LOCAL_KEY_SECRET)
    now = NOW.timestamp()
    batches = [[(f"q{b}-{i}", _event(f"flood-{b}-{i}", NOW - timedelta(minutes=b), type=("page_view", "purchase")[i % 2],
                                      properties={"amount": 1000}))
                for i in range(10)] for b in range(21)]

    results = [worker.process(batch, now) for batch in batches]

    assert sum(r.applied for r in results) == 200
    assert sum(r.flooded for r in results) == 10
    assert all(r.failed == set() for r in results)
    item = worker.store.get(key)
    assert len(item["o.repeat_purchase"]) <= 50  # OCCURRENCES_TRIM_AT
    assert len(item[f"s.{int(now // (7 * 86400))}"]) == 200
    next_week = worker.process([("q-next", _event("next-week", NOW + timedelta(days=7), type="page_view"))], now + 7 * 86400)
    assert next_week.applied == 1 and next_week.flooded == 0
