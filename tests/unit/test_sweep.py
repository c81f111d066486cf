"""The downgrade sweep's plan: which ByDue buckets a run queries."""

from __future__ import annotations

from leadscore.adapters.leads import InMemoryLeadStore
from leadscore.adapters.leads.protocol import DUE_BUCKET_S, due_bucket
from leadscore.sweep import DEEP_LOOKBACK_S, LOOKBACK_S, Sweep
from scoring_core import Engine, load_model

SWEEP = Sweep(Engine(load_model()), InMemoryLeadStore())
NOON = 1_796_400_000 // 86400 * 86400 + 12 * 3600


def test_a_sweep_queries_each_bucket_of_its_lookback_once_up_to_the_current_one():
    buckets = SWEEP.buckets(NOON + 7)

    assert list(buckets) == list(range(due_bucket(NOON + 7 - LOOKBACK_S), due_bucket(NOON) + DUE_BUCKET_S, DUE_BUCKET_S))
    assert len(buckets) == LOOKBACK_S // DUE_BUCKET_S + 1  # 5: every bucket a due lead can be in, the current one too


def test_the_first_sweep_of_a_day_looks_back_thirty_days_for_what_an_outage_left_due():
    midnight = NOON + 12 * 3600 + 60

    assert len(SWEEP.buckets(midnight)) == DEEP_LOOKBACK_S // DUE_BUCKET_S + 1
    assert len(SWEEP.buckets(midnight + 300)) == LOOKBACK_S // DUE_BUCKET_S + 1


def test_a_due_time_falls_in_the_bucket_of_its_quarter_hour():
    assert due_bucket(NOON + 899) == NOON and due_bucket(NOON + 900) == NOON + 900


def test_the_in_memory_store_keeps_due_times_as_dynamodb_does_and_the_sweep_downgrades_once():
    # given: a worker on the in-memory store qualifies a lead (fit 37 and engagement just over 50)
    from datetime import datetime, timezone

    from leadscore.worker import Worker
    from scoring_core import Event

    store = InMemoryLeadStore()
    engine = SWEEP.engine
    worker = Worker(engine, store, "k" * 32)
    t0 = float(NOON)
    at = datetime.fromtimestamp(t0 - 60, timezone.utc)
    events = [Event(event_id="m-1", type="identify", occurred_at=at, received_at=at, source="test", email="nadia@tidewater.example",
                    traits={"job_title": "Director of Marketing", "company_size": 180, "country": "CA"}),
              Event(event_id="m-2", type="form_submitted", occurred_at=at, received_at=at, source="test", email="nadia@tidewater.example")]
    events += [Event(event_id=f"m-{3 + i}", type="email_clicked", occurred_at=at, received_at=at, source="test",
                     email="nadia@tidewater.example") for i in range(4)]
    (detail,) = worker.process([(e.event_id, e) for e in events], t0).transitions
    (key,) = store.items
    due = store.items[key]["due_at"]
    assert detail["to_stage"] == "mql" and store.items[key]["due_bucket"] == due_bucket(due)

    # when: sweeps run before and after the due time, and once more
    sweep = Sweep(engine, store)
    before, after, again = sweep.run(due - 1), sweep.run(due + 1), sweep.run(due + 301)

    # then
    assert (before.due, before.transitions) == (0, [])
    assert [(d["from_stage"], d["to_stage"], d["cause"]) for d in after.transitions] == [("mql", "lead", "decay")]
    assert "due_at" not in store.items[key] and store.items[key]["stage"] == "lead"
    assert (again.due, again.transitions) == (0, [])


def test_a_downgrade_on_time_says_what_the_lead_read_decayed_to_the_downgrade():
    from datetime import datetime, timezone

    from leadscore.worker import Worker
    from scoring_core import Event

    store = InMemoryLeadStore()
    engine = SWEEP.engine
    at = datetime.fromtimestamp(NOON - 60, timezone.utc)
    email = "omar@tidewater.example"
    events = [Event(event_id="m-1", type="identify", occurred_at=at, received_at=at, source="test", email=email,
                    traits={"job_title": "Director of Marketing", "company_size": 180, "country": "CA"}),
              Event(event_id="m-2", type="form_submitted", occurred_at=at, received_at=at, source="test", email=email),
              Event(event_id="m-3", type="page_view", occurred_at=at, received_at=at, source="test", email=email,
                    properties={"url": "https://tidewater.example/blog/scoring"})]
    events += [Event(event_id=f"m-{4 + i}", type="email_clicked", occurred_at=at, received_at=at, source="test", email=email)
               for i in range(4)]
    (qualified,) = Worker(engine, store, "k" * 32).process([(e.event_id, e) for e in events], float(NOON)).transitions
    (key,) = store.items
    due = store.items[key]["due_at"]

    (downgrade,) = Sweep(engine, store).run(due + 1).transitions

    assert qualified["interests"] == [{"category": "blog", "weight": 1.0, "share": 100}]
    weight = round(2 ** (-(due + 1 - (NOON - 60)) / (30 * 86400)), 2)  # the view, halved every 30 days until the sweep
    assert downgrade["cause"] == "decay" and downgrade["interests"] == [{"category": "blog", "weight": weight, "share": 100}]
