"""The scoring worker on the in-memory leads table: what it applies, merges and records, with no AWS.

The same behaviour on DynamoDB (moto) is tests/integration/test_worker.py, and both stores
are checked against each other there (`test_the_in_memory_store_and_dynamodb_agree`)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from scoring_core import Engine, Event, LeadState, load_model

from leadscore.adapters.leads import InMemoryLeadStore, state_of
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.worker import Worker

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ANN = email_key("ann@acme.example", LOCAL_KEY_SECRET)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model())


@pytest.fixture
def store() -> InMemoryLeadStore:
    return InMemoryLeadStore()


@pytest.fixture
def worker(engine, store) -> Worker:
    return Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None)


def ev(i: int, type_: str, *, email: str | None = "ann@acme.example", anon: str | None = None, minutes_ago: float = 0,
       **fields) -> Event:
    at = NOW - timedelta(minutes=minutes_ago)
    return Event(event_id=f"e-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=email,
                 anonymous_id=anon, **fields)


def expected(engine: Engine, events: list[Event]) -> LeadState:
    st = LeadState()
    for e in {e.event_id: e for e in events}.values():
        engine.apply(st, e)
    return st


QUALIFYING = [ev(1, "identify", minutes_ago=30, traits={"job_title": "VP Marketing", "company_size": 300, "industry": "software"}),
              ev(2, "demo_requested", minutes_ago=5),
              ev(3, "page_view", minutes_ago=4, properties={"url": "https://relaywise.example/pricing"})]


def test_each_event_is_applied_once_however_often_it_is_delivered(worker, store, engine):
    first = worker.process([(f"m{e.event_id}", e) for e in QUALIFYING], NOW.timestamp())
    again = worker.process([(f"m{e.event_id}", e) for e in QUALIFYING], NOW.timestamp() + 60)

    assert (first.applied, first.duplicates) == (3, 0)
    assert (again.applied, again.duplicates) == (0, 3)
    assert state_of(store.get(ANN)).acc == expected(engine, QUALIFYING).acc
    assert store.get(ANN)["n"] == 3


def test_one_write_per_lead_per_batch_when_nothing_changes_stage(worker, store):
    views = [ev(i, "page_view", minutes_ago=10 - i, properties={"url": "https://relaywise.example/"}) for i in range(5)]

    worker.process([(f"m{i}", e) for i, e in enumerate(views)], NOW.timestamp())

    assert store.writes == 1


def test_a_qualifying_batch_records_one_transition_with_its_detail_on_the_lead(worker, store):
    result = worker.process([(f"m{e.event_id}", e) for e in QUALIFYING], NOW.timestamp())

    (detail,) = result.transitions
    assert (detail["lead_id"], detail["from_stage"], detail["to_stage"]) == (ANN, "lead", "mql")
    item = store.get(ANN)
    assert (item["stage"], item["tr"], item["qstage"]) == ("mql", 1, "mql")
    assert "ob" in item  # for the stream publisher


def test_the_transition_detail_says_what_the_lead_reads_most_and_nothing_for_a_model_without_categories(store, engine):
    result = Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None).process(
        [(f"m{e.event_id}", e) for e in QUALIFYING], NOW.timestamp())
    plain_model = Engine(engine.model.model_copy(update={"interests": None}))
    other = InMemoryLeadStore()
    without = Worker(plain_model, other, LOCAL_KEY_SECRET, log=lambda *a, **k: None).process(
        [(f"m{e.event_id}", e) for e in QUALIFYING], NOW.timestamp())

    (detail,) = result.transitions
    assert detail["interests"] == [{"category": "pricing", "weight": 1.0, "share": 100}]
    (plain,) = without.transitions
    assert "interests" not in plain  # the body a model without interests always sent (the CRM's too)
    assert {k: v for k, v in detail.items() if k != "interests"} == plain


def test_an_anonymous_history_is_merged_into_the_lead_once(worker, store, engine):
    browsing = [ev(10 + i, "page_view", email=None, anon="v-1", minutes_ago=60 - i,
                   properties={"url": "https://relaywise.example/pricing"}) for i in range(3)]
    identify = ev(20, "identify", anon="v-1", minutes_ago=10, traits={"job_title": "Head of Growth"})

    worker.process([(f"m{e.event_id}", e) for e in browsing], NOW.timestamp())
    result = worker.process([("m-id", identify)], NOW.timestamp())
    worker.process([("m-id", identify)], NOW.timestamp())  # redelivered: nothing moves twice

    assert result.merges == 1
    assert store.get("v:v-1")["merged_into"] == ANN
    assert state_of(store.get(ANN)).acc == expected(engine, [*browsing, identify]).acc
    assert worker.resolve("v:v-1") == ANN


def test_a_flood_beyond_the_weekly_budget_is_dropped_and_counted(engine):
    store = InMemoryLeadStore(max_events_per_week=4)
    worker = Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None)
    views = [ev(i, "page_view", minutes_ago=10 - i, properties={"url": "https://relaywise.example/"}) for i in range(6)]

    result = worker.process([(f"m{i}", e) for i, e in enumerate(views)], NOW.timestamp())

    assert (result.applied, result.flooded) == (4, 2)
    assert store.get(ANN)["n"] == 4


def test_a_lead_update_that_fails_redelivers_that_leads_messages_only(worker, store, monkeypatch):
    bob = ev(7, "page_view", email="bob@acme.example", properties={"url": "https://relaywise.example/"})
    original = store.apply

    def failing(key, pending, now, *aliases):
        if key == ANN:
            raise RuntimeError("throttled")
        return original(key, pending, now, *aliases)

    monkeypatch.setattr(store, "apply", failing)
    result = worker.process([("m-ann", QUALIFYING[1]), ("m-bob", bob)], NOW.timestamp())

    assert result.failed == {"m-ann"}
    assert result.applied == 1


def test_importing_the_worker_and_the_views_loads_no_boto3():
    code = "import sys, leadscore.worker, leadscore.views, leadscore.adapters.leads; print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 's3transfer', 'botocore')))"

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"
