"""The low-trust ceiling (docs/model.md, stages.low_trust_max): events anyone can send for anyone
(the pixel, a public write key) raise a lead no higher than `low_trust_max`; a trusted event, or a
stage already reached, is not held back."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from scoring_core import Engine, LeadState, ModelFileError, parse_model

from tests.support.events import NOW, make_event


def engine(low_trust_max: str | None = None) -> Engine:
    ceiling = f", low_trust_max: {low_trust_max}" if low_trust_max else ""
    return Engine(parse_model(textwrap.dedent(f"""
        version: "test"
        engagement:
          - id: nudge
            on: nudge
            points: 1
            points_per: {{field: delta, unit: 1}}
        stages: {{mql: {{score: 50}}, sql: {{score: 80}}, hysteresis: 10{ceiling}}}
        grades: {{fit: {{A: 40, B: 25, C: 10}}, engagement: {{"1": 40, "2": 20, "3": 8}}}}
        bands: {{hot: 70, warm: 35}}
    """)))


def step(e: Engine, state: LeadState, delta: float, hours: int, trusted: bool):
    at = NOW + timedelta(hours=hours)
    e.apply(state, make_event("nudge", at=at, properties={"delta": delta}))
    _, tr = e.advance(state, at, trusted)
    return (tr.from_stage, tr.to_stage) if tr else None


def test_by_default_low_trust_events_qualify_a_lead_for_marketing_but_not_for_sales():
    e, state = engine(), LeadState()

    assert step(e, state, 120, 0, trusted=False) == ("lead", "mql")
    assert step(e, state, 5, 1, trusted=False) is None
    assert state.stage == "mql"


def test_a_trusted_event_lifts_the_ceiling_even_when_it_adds_nothing():
    e, state = engine(), LeadState()
    step(e, state, 120, 0, trusted=False)

    assert step(e, state, 0, 1, trusted=True) == ("mql", "sql")


def test_low_trust_events_never_take_back_a_stage_already_reached():
    e, state = engine(), LeadState()
    step(e, state, 90, 0, trusted=True)

    assert state.stage == "sql"
    assert step(e, state, 5, 1, trusted=False) is None
    assert state.stage == "sql"


def test_the_score_still_takes_a_lead_down_whoever_sent_the_event():
    e, state = engine(), LeadState()
    step(e, state, 90, 0, trusted=True)

    assert step(e, state, -60, 1, trusted=False) == ("sql", "lead")


@pytest.mark.parametrize(("ceiling", "expected"), [("lead", None), ("mql", ("lead", "mql")), ("sql", ("lead", "sql"))])
def test_the_model_sets_the_ceiling(ceiling, expected):
    e, state = engine(ceiling), LeadState()

    assert step(e, state, 120, 0, trusted=False) == expected


def test_a_ceiling_that_is_not_a_ladder_stage_is_refused():
    with pytest.raises(ModelFileError, match="low_trust_max"):
        engine("customer")
