"""Stages: disqualifiers, hysteresis, SQL min_fit, grades and bands, sales feedback, transition ids."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta

import pytest
from scoring_core import Consent, Engine, EventContext, LeadState, apply_feedback, parse_model, transition_id

from tests.support.events import NOW, make_event

_GRADES_BANDS = """
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""

# `nudge` events move the score by exactly `delta` points: 1 point × delta / 1, no decay, no cap.
NUDGE_RULE = """
  - id: nudge
    on: nudge
    points: 1
    points_per: {field: delta, unit: 1}
"""


def engine_for(body: str, *, extra: str = _GRADES_BANDS) -> Engine:
    return Engine(parse_model('version: "test"\n' + textwrap.dedent(body) + extra))


HYSTERESIS = engine_for(
    "engagement:" + NUDGE_RULE + "stages: {mql: {score: 50}, sql: {score: 80}, hysteresis: 10}\n"
)


def nudge(delta: float, at):
    return make_event("nudge", at=at, properties={"delta": delta})


def walk(engine: Engine, deltas, state: LeadState | None = None, start=NOW):
    """Apply one nudge per step, advancing after each, an hour apart; (totals, transitions)."""
    state = state if state is not None else LeadState()
    totals, transitions = [], []
    for i, delta in enumerate(deltas):
        at = start + timedelta(hours=i)
        engine.apply(state, nudge(delta, at))
        score, tr = engine.advance(state, at)
        totals.append(score.total)
        if tr is not None:
            transitions.append((tr.from_stage, tr.to_stage))
    return totals, transitions


# -- disqualifiers (default model) --------------------------------------------


def advance_default(engine, *events):
    state = LeadState()
    for ev in events:
        engine.apply(state, ev)
    score, tr = engine.advance(state, NOW)
    return state, score, tr


def test_competitor_email_domain_disqualifies(engine):
    state, score, tr = advance_default(engine, make_event("page_view", email="bob@HubSpot.com"))

    assert state.stage == "disqualified"
    assert score.disqualified_by == ("competitor_domain",)
    assert (tr.from_stage, tr.to_stage) == ("lead", "disqualified")


def test_student_job_title_disqualifies(engine):
    state, score, _ = advance_default(engine, make_event("identify", traits={"job_title": "PhD Student"}))

    assert state.stage == "disqualified"
    assert score.disqualified_by == ("student",)


def test_opt_out_event_disqualifies(engine):
    state, score, _ = advance_default(engine, make_event("opt_out"))

    assert state.stage == "disqualified"
    assert score.disqualified_by == ("explicit_opt_out",)


def test_any_event_carrying_an_explicit_opt_out_disqualifies(engine):
    opted_out = EventContext(consent=Consent(opted_out=True))

    state, score, _ = advance_default(engine, make_event("page_view", context=opted_out))

    assert state.stage == "disqualified"
    assert score.disqualified_by == ("consent_opt_out",)


def test_do_not_track_alone_does_not_disqualify(engine):
    dnt = EventContext(consent=Consent(do_not_track=True, global_privacy_control=True))

    state, score, _ = advance_default(engine, make_event("page_view", context=dnt))

    assert state.stage == "lead" and score.disqualified_by == ()


def test_opt_out_keeps_a_hot_lead_disqualified(engine):
    hot = [
        make_event("identify", traits={"job_title": "CEO", "company_size": 200, "industry": "software", "country": "US"}),
        make_event("demo_requested"),
        make_event("page_view", properties={"url": "/pricing"}),
    ]

    state, score, _ = advance_default(engine, *hot, make_event("opt_out", ago_days=3))

    # fit 20 + 12 + 10 + 5 + 5 = 52, engagement 25 + 10 + 1 = 36: 88 would be an SQL
    assert score.total_cents == 8800
    assert state.stage == "disqualified" and score.disqualified_by == ("explicit_opt_out",)


def test_two_disqualifiers_are_both_named(engine):
    _, score, _ = advance_default(engine, make_event("identify", email="kid@salesforce.com", traits={"job_title": "Student"}))

    assert score.disqualified_by == ("competitor_domain", "student")


# -- hysteresis -----------------------------------------------------------------


def test_oscillating_score_qualifies_once_until_it_falls_below_threshold_minus_hysteresis():
    deltas = [52, -4, 3, -6, 10, -16, 13]

    totals, transitions = walk(HYSTERESIS, deltas)

    # running sums of the deltas; mql at 50, kept down to 50 − 10 = 40
    assert totals == [52, 48, 51, 45, 55, 39, 52]
    assert transitions == [("lead", "mql"), ("mql", "lead"), ("lead", "mql")]


