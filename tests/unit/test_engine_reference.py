"""The engine's fast paths against the plain definitions they replace.

`Engine.apply` prepares each combination of matched rules once (rules grouped
by half-life, machine-weighted variants, shared accumulator keys), and
`Engine.evaluate` reads a rule's one era without sorting the state. Both must
give exactly what the straightforward code gives: the reference functions
below are the engine's earlier, unoptimised steps, kept here as the
definition. States are compared whole (`accumulated()`), scores by equality.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_core import Engine, Event, LeadState, Score, epoch, load_model, parse_model
from scoring_core.conditions import as_number
from scoring_core.score import ENGAGEMENT, FIT, Reason
from scoring_core.state import merge_facts, merge_seen

from testbed.engine_workload import generated_model_yaml, synthetic_events
from tests.support.events import NOW, make_event

DEFAULT = Engine(load_model())
GENERATED = Engine(parse_model(generated_model_yaml(), "generated"))


def reference_apply(engine: Engine, state: LeadState, event: Event) -> None:
    """Every matching rule (checked one by one), each increment from `Decay.increment`."""
    t = event.occurred_ts
    hits = [m.payload for m in engine._events._all if m.matches(event, event.type)]
    machine = None
    for rule in hits:
        if rule.flag is not None:
            flag = f"{rule.flag}:{rule.id}"
            prev = state.flags.get(flag)
            if prev is None or t < prev:
                state.flags[flag] = t
            if rule.section != ENGAGEMENT:
                continue
        if rule.window_s is not None:
            state.occurrences.setdefault(rule.id, set()).add(round(t * 1000))
            continue
        points = rule.points_for(event)
        if points is None:
            continue
        if rule.email and event.type in engine.openers.events:
            if machine is None:
                machine = engine.is_machine_open(event)
            if machine:
                points *= engine.openers.weight
        era, units = rule.decay.increment(t, points)
        state.acc[(rule.id, era)] = state.acc.get((rule.id, era), 0) + units
    reference_interest(engine, state, event)
    if event.traits:
        merge_facts(state, event.traits, t, event.event_id)
    merge_seen(state, t, event.event_id, event.type, event.email, tuple(r.id for r in hits))


def reference_glob(pattern: str, path: str) -> bool:
    """A path glob by its definition (docs/model.md, Interests), by backtracking, not a regex:
    `*` any run within a segment, `**` any run at all, a trailing `/**` the directory too."""
    pattern, path = pattern.casefold(), path.casefold()

    def match(p: str, s: str) -> bool:
        if not p:
            return not s
        if p.startswith("**"):
            return any(match(p[2:], s[i:]) for i in range(len(s) + 1))
        if p[0] == "*":
            return any(match(p[1:], s[i:]) for i in range(len(s) + 1) if "/" not in s[:i])
        return bool(s) and s[0] == p[0] and match(p[1:], s[1:])

    return match(pattern, path) or (pattern.endswith("/**") and match(pattern[:-3], path))


def reference_interest(engine: Engine, state: LeadState, event: Event) -> None:
    """Each category a page event's path matches gains the view weight (a page view) or the
    engaged minutes, up to 10 a report, times their weight (a page_engaged report)."""
    section, path = engine.model.interests, event.properties.get("path")
    if section is None or event.type not in ("page_view", "page_engaged") or not isinstance(path, str):
        return
    if event.type == "page_view":
        points = section.view
    else:
        seconds = as_number(event.properties.get("engaged_seconds"))
        if seconds is None or seconds <= 0 or not section.engaged_minute:
            return
        points = section.engaged_minute * min(seconds, 600.0) / 60.0
    for category in section.categories:
        if any(reference_glob(p, path) for p in category.paths):
            era, units = engine.interest_categories.decay.increment(event.occurred_ts, points)
            key = (f"i:{category.id}", era)
            state.acc[key] = state.acc.get(key, 0) + units


def _add_row(rows, rule, value):
    cap = rule.cap
    if cap is not None:
        value = max(-cap, min(cap, value))
    cents = round(value * 100)
    if cents:
        rows.append((-abs(cents), rule.id, cents, ENGAGEMENT))


def reference_evaluate(engine: Engine, state: LeadState, now) -> Score:
    """The score by the definition: the state sorted by (rule, era), each rule's
    eras summed in that order with `Decay.value`, then capped and rounded."""
    t = epoch(now)
    rows = []
    disqualified = []
    facts_engine = Engine(engine.model, indexed=False)
    for rule in facts_engine._facts.hits(engine.current_facts(state), FIT):
        if rule.flag == "disqualified":
            disqualified.append(rule.id)
        elif round(rule.points * 100):
            cents = round(rule.points * 100)
            rows.append((-abs(cents), rule.id, cents, FIT))
    by_rule: dict[str, list[tuple[int, int]]] = {}
    for (rule_id, era), units in sorted(state.acc.items()):
        by_rule.setdefault(rule_id, []).append((era, units))
    for rule_id, eras in by_rule.items():
        rule = engine.rules.get(rule_id)
        if rule is None or rule.window_s is not None:
            continue
        total = 0.0
        for era, units in eras:
            if units and (rule.inv_h is None or era * rule.era_s - t <= 0):
                total += rule.decay.value(era, units, t)
        _add_row(rows, rule, total)
    for rule_id, times in sorted(state.occurrences.items()):
        rule = engine.rules.get(rule_id)
        if rule is not None and rule.window_s is not None:
            _add_row(rows, rule, engine._repeat_value(rule, times, t))
    customer = False
    for key in sorted(state.flags):
        kind, _, rule_id = key.partition(":")
        if kind == "disqualified":
            disqualified.append(rule_id)
        elif kind == "customer":
            customer = True
    rows.sort()
    fit_cents = sum(r[2] for r in rows if r[3] == FIT)
    eng_cents = sum(r[2] for r in rows if r[3] != FIT)
    return Score(
        fit_cents=fit_cents,
        engagement_cents=eng_cents,
        grade=engine._grade(fit_cents, eng_cents),
        band=engine._band(fit_cents + eng_cents),
        reasons=tuple(Reason(r[1], r[2], r[3]) for r in rows),
        disqualified_by=tuple(sorted(set(disqualified))),
        customer=customer,
        at=t,
    )


@pytest.mark.parametrize("engine", [DEFAULT, GENERATED], ids=["default", "generated"])
def test_apply_and_evaluate_equal_the_reference_on_the_benchmark_stream(engine):
    events = synthetic_events(6000, 60, seed=5)
    # and what the generator does not make: consent opt-outs, machine IPs, odd values
    events += [
        make_event("page_view", properties={"path": "/PRICING/x"}, context={"consent": {"opted_out": True}}),
        make_event("email_opened", properties={"campaign": "CMP-3"}, context={"ip": "17.3.3.3"}),
        make_event("email_clicked", properties={"campaign": ["cmp-1", "cmp-2"]}, context={"user_agent": "Mozilla/5.0"}),
        make_event("purchase", properties={"sku": ["sku-1", "SKU-9"], "amount": "1,250"}),
        make_event("form_submitted", properties={"form_id": 3}),
        make_event("page_view", properties={"path": None}),
        make_event("page_view", properties={"path": "/en/Pricing.html"}),
        make_event("page_view", properties={"path": ["/pricing"]}),
        make_event("page_engaged", properties={"path": "/pricing", "engaged_seconds": 130}),
        make_event("page_engaged", properties={"path": "/blog/post-1", "engaged_seconds": "4000"}),
        make_event("page_engaged", properties={"path": "/careers", "engaged_seconds": "soon"}),
        make_event("page_engaged", properties={"path": "/features", "engaged_seconds": -5}),
    ]
    fast: dict[str, LeadState] = {}
    slow: dict[str, LeadState] = {}
    for ev in events:
        engine.apply(fast.setdefault(ev.email, LeadState()), ev)
        reference_apply(engine, slow.setdefault(ev.email, LeadState()), ev)
    assert fast.keys() == slow.keys()
    for lead in fast:
        assert fast[lead].accumulated() == slow[lead].accumulated()
        for now in (NOW, NOW + timedelta(days=400), NOW - timedelta(days=60)):
            assert engine.evaluate(fast[lead], now) == reference_evaluate(engine, slow[lead], now)


rule_ids = st.sampled_from(sorted(DEFAULT.rules) + ["gone_rule", "i:pricing", "i:gone"])  # and interest categories: in no score
eras = st.integers(-3, 3)
unit_values = st.one_of(st.just(0), st.integers(-(10**22), 10**22), st.integers(-(10**6), 10**6))


@settings(max_examples=200, deadline=None)
@given(
    acc=st.dictionaries(st.tuples(rule_ids, eras), unit_values, max_size=25),
    occurrences=st.dictionaries(rule_ids, st.sets(st.integers(0, 400 * 86_400_000), min_size=1, max_size=4), max_size=3),
    order=st.randoms(use_true_random=False),
    shift_days=st.floats(-300, 300),
)
def test_evaluate_equals_the_reference_on_any_state(acc, occurrences, order, shift_days):
    """Several eras per rule, eras after `now`, zero accumulators, rules the model
    no longer has, in any insertion order: the same score as the definition."""
    now = NOW + timedelta(days=shift_days)
    base_ms = int(epoch(NOW - timedelta(days=200)) * 1000)
    state = LeadState()
    items = list(acc.items())
    order.shuffle(items)
    for (rule_id, offset), units in items:
        rule = DEFAULT.rules.get(rule_id)
        era_now = int(epoch(now) // rule.era_s) if rule is not None and rule.era_s else 0
        state.acc[(rule_id, era_now + offset)] = units
    state.occurrences = {rule_id: {base_ms + ms for ms in times} for rule_id, times in occurrences.items()}
    state.email = "ann@acme.io"
    assert DEFAULT.evaluate(state, now) == reference_evaluate(DEFAULT, state, now)


def test_indexed_and_naive_engines_record_the_same_rules_in_the_same_order():
    """Matched rules are recorded in model order, whichever way they were found."""
    naive = Engine(GENERATED.model, indexed=False)
    for ev in random.Random(3).sample(synthetic_events(3000, 40, seed=9), 500):
        assert GENERATED.effects(ev) == naive.effects(ev)
