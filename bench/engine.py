"""Engine throughput: the indexed engine against a naive evaluator, same events, same scores.

Scores N synthetic events (a realistic mix of page views, email, forms,
purchases, identifies across many leads) with the default model and with a
generated model of 150+ rules, first with the rule index and then with
`Engine(model, indexed=False)`, which checks every rule against every event.
Asserts both give identical scores for every lead, and prints figures; the
last line is one JSON object (with --json, only that line):

    {"events": N, "rules": R, "indexed_eps": X, "naive_eps": Y, "ratio": X/Y, ...}

"events/s" counts applying every event to its lead's state (match, points,
decay increment, facts) plus one evaluation of every lead at the end, on one core.
Targets (issue 3): indexed ≥ 200,000 events/s with the 150-rule model, ratio ≥ 10.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone

from scoring_core import Engine, Event, LeadState, load_model, parse_model

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


def run(engine: Engine, events: list[Event]) -> tuple[float, dict[str, tuple]]:
    """Apply every event to its lead, then evaluate every lead; (seconds, scores by lead)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        states: dict[str, LeadState] = {}
        apply = engine.apply
        for ev in events:
            st = states.get(ev.email)
            if st is None:
                st = states[ev.email] = LeadState()
            apply(st, ev)
        scores = {lead: engine.evaluate(st, END) for lead, st in states.items()}
        elapsed = time.perf_counter() - t0
    finally:
        gc.enable()
    return elapsed, {k: (s.fit_cents, s.engagement_cents, s.reasons, s.disqualified_by) for k, s in scores.items()}


def measure(name: str, model, events: list[Event], naive_events: int) -> dict:
    indexed = Engine(model)
    naive = Engine(model, indexed=False)
    t_idx, s_idx = run(indexed, events)
    sample = events[:naive_events]
    t_naive, s_naive = run(naive, sample)
    _, s_idx_sample = run(indexed, sample)
    if s_idx_sample != s_naive:
        raise SystemExit(f"{name}: indexed and naive engines disagree")
    n_rules = len(model.fit) + len(model.engagement) + len(model.disqualifiers)
    return {
        "model": name,
        "rules": n_rules,
        "events": len(events),
        "leads": len(s_idx),
        "indexed_eps": round(len(events) / t_idx),
        "naive_events": len(sample),
        "naive_eps": round(len(sample) / t_naive),
    }


def loop_calibration() -> float:
    """Millions of plain `x += i` iterations per second: how fast this machine runs Python."""
    t0 = time.perf_counter()
    x = 0
    for i in range(3_000_000):
        x += i
    return round(3.0 / (time.perf_counter() - t0), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--naive-events", type=int, default=None,
                        help="events for the naive run (default: all; the naive run is slow)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))

    t0 = time.perf_counter()
    events = synthetic_events(args.events, args.leads)
    log(f"generated {len(events):,} events for {args.leads:,} leads in {time.perf_counter() - t0:.1f}s")
    naive_n = args.naive_events or args.events
    results = []
    for name, model in (("default", load_model()), ("generated", parse_model(generated_model_yaml(), "generated"))):
        r = measure(name, model, events, naive_n)
        r["ratio"] = round(r["indexed_eps"] / r["naive_eps"], 2)
        results.append(r)
        log(f"{name:9s} {r['rules']:4d} rules: indexed {r['indexed_eps']:>9,} ev/s   naive {r['naive_eps']:>9,} ev/s   ratio {r['ratio']:.1f}x")
    big = results[-1]
    print(json.dumps({
        "events": big["events"], "rules": big["rules"], "indexed_eps": big["indexed_eps"],
        "naive_eps": big["naive_eps"], "ratio": big["ratio"],
        "identical_scores": True, "default_model": results[0],
        "python_loop_mops": loop_calibration(),
    }))


if __name__ == "__main__":
    main()
