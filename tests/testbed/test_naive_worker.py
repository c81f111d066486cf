"""testbed.naive_worker: the baseline's state blob keeps the whole state, and a merge joins two histories."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from scoring_core import Engine, Event, LeadState, load_model

from testbed.naive_worker import dump_state, load_state, merge_states

ENGINE = Engine(load_model())
AT = datetime(2026, 11, 1, tzinfo=timezone.utc)


def events(who: dict, n: int, start: int = 0) -> list[Event]:
    kinds = ["page_view", "email_opened", "form_submitted", "identify", "demo_requested"]
    return [Event(event_id=f"e{start + i}", type=kinds[i % len(kinds)], occurred_at=AT - timedelta(hours=i),
                  received_at=AT - timedelta(hours=i), source="test", properties={"url": "https://acme.example/pricing"},
                  traits={"job_title": "VP Marketing"} if i % 5 == 3 else {}, **who) for i in range(n)]


def applied(evs: list[Event]) -> LeadState:
    state = LeadState()
    for e in evs:
        ENGINE.apply(state, e)
    return state


def test_a_state_read_back_from_its_blob_is_the_same_state():
    state = applied(events({"email": "ann@acme.example"}, 12))
    ENGINE.advance(state, AT.timestamp())

    assert load_state(dump_state(state)) == state
    assert load_state(None) == LeadState()


def test_merging_a_visitors_history_gives_what_applying_both_gives():
    known, anonymous = events({"email": "ann@acme.example"}, 8), events({"anonymous_id": "v-1"}, 6, start=100)
    lead = applied(known)

    merge_states(lead, applied(anonymous))

    both = applied(known + anonymous)
    assert ENGINE.evaluate(lead, AT.timestamp()) == ENGINE.evaluate(both, AT.timestamp())
    assert lead.event_count == len(known) + len(anonymous)
