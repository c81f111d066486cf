"""`LeadStageChanged`: what the worker builds is what the notifiers parse, field for field."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from leadscore.contracts import LeadStageChanged, LeadStageChangedEvent
from leadscore.worker import transition_detail
from pydantic import ValidationError
from scoring_core import Engine, Event, LeadState, load_model

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


def qualified_lead() -> tuple[LeadState, object, object]:
    engine, state = Engine(load_model()), LeadState()
    traits = {"first_name": "Ann", "job_title": "CTO", "company": "Acme", "company_size": 300, "industry": "software",
              "country": "US"}
    for i, (type_, fields) in enumerate([("identify", {"traits": traits}), ("demo_requested", {}),
                                         ("page_view", {"properties": {"url": "https://acme.example/pricing"}})]):
        engine.apply(state, Event(event_id=f"e{i}", type=type_, occurred_at=AT, received_at=AT, source="test",
                                  email="ann@acme.example", **fields))
    score, transition = engine.advance(state, AT.timestamp())
    assert transition is not None
    return state, score, transition


def test_the_detail_the_worker_builds_parses_back_to_itself():
    state, score, transition = qualified_lead()

    detail = transition_detail("e:ann", state, score, transition)

    parsed = LeadStageChanged.model_validate(detail)
    assert parsed.model_dump(mode="json") == detail
    assert json.loads(json.dumps(detail)) == detail  # plain JSON: the outbox and EventBridge carry it as text


def test_the_detail_carries_the_designs_fields_and_what_an_alert_shows():
    state, score, transition = qualified_lead()

    detail = transition_detail("e:ann", state, score, transition)

    assert list(detail) == ["lead_id", "email", "from_stage", "to_stage", "fit", "engagement", "score", "grade", "band",
                            "reasons", "disqualified_by", "changed_at", "transition_id", "sequence", "facts", "recent", "cause"]
    assert detail["changed_at"] == "2026-11-01T12:00:00.250000Z"
    assert detail["facts"]["job_title"] == "CTO" and detail["recent"][0]["at"].endswith("Z")


def test_the_sample_notifier_events_are_lead_stage_changed_events():
    for name in ("notify_mql.json", "notify_sql.json"):
        event = json.loads((ROOT / "events" / "functions" / name).read_text())

        assert LeadStageChangedEvent.model_validate(event).detail.transition_id == event["detail"]["transition_id"]


def test_a_time_without_an_offset_is_not_a_transition_of_ours():
    event = json.loads((ROOT / "events" / "functions" / "notify_mql.json").read_text())

    with pytest.raises(ValidationError):
        LeadStageChanged.model_validate({**event["detail"], "changed_at": "2026-11-01T12:00:00"})
