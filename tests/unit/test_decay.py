"""Time decay: exact halving per half-life, eras, rules without decay, caps, compaction.

Exactness is checked on the engine's internal value (the sum of `Decay.value`
over the state's accumulators), not on the score rounded to cents.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from scoring_core import Engine, LeadState, compact, epoch, parse_model

from tests.support.events import NOW, make_event

_TAIL = """
stages: {mql: {score: 50}, sql: {score: 80}}
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""

H = 7  # days: the half-life of `signal` below
DECAYING = Engine(parse_model('version: "test"\n' + textwrap.dedent(f"""
engagement:
  - id: signal
    on: ping
    points: 10
    half_life_days: {H}
  - id: forever
    on: bounce
    points: 10
  - id: views
    on: page_view
    points: 1
    half_life_days: 7
    cap: 10
  - id: unsubscribe
    on: unsubscribed
    points: -20
    half_life_days: 180
    cap: 30
""") + _TAIL))


def internal_value(engine: Engine, state: LeadState, at, rule: str | None = None) -> float:
    """The engine's unrounded value of the state's accumulators at `at` (before caps)."""
    t = epoch(at)
    return sum(
        engine.rules[rid].decay.value(era, units, t)
        for (rid, era), units in state.acc.items()
        if rule is None or rid == rule
    )


def state_with(engine: Engine, *events) -> LeadState:
    state = LeadState()
    for ev in events:
        engine.apply(state, ev)
    return state


def ping(at):
    return make_event("ping", at=at)


def test_value_at_the_event_time_is_the_full_points():
    state = state_with(DECAYING, ping(NOW))

    assert abs(internal_value(DECAYING, state, NOW) - 10.0) < 1e-9


def test_ten_points_halve_after_one_half_life():
    state = state_with(DECAYING, ping(NOW))

    # 10 × 2^−1 = 5
    assert abs(internal_value(DECAYING, state, NOW + timedelta(days=H)) - 5.0) < 1e-9


def test_ten_points_quarter_after_two_half_lives():
    state = state_with(DECAYING, ping(NOW))

    # 10 × 2^−2 = 2.5
    assert abs(internal_value(DECAYING, state, NOW + timedelta(days=2 * H)) - 2.5) < 1e-9


def test_score_after_one_half_life_is_half_the_points_in_cents():
    state = state_with(DECAYING, ping(NOW - timedelta(days=H)))

    score = DECAYING.evaluate(state, NOW)

    assert score.engagement_cents == 500  # 10 × 2^−1 = 5 points


@pytest.mark.parametrize("hours", [1, 30, 24 * 3.5, 24 * 100])
def test_value_follows_two_to_the_minus_age_over_half_life(hours):
    state = state_with(DECAYING, ping(NOW))

    got = internal_value(DECAYING, state, NOW + timedelta(hours=hours))

    assert abs(got - 10 * 2 ** (-hours / (24 * H))) < 1e-9


def test_events_forty_half_lives_apart_land_in_different_eras_and_both_stay_exact():
    first_at = NOW - timedelta(days=40 * H)
    state = state_with(DECAYING, ping(first_at), ping(NOW))
    eras = sorted(era for (rid, era) in state.acc if rid == "signal")
    later = NOW + timedelta(days=H)

    first_era, second_era = eras  # an era is 32 half-lives: 40 apart cannot share one
    first = DECAYING.rules["signal"].decay.value(first_era, state.acc[("signal", first_era)], epoch(later))
    second = DECAYING.rules["signal"].decay.value(second_era, state.acc[("signal", second_era)], epoch(later))

    # the old ping is 41 half-lives old: 10 × 2^−41; the new one 1 half-life: 10 × 2^−1
    assert abs(first - 10 * 2.0**-41) <= 1e-9 * 10 * 2.0**-41  # exact relative to its own size
    assert abs(second - 5.0) < 1e-9
    assert abs(internal_value(DECAYING, state, later) - (5.0 + 10 * 2.0**-41)) < 1e-9


def test_many_events_across_several_eras_sum_to_the_decayed_total():
    # one ping every 5 half-lives for 100 half-lives: 21 pings spread over 4 eras or more
    times = [NOW - timedelta(days=5 * H * k) for k in range(21)]
    state = state_with(DECAYING, *(ping(t) for t in reversed(times)))

    got = internal_value(DECAYING, state, NOW)

    # Σ 10 × 2^−5k for k = 0..20
    assert len({era for (_, era) in state.acc}) >= 4
    assert abs(got - sum(10 * 2.0 ** (-5 * k) for k in range(21))) < 1e-9


def test_rule_without_half_life_keeps_its_full_value():
    state = state_with(DECAYING, make_event("bounce", ago_days=1000))

    assert internal_value(DECAYING, state, NOW) == 10.0
    assert DECAYING.evaluate(state, NOW).engagement_cents == 1000


def test_cap_limits_fifty_page_views():
    state = state_with(DECAYING, *(make_event("page_view", properties={"url": f"/docs/{i}"}) for i in range(50)))

    score = DECAYING.evaluate(state, NOW)

    # 50 × 1 point = 50, capped at 10
    assert abs(internal_value(DECAYING, state, NOW, "views") - 50.0) < 1e-9
    assert {r.rule: r.cents for r in score.reasons} == {"views": 1000}


