"""Reasons: what each rule contributes, summing exactly to the score, on the default model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scoring_core import Consent, Engine, EventContext, LeadState

from tests.support.events import NOW, make_event

IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


def page(url: str, ago_days: float = 0, **kw):
    return make_event("page_view", ago_days=ago_days, properties={"url": url}, **kw)


def mixed_history():
    """A lead of every kind of signal; the hand-computed value of each rule at NOW is noted."""
    return [
        # fit: Head of → title_vp_director 15; 300 people → company_mid 12; SaaS → industry_core 10;
        # gb → country_core 5; Segment in the stack → tech_stack_fit 5; ann@acme.io → email_corporate 5
        make_event("identify", ago_days=20, traits={
            "job_title": "Head of Growth", "company_size": 300, "industry": "SaaS",
            "country": "gb", "tech_stack": ["Segment", "Zendesk"],
        }),
        page("https://acme.test/pricing", ago_days=14),  # page_view 1 × 2^−2; pricing_page 10 × 2^−1 = 5
        page("https://acme.test/blog/x", ago_days=7),  # page_view 1 × 2^−1
        page("https://acme.test/careers"),  # page_view 1; careers_page −10
        make_event("email_opened", ago_days=14, context=EventContext(user_agent=IPHONE_UA)),  # 1 × 2^−1 = 0.5
        make_event("email_opened", context=EventContext(user_agent="Mozilla/5.0")),  # machine: 0.2 × 1
        make_event("email_clicked", ago_days=28),  # 2 × 2^−2 = 0.5
        make_event("demo_requested", ago_days=30),  # 25 × 2^−1 = 12.5
        make_event("form_submitted", ago_days=10),  # 8 × 2^(−10/30) = 6.3496…
        make_event("purchase", properties={"amount": 250, "currency": "USD"}),  # purchase_value 2 × 2.5 = 5
        make_event("unsubscribed", ago_days=180),  # −20 × 2^−1 = −10
    ]


# each rule's cents at NOW, from the comments above, largest |cents| first, ties by rule id
EXPECTED = [
    ("title_vp_director", 1500, "fit"),
    ("demo_request", 1250, "engagement"),
    ("company_mid", 1200, "fit"),
    ("careers_page", -1000, "engagement"),
    ("industry_core", 1000, "fit"),
    ("unsubscribe", -1000, "engagement"),
    ("form_submission", 635, "engagement"),  # 634.96 rounds to 635
    ("country_core", 500, "fit"),
    ("email_corporate", 500, "fit"),
    ("pricing_page", 500, "engagement"),
    ("purchase_value", 500, "engagement"),
    ("tech_stack_fit", 500, "fit"),
    ("page_view", 175, "engagement"),  # 0.25 + 0.5 + 1
    ("email_open", 70, "engagement"),  # 0.5 + 0.2
    ("email_click", 50, "engagement"),
]


def scored(engine: Engine, events, at=NOW):
    state = LeadState()
    for ev in events:
        engine.apply(state, ev)
    return state, engine.evaluate(state, at)


def test_reasons_on_a_mixed_history_are_each_rules_decayed_points(engine):
    _, score = scored(engine, mixed_history())

    assert [(r.rule, r.cents, r.kind) for r in score.reasons] == EXPECTED


def test_reasons_sum_exactly_to_the_total(engine):
    _, score = scored(engine, mixed_history())

    # fit 15 + 12 + 10 + 5 + 5 + 5 = 52; engagement 12.5 − 10 − 10 + 6.35 + 5 + 5 + 1.75 + 0.7 + 0.5 = 11.80
    assert score.total_cents == 6380
    assert sum(r.cents for r in score.reasons) == score.total_cents
    assert score.total == 63.8


def test_reasons_come_largest_first_by_size(engine):
    _, score = scored(engine, mixed_history())

    sizes = [abs(r.cents) for r in score.reasons]
    assert sizes == sorted(sizes, reverse=True)


def test_fit_and_engagement_reasons_split_like_fit_and_engagement(engine):
    _, score = scored(engine, mixed_history())

    assert sum(r.cents for r in score.reasons if r.kind == "fit") == score.fit_cents == 5200
    assert sum(r.cents for r in score.reasons if r.kind == "engagement") == score.engagement_cents == 1180


@pytest.mark.parametrize("days_later", [0, 1, 3.3, 17, 45, 200])
def test_reasons_sum_exactly_to_the_total_as_the_history_decays(engine, days_later):
    _, score = scored(engine, mixed_history(), at=NOW + timedelta(days=days_later))

    assert sum(r.cents for r in score.reasons) == score.total_cents
    assert sum(r.cents for r in score.reasons if r.kind == "fit") == score.fit_cents
    assert all(r.cents != 0 for r in score.reasons)


def test_rules_whose_conditions_fail_are_not_in_reasons(engine):
    events = [
        make_event("identify", traits={
            "job_title": "Engineer", "company_size": 5, "industry": "Mining",
            "country": "BR", "tech_stack": ["Zendesk"], "annual_revenue": 10,
        }),
        page("https://acme.test/docs/pricing-api"),  # /docs…: neither pricing nor careers
        make_event("purchase", properties={"amount": 500, "currency": "USD"}),  # not EUR: no over-100 bonus
    ]

    _, score = scored(engine, events)

    # page_view 1; purchase_value 2 × 5 = 10; email_corporate 5. Nothing else matched.
    assert {r.rule: r.cents for r in score.reasons} == {"page_view": 100, "purchase_value": 1000, "email_corporate": 500}


def test_only_rules_an_event_matched_can_give_reasons(engine, default_model):
    naive = Engine(default_model, indexed=False)
    events = mixed_history()
    state, score = scored(engine, events)
    matched = {rule for ev in events for rule in naive.effects(ev).rules}
    fit_rules = {r.id for r in default_model.fit}

    engagement_reasons = {r.rule for r in score.reasons if r.kind == "engagement"}

    assert engagement_reasons <= matched
    assert {r.rule for r in score.reasons if r.kind == "fit"} <= fit_rules
    # rules of event types the lead never produced, or conditions it never met
    assert not {"webinar", "meeting_booked", "cart_abandoned", "purchase_over_100"} & matched
    # a single purchase matches the repeat rule but is no repeat: matched, yet no reason
    assert "repeat_purchase" in matched
    assert "repeat_purchase" not in {r.rule for r in score.reasons}


def naive_stream():
    """The mixed history plus signals the index files differently: lists, case, wildcards, consent."""
    return mixed_history() + [
        make_event("identify", ago_days=2, traits={"job_title": "engineering MANAGER", "seniority": "vp", "country": "no"}),
        make_event("identify", ago_days=1, email=None, anonymous_id="a-1", traits={"seniority": "Director"}),
        page("/PRICING/enterprise", ago_days=3),
        page("https://acme.test/careers-at-acme", ago_days=2),
        make_event("purchase", ago_days=40, properties={"amount": "150", "currency": "eur"}),
        make_event("email_clicked", context=EventContext(ip="17.1.2.3")),
        make_event("webinar_attended", ago_days=5),
        make_event("meeting_canceled", ago_days=1),
        make_event("page_view", ago_days=1, context=EventContext(consent=Consent(opted_out=True))),
    ]


@pytest.mark.parametrize("event", naive_stream(), ids=lambda ev: ev.type)
def test_indexed_and_naive_engines_find_the_same_effects_for_each_event(engine, default_model, event):
    naive = Engine(default_model, indexed=False)

    fast, slow = engine.effects(event), naive.effects(event)

    assert sorted(fast.rules) == sorted(slow.rules)
    assert (fast.increments, fast.occurrences, fast.flags, fast.facts) == (slow.increments, slow.occurrences, slow.flags, slow.facts)


def test_indexed_and_naive_engines_give_identical_scores_on_a_mixed_stream(engine, default_model):
    naive = Engine(default_model, indexed=False)
    events = naive_stream()

    fast_state, slow_state = LeadState(), LeadState()
    fast_path, slow_path = [], []
    for ev in sorted(events, key=lambda e: e.occurred_at):
        at = ev.occurred_at + timedelta(minutes=1)
        engine.apply(fast_state, ev)
        naive.apply(slow_state, ev)
        fast_path.append(engine.advance(fast_state, at))
        slow_path.append(naive.advance(slow_state, at))

    assert fast_path == slow_path
    assert engine.evaluate(fast_state, NOW) == naive.evaluate(slow_state, NOW)
    assert fast_state.stage == slow_state.stage
