"""Owners on the in-memory leads table: assigned once at MQL or SQL, kept by the lead through a
downgrade and back, shared by a company domain, shown by the leads API, gone with an erasure.
The same assignment under concurrent workers on DynamoDB: tests/integration/test_routing.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scoring_core import Engine, Event, load_model
from scoring_core.routing import parse_routing

from leadscore.adapters.leads import InMemoryLeadStore
from leadscore.identity import LOCAL_KEY_SECRET, domain_key, email_key, erased_marker
from leadscore.leads_api import Lead
from leadscore.owners import Router
from leadscore.sweep import Sweep
from leadscore.views import lead_at
from leadscore.worker import Worker

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ROUTING = parse_routing("""\
teams:
  enterprise:
    members:
      - {id: ana, name: Ana Ruiz, email: ana@example.com}
      - {id: bo, name: Bo Lind, email: bo@example.com}
  smb:
    members: [{id: cy, name: Cy Park}]
routes:
  - id: big
    when: {company_size: {gte: 500}}
    team: enterprise
  - id: mql_only
    stages: [customer]
    team: smb
  - id: default
""")
BIG = {"job_title": "CTO", "company_size": 900, "industry": "software", "country": "US"}
# a fit too low to hold MQL alone: its engagement decays and the sweep moves it back to lead
COOLING = {"job_title": "Engineer", "company_size": 600, "industry": "retail", "country": "US"}
PRICING = ("page_view", {"properties": {"url": "https://relaywise.example/pricing"}})


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model())


@pytest.fixture
def store() -> InMemoryLeadStore:
    return InMemoryLeadStore()


@pytest.fixture
def worker(engine, store) -> Worker:
    router = Router(ROUTING, engine.model.free_email_domains, LOCAL_KEY_SECRET)
    return Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None, router=router)


def qualify(worker: Worker, email: str, at: datetime, tag: str = "", traits: dict | None = None,
            then: tuple = (("form_submitted", {}), PRICING)) -> list[dict]:
    """An identify with `traits`, then the events `then`, a minute apart before `at`: the changes recorded."""
    kinds = [("identify", {"traits": traits or BIG}), *then]
    events = [Event(event_id=f"{email}-{tag}{i}", type=t, occurred_at=at - timedelta(minutes=len(kinds) - i),
                    received_at=at, source="test", email=email, **extra) for i, (t, extra) in enumerate(kinds)]
    return worker.process([(f"m-{e.event_id}", e) for e in events], at.timestamp()).transitions


def test_a_lead_reaching_mql_gets_the_teams_next_owner_and_the_detail_carries_it(worker, store):
    [detail] = qualify(worker, "ann@acme.example", NOW)

    assert detail["to_stage"] == "mql" and detail["route"] == "big"
    assert detail["owner"] == {"id": "ana", "name": "Ana Ruiz", "email": "ana@example.com", "team": "enterprise"}
    assert store.items[email_key("ann@acme.example", LOCAL_KEY_SECRET)]["owner"] == detail["owner"]
    assert store.items["rr#enterprise"]["assigned"] == 1


def test_a_lead_keeps_its_owner_from_mql_to_lead_and_back_to_mql(worker, store, engine):
    key = email_key("ann@acme.example", LOCAL_KEY_SECRET)
    warm = (("demo_requested", {}), ("form_submitted", {}))
    [first] = qualify(worker, "ann@acme.example", NOW, traits=COOLING, then=warm)
    qualify(worker, "zed@zeta.example", NOW)  # the next in turn (bo) goes to another lead meanwhile
    due = store.items[key]["due_at"]
    sweep = Sweep(engine, store, router=worker.router, log=lambda *a, **k: None)
    [down] = sweep.run(due + 60).transitions
    later = datetime.fromtimestamp(due + 3600, UTC)

    [again] = qualify(worker, "ann@acme.example", later, tag="again", traits=COOLING, then=warm)

    assert (first["to_stage"], first["owner"]["id"]) == ("mql", "ana")
    assert (down["to_stage"], down["owner"]["id"]) == ("lead", "ana")  # the downgrade carries the owner too
    assert (again["from_stage"], again["to_stage"], again["owner"]["id"]) == ("lead", "mql", "ana")
    assert store.items["rr#enterprise"]["assigned"] == 2  # not advanced by the second qualification


def test_a_second_lead_of_the_same_domain_shares_the_owner_and_free_mail_does_not(worker, store):
    qualify(worker, "ann@acme.example", NOW)
    [second] = qualify(worker, "bob@acme.example", NOW)
    [free_a] = qualify(worker, "ann@gmail.com", NOW)
    [free_b] = qualify(worker, "bob@gmail.com", NOW)

    assert second["owner"]["id"] == "ana"
    assert (free_a["owner"]["id"], free_b["owner"]["id"]) == ("bo", "ana")
    assert store.items["rr#enterprise"]["assigned"] == 3
    assert store.items[domain_key("acme.example", LOCAL_KEY_SECRET)]["owner"]["id"] == "ana"


def test_a_route_without_a_team_or_one_not_assigning_at_this_stage_assigns_no_owner(worker, store):
    [detail] = qualify(worker, "sam@small.example", NOW, traits={"job_title": "CTO", "company_size": 20,
                                                               "industry": "software", "country": "US"})

    assert detail["route"] == "default" and "owner" not in detail
    assert not any(k.startswith("rr#") for k in store.items)


def test_the_leads_api_shows_the_owner_and_no_item_that_is_not_a_lead(worker, store, engine):
    qualify(worker, "ann@acme.example", NOW)

    view = lead_at(store, engine, email_key("ann@acme.example", LOCAL_KEY_SECRET), NOW.timestamp())

    assert Lead.model_validate(view).owner.name == "Ana Ruiz"
    assert view["owner"]["team"] == "enterprise"
    assert lead_at(store, engine, "rr#enterprise", NOW.timestamp()) is None
    assert lead_at(store, engine, domain_key("acme.example", LOCAL_KEY_SECRET), NOW.timestamp()) is None
    assert store.holdings("rr#enterprise") is None  # DELETE /leads/rr#… cannot reset a counter


def test_an_erasure_removes_the_owner_with_the_lead_and_leaves_the_domains_owner(worker, store):
    key = email_key("ann@acme.example", LOCAL_KEY_SECRET)
    qualify(worker, "ann@acme.example", NOW)
    holdings = store.holdings(key)

    store.erase(holdings, {k: erased_marker(k, LOCAL_KEY_SECRET) for k in holdings.keys()}, NOW.timestamp())

    assert key not in store.items
    assert store.items[domain_key("acme.example", LOCAL_KEY_SECRET)]["owner"]["id"] == "ana"
    [colleague] = qualify(worker, "bob@acme.example", NOW + timedelta(minutes=5))
    assert colleague["owner"]["id"] == "ana"


def test_without_a_router_the_detail_has_no_owner_and_no_route(engine, store):
    plain = Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None)

    [detail] = qualify(plain, "ann@acme.example", NOW)

    assert "owner" not in detail and "route" not in detail
    assert "owner" not in store.items[email_key("ann@acme.example", LOCAL_KEY_SECRET)]


def test_a_trigger_firing_carries_the_leads_route_and_owner_and_assigns_none(store):
    # routing sends triggers too (issue 19): the automation service that receives LeadTriggered
    # needs to know whose lead it is, without a firing taking a turn of the round-robin
    from pathlib import Path

    from scoring_core.loader import parse_model

    default = Path(__file__).resolve().parents[2] / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"
    text = default.read_text(encoding="utf-8") + "\ntriggers:\n  - {id: pricing_twice, kind: repeated, on: page_view, count: 2, within_days: 7}\n"
    engine = Engine(parse_model(text, "triggers.yaml"))
    router = Router(ROUTING, engine.model.free_email_domains, LOCAL_KEY_SECRET)
    worker = Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None, router=router)

    qualify(worker, "ann@acme.example", NOW)  # an MQL, owned by ana
    result = worker.process([("m-again", Event(event_id="again", type="page_view", occurred_at=NOW + timedelta(minutes=5),
                                                received_at=NOW + timedelta(minutes=5), source="test", email="ann@acme.example",
                                                properties={"url": "https://relaywise.example/pricing"}))],
                            (NOW + timedelta(minutes=5)).timestamp())
    [firing] = result.firings
    assert firing["trigger"] == "pricing_twice" and firing["route"] == "big"
    assert firing["owner"] == {"id": "ana", "name": "Ana Ruiz", "email": "ana@example.com", "team": "enterprise"}
    assert store.items["rr#enterprise"]["assigned"] == 1

    unrouted = InMemoryLeadStore()
    plain = Worker(engine, unrouted, LOCAL_KEY_SECRET, log=lambda *a, **k: None)
    qualify(plain, "bea@acme.example", NOW)
    result = plain.process([("m-b", Event(event_id="b-again", type="page_view", occurred_at=NOW + timedelta(minutes=5),
                                          received_at=NOW + timedelta(minutes=5), source="test", email="bea@acme.example",
                                          properties={"url": "https://relaywise.example/pricing"}))],
                           (NOW + timedelta(minutes=5)).timestamp())
    [firing] = result.firings
    assert "route" not in firing and "owner" not in firing
