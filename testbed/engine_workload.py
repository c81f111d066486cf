"""A workload for the engine alone: synthetic events over many leads, and a generated model of 150+ rules.

bench/engine.py measures events/s on them; tests/unit/test_engine_reference.py checks the
engine's fast paths against plain definitions on the same events and model. The same seed
gives the same events.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from scoring_core import Event

END = datetime(2026, 11, 1, tzinfo=timezone.utc)
SPAN_DAYS = 120
PAGES = [f"/product/feature-{i}" for i in range(40)] + [f"/blog/post-{i}" for i in range(40)] + [
    "/", "/pricing", "/pricing/enterprise", "/careers", "/careers/engineer", "/about", "/docs/start", "/docs/api",
]
CAMPAIGNS = [f"cmp-{i}" for i in range(25)]
FORMS = [f"form-{i}" for i in range(15)]
WEBINARS = [f"web-{i}" for i in range(10)]
SKUS = [f"sku-{i}" for i in range(20)]
TITLES = ["CEO", "VP Marketing", "Head of Growth", "Marketing Manager", "Engineer", "Student", "Director of Sales", "Analyst"]
INDUSTRIES = ["software", "fintech", "education", "retail", "government", "manufacturing", "saas", "media"]
COUNTRIES = ["US", "DE", "FR", "IN", "BR", "GB", "NL", "JP"]
UAS = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "Mozilla/5.0", "Mimecast LinkScanner", "Mozilla/5.0 (Windows NT 10.0)"]


def generated_model_yaml(n_pages: int = 60) -> str:
    """A large model: specific pages, campaigns, forms, webinars, SKUs, fit facts: 150+ rules."""
    rng = random.Random(7)
    lines = ["version: bench-1", "name: generated", "free_email_domains: [gmail.com, yahoo.com]", "fit:"]
    fit = 0
    for i, title in enumerate(["ceo|founder", "vp|vice president", "director|head of", "manager", "engineer|developer", "analyst"]):
        lines += [f"  - id: title_{i}", f"    when: {{job_title: {{matches: '(?i)\\b({title})\\b'}}}}", f"    points: {20 - 3 * i}"]
        fit += 1
    for i, ind in enumerate(INDUSTRIES):
        lines += [f"  - id: industry_{i}", f"    when: {{industry: {ind}}}", f"    points: {rng.randint(-5, 12)}"]
        fit += 1
    for i, c in enumerate(COUNTRIES):
        lines += [f"  - id: country_{i}", f"    when: {{country: {c}}}", f"    points: {rng.randint(0, 6)}"]
        fit += 1
    for i, (lo, hi) in enumerate([(1, 11), (11, 51), (51, 201), (201, 1001), (1001, 10**7)]):
        lines += [f"  - id: size_{i}", f"    when: {{company_size: {{gte: {lo}, lt: {hi}}}}}", f"    points: {i * 3}"]
        fit += 1
    lines += ["  - id: corporate", "    when: {email_type: corporate}", "    points: 5"]
    lines += ["engagement:"]
    for i, page in enumerate(PAGES[:n_pages]):
        lines += [f"  - id: page_{i}", "    on: page_view", f"    when: {{path: '{page}'}}", f"    points: {rng.randint(1, 8)}",
                  f"    half_life_days: {rng.choice([7, 14, 30])}", f"    cap: {rng.randint(10, 30)}"]
    for i, prefix in enumerate(["/pricing", "/careers", "/docs", "/blog"]):
        lines += [f"  - id: section_{i}", "    on: page_view", f"    when: {{path: {{starts_with: '{prefix}'}}}}",
                  f"    points: {rng.randint(-5, 10) or 1}", "    half_life_days: 14", "    cap: 20"]
    lines += ["  - id: any_page", "    on: page_view", "    points: 1", "    half_life_days: 7", "    cap: 10"]
    for i, c in enumerate(CAMPAIGNS):
        for kind, pts in (("email_opened", 1), ("email_clicked", 3)):
            lines += [f"  - id: {kind}_{i}", f"    on: {kind}", f"    when: {{campaign: '{c}'}}", f"    points: {pts}",
                      "    half_life_days: 14", "    cap: 10"]
    for i, f in enumerate(FORMS):
        lines += [f"  - id: form_{i}", "    on: form_submitted", f"    when: {{form_id: '{f}'}}", f"    points: {rng.randint(5, 15)}",
                  "    half_life_days: 30", "    cap: 30"]
    for i, w in enumerate(WEBINARS):
        lines += [f"  - id: webinar_{i}", "    on: webinar_attended", f"    when: {{webinar_id: '{w}'}}", "    points: 10",
                  "    half_life_days: 45", "    cap: 20"]
    for i in range(0, len(SKUS), 4):
        lines += [f"  - id: sku_group_{i}", "    on: purchase", f"    when: {{sku: [{', '.join(SKUS[i:i + 4])}]}}", "    points: 5",
                  "    half_life_days: 180", "    cap: 20"]
    lines += ["  - id: purchase_value", "    on: purchase", "    points: 2", "    points_per: {field: amount, unit: 100}",
              "    half_life_days: 180", "    cap: 20", "    stage: customer",
              "  - id: big_purchase", "    on: purchase", "    when: {amount: {gt: 100}}", "    points: 10", "    half_life_days: 180",
              "  - id: repeat_purchase", "    on: purchase", "    repeat_within_days: 90", "    points: 15", "    half_life_days: 180",
              "  - id: demo", "    on: demo_requested", "    points: 25", "    half_life_days: 30", "    cap: 25",
              "  - id: unsubscribe", "    on: unsubscribed", "    points: -20", "    cap: 20"]
    lines += ["disqualifiers:", "  - id: student", "    when: {job_title: {matches: '(?i)student'}}",
              "  - id: competitor", "    when: {email_domain: [rival.test]}", "  - id: opt_out", "    on: opt_out"]
    lines += ["stages: {mql: {score: 50}, sql: {score: 80}, hysteresis: 10}",
              "grades: {fit: {A: 40, B: 25, C: 10}, engagement: {'1': 40, '2': 20, '3': 8}}",
              "bands: {hot: 70, warm: 35}",
              "email_confidence: {machine_weight: 0.2, user_agents: ['^Mozilla/5\\.0$', '(?i)mimecast'], ip_ranges: [17.0.0.0/8]}"]
    return "\n".join(lines) + "\n"


def synthetic_events(n: int, n_leads: int, seed: int = 42) -> list[Event]:
    """A realistic mix: mostly page views and email, some forms, identifies, purchases."""
    rng = random.Random(seed)
    kinds = ["page_view"] * 58 + ["email_opened"] * 15 + ["email_clicked"] * 8 + ["form_submitted"] * 5 + ["identify"] * 4 + \
        ["webinar_attended"] * 2 + ["demo_requested"] * 2 + ["purchase"] * 2 + ["cart_abandoned", "unsubscribed", "email_bounced", "meeting_booked"]
    start = END - timedelta(days=SPAN_DAYS)
    span = SPAN_DAYS * 86400
    props_page = [{"url": f"https://acme.test{p}", "path": p} for p in PAGES]
    out: list[Event] = []
    for i in range(n):
        lead = rng.randrange(n_leads)
        kind = rng.choice(kinds)
        at = start + timedelta(seconds=rng.random() * span)
        props: dict = {}  # validated like any ingested event (path derived from url, epoch computed)
        traits: dict = {}
        context: dict = {}
        if kind == "page_view":
            props = props_page[rng.randrange(len(props_page))]
        elif kind in ("email_opened", "email_clicked"):
            props = {"campaign": rng.choice(CAMPAIGNS)}
            context = {"user_agent": rng.choice(UAS)}
        elif kind == "form_submitted":
            props = {"form_id": rng.choice(FORMS)}
        elif kind == "webinar_attended":
            props = {"webinar_id": rng.choice(WEBINARS)}
        elif kind == "purchase":
            props = {"sku": rng.choice(SKUS), "amount": round(rng.uniform(5, 900), 2), "currency": "EUR"}
        elif kind == "identify":
            traits = {"job_title": rng.choice(TITLES), "industry": rng.choice(INDUSTRIES), "country": rng.choice(COUNTRIES),
                      "company_size": rng.choice([5, 30, 120, 600, 5000])}
        domain = "gmail.com" if lead % 5 == 0 else ("rival.test" if lead % 97 == 0 else f"co{lead % 500}.test")
        out.append(Event.model_validate({
            "event_id": f"e{i}", "type": kind, "occurred_at": at, "received_at": at, "source": "bench",
            "email": f"lead{lead}@{domain}", "properties": props, "traits": traits, "context": context,
        }))
    return out