def test_cap_applies_after_decay():
    state = state_with(DECAYING, *(make_event("page_view", ago_days=21) for _ in range(50)))

    score = DECAYING.evaluate(state, NOW)

    # 3 half-lives: 50 × 2^−3 = 6.25 < cap 10, so the cap no longer binds
    assert {r.rule: r.cents for r in score.reasons} == {"views": 625}


def test_cap_still_binds_while_the_decayed_sum_is_above_it():
    state = state_with(DECAYING, *(make_event("page_view", ago_days=14) for _ in range(50)))

    score = DECAYING.evaluate(state, NOW)

    # 2 half-lives: 50 × 2^−2 = 12.5 > cap 10
    assert score.engagement_cents == 1000


def test_negative_rule_cap_bounds_it_from_below():
    state = state_with(DECAYING, make_event("unsubscribed"), make_event("unsubscribed"))

    score = DECAYING.evaluate(state, NOW)

    # 2 × −20 = −40, bounded at −cap = −30
    assert {r.rule: r.cents for r in score.reasons} == {"unsubscribe": -3000}


def test_default_model_fifty_page_views_do_not_make_an_mql(engine):
    state = state_with(engine, *(make_event("page_view", email=None, anonymous_id="a1", properties={"url": f"/blog/{i}"}) for i in range(50)))

    score, transition = engine.advance(state, NOW)

    # page_view cap 10 < mql 50
    assert score.engagement_cents == 1000 and transition is None


def test_default_model_careers_cap_bounds_from_below(engine):
    views = [make_event("page_view", email=None, anonymous_id="a1", properties={"url": "/careers"}) for _ in range(3)]
    state = state_with(engine, *views)

    score = engine.evaluate(state, NOW)

    # careers −10 × 3 = −30, bounded at −20; page_view +3 (cap 10 not reached)
    assert {r.rule: r.cents for r in score.reasons} == {"careers_page": -2000, "page_view": 300}


def test_compact_drops_eras_decayed_below_resolution_and_keeps_the_score():
    old = ping(NOW - timedelta(days=100 * H))  # 10 × 2^−100 points: far below 1e-12
    recent = ping(NOW - timedelta(days=H))
    state = state_with(DECAYING, old, recent)
    old_era = int(epoch(old.occurred_at) // DECAYING.rules["signal"].decay.era_s)
    before_score = DECAYING.evaluate(state, NOW)
    before_value = internal_value(DECAYING, state, NOW)

    compact(DECAYING, state, NOW)

    assert ("signal", old_era) not in state.acc
    assert len(state.acc) == 1
    assert DECAYING.evaluate(state, NOW) == before_score
    assert abs(internal_value(DECAYING, state, NOW) - before_value) < 1e-12
    assert before_score.engagement_cents == 500  # the recent ping: 10 × 2^−1


def test_compact_keeps_recent_eras_and_rules_without_decay():
    state = state_with(DECAYING, ping(NOW - timedelta(days=H)), make_event("bounce", ago_days=5000))
    before = dict(state.acc)

    compact(DECAYING, state, NOW)

    assert state.acc == before


def test_compact_drops_rules_the_model_no_longer_has():
    state = state_with(DECAYING, ping(NOW), make_event("bounce"))
    without_forever = Engine(parse_model('version: "test"\nengagement:\n  - {id: signal, on: ping, points: 10, half_life_days: 7}\n' + _TAIL))

    compact(without_forever, state, NOW)

    assert [rid for rid, _ in state.acc] == ["signal"]
    assert without_forever.evaluate(state, NOW).engagement_cents == 1000


def test_event_stamped_a_half_life_ahead_is_worth_double_until_then():
    # documented in docs/event-schema.md: the engine does not skip future events
    state = state_with(DECAYING, ping(NOW + timedelta(days=H)))

    # 10 × 2^(+1) = 20 now; 10 when its time comes
    assert abs(internal_value(DECAYING, state, NOW) - 20.0) < 1e-9
    assert abs(internal_value(DECAYING, state, NOW + timedelta(days=H)) - 10.0) < 1e-9


def test_event_stamped_decades_ahead_does_not_break_scoring():
    # a client clock in the wrong century must not make the lead unscoreable
    state = state_with(DECAYING, ping(NOW.replace(year=2100)), ping(NOW))

    score = DECAYING.evaluate(state, NOW)

    assert score.engagement_cents >= 1000  # at least the present ping's 10 points


def test_engine_increments_equal_the_documented_decay_formula():
    # the engine inlines Decay.increment on its hot path; both must agree to the unit
    from scoring_core.decay import Decay

    events = [ping(NOW - timedelta(days=d, hours=h)) for d in (0, 3, 250, 900) for h in (0, 5)]
    decay = Decay(H * 86400.0)

    for ev in events:
        fx = DECAYING.effects(ev)
        era, units = decay.increment(ev.occurred_ts, 10)
        assert fx.increments == {("signal", era): units}