def test_score_exactly_at_threshold_minus_hysteresis_keeps_the_stage():
    totals, transitions = walk(HYSTERESIS, [50, -10, -0.01])

    # 50 → mql; 40 = 50 − 10 is kept; 39.99 drops
    assert totals == [50, 40, 39.99]
    assert transitions == [("lead", "mql"), ("mql", "lead")]


def test_score_just_below_threshold_does_not_qualify():
    _, transitions = walk(HYSTERESIS, [49.99])

    assert transitions == []


def test_score_jumping_past_sql_moves_lead_to_sql_in_one_transition():
    totals, transitions = walk(HYSTERESIS, [85, -10, -6])

    # 85 ≥ 80 → sql; 75 ≥ 70 kept; 69 < 70 → mql (69 ≥ 40 keeps mql)
    assert totals == [85, 75, 69]
    assert transitions == [("lead", "sql"), ("sql", "mql")]


def test_sql_falls_straight_to_lead_when_below_both_thresholds():
    _, transitions = walk(HYSTERESIS, [85, -50])

    # 35 < 70 and 35 < 40
    assert transitions == [("lead", "sql"), ("sql", "lead")]


def test_decay_crossing_back_below_the_band_drops_the_stage_once():
    decaying = engine_for("""
    engagement:
      - {id: demo, on: demo_requested, points: 60, half_life_days: 10}
    stages: {mql: {score: 50}, sql: {score: 80}, hysteresis: 10}
    """)
    state = LeadState()
    decaying.apply(state, make_event("demo_requested"))
    stages = []
    for day in range(0, 40, 2):
        decaying.advance(state, NOW + timedelta(days=day))
        stages.append(state.stage)

    # 60 × 2^(−d/10) ≥ 40 while d ≤ 10 × log2(1.5) ≈ 5.85 days: days 0, 2, 4 mql, then lead
    assert stages == ["mql"] * 3 + ["lead"] * 17
    assert state.transitions == 2


# -- SQL min_fit ------------------------------------------------------------------

MIN_FIT = engine_for(
    "fit:\n"
    "  - {id: big_company, when: {company_size: {gte: 100}}, points: 30}\n"
    "  - {id: small_company, when: {company_size: {lt: 100}}, points: 10}\n"
    "engagement:"
    + NUDGE_RULE
    + "stages: {mql: {score: 50}, sql: {score: 80, min_fit: 25}, hysteresis: 10}\n"
)


def lead_with(size: int, engagement: float) -> tuple[LeadState, str | None]:
    state = LeadState()
    MIN_FIT.apply(state, make_event("identify", traits={"company_size": size}, ago_days=1))
    MIN_FIT.apply(state, nudge(engagement, NOW))
    _, tr = MIN_FIT.advance(state, NOW)
    return state, tr


def test_high_score_with_low_fit_stops_at_mql():
    state, _ = lead_with(size=20, engagement=80)

    # fit 10 < min_fit 25, though 10 + 80 = 90 ≥ 80
    assert state.stage == "mql"


def test_high_score_with_enough_fit_is_an_sql():
    state, _ = lead_with(size=500, engagement=60)

    # fit 30 ≥ 25 and 30 + 60 = 90 ≥ 80
    assert state.stage == "sql"


def test_sql_demotes_when_fit_drops_below_min_fit_minus_hysteresis():
    state, _ = lead_with(size=500, engagement=60)
    MIN_FIT.apply(state, make_event("identify", traits={"company_size": 20}, at=NOW + timedelta(hours=1)))

    score, tr = MIN_FIT.advance(state, NOW + timedelta(hours=1))

    # fit now 10 < 25 − 10 = 15; the total 70 still keeps mql
    assert score.fit_cents == 1000 and score.total_cents == 7000
    assert (tr.from_stage, tr.to_stage) == ("sql", "mql")


# -- grades and bands --------------------------------------------------------------

_FIT_LEVELS = [40, 39.99, 25, 24.99, 10, 9.99, 0]
GRADES = engine_for(
    "fit:\n"
    + "".join(f"  - {{id: fit_{i}, when: {{tier: '{p}'}}, points: {p}}}\n" for i, p in enumerate(_FIT_LEVELS) if p)
    + "engagement:"
    + NUDGE_RULE
    + "stages: {mql: {score: 500}, sql: {score: 800}}\n"
)


