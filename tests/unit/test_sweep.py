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
