"""What the leads API shows, from the in-memory leads table: aliases lead to their lead,
stages list hottest first, and a score is evaluated at the time asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoring_core import Engine, Event, load_model

from leadscore.adapters.leads import InMemoryLeadStore
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.views import lead_at, leads_at_stage
from leadscore.worker import Worker

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ENGINE = Engine(load_model())


def ev(i: int, type_: str, email: str | None, *, anon: str | None = None, minutes_ago: float = 0, **fields) -> Event:
    at = NOW - timedelta(minutes=minutes_ago)
    return Event(event_id=f"{email}-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=email,
                 anonymous_id=anon, **fields)


def qualify(store: InMemoryLeadStore, email: str, *, views: int, anon: str | None = None) -> str:
    worker = Worker(ENGINE, store, LOCAL_KEY_SECRET)
    if anon:  # the visitor browsed before identifying: its history is merged into the lead
        browsing = ev(99, "page_view", None, anon=anon, minutes_ago=90, properties={"url": "https://relaywise.example/"})
        worker.process([("m-browse", browsing)], NOW.timestamp())
    events = [ev(0, "identify", email, anon=anon, minutes_ago=60, traits={"job_title": "VP Marketing", "company_size": 300}),
              ev(1, "demo_requested", email, minutes_ago=30)]
    events += [ev(10 + i, "page_view", email, minutes_ago=20 - i, properties={"url": "https://relaywise.example/pricing"})
               for i in range(views)]
    worker.process([(e.event_id, e) for e in events], NOW.timestamp())
    return email_key(email, LOCAL_KEY_SECRET)


def test_a_visitor_id_shows_the_lead_it_was_merged_into():
    store = InMemoryLeadStore()
    ann = qualify(store, "ann@acme.example", views=1, anon="v-9")

    view = lead_at(store, ENGINE, "v:v-9", NOW.timestamp())

    assert view is not None
    assert view["lead_id"] == ann
    assert view["identities"] == sorted([ann, "v:v-9"])


def test_an_unknown_key_has_no_view():
    assert lead_at(InMemoryLeadStore(), ENGINE, "e:nobody", NOW.timestamp()) is None


def test_leads_at_a_stage_come_hottest_first_in_short_form():
    store = InMemoryLeadStore()
    cool = qualify(store, "cool@acme.example", views=1)
    warm = qualify(store, "warm@acme.example", views=2)

    listed = leads_at_stage(store, ENGINE, "mql", 10, NOW.timestamp())

    assert [v["lead_id"] for v in listed] == [warm, cool]
    assert "facts" not in listed[0]
    assert [v["lead_id"] for v in leads_at_stage(store, ENGINE, "mql", 1, NOW.timestamp())] == [warm]
    assert leads_at_stage(store, ENGINE, "customer", 10, NOW.timestamp()) == []


def test_the_score_shown_decays_with_the_time_asked():
    store = InMemoryLeadStore()
    ann = qualify(store, "ann@acme.example", views=3)

    now = lead_at(store, ENGINE, ann, NOW.timestamp())
    later = lead_at(store, ENGINE, ann, NOW.timestamp() + 60 * 86400)

    assert now is not None and later is not None
    assert later["engagement"] < now["engagement"]