def graded(fit: float, engagement: float):
    state = LeadState()
    GRADES.apply(state, make_event("identify", traits={"tier": str(fit)}))
    if engagement:
        GRADES.apply(state, nudge(engagement, NOW))
    return GRADES.evaluate(state, NOW)


@pytest.mark.parametrize(
    ("fit", "engagement", "grade"),
    [
        (40, 40, "A1"),  # each exactly at its A / 1 edge
        (39.99, 39.99, "B2"),
        (25, 20, "B2"),
        (24.99, 19.99, "C3"),
        (10, 8, "C3"),
        (9.99, 7.99, "D4"),
        (0, 0, "D4"),
        (40, -5, "A4"),
    ],
)
def test_grade_letter_from_fit_and_digit_from_engagement_at_threshold_edges(fit, engagement, grade):
    score = graded(fit, engagement)

    assert (score.fit, score.engagement) == (fit, engagement)
    assert score.grade == grade


@pytest.mark.parametrize(
    ("total", "band"),
    [(70, "hot"), (69.99, "warm"), (35, "warm"), (34.99, "cold"), (0, "cold"), (-10, "cold")],
)
def test_band_from_total_at_threshold_edges(total, band):
    assert graded(0, total).band == band


def test_band_counts_fit_and_engagement_together():
    # 40 fit + 30 engagement = 70: hot, though neither alone is
    assert graded(40, 30).band == "hot"


# -- sales feedback -------------------------------------------------------------------

FEEDBACK = HYSTERESIS


def lead_at(total: float) -> LeadState:
    state = LeadState()
    walk(FEEDBACK, [total], state)
    return state


def advance_after(state: LeadState, hours: int = 2):
    return FEEDBACK.advance(state, NOW + timedelta(hours=hours))


def test_accepted_makes_an_sql_whatever_the_score():
    state = lead_at(10)
    apply_feedback(state, "accepted")

    _, tr = advance_after(state)

    assert (tr.from_stage, tr.to_stage) == ("lead", "sql")


def test_accepted_lead_stays_sql_when_its_score_drops():
    state = lead_at(90)
    apply_feedback(state, "accepted")
    advance_after(state)

    walk(FEEDBACK, [-90], state, start=NOW + timedelta(hours=3))

    assert state.stage == "sql"


def test_won_makes_a_customer():
    state = lead_at(60)
    apply_feedback(state, "won")

    _, tr = advance_after(state)

    assert (tr.from_stage, tr.to_stage) == ("mql", "customer")


def test_rejected_disqualifies_even_a_hot_lead():
    state = lead_at(95)
    apply_feedback(state, "rejected")

    _, tr = advance_after(state)

    assert (tr.from_stage, tr.to_stage) == ("sql", "disqualified")


def test_lost_returns_to_lead_and_requalifies_only_after_dipping_below_mql_minus_hysteresis():
    state = lead_at(90)  # an sql
    apply_feedback(state, "accepted")
    advance_after(state)
    apply_feedback(state, "lost")

    _, back = advance_after(state, hours=3)
    totals, transitions = walk(FEEDBACK, [0, -45, 10, -16, 16], state, start=NOW + timedelta(hours=4))

    assert (back.from_stage, back.to_stage) == ("sql", "lead")
    # 90 and 45 stay above 40: no alert; 55 still recycled; 39 < 40 ends the recycling; 55 re-qualifies
    assert totals == [90, 45, 55, 39, 55]
    assert transitions == [("lead", "mql")]
    assert state.stage == "mql"


def test_lost_lead_with_a_high_score_is_not_alerted_again_at_once():
    state = lead_at(90)
    apply_feedback(state, "lost")

    _, first = advance_after(state)
    _, second = advance_after(state, hours=3)

    assert (first.from_stage, first.to_stage) == ("sql", "lead")
    assert second is None and state.stage == "lead"


# -- stages.sql_by: how SQL is reached -------------------------------------------------


def sql_by(value: str) -> Engine:
    return engine_for("engagement:" + NUDGE_RULE +
                      f"stages: {{mql: {{score: 50}}, sql: {{score: 80}}, hysteresis: 10, sql_by: {value}}}\n")


SQL_BY = {value: sql_by(value) for value in ("score", "acceptance", "either")}


def test_sql_by_defaults_to_either():
    assert FEEDBACK.model.stages.sql_by == "either" and FEEDBACK.stage_policy.sql_by == "either"


@pytest.mark.parametrize("value, by_score", [("either", "sql"), ("score", "sql"), ("acceptance", "mql")])
def test_a_high_score_makes_an_sql_unless_only_acceptance_may(value, by_score):
    engine = SQL_BY[value]

    _, transitions = walk(engine, [30, 30, 30])  # 30, 60, 90

    assert transitions[-1][1] == by_score
    assert transitions[0] == ("lead", "mql")


