"""Engine throughput: the indexed engine against a naive evaluator, same events, same scores.

Scores N synthetic events (`testbed.engine_workload`: a realistic mix of page
views, email, forms, purchases, identifies across many leads) with the default
model and with a generated model of 150+ rules, first with the rule index and then with
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
import sys
import time

from scoring_core import Engine, Event, LeadState, load_model, parse_model

from testbed.engine_workload import END, generated_model_yaml, synthetic_events


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
