"""Erasure on the in-memory leads table: what `holdings` finds, what `erase` removes and what the worker
does with events of an erased lead (the same on DynamoDB: tests/integration/test_erasure.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scoring_core import Engine, Event, load_model

from leadscore.adapters.leads import InMemoryLeadStore
from leadscore.adapters.leads.protocol import TOMBSTONE_S
from leadscore.identity import LOCAL_KEY_SECRET, email_key, erased_marker
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


def ev(i: str, type_: str, at: datetime, *, email: str | None = "ann@acme.example", anon: str | None = None, **fields) -> Event:
    return Event(event_id=f"e-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=email,
                 anonymous_id=anon, **fields)


def ann_on_two_devices(worker) -> None:
    t = NOW - timedelta(hours=1)
    events = [ev("l", "page_view", t, email=None, anon="laptop"), ev("p", "page_view", t, email=None, anon="phone"),
              ev("id", "identify", t, anon="laptop", traits={"job_title": "CTO"}),
              ev("d", "demo_requested", t, anon="phone")]
    for e in events:  # one batch each, as they arrive
        assert not worker.process([(e.event_id, e)], t.timestamp()).failed


def erase(store, key: str, now: datetime) -> dict[str, int] | None:
    holdings = store.holdings(key)
    assert holdings is not None
    return store.erase(holdings, {k: erased_marker(k, LOCAL_KEY_SECRET) for k in holdings.keys()}, now.timestamp())


def test_holdings_follow_any_key_to_the_lead_and_find_every_alias(worker, store):
    ann_on_two_devices(worker)

    for key in (ANN, "v:laptop", "v:phone"):
        holdings = store.holdings(key)
        assert holdings is not None and holdings.key == ANN
        assert sorted(holdings.identities) == ["v:laptop", "v:phone"]
    assert store.holdings("v:someone-else") is None


def test_an_erasure_leaves_only_tombstones_that_name_no_key(worker, store):
    ann_on_two_devices(worker)

    assert erase(store, "v:phone", NOW) == {"leads": 1, "identities": 2, "tombstones": 3}

    assert all(k.startswith("t:") for k in store.items)
    text = repr(store.items)
    assert "ann@acme.example" not in text and ANN not in text and "laptop" not in text and "CTO" not in text


def test_old_events_arriving_after_the_erasure_are_dropped_and_new_ones_start_afresh(worker, store, engine):
    ann_on_two_devices(worker)
    erase(store, ANN, NOW)
    fresh = Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None)  # no redirects remembered

    late = fresh.process([("m1", ev("late", "page_view", NOW - timedelta(minutes=5), email=None, anon="laptop")),
                          ("m2", ev("late-id", "identify", NOW - timedelta(minutes=5), traits={"job_title": "CTO"}))],
                         NOW.timestamp() + 60)
    assert late.erased == 2 and not late.failed
    assert all(k.startswith("t:") for k in store.items)

    later = fresh.process([("m3", ev("new", "page_view", NOW + timedelta(minutes=1), email=None, anon="laptop"))],
                          NOW.timestamp() + 120)
    assert later.erased == 0 and store.get("v:laptop")["n"] == 1 and "email" not in store.get("v:laptop")


def test_a_remembered_redirect_to_an_erased_lead_is_refused_and_forgotten(worker, store):
    ann_on_two_devices(worker)
    erase(store, ANN, NOW)
    hit = ev("hit", "page_view", NOW + timedelta(minutes=1), email=None, anon="laptop")

    first = worker.process([("m", hit)], NOW.timestamp() + 60)
    second = worker.process([("m", hit)], NOW.timestamp() + 90)

    assert first.failed == {"m"} and ANN not in store.items
    assert not second.failed and store.get("v:laptop")["n"] == 1


def test_a_tombstone_counts_for_eighteen_days_only(worker, store):
    ann_on_two_devices(worker)
    erase(store, ANN, NOW)
    marker = erased_marker(ANN, LOCAL_KEY_SECRET)

    assert store.erased_at(marker, NOW.timestamp() + TOMBSTONE_S - 1) == NOW.timestamp()
    assert store.erased_at(marker, NOW.timestamp() + TOMBSTONE_S + 1) is None
    assert TOMBSTONE_S == 18 * 86400  # the events queue's 4 days plus its dead-letter queue's 14


def test_an_alias_that_moved_meanwhile_makes_the_erasure_read_again(worker, store):
    ann_on_two_devices(worker)
    holdings = store.holdings(ANN)
    store.items["v:laptop"]["merged_into"] = "e:someone-else"

    assert store.erase(holdings, {k: erased_marker(k, LOCAL_KEY_SECRET) for k in holdings.keys()}, NOW.timestamp()) is None
    assert ANN in store.items


def test_events_are_counted_per_type_and_merges_add_the_counts(worker, store):
    ann_on_two_devices(worker)

    lead = store.get(ANN)
    assert (lead["c.page_view"], lead["c.identify"], lead["c.demo_requested"]) == (2, 1, 1)
    assert lead["ids"] == {"v:laptop", "v:phone"}