@pytest.mark.parametrize("value, accepted", [("either", "sql"), ("acceptance", "sql"), ("score", "mql")])
def test_acceptance_makes_an_sql_unless_only_the_score_may(value, accepted):
    engine, state = SQL_BY[value], LeadState()
    walk(engine, [60], state)  # an MQL
    apply_feedback(state, "accepted", sql_by=engine.stage_policy.sql_by)

    engine.advance(state, NOW + timedelta(hours=2))

    assert state.stage == accepted
    assert state.pinned == (None if value == "score" else "sql")


def test_with_sql_by_acceptance_an_accepted_lead_stays_sql_and_a_lost_one_climbs_to_mql_only():
    engine, state = SQL_BY["acceptance"], LeadState()
    walk(engine, [95], state)
    assert state.stage == "mql"  # 95 points: still only marketing's
    apply_feedback(state, "accepted", sql_by="acceptance")
    engine.advance(state, NOW + timedelta(hours=2))
    assert state.stage == "sql"

    apply_feedback(state, "lost", sql_by="acceptance")
    engine.advance(state, NOW + timedelta(hours=3))
    _, transitions = walk(engine, [-60, 60], state, start=NOW + timedelta(hours=4))  # 35 ends the recycling, 95 again

    assert transitions == [("lead", "mql")]


def test_with_sql_by_score_accepting_releases_an_earlier_rejection_to_the_score():
    engine, state = SQL_BY["score"], LeadState()
    walk(engine, [90], state)
    apply_feedback(state, "rejected", sql_by="score")
    engine.advance(state, NOW + timedelta(hours=2))
    assert state.stage == "disqualified"

    apply_feedback(state, "accepted", sql_by="score")
    _, tr = engine.advance(state, NOW + timedelta(hours=3))

    assert (tr.from_stage, tr.to_stage) == ("disqualified", "sql")  # the score's stage again


def test_with_sql_by_acceptance_an_sql_reached_before_keeps_its_stage_while_the_score_does():
    """Changing the model to `acceptance` holds leads back from rising; it demotes nobody by itself."""
    state = LeadState()
    walk(SQL_BY["either"], [90], state)
    assert state.stage == "sql"

    totals, transitions = walk(SQL_BY["acceptance"], [0, -15, -10], state, start=NOW + timedelta(hours=1))

    assert totals == [90, 75, 65] and transitions == [("sql", "mql")]


def test_an_unknown_sql_by_is_a_model_error_naming_the_line():
    from scoring_core import ModelFileError

    with pytest.raises(ModelFileError) as raised:
        sql_by("marketing")

    (error,) = raised.value.errors
    assert error.line == 7 and "stages.sql_by" in error.message, str(error)


def test_unknown_feedback_outcome_is_rejected():
    with pytest.raises(ValueError):
        apply_feedback(LeadState(), "maybe")  # type: ignore[arg-type]


# -- transition ids -----------------------------------------------------------------


def test_transition_id_is_the_function_of_lead_sequence_and_stages():
    state = LeadState()
    HYSTERESIS.apply(state, nudge(60, NOW))

    _, tr = HYSTERESIS.advance(state, NOW)

    assert tr.seq == 0
    assert tr.transition_id("lead-1") == transition_id("lead-1", 0, "lead", "mql")
    assert re.fullmatch(r"[0-9a-f]{32}", tr.transition_id("lead-1"))


def test_replaying_the_same_history_gives_the_same_transition_ids():
    def ids():
        state = LeadState()
        out = []
        for i, delta in enumerate([52, -13, 13]):
            at = NOW + timedelta(hours=i)
            HYSTERESIS.apply(state, nudge(delta, at))
            _, tr = HYSTERESIS.advance(state, at)
            if tr:
                out.append(tr.transition_id("lead-1"))
        return out

    first, second = ids(), ids()

    assert first == second
    assert len(first) == 3 and len(set(first)) == 3  # lead→mql twice, but seq 0 and 2 differ


@pytest.mark.parametrize(
    "other",
    [("lead-2", 0, "lead", "mql"), ("lead-1", 1, "lead", "mql"), ("lead-1", 0, "lead", "sql"), ("lead-1", 0, "mql", "mql")],
)
def test_transition_id_differs_when_any_part_differs(other):
    assert transition_id("lead-1", 0, "lead", "mql") != transition_id(*other)
