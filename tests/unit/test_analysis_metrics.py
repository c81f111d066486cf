"""The backtest's metrics against figures worked out by hand on small crafted inputs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from leadscore.analysis import metrics
from leadscore.analysis.metrics import by_group, days_to_convert, deciles, quantiles, roc_auc, selection


# --- ROC AUC --------------------------------------------------------------------------------

def test_auc_with_a_tie_between_a_converter_and_a_non_converter_counts_half():
    # converters score 3 and 2, non-converters 2 and 1. The four (converter, non-converter) pairs:
    #   3 > 2 → 1,  3 > 1 → 1,  2 = 2 → ½,  2 > 1 → 1   ⇒ 3.5 / 4 = 0.875
    assert roc_auc([3, 2, 2, 1], [1, 0, 1, 0]) == pytest.approx(0.875)


def test_auc_with_ties_inside_each_class_and_across():
    # converters: 1 (index 0) and 2 (index 3); non-converters: 1 and 1.
    #   1 vs 1 → ½, 1 vs 1 → ½, 2 vs 1 → 1, 2 vs 1 → 1   ⇒ 3 / 4 = 0.75
    assert roc_auc([1, 1, 1, 2], [True, False, False, True]) == pytest.approx(0.75)
    # every score equal: every pair is a tie ⇒ ½
    assert roc_auc([7, 7, 7, 7, 7], [1, 0, 0, 1, 0]) == pytest.approx(0.5)


def test_auc_of_a_perfect_and_an_inverted_ranking():
    assert roc_auc([4, 3, 2, 1], [1, 1, 0, 0]) == 1.0
    assert roc_auc([1, 2, 3, 4], [1, 1, 0, 0]) == 0.0
    # the input order does not matter, only the scores
    assert roc_auc([2, 4, 1, 3], [0, 1, 0, 1]) == 1.0


def test_auc_counts_every_pair_once():
    # converters 0.9, 0.4; non-converters 0.8, 0.3, 0.1 (6 pairs):
    #   0.9 beats all three → 3;  0.4 beats 0.3 and 0.1, loses to 0.8 → 2   ⇒ 5 / 6
    assert roc_auc([0.9, 0.8, 0.4, 0.3, 0.1], [1, 0, 1, 0, 0]) == pytest.approx(5 / 6)


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0], [False, False]])
def test_auc_needs_both_classes(labels):
    with pytest.raises(ValueError, match="converters and non-converters"):
        roc_auc(list(range(len(labels))), labels)


# --- deciles ------------------------------------------------------------------------------

def _twenty_three():
    """23 leads with distinct scores 23 (rank 1) down to 1 (rank 23), converters at ranks
    1, 2, 3, 5, 11 and 23; given to `deciles` lowest score first, so ranking is its job."""
    ranks_converted = {1, 2, 3, 5, 11, 23}
    rows = [(24 - rank, rank in ranks_converted) for rank in range(1, 24)]
    rows.reverse()
    return [s for s, _ in rows], [y for _, y in rows]


def test_deciles_with_n_not_divisible_by_ten_give_the_remainder_to_the_first_groups():
    scores, labels = _twenty_three()
    d = deciles(scores, labels)
    # 23 = 10 × 2 + 3: deciles 1-3 have 3 leads, 4-10 have 2
    assert [x["leads"] for x in d] == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert [x["decile"] for x in d] == list(range(1, 11))
    # ranks per decile: 1-3 | 4-6 | 7-9 | 10-11 | 12-13 | 14-15 | 16-17 | 18-19 | 20-21 | 22-23
    # converters at ranks 1,2,3 (d1), 5 (d2), 11 (d4), 23 (d10)
    assert [x["converted"] for x in d] == [3, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    # score = 24 - rank: d1 holds 23, 22, 21; d4 holds 14, 13; d10 holds 2, 1
    assert (d[0]["max_score"], d[0]["min_score"]) == (23, 21)
    assert (d[1]["max_score"], d[1]["min_score"]) == (20, 18)
    assert (d[3]["max_score"], d[3]["min_score"]) == (14, 13)
    assert (d[9]["max_score"], d[9]["min_score"]) == (2, 1)


def test_deciles_conversion_and_lift_over_the_base_rate():
    scores, labels = _twenty_three()
    d = deciles(scores, labels)
    base = 6 / 23  # 6 converters of 23
    assert d[0]["conversion"] == pytest.approx(1.0)  # 3 of 3
    assert d[0]["lift"] == pytest.approx(1 / base)  # = 23/6 ≈ 3.833
    assert d[0]["lift"] == pytest.approx(23 / 6)
    assert d[1]["conversion"] == pytest.approx(1 / 3)
    assert d[1]["lift"] == pytest.approx(23 / 18)  # (1/3) / (6/23)
    assert d[3]["conversion"] == pytest.approx(0.5)
    assert d[3]["lift"] == pytest.approx(23 / 12)  # (1/2) / (6/23)
    assert d[2]["conversion"] == 0.0 and d[2]["lift"] == 0.0
    assert d[9]["lift"] == pytest.approx(23 / 12)


def test_deciles_keep_tied_scores_in_one_group_whatever_the_input_order():
    # issue 17: ties were split by input order, so a converter's group depended on where it sat
    # in the file. Ranked: 3, then the three 2s, then 1. With 5 parts of one lead each, the cut
    # after the first 2 falls inside the tie: the three 2s make one group (ranks 2-4).
    for labels in ([0, 1, 0, 0, 1], [0, 0, 0, 1, 1]):  # the converter first or last among the 2s
        d = deciles([1, 2, 2, 2, 3], labels, parts=5)
        assert [x["leads"] for x in d] == [1, 3, 1]
        assert [x["converted"] for x in d] == [1, 1, 0]
        assert [(x["min_score"], x["max_score"]) for x in d] == [(3, 3), (2, 2), (1, 1)]
        assert [(x["from_share"], x["to_share"]) for x in d] == [(0, 0.2), (0.2, 0.8), (0.8, 1.0)]


def test_decile_score_ranges_never_overlap():
    scores = [5, 5, 5, 4, 4, 4, 4, 3, 2, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0]
    d = deciles(scores, [i % 3 == 0 for i in range(len(scores))])
    assert sum(x["leads"] for x in d) == len(scores)
    for upper, lower in zip(d, d[1:]):
        assert upper["min_score"] > lower["max_score"]


def test_deciles_of_one_score_are_one_group():
    d = deciles([7] * 20, [i < 5 for i in range(20)])
    assert len(d) == 1 and d[0]["leads"] == 20 and d[0]["lift"] == pytest.approx(1.0)


def test_deciles_with_fewer_leads_than_groups_give_one_group_per_lead():
    # was: ten groups, the last seven empty; groups are never empty now (ties make fewer groups too)
    d = deciles([5, 9, 1], [0, 1, 0])
    assert [x["leads"] for x in d] == [1, 1, 1]
    assert [x["max_score"] for x in d] == [9, 5, 1]
    assert d[0]["lift"] == pytest.approx(3.0)  # 1/1 over a base of 1/3


def test_auc_interval_holds_the_auc_and_is_reproducible():
    scores = [i % 17 for i in range(300)]
    labels = [(i % 17) + (i % 5) > 12 for i in range(300)]
    auc = roc_auc(scores, labels)
    low, high = metrics.auc_interval(scores, labels)
    assert low < auc < high and high - low < 0.2
    assert metrics.auc_interval(scores, labels) == (low, high)  # seeded
    assert metrics.auc_interval([1, 2], [1, 1]) is None


def test_auc_interval_resamples_agree_with_roc_auc():
    # with one resample the interval is that resample's AUC: check it against roc_auc on the same draw
    import numpy as np

    scores, labels = [3, 2, 2, 1, 0, 2], [1, 0, 1, 0, 0, 1]
    low, high = metrics.auc_interval(scores, labels, resamples=1, seed=4)
    y = np.array(labels, dtype=bool)
    rng = np.random.default_rng(4)
    pos = np.flatnonzero(y)[rng.integers(0, 3, 3)]
    neg = np.flatnonzero(~y)[rng.integers(0, 3, 3)]
    idx = [*pos, *neg]
    assert low == pytest.approx(roc_auc([scores[i] for i in idx], [labels[i] for i in idx]))


def test_ranked_is_descending_and_stable():
    assert metrics.ranked([2, 5, 2, 7, 5]) == [3, 1, 4, 0, 2]


# --- quantiles (nearest rank: the ⌈q·n⌉-th smallest) ------------------------------------

def test_quantiles_nearest_rank_on_seven_values():
    values = [40, 10, 70, 30, 60, 20, 50]  # sorted: 10 20 30 40 50 60 70
    # p10: ⌈0.7⌉ = 1st → 10; p25: ⌈1.75⌉ = 2nd → 20; p50: ⌈3.5⌉ = 4th → 40;
    # p75: ⌈5.25⌉ = 6th → 60; p90: ⌈6.3⌉ = 7th → 70
    assert quantiles(values) == {"p10": 10, "p25": 20, "p50": 40, "p75": 60, "p90": 70}


def test_quantiles_nearest_rank_when_q_times_n_is_whole():
    values = list(range(10, 0, -1))  # 1..10
    # p10: ⌈1⌉ = 1st → 1; p25: ⌈2.5⌉ = 3rd → 3; p50: ⌈5⌉ = 5th → 5 (no averaging of 5 and 6);
    # p75: ⌈7.5⌉ = 8th → 8; p90: ⌈9⌉ = 9th → 9
    assert quantiles(values) == {"p10": 1, "p25": 3, "p50": 5, "p75": 8, "p90": 9}
    # 30 values 1..30: p10 = ⌈3⌉ = 3rd, p90 = ⌈27⌉ = 27th (0.1 × 30 is not exactly 3 in floats)
    assert quantiles(list(range(1, 31)), (0.1, 0.9)) == {"p10": 3, "p90": 27}


def test_quantiles_edges():
    assert quantiles([]) == {"p10": None, "p25": None, "p50": None, "p75": None, "p90": None}
    assert quantiles([4.5]) == {"p10": 4.5, "p25": 4.5, "p50": 4.5, "p75": 4.5, "p90": 4.5}
    # q = 0 is the smallest value, q = 1 the largest; every result is a value some lead has
    assert quantiles([3, 1, 2], (0.0, 1.0, 0.5)) == {"p0": 1, "p100": 3, "p50": 2}


# --- selection ----------------------------------------------------------------------------

def test_selection_volume_precision_recall():
    selected = [True, True, False, True, False, False]
    labels = [1, 0, 1, 1, 0, 0]
    # 3 selected of 6 (share ½); of them indexes 0 and 3 converted → precision 2/3;
    # 3 converters in all, 2 selected → recall 2/3
    assert selection(selected, labels) == pytest.approx(
        {"volume": 3, "share": 0.5, "converted": 2, "precision": 2 / 3, "recall": 2 / 3})


def test_selection_of_nothing_and_without_converters():
    s = selection([False, False, False], [1, 0, 0])
    assert s["volume"] == 0 and s["share"] == 0.0 and s["converted"] == 0
    assert s["precision"] is None and s["recall"] == 0.0
    s = selection([True, False], [0, 0])
    assert s["precision"] == 0.0 and s["recall"] is None
    assert selection([], []) == {"volume": 0, "share": 0.0, "converted": 0, "precision": None, "recall": None}


# --- by_group -----------------------------------------------------------------------------

def test_by_group_counts_and_default_order_by_name():
    groups = ["b", "a", "c", "a", "b", "a"]
    labels = [1, 0, 0, 1, 1, 0]
    # a: indexes 1, 3, 5 → 3 leads, 1 converted; b: 0, 4 → 2 of 2; c: 2 → 0 of 1
    assert by_group(groups, labels) == [
        {"group": "a", "leads": 3, "converted": 1, "conversion": pytest.approx(1 / 3)},
        {"group": "b", "leads": 2, "converted": 2, "conversion": 1.0},
        {"group": "c", "leads": 1, "converted": 0, "conversion": 0.0},
    ]


def test_by_group_follows_the_order_given_and_skips_absent_groups():
    groups = ["cold", "hot", "cold", "warm", "cold"]
    labels = [0, 1, 1, 0, 0]
    out = by_group(groups, labels, order=("hot", "missing", "warm", "cold"))
    assert [g["group"] for g in out] == ["hot", "warm", "cold"]
    assert [(g["leads"], g["converted"]) for g in out] == [(1, 1), (1, 0), (3, 1)]
    assert out[2]["conversion"] == pytest.approx(1 / 3)


# --- days_to_convert ----------------------------------------------------------------------

def _day(n: float) -> datetime:
    return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=n)


def test_days_to_convert_medians_overall_and_per_group():
    created = [_day(0), _day(0), _day(0), _day(4), None, _day(9), _day(0)]
    converted = [_day(2), _day(10), _day(1.5), None, _day(8), _day(7), _day(4)]
    groups = ["hot", "hot", "warm", "warm", "cold", "cold", "hot"]
    # lead 3 has no conversion date, lead 4 no creation date, lead 5 converted before it was
    # created: left out. Kept: hot 2, 10, 4 days; warm 1.5 days.
    # overall: 1.5, 2, 4, 10 → median (2 + 4) / 2 = 3; hot: 2, 4, 10 → 4; warm: 1.5; cold: none
    out = days_to_convert(created, converted, groups, ("hot", "warm", "cold"))
    assert out == {"leads": 4, "median_days": pytest.approx(3.0),
                   "by_group": [{"group": "hot", "leads": 3, "median_days": pytest.approx(4.0)},
                                {"group": "warm", "leads": 1, "median_days": pytest.approx(1.5)}]}


def test_days_to_convert_same_day_counts_zero_and_groups_follow_the_order():
    created = [_day(0), _day(1), _day(3)]
    converted = [_day(0), _day(4), _day(3.25)]
    out = days_to_convert(created, converted, ["b", "a", "b"], ("b", "a"))
    # b: 0 and 0.25 → median 0.125; a: 3; overall 0, 0.25, 3 → 0.25
    assert out["median_days"] == pytest.approx(0.25)
    assert [(g["group"], g["leads"], g["median_days"]) for g in out["by_group"]] == [
        ("b", 2, pytest.approx(0.125)), ("a", 1, pytest.approx(3.0))]


def test_days_to_convert_without_dates_is_none():
    assert days_to_convert([None, _day(0)], [_day(1), None], ["a", "a"], ("a",)) is None
    assert days_to_convert([], [], [], ("a",)) is None
