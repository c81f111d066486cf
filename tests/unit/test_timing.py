"""When time alone moves a stage (scoring_core.timing): exact to the second, against evaluation at every second."""

from __future__ import annotations

import copy
import math
import textwrap
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_core import Engine, LeadState, parse_model
from scoring_core.timing import stage_change_at

from tests.support.events import NOW, make_event

T0 = NOW.timestamp()
_GRADES_BANDS = """
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""


def engine_for(body: str) -> Engine:
    return Engine(parse_model('version: "test"\n' + textwrap.dedent(body) + _GRADES_BANDS))


def brute_force(engine: Engine, state: LeadState, start: int, limit: int) -> int | None:
    """The first second from `start` at which the stage would move, evaluating every second;
    None when it has not moved once every decaying reason is zero (the score is constant then)."""
    policy = engine.stage_policy
    for s in range(start, start + limit):
        score = engine.evaluate(state, s)
        stage, _ = policy.next_stage(state.stage, score, state.pinned, state.recycled, False)
        if stage != state.stage:
            return s
        if not any(r.kind == "engagement" and engine.rules[r.rule].decay.half_life_s for r in score.reasons):
            return None
    raise AssertionError("the score still decays at the end of the brute-force range")


rule_sets = st.lists(
    st.tuples(
        st.integers(-30, 40).filter(bool),  # points, negative ones too
        st.one_of(st.none(), st.sampled_from([0.0005, 0.001, 0.002, 0.004, 0.007])),  # half-life in days (43 s .. 10 min), or none
        st.one_of(st.none(), st.integers(5, 60)),  # cap
    ),
    min_size=1, max_size=4,
)


def model_from(rules, fit_points: int, mql: int, gap: int, hysteresis: int, min_fit: int | None) -> Engine:
    lines = ["engagement:"]
    for i, (points, half_life, cap) in enumerate(rules):
        lines.append(f"  - {{id: r{i}, on: e{i}, points: {points}"
                     + (f", half_life_days: {half_life}" if half_life else "")
                     + (f", cap: {cap}" if cap else "") + "}")
    lines.append("fit:")
    lines.append(f"  - {{id: title, when: {{job_title: boss}}, points: {fit_points}}}")
    floor = f", min_fit: {min_fit}" if min_fit is not None else ""
    lines.append(f"stages: {{mql: {{score: {mql}{floor}}}, sql: {{score: {mql + gap}}}, hysteresis: {hysteresis}}}")
    return engine_for("\n".join(lines) + "\n")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets, st.integers(0, 30), st.integers(20, 60), st.integers(5, 40), st.integers(0, 15),
       st.one_of(st.none(), st.integers(0, 30)),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1200)), min_size=1, max_size=12),
       st.integers(0, 600))
def test_crossing_time_is_the_first_second_evaluation_moves_the_stage(rules, fit_points, mql, gap, hysteresis, min_fit,
                                                                      events, later):
    # given: a lead with random events of random rules (negative points, caps, no decay), qualified where it can be
    engine = model_from(rules, fit_points, mql, gap, hysteresis if hysteresis < mql else 0, min_fit)
    state = LeadState()
    engine.apply(state, make_event("identify", at=NOW - timedelta(seconds=1300), traits={"job_title": "boss"}))
    for i, ago in events:
        engine.apply(state, make_event(f"e{i % len(rules)}", at=NOW - timedelta(seconds=ago)))
    engine.advance(state, T0, trusted=True)
    now = T0 + later + 0.25  # a fraction of a second: the answer is a whole second after it
    # when
    due = stage_change_at(engine, state, now)
    # then: exactly the first second at which evaluating the engine moves the stage
    assert due == brute_force(engine, state, int(now) + 1, 40_000)


def test_a_score_that_stays_above_the_exit_threshold_never_crosses():
    # given: fit alone keeps the lead an MQL (48 ≥ 50 − 5); its engagement decays to nothing
    engine = engine_for("""
        fit: [{id: title, when: {job_title: boss}, points: 48}]
        engagement: [{id: demo, on: demo, points: 20, half_life_days: 7}]
        stages: {mql: {score: 50}, sql: {score: 90}, hysteresis: 5}
    """)
    state = LeadState()
    engine.apply(state, make_event("demo", traits={"job_title": "boss"}))
    assert engine.advance(state, T0)[0].total == 68 and state.stage == "mql"
    # when / then
    assert stage_change_at(engine, state, T0) is None


def test_a_cooling_mql_crosses_when_its_score_falls_below_threshold_minus_hysteresis():
    # given: 60 points with a 1-day half-life; MQL at 50, left below 45.00 (in cents: under 44.995)
    engine = engine_for("""
        engagement: [{id: demo, on: demo, points: 60, half_life_days: 1}]
        stages: {mql: {score: 50}, sql: {score: 90}, hysteresis: 5}
    """)
    state = LeadState()
    engine.apply(state, make_event("demo"))
    engine.advance(state, T0)
    # when
    due = stage_change_at(engine, state, T0)
    # then: still an MQL a second before, a lead at that second
    assert due is not None and abs(due - T0 - 86_400 * math.log2(60 / 44.995)) < 1
    assert engine.advance(copy.deepcopy(state), due - 1)[1] is None
    assert engine.advance(copy.deepcopy(state), due)[1].to_stage == "lead"


def test_an_sql_steps_down_to_what_the_model_says_at_its_own_crossing():
    # given: an SQL (sql at 80, hysteresis 10) with 100 decaying points: it leaves sql below 70
    engine = engine_for("""
        engagement: [{id: demo, on: demo, points: 100, half_life_days: 1}]
        stages: {mql: {score: 50}, sql: {score: 80}, hysteresis: 10}
    """)
    state = LeadState()
    engine.apply(state, make_event("demo"))
    engine.advance(state, T0)
    assert state.stage == "sql"
    # when
    due = stage_change_at(engine, state, T0)
    # then: at that second the lead becomes an MQL (70 > its score ≥ 40), later a lead
    assert due is not None
    moved = copy.deepcopy(state)
    assert engine.advance(moved, due)[1].to_stage == "mql"
    then = stage_change_at(engine, moved, due)
    assert then is not None and then > due
    assert engine.advance(moved, then)[1].to_stage == "lead"


def test_a_lead_below_its_fit_floor_changes_at_once_and_one_above_it_only_by_score():
    # given: MQL needs fit 20 (kept down to 15 with hysteresis 5); the facts change, not time
    engine = engine_for("""
        fit: [{id: title, when: {job_title: boss}, points: 20}, {id: intern, when: {job_title: intern}, points: 5}]
        engagement: [{id: demo, on: demo, points: 50, half_life_days: 1}]
        stages: {mql: {score: 50, min_fit: 20}, sql: {score: 90}, hysteresis: 5}
    """)
    state = LeadState()
    engine.apply(state, make_event("demo", traits={"job_title": "boss"}))
    engine.advance(state, T0)
    assert state.stage == "mql"
    # when: fit holds, so only the decaying score moves it: 20 + 50·2^(−t/h) under 44.995
    due = stage_change_at(engine, state, T0)
    assert due is not None and abs(due - T0 - 86_400 * math.log2(50 / 24.995)) < 1
    # when: the title changes to one worth 5 fit points (below the floor of 15 kept with hysteresis)
    engine.apply(state, make_event("identify", at=NOW + timedelta(seconds=1), traits={"job_title": "intern"}))
    # then: the change is due at once
    assert stage_change_at(engine, state, T0 + 1) == int(T0) + 1


def test_a_pinned_stage_never_moves_with_time():
    engine = engine_for("""
        engagement: [{id: demo, on: demo, points: 60, half_life_days: 1}]
        stages: {mql: {score: 50}, sql: {score: 90}, hysteresis: 5}
    """)
    state = LeadState()
    engine.apply(state, make_event("demo"))
    state.pinned = "sql"
    engine.advance(state, T0)
    assert state.stage == "sql" and stage_change_at(engine, state, T0) is None


def test_score_below_at_is_the_first_second_the_total_is_below_the_value():
    from datetime import UTC, datetime

    from scoring_core import Engine, Event, LeadState
    from scoring_core.loader import parse_model
    from scoring_core.timing import score_below_at

    engine = Engine(parse_model(
        'version: "1"\nengagement:\n  - {id: demo, on: demo_requested, points: 80, half_life_days: 1}\n'
        '  - {id: bounce, on: email_bounced, points: -5}\n'
        'stages:\n  mql: {score: 50}\n  sql: {score: 90}\ngrades:\n  fit: {A: 40, B: 25, C: 10}\n'
        '  engagement: {"1": 40, "2": 20, "3": 8}\nbands: {hot: 70, warm: 35}\n'))
    state = LeadState()
    t0 = 1_780_000_000
    for i, type_ in enumerate(("demo_requested", "email_bounced")):
        at = datetime.fromtimestamp(t0 + i, UTC)
        engine.apply(state, Event(event_id=f"e{i}", type=type_, occurred_at=at, received_at=at, source="t", email="a@b.example"))

    s = score_below_at(engine, state, t0 + 1, 6000)

    assert s is not None and engine.evaluate(state, s).total < 60 <= engine.evaluate(state, s - 1).total
    assert score_below_at(engine, state, t0 + 1, -1000) is None  # never below: -5 does not decay
    assert score_below_at(engine, state, t0 + 1, 9000) == t0 + 1  # below at once
