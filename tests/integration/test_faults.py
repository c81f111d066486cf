"""Exactly once under faults (issue 15): testbed.faults' pipeline on a short stream (bench/faults.py runs 5,000 events).

20% of the leads table's writes are throttled after botocore's retries are spent and
20% of PutEvents entries are refused (and half the bus events reach the notifier
twice), injected through botocore's event hooks on our
own clients; SQS redelivery, the stream publisher's retry from a reported record and
the Slack notifier's idempotency are the real ones (see testbed/faults.py).
"""

from __future__ import annotations

from testbed import faults


def test_throttled_writes_and_refused_entries_apply_each_event_once_and_alert_each_transition_once():
    # half the bus events reach the notifier twice, so its dedupe on transition_id is exercised too
    result = faults.run(n_events=200, ddb_rate=0.2, eb_rate=0.2, seed=SEED, fast_moto=False, bus_dup_rate=0.5)

    assert sum(1 for k in result["faults"] if k.startswith("dynamodb.")) >= 3  # throttles of each write kind
    assert any(k.startswith("events.PutEvents") for k in result["faults"])
    assert result["faults"].get("eventbridge.delivered twice", 0) >= 1
    assert result["messages_by_receives"].keys() - {"1"}  # some messages were redelivered
    assert result["applied"] == result["distinct_events"]
    assert (result["duplicates"], result["lost"], result["dead_lettered_messages"]) == (0, 0, 0)
    assert result["leads_differing_from_reference"] == 0
    assert result["alerted_transitions"] >= 2
    assert result["alerts_per_transition"] == {"min": 1, "max": 1, "mean": 1.0}
    assert result["forked_or_broken_chains"] == 0
    assert result["alerts_for_unrecorded_transitions"] == 0


SEED = 1
