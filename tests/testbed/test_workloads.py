"""testbed.leads_stream and testbed.engine_workload: the same seed gives the same workload, and it is a valid one."""

from __future__ import annotations

from scoring_core import Event, parse_model

from testbed import leads_stream
from testbed.engine_workload import generated_model_yaml, synthetic_events


def test_the_leads_stream_is_the_same_for_the_same_seed_and_another_for_another():
    first, leads = leads_stream.stream(400, 30.0, seed=7)
    again, _ = leads_stream.stream(400, 30.0, seed=7)
    other, _ = leads_stream.stream(400, 30.0, seed=8)

    assert [d.body for d in first] == [d.body for d in again]
    assert [d.body for d in first] != [d.body for d in other]
    assert len(first) == 400 and 0 < leads <= 400


def test_the_leads_stream_arrives_in_order_of_receipt_within_its_span_with_some_sender_retries():
    deliveries, _ = leads_stream.stream(2000, 30.0, seed=2026)

    received = [d.received for d in deliveries]
    assert received == sorted(received)
    assert leads_stream.END.timestamp() - 30 * 86400 <= received[0] and received[-1] <= leads_stream.END.timestamp()
    assert all(d.event.occurred_ts <= d.received for d in deliveries)
    assert len({d.event.event_id for d in deliveries}) < len(deliveries)  # the same delivery id again
    assert {d.event.type for d in deliveries} >= {"page_view", "identify", "form_submitted", "email_opened", "email_clicked"}
    assert all(Event.model_validate_json(d.body) == d.event for d in deliveries[:200])  # what the queue carries


def test_the_generated_model_has_over_150_rules_and_loads():
    model = parse_model(generated_model_yaml(), "generated")

    assert len(model.fit) + len(model.engagement) + len(model.disqualifiers) > 150


def test_synthetic_events_are_the_same_for_the_same_seed():
    first = synthetic_events(500, 40, seed=3)

    assert first == synthetic_events(500, 40, seed=3)
    assert len({e.email for e in first}) <= 40
