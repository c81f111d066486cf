"""Owners on moto: round-robin under concurrent workers, sticky per lead and per company domain,
and carried by the published `LeadStageChanged`."""

from __future__ import annotations

import threading
from collections import Counter

import boto3
from leadscore.adapters.leads import LeadStore, deserialize
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.owners import Router
from leadscore.worker import Worker
from scoring_core import Engine, load_model
from scoring_core.routing import parse_routing

from tests.support.queues import published
from tests.support.worker import NOW, ev

ENGINE = Engine(load_model())
ROUTING = parse_routing("""\
teams:
  smb:
    members:
      - {id: ana, name: Ana Ruiz, email: ana@example.com}
      - {id: bo, name: Bo Lind, email: bo@example.com}
      - {id: cy, name: Cy Park, email: cy@example.com}
routes:
  - id: default
    team: smb
""")
CTO = {"job_title": "CTO", "company_size": 300, "industry": "software", "country": "US"}


def qualifying(i: int, email: str) -> list:
    """Three events that together make an MQL (the default model): identify, a form, the pricing page."""
    return [ev(f"{i}-id", "identify", email=email, traits=CTO, days_ago=0.01),
            ev(f"{i}-form", "form_submitted", email=email, days_ago=0.005),
            ev(f"{i}-price", "page_view", email=email, properties={"url": "https://relaywise.example/pricing"})]


def worker(stack) -> Worker:
    """One container's worker: its own DynamoDB client, store and router, as four Lambdas would have."""
    store = LeadStore(boto3.client("dynamodb"), stack.table)
    return Worker(ENGINE, store, LOCAL_KEY_SECRET, router=Router(ROUTING, ENGINE.model.free_email_domains, LOCAL_KEY_SECRET))


def item(stack, key: str) -> dict:
    return deserialize(stack.ddb.get_item(TableName=stack.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item"))


def test_four_concurrent_workers_assign_owners_round_robin_with_no_duplicate_and_no_gap(stack, atomic_dynamodb):
    emails = [f"buyer{i}@company{i}.example" for i in range(40)]
    events = [e for i, email in enumerate(emails) for e in qualifying(i, email)]
    # each lead's events spread over the workers: two of them may qualify one lead at the same time
    parts = [[(f"m-{e.event_id}", e) for e in events[w::4]] for w in range(4)]
    workers = [worker(stack) for _ in range(4)]
    errors: list = []
    start = threading.Barrier(4)

    def work(w: Worker, part: list) -> None:
        start.wait()
        for batch in range(0, len(part), 3):
            result = w.process(part[batch:batch + 3], NOW.timestamp())
            if result.failed:
                errors.append(sorted(result.failed))

    threads = [threading.Thread(target=work, args=(w, p)) for w, p in zip(workers, parts, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    owners = {email: item(stack, email_key(email, LOCAL_KEY_SECRET)).get("owner") for email in emails}
    assert all(owners.values()), [e for e, o in owners.items() if not o]
    counts = Counter(o["id"] for o in owners.values())
    assert set(counts) == {"ana", "bo", "cy"}
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert item(stack, "rr#smb")["assigned"] == 40  # one step per owner assigned: no gap, no duplicate
    mqls = [d for d in published(stack) if d["to_stage"] == "mql"]
    assert len(mqls) == 40
    assert all(d["owner"] == owners[d["email"]] and d["route"] == "default" for d in mqls), [
        (d["email"], d.get("owner"), owners[d["email"]]) for d in mqls if d.get("owner") != owners[d["email"]]]


def test_a_second_lead_of_a_company_domain_gets_the_first_ones_owner_without_advancing_the_counter(stack):
    w = worker(stack)
    w.process([(f"m-{e.event_id}", e) for e in qualifying(0, "ann@acme.example")], NOW.timestamp())
    w.process([(f"m-{e.event_id}", e) for e in qualifying(1, "other@widgets.example")], NOW.timestamp())

    w.process([(f"m-{e.event_id}", e) for e in qualifying(2, "bob@ACME.example")], NOW.timestamp())

    ann, bob = (item(stack, email_key(e, LOCAL_KEY_SECRET))["owner"] for e in ("ann@acme.example", "bob@acme.example"))
    assert ann == bob == {"id": "ana", "name": "Ana Ruiz", "email": "ana@example.com", "team": "smb"}
    assert item(stack, "rr#smb")["assigned"] == 2
    assert not any("acme" in k["pk"]["S"] for k in stack.ddb.scan(TableName=stack.table)["Items"])  # keyed hash only


def test_free_mail_leads_are_not_sticky_by_domain(stack):
    w = worker(stack)

    for i, email in enumerate(["ann@gmail.com", "bob@gmail.com"]):
        w.process([(f"m-{e.event_id}", e) for e in qualifying(i, email)], NOW.timestamp())

    owners = [item(stack, email_key(e, LOCAL_KEY_SECRET))["owner"]["id"] for e in ("ann@gmail.com", "bob@gmail.com")]
    assert owners == ["ana", "bo"]
    assert item(stack, "rr#smb")["assigned"] == 2


def test_without_a_routing_file_no_owner_and_no_route_are_written_or_published(stack):
    w = Worker(ENGINE, LeadStore(boto3.client("dynamodb"), stack.table), LOCAL_KEY_SECRET)

    w.process([(f"m-{e.event_id}", e) for e in qualifying(0, "ann@acme.example")], NOW.timestamp())

    [detail] = published(stack)
    assert "owner" not in detail and "route" not in detail
    assert "owner" not in item(stack, email_key("ann@acme.example", LOCAL_KEY_SECRET))
    assert not item(stack, "rr#smb")


def test_a_lead_downgraded_by_the_sweep_and_qualified_again_keeps_its_owner(stack):
    from datetime import datetime, timedelta, timezone

    from leadscore.sweep import Sweep
    from scoring_core import Event

    cooling = {"job_title": "Engineer", "company_size": 600, "industry": "retail", "country": "US"}

    def warm_up(w: Worker, email: str, at: datetime, tag: str) -> list[dict]:
        kinds = [("identify", {"traits": cooling}), ("demo_requested", {}), ("form_submitted", {})]
        events = [Event(event_id=f"{email}-{tag}{i}", type=t, occurred_at=at - timedelta(minutes=3 - i), received_at=at,
                        source="test", email=email, **extra) for i, (t, extra) in enumerate(kinds)]
        return w.process([(f"m-{e.event_id}", e) for e in events], at.timestamp()).transitions

    w = worker(stack)
    key = email_key("ann@acme.example", LOCAL_KEY_SECRET)
    start = datetime.now(timezone.utc)
    [first] = warm_up(w, "ann@acme.example", start, "a")
    warm_up(w, "zed@zeta.example", start, "a")  # bo, the next in turn, goes to another lead meanwhile
    due = int(item(stack, key)["due_at"])
    swept = Sweep(ENGINE, w.store, router=w.router, log=lambda *a, **k: None).run(due + 60).transitions
    [down] = [d for d in swept if d["lead_id"] == key]

    [again] = warm_up(w, "ann@acme.example", datetime.fromtimestamp(due + 3600, timezone.utc), "b")

    assert [(d["to_stage"], d["owner"]["id"]) for d in (first, down, again)] == [("mql", "ana"), ("lead", "ana"), ("mql", "ana")]
    assert item(stack, "rr#smb")["assigned"] == 2
