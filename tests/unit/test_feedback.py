"""Sales' feedback (leadscore.feedback) on the in-memory leads table: stages moved through the engine,
one recorded transition with the feedback in its detail, idempotent on the feedback id, merges followed.

The same path on DynamoDB (moto), through the stream publisher to the notifiers: tests/integration/test_feedback.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from scoring_core import Engine, Event, parse_model

from leadscore import settings
from leadscore.adapters.leads import OUTBOX, InMemoryLeadStore, unpack_detail
from leadscore.contracts import LeadStageChanged
from leadscore.dependencies import Dependencies
from leadscore.edge import Conflict, NotFound
from leadscore.feedback import FeedbackIn, give_feedback
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.worker import Worker

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ANN = email_key("ann@acme.example", LOCAL_KEY_SECRET)
ENGINE_YAML = (Path(__file__).resolve().parents[2] / "layers/scoring_core/scoring_core/models/default.yaml").read_text()


def ev(i: int, type_: str, *, email: str | None = "ann@acme.example", anon: str | None = None, minutes_ago: float = 0,
       **fields) -> Event:
    at = NOW - timedelta(minutes=minutes_ago)
    return Event(event_id=f"e-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=email,
                 anonymous_id=anon, **fields)


MQL_EVENTS = [
    ev(1, "identify", minutes_ago=60, traits={"job_title": "Marketing Manager", "company_size": 200}),
    ev(2, "page_view", minutes_ago=50, properties={"url": "https://example.com/pricing"}),
    ev(3, "page_view", minutes_ago=40, properties={"url": "https://example.com/pricing/2"}),
    ev(4, "demo_requested", minutes_ago=30),
]


@pytest.fixture
def store() -> InMemoryLeadStore:
    return InMemoryLeadStore()


def deps_for(store: InMemoryLeadStore, engine: Engine, at: datetime = NOW) -> Dependencies:
    return Dependencies(settings.settings(), clock=lambda: at.timestamp(), leads_store=store, engine=engine)


@pytest.fixture
def deps(store, engine) -> Dependencies:
    return deps_for(store, engine)


def qualify(store: InMemoryLeadStore, engine: Engine, events=MQL_EVENTS) -> None:
    Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None).process([(e.event_id, e) for e in events],
                                                                             NOW.timestamp())


def test_accepting_an_mql_makes_it_an_sql_with_one_transition_that_says_who_and_why(store, deps, engine):
    qualify(store, engine)
    assert store.items[ANN]["stage"] == "mql"
    writes = store.writes

    result = give_feedback(deps, ANN, FeedbackIn(outcome="accepted", reason="  budget confirmed ", by="Sam Seller",
                                                 feedback_id="crm-1"), source="api")

    assert result.as_json() == {"lead_id": ANN, "feedback_id": "crm-1", "outcome": "accepted", "stage": "sql",
                                "previous_stage": "mql", "changed": True, "duplicate": False}
    item = store.items[ANN]
    assert store.writes == writes + 1  # one write: pin, history and the transition together
    assert (item["stage"], item["pinned"], item["tr"], item["qstage"]) == ("sql", "sql", 2, "sql")
    detail = LeadStageChanged.model_validate(unpack_detail(item[OUTBOX]))  # the notifiers' own contract
    assert (detail.from_stage, detail.to_stage, detail.sequence) == ("mql", "sql", 2)
    assert detail.feedback is not None
    assert (detail.feedback.outcome, detail.feedback.by, detail.feedback.reason, detail.feedback.source) == (
        "accepted", "Sam Seller", "budget confirmed", "api")
    (entry,) = item["fb"]
    assert entry["id"] == "crm-1" and entry["from"] == "mql" and entry["stage"] == "sql" and entry["by"] == "Sam Seller"


def test_a_score_made_transition_has_no_feedback_in_its_detail(store, engine):
    qualify(store, engine)

    assert "feedback" not in unpack_detail(store.items[ANN][OUTBOX])


def test_the_same_feedback_id_again_does_nothing_and_answers_the_first_result(store, deps, engine):
    qualify(store, engine)
    first = give_feedback(deps, ANN, FeedbackIn(outcome="accepted", feedback_id="slack-42"), source="slack")
    before, writes = dict(store.items[ANN]), store.writes

    again = give_feedback(deps, ANN, FeedbackIn(outcome="accepted", feedback_id="slack-42"), source="slack")

    assert again.duplicate and not first.duplicate
    assert (again.stage, again.previous_stage, again.changed) == ("sql", "mql", True)
    assert store.writes == writes and store.items[ANN] == before


def test_a_feedback_id_reused_for_another_outcome_is_a_conflict(store, deps, engine):
    qualify(store, engine)
    give_feedback(deps, ANN, FeedbackIn(outcome="accepted", feedback_id="k1"), source="api")
    before = dict(store.items[ANN])

    with pytest.raises(Conflict) as raised:
        give_feedback(deps, ANN, FeedbackIn(outcome="rejected", feedback_id="k1"), source="api")

    assert raised.value.status == 409
    assert store.items[ANN] == before


def test_feedback_on_a_visitor_id_lands_on_the_lead_it_was_merged_into(store, deps, engine):
    browsing = ev(0, "page_view", email=None, anon="visitor-7", minutes_ago=90, properties={"url": "https://example.com/"})
    qualify(store, engine, [browsing, *(e.model_copy(update={"anonymous_id": "visitor-7"}) for e in MQL_EVENTS)])
    assert store.items["v:visitor-7"]["merged_into"] == ANN

    result = give_feedback(deps, "v:visitor-7", FeedbackIn(outcome="won"), source="email")

    assert (result.lead_id, result.stage) == (ANN, "customer")
    assert store.items[ANN]["pinned"] == "customer"
    assert "fb" not in store.items["v:visitor-7"]


def test_an_unknown_lead_is_not_found(deps):
    with pytest.raises(NotFound):
        give_feedback(deps, "e:nobody", FeedbackIn(outcome="accepted"), source="api")
    with pytest.raises(NotFound):
        give_feedback(deps, "v:" + "x" * 400, FeedbackIn(outcome="accepted"), source="api")


def test_feedback_that_moves_no_stage_is_still_recorded_and_publishes_nothing(store, deps, engine):
    qualify(store, engine)
    give_feedback(deps, ANN, FeedbackIn(outcome="accepted"), source="api")
    outbox, transitions = store.items[ANN][OUTBOX], store.items[ANN]["tr"]

    result = give_feedback(deps, ANN, FeedbackIn(outcome="accepted", reason="second look"), source="slack")

    assert (result.stage, result.changed, result.duplicate) == ("sql", False, False)
    item = store.items[ANN]
    assert item[OUTBOX] == outbox and item["tr"] == transitions  # no new transition for the stream
    assert [e["reason"] for e in item["fb"] if "reason" in e] == ["second look"] and len(item["fb"]) == 2


def test_a_lost_deal_goes_back_to_lead_recycled_and_does_not_requalify_at_once(store, deps, engine):
    qualify(store, engine)
    give_feedback(deps, ANN, FeedbackIn(outcome="accepted"), source="api")

    result = give_feedback(deps, ANN, FeedbackIn(outcome="lost", reason="went with a competitor"), source="api")

    assert (result.previous_stage, result.stage) == ("sql", "lead")
    item = store.items[ANN]
    assert item["recycled"] is True and "pinned" not in item and "qstage" not in item
    # more activity while the score is still high: the worker keeps it a lead (no alert again)
    qualify(store, engine, [ev(20, "page_view", properties={"url": "https://example.com/pricing/3"})])
    assert store.items[ANN]["stage"] == "lead"


def test_a_rejected_lead_is_disqualified_and_the_worker_keeps_it_so(store, deps, engine):
    qualify(store, engine)

    assert give_feedback(deps, ANN, FeedbackIn(outcome="rejected"), source="api").stage == "disqualified"
    qualify(store, engine, [ev(30 + i, "demo_requested") for i in range(3)])

    assert store.items[ANN]["stage"] == "disqualified"


class RacingStore(InMemoryLeadStore):
    """Records another stage change (the worker's) just before the first feedback write lands."""

    def __init__(self, race):
        super().__init__()
        self.race, self.attempts = race, 0

    def record_feedback(self, key, *args, **kwargs):
        self.attempts += 1
        if self.attempts == 1:
            self.race(self, key)
        return super().record_feedback(key, *args, **kwargs)


def test_a_lost_race_with_the_worker_is_tried_again_from_the_lead_as_it_is_now(engine):
    def worker_records_a_change(store, key):
        store.items[key]["tr"] += 1  # as record_transition would (the counter is the guard)
        store.items[key]["stage"] = "sql"
    store = RacingStore(worker_records_a_change)
    qualify(store, engine)

    result = give_feedback(deps_for(store, engine), ANN, FeedbackIn(outcome="rejected"), source="api")

    assert store.attempts == 2
    assert (result.previous_stage, result.stage) == ("sql", "disqualified")
    assert store.items[ANN]["tr"] == 3 and len(store.items[ANN]["fb"]) == 1


def test_a_concurrent_copy_of_the_same_feedback_is_answered_as_a_duplicate(engine):
    def the_same_feedback_lands_first(store, key):
        give_feedback(deps_for(store, engine), key, FeedbackIn(outcome="accepted", feedback_id="dup"), source="slack")
    store = RacingStore(the_same_feedback_lands_first)
    qualify(store, engine)

    result = give_feedback(deps_for(store, engine), ANN, FeedbackIn(outcome="accepted", feedback_id="dup"), source="slack")

    assert result.duplicate and result.stage == "sql"
    assert len(store.items[ANN]["fb"]) == 1 and store.items[ANN]["tr"] == 2


def test_the_feedback_history_keeps_the_latest_twenty(store, deps, engine):
    qualify(store, engine)
    for i in range(25):
        give_feedback(deps, ANN, FeedbackIn(outcome="accepted", feedback_id=f"f{i}"), source="api")

    history = store.items[ANN]["fb"]
    assert [e["id"] for e in history] == [f"f{i}" for i in range(5, 25)]
    assert store.items[ANN]["fbn"] == 25


def test_sql_by_score_records_acceptance_but_the_score_keeps_the_stage(store, engine):
    text = ENGINE_YAML.replace("sql_by: either", "sql_by: score")
    assert text != ENGINE_YAML
    scored = Engine(parse_model(text))
    qualify(store, scored)

    result = give_feedback(deps_for(store, scored), ANN, FeedbackIn(outcome="accepted"), source="api")

    assert (result.stage, result.changed) == ("mql", False)
    assert "pinned" not in store.items[ANN] and store.items[ANN]["fb"][0]["outcome"] == "accepted"


@pytest.mark.parametrize("body, field", [
    ({"outcome": "maybe"}, "outcome"),
    ({}, "outcome"),
    ({"outcome": "accepted", "reason": "x" * 501}, "reason"),
    ({"outcome": "accepted", "by": "x" * 201}, "by"),
    ({"outcome": "accepted", "feedback_id": "has space"}, "feedback_id"),
    ({"outcome": "accepted", "feedback_id": "x" * 101}, "feedback_id"),
    ({"outcome": "accepted", "stage": "sql"}, "stage"),
    ({"outcome": 1}, "outcome"),
])
def test_bad_feedback_bodies_are_refused_naming_the_field(body, field):
    with pytest.raises(ValidationError) as raised:
        FeedbackIn.model_validate(body)

    assert raised.value.errors()[0]["loc"][0] == field


def test_blank_reasons_and_names_are_none_and_text_is_stripped():
    given = FeedbackIn.model_validate({"outcome": "lost", "reason": "   ", "by": " Sam ", "feedback_id": "a.b:c-1_2"})

    assert (given.reason, given.by, given.feedback_id) == (None, "Sam", "a.b:c-1_2")

