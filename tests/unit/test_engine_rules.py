"""Each kind of rule, as a user of the model would notice it.

Most tests use a tiny inline model so the numbers are obvious; a few check the
shipped default model (layers/scoring_core/scoring_core/models/default.yaml).
"""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from scoring_core import Engine, Event, EventContext, LeadState, Score, parse_model

from tests.support.events import NOW, make_event

# Stages, grades and bands every inline model needs; the rules come before them.
_TAIL = """
stages: {mql: {score: 50}, sql: {score: 80}}
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""


def engine_for(body: str) -> Engine:
    return Engine(parse_model('version: "test"\n' + textwrap.dedent(body) + _TAIL))


def score_of(engine: Engine, *events, at=NOW) -> Score:
    state = LeadState()
    for ev in events:
        engine.apply(state, ev)
    return engine.evaluate(state, at)


def cents_by_rule(score: Score) -> dict[str, int]:
    return {r.rule: r.cents for r in score.reasons}


def identify(**traits):
    return make_event("identify", traits=traits)


# -- fit rules: tested against the lead's current facts -------------------------

TITLE = engine_for(r"""
fit:
  - id: title_exec
    when: {job_title: {matches: "(?i)\\b(ceo|founder)\\b"}}
    points: 20
""")


@pytest.mark.parametrize("title", ["CEO", "ceo & co-founder", "Founder, Acme"])
def test_job_title_matching_the_regex_earns_the_fit_points(title):
    score = score_of(TITLE, identify(job_title=title))

    assert cents_by_rule(score) == {"title_exec": 2000}  # 20 points
    assert score.fit_cents == 2000 and score.engagement_cents == 0


@pytest.mark.parametrize("title", ["Engineer", "CEOffice manager", "Foundry worker"])
def test_job_title_not_matching_the_regex_earns_nothing(title):
    score = score_of(TITLE, identify(job_title=title))

    assert score.reasons == ()
    assert score.total_cents == 0


SIZE = engine_for("""
fit:
  - id: company_mid
    when: {company_size: {gte: 51, lt: 1001}}
    points: 12
""")


@pytest.mark.parametrize(
    ("size", "fits"),
    [(50, False), (51, True), (200, True), ("200", True), ("1,000", True), (1000, True), (1001, False), ("many", False)],
)
def test_company_size_range_includes_its_lower_bound_and_excludes_its_upper(size, fits):
    score = score_of(SIZE, identify(company_size=size))

    assert cents_by_rule(score) == ({"company_mid": 1200} if fits else {})


COUNTRY = engine_for("""
fit:
  - id: country_core
    when: {country: [US, DE, GB]}
    points: 5
""")


@pytest.mark.parametrize(("country", "fits"), [("US", True), ("us", True), ("De", True), ("USA", False), ("FR", False)])
def test_country_in_list_ignores_case(country, fits):
    score = score_of(COUNTRY, identify(country=country))

    assert cents_by_rule(score) == ({"country_core": 500} if fits else {})


STACK = engine_for("""
fit:
  - id: tech_stack_fit
    when: {tech_stack: {in: [salesforce, hubspot]}}
    points: 5
""")


@pytest.mark.parametrize(
    ("stack", "fits"),
    [(["Zendesk", "HubSpot"], True), (["hubspot", "salesforce"], True), (["Zendesk"], False), ([], False)],
)
def test_list_valued_tech_stack_fits_when_any_element_is_listed(stack, fits):
    score = score_of(STACK, identify(tech_stack=stack))

    # a stack holding both listed tools still counts the rule once: 5 points
    assert cents_by_rule(score) == ({"tech_stack_fit": 500} if fits else {})


EMAIL_TYPE = engine_for("""
free_email_domains: [gmail.com, yahoo.com]
fit:
  - id: email_corporate
    when: {email_type: corporate}
    points: 5
  - id: email_free
    when: {email_type: free}
    points: -5
""")


def test_company_address_is_a_corporate_email():
    score = score_of(EMAIL_TYPE, make_event("page_view", email="ann@acme.io"))

    assert cents_by_rule(score) == {"email_corporate": 500}


def test_webmail_address_is_a_free_email_whatever_its_case():
    score = score_of(EMAIL_TYPE, make_event("page_view", email="Bob@GMail.com"))

    assert cents_by_rule(score) == {"email_free": -500}


def test_email_given_only_as_an_identify_trait_sets_the_email_type():
    ev = make_event("identify", email=None, anonymous_id="anon-1", traits={"email": " Carol@Yahoo.com "})

    score = score_of(EMAIL_TYPE, ev)

    assert cents_by_rule(score) == {"email_free": -500}


def test_lead_without_any_email_gets_neither_email_rule():
    score = score_of(EMAIL_TYPE, make_event("page_view", email=None, anonymous_id="anon-1"))

    assert score.reasons == ()


def test_newest_fact_wins_by_occurrence_time_whatever_the_arrival_order():
    older_ceo = make_event("identify", ago_days=10, traits={"job_title": "CEO"})
    newer_engineer = make_event("identify", ago_days=1, traits={"job_title": "Engineer"})

    in_order = score_of(TITLE, older_ceo, newer_engineer)
    reversed_order = score_of(TITLE, newer_engineer, older_ceo)

    # the lead is an engineer now: no title points either way
    assert in_order == reversed_order
    assert in_order.reasons == ()


def test_newer_title_replaces_an_older_one_when_it_arrives_late():
    older_engineer = make_event("identify", ago_days=10, traits={"job_title": "Engineer"})
    newer_ceo = make_event("identify", ago_days=1, traits={"job_title": "CEO"})

    score = score_of(TITLE, newer_ceo, older_engineer)

    assert cents_by_rule(score) == {"title_exec": 2000}


def test_email_type_of_a_lead_with_two_addresses_does_not_depend_on_arrival_order():
    corporate = make_event("page_view", ago_days=5, email="ann@acme.io")
    free = make_event("page_view", ago_days=1, email="ann@gmail.com")

    one_way = score_of(EMAIL_TYPE, corporate, free)
    other_way = score_of(EMAIL_TYPE, free, corporate)

    assert one_way == other_way
    assert len(one_way.reasons) == 1  # one address decides: corporate or free, never both


def test_email_field_of_an_event_wins_over_an_email_trait():
    ev = make_event("identify", email="ann@acme.io", traits={"email": "ann@gmail.com"})

    score = score_of(EMAIL_TYPE, ev)

    assert cents_by_rule(score) == {"email_corporate": 500}


def test_trait_sent_as_null_clears_it(engine):
    title_then_cleared = [
        make_event("identify", ago_days=3, traits={"job_title": "CEO", "seniority": "vp"}),
        make_event("identify", ago_days=1, traits={"job_title": None}),
    ]

    score = score_of(engine, *reversed(title_then_cleared))

    # no title any more: the executive 20 is gone and seniority_senior (only without a title) gives 15
    fit = {r.rule: r.cents for r in score.reasons if r.kind == "fit"}
    assert fit == {"seniority_senior": 1500, "email_corporate": 500}


# -- engagement rules: what the lead does ----------------------------------------

PRICING = engine_for("""
engagement:
  - id: pricing_page
    on: page_view
    when: {path: {starts_with: /pricing}}
    points: 10
""")


@pytest.mark.parametrize(
    "url",
    ["https://acme.test/pricing", "https://acme.test/pricing?plan=pro#faq", "https://acme.test/Pricing/", "/pricing/enterprise"],
)
def test_pricing_rule_matches_the_url_path(url):
    score = score_of(PRICING, make_event("page_view", properties={"url": url}))

    assert cents_by_rule(score) == {"pricing_page": 1000}


@pytest.mark.parametrize(
    "url",
    ["https://pricing.acme.test/blog", "https://acme.test/blog?ref=/pricing", "https://acme.test/docs#/pricing", "https://acme.test/"],
)
def test_pricing_rule_ignores_host_query_and_fragment(url):
    score = score_of(PRICING, make_event("page_view", properties={"url": url}))

    assert score.reasons == ()


def test_pricing_rule_needs_a_page_view_not_another_event_type():
    score = score_of(PRICING, make_event("form_submitted", properties={"url": "https://acme.test/pricing"}))

    assert score.reasons == ()


PER = engine_for("""
engagement:
  - id: purchase_value
    on: purchase
    points: 2
    points_per: {field: amount, unit: 100}
""")


@pytest.mark.parametrize("amount", [350, 350.0, "350"])
def test_points_per_scales_points_by_amount_over_unit(amount):
    score = score_of(PER, make_event("purchase", properties={"amount": amount}))

    # 2 points × 350 / 100 = 7 points
    assert cents_by_rule(score) == {"purchase_value": 700}


def test_points_per_adds_up_over_purchases():
    score = score_of(PER, make_event("purchase", properties={"amount": 350}), make_event("purchase", properties={"amount": 25}))

    # 2 × 3.5 + 2 × 0.25 = 7.5 points
    assert cents_by_rule(score) == {"purchase_value": 750}


@pytest.mark.parametrize("props", [{}, {"amount": "lots"}, {"amount": True}])
def test_points_per_without_a_numeric_amount_earns_nothing(props):
    score = score_of(PER, make_event("purchase", properties=props))

    assert score.reasons == ()


REPEAT = engine_for("""
engagement:
  - id: repeat_purchase
    on: purchase
    repeat_within_days: 90
    points: 15
""")


def test_second_purchase_within_the_window_earns_the_repeat_points_once():
    score = score_of(REPEAT, make_event("purchase", ago_days=40), make_event("purchase", ago_days=10))

    # 30 days apart ≤ 90: the second purchase is a repeat, 15 points; the first is not
    assert cents_by_rule(score) == {"repeat_purchase": 1500}


def test_second_purchase_outside_the_window_earns_no_repeat_points():
    score = score_of(REPEAT, make_event("purchase", ago_days=130), make_event("purchase", ago_days=10))

    # 120 days apart > 90
    assert score.reasons == ()


def test_single_purchase_is_not_a_repeat():
    score = score_of(REPEAT, make_event("purchase"))

    assert score.reasons == ()


def test_repeat_points_do_not_depend_on_arrival_order():
    first, second = make_event("purchase", ago_days=40), make_event("purchase", ago_days=10)

    assert score_of(REPEAT, second, first) == score_of(REPEAT, first, second)


def test_each_purchase_following_another_within_the_window_repeats():
    purchases = [make_event("purchase", ago_days=d) for d in (100, 70, 40, 10)]

    score = score_of(REPEAT, *reversed(purchases))

    # three purchases each follow another by 30 days: 3 × 15 = 45 points
    assert cents_by_rule(score) == {"repeat_purchase": 4500}


CUSTOMER = engine_for("""
engagement:
  - id: purchase_value
    on: purchase
    points: 2
    points_per: {field: amount, unit: 100}
    stage: customer
  - id: page_view
    on: page_view
    points: 1
""")


def test_purchase_makes_the_lead_a_customer_on_advance():
    state = LeadState()
    CUSTOMER.apply(state, make_event("page_view", ago_days=1))
    before, _ = CUSTOMER.advance(state, NOW - timedelta(hours=1))

    CUSTOMER.apply(state, make_event("purchase", properties={"amount": 50}))
    after, transition = CUSTOMER.advance(state, NOW)

    assert not before.customer and state.stage == "customer"
    assert after.customer
    assert (transition.from_stage, transition.to_stage) == ("lead", "customer")
    # 1 page view + 2 × 50/100 = 2 points: a low score does not matter for customers
    assert after.total_cents == 200


def test_page_views_alone_do_not_make_a_customer():
    state = LeadState()
    for d in range(5):
        CUSTOMER.apply(state, make_event("page_view", ago_days=d))

    score, transition = CUSTOMER.advance(state, NOW)

    assert not score.customer and transition is None and state.stage == "lead"


NEGATIVE = engine_for("""
engagement:
  - id: page_view
    on: page_view
    points: 10
  - id: unsubscribe
    on: unsubscribed
    points: -20
""")


def test_unsubscribe_lowers_the_score():
    score = score_of(NEGATIVE, make_event("page_view", ago_days=2), make_event("unsubscribed", ago_days=1))

    # 10 − 20 = −10 points
    assert cents_by_rule(score) == {"page_view": 1000, "unsubscribe": -2000}
    assert score.total_cents == -1000


# -- machine openers ----------------------------------------------------------------

MACHINE = engine_for(r"""
engagement:
  - id: email_open
    on: email_opened
    points: 10
  - id: page_view
    on: page_view
    points: 10
email_confidence:
  events: [email_opened]
  machine_weight: 0.2
  user_agents: ["^Mozilla/5\\.0$"]
  ip_ranges: [17.0.0.0/8]
""")

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)


@pytest.mark.parametrize(
    "context",
    [EventContext(user_agent="Mozilla/5.0"), EventContext(ip="17.58.1.2"), EventContext(user_agent=IPHONE_UA, ip="17.0.0.1")],
    ids=["bare-mozilla-agent", "apple-ip", "apple-ip-with-real-agent"],
)
def test_machine_open_counts_a_fifth_of_the_points(context):
    score = score_of(MACHINE, make_event("email_opened", context=context))

    # machine_weight 0.2 × 10 points = 2 points
    assert cents_by_rule(score) == {"email_open": 200}


@pytest.mark.parametrize(
    "context",
    [EventContext(user_agent=IPHONE_UA, ip="203.0.113.9"), EventContext(user_agent="Mozilla/5.0 (X11; Linux)"), EventContext(ip="18.0.0.1"), EventContext()],
    ids=["iphone", "desktop", "ip-outside-range", "no-context"],
)
def test_human_open_counts_fully(context):
    score = score_of(MACHINE, make_event("email_opened", context=context))

    assert cents_by_rule(score) == {"email_open": 1000}


def test_machine_weight_applies_only_to_email_events():
    score = score_of(MACHINE, make_event("page_view", context=EventContext(user_agent="Mozilla/5.0", ip="17.1.1.1")))

    assert cents_by_rule(score) == {"page_view": 1000}


def test_unparseable_ip_counts_as_human():
    score = score_of(MACHINE, make_event("email_opened", context=EventContext(ip="not-an-ip")))

    assert cents_by_rule(score) == {"email_open": 1000}


# -- the shipped default model -------------------------------------------------------


def test_default_model_machine_open_counts_a_fifth_of_a_human_open(engine):
    machine = score_of(engine, make_event("email_opened", context=EventContext(user_agent="Mozilla/5.0")))
    human = score_of(engine, make_event("email_opened", context=EventContext(user_agent=IPHONE_UA)))

    # email_open is 1 point at age 0; a machine open is 0.2 × 1
    assert cents_by_rule(machine)["email_open"] == 20
    assert cents_by_rule(human)["email_open"] == 100


def test_default_model_euro_purchase_makes_a_customer_with_value_and_size_points(engine):
    state = LeadState()
    engine.apply(state, make_event("purchase", properties={"amount": 350, "currency": "EUR"}))

    score, transition = engine.advance(state, NOW)

    # purchase_value 2 × 350/100 = 7; purchase_over_100 (EUR, > 100) 10; email_corporate 5 (ann@acme.io)
    assert cents_by_rule(score) == {"purchase_value": 700, "purchase_over_100": 1000, "email_corporate": 500}
    assert transition.to_stage == "customer"


def test_default_model_dollar_purchase_earns_no_over_100_bonus(engine):
    score = score_of(engine, make_event("purchase", properties={"amount": 350, "currency": "USD"}))

    # the over-100 bonus is for EUR only; the value points are 2 × 3.5
    assert "purchase_over_100" not in cents_by_rule(score)
    assert cents_by_rule(score)["purchase_value"] == 700


def test_default_model_repeat_purchase_within_90_days(engine):
    near = score_of(engine, make_event("purchase", ago_days=30), make_event("purchase"))
    far = score_of(engine, make_event("purchase", ago_days=120), make_event("purchase"))

    # repeat_purchase: 15 points for the second purchase, evaluated at its own time (age 0)
    assert cents_by_rule(near)["repeat_purchase"] == 1500
    assert "repeat_purchase" not in cents_by_rule(far)


def test_default_model_senior_buyer_who_views_pricing_and_asks_for_a_demo_is_an_sql(engine):
    state = LeadState()
    engine.apply(state, identify(job_title="VP Marketing", company_size=200, industry="Software", country="US"))
    engine.apply(state, make_event("page_view", properties={"url": "https://acme.test/pricing"}))
    engine.apply(state, make_event("demo_requested"))

    score, transition = engine.advance(state, NOW)

    # fit: VP 15 + mid company 12 + software 10 + US 5 + corporate email 5 = 47
    # engagement at age 0: page view 1 + pricing 10 + demo 25 = 36; total 83 ≥ sql 80, fit 47 ≥ min_fit 25
    assert (score.fit_cents, score.engagement_cents) == (4700, 3600)
    assert (transition.from_stage, transition.to_stage) == ("lead", "sql")
    assert (score.grade, score.band) == ("A2", "hot")  # fit ≥ 40 → A; 20 ≤ engagement < 40 → 2; 83 ≥ 70 → hot


def test_default_model_vice_president_title_earns_vp_points_not_executive_points(engine):
    # The default model says the VP/director rule covers "vice president" and that
    # "a title counts once" at its level; "president" in the executive rule must not
    # catch "Vice President".
    spelled_out = score_of(engine, identify(job_title="Vice President of Sales"))
    abbreviated = score_of(engine, identify(job_title="VP of Sales"))

    assert cents_by_rule(abbreviated)["title_vp_director"] == 1500
    assert cents_by_rule(spelled_out).get("title_vp_director") == 1500
    assert "title_executive" not in cents_by_rule(spelled_out)


def test_default_model_careers_page_visitor_loses_points(engine):
    score = score_of(engine, make_event("page_view", properties={"url": "https://acme.test/careers/open-roles"}))

    # page_view +1, careers_page −10
    assert cents_by_rule(score) == {"page_view": 100, "careers_page": -1000, "email_corporate": 500}


# --- safety properties found in review ----------------------------------------

ANY_EVENT = engine_for("""
engagement:
  - id: anything
    on: "*"
    points: 10
email_confidence:
  machine_weight: 0.2
  user_agents: ["^Mozilla/5\\\\.0$"]
  ip_ranges: [17.0.0.0/8]
""")


def test_machine_opener_weighting_applies_only_to_email_events():
    page = make_event("page_view", context={"user_agent": "Mozilla/5.0", "ip": "17.1.2.3"})
    open_ = make_event("email_opened", context={"user_agent": "Mozilla/5.0", "ip": "17.1.2.3"})

    # a page view from the same agent is a person browsing: full 10 points; the open counts 0.2 × 10
    assert cents_by_rule(score_of(ANY_EVENT, page)) == {"anything": 1000}
    assert cents_by_rule(score_of(ANY_EVENT, open_)) == {"anything": 200}


def test_an_opt_out_stays_disqualifying_after_its_rule_is_renamed():
    with_rule = engine_for("""
disqualifiers:
  - id: explicit_opt_out
    on: opt_out
""")
    renamed = engine_for("""
disqualifiers:
  - id: opted_out
    on: opt_out
""")
    state = LeadState()
    with_rule.apply(state, make_event("opt_out"))

    score = renamed.evaluate(state, NOW)

    assert score.disqualified_by == ("explicit_opt_out",)


def test_an_event_stamped_after_it_was_received_is_moved_back_to_the_receive_time():
    ev = Event(event_id="skew", type="page_view", source="test", email="ann@acme.io",
               occurred_at=NOW + timedelta(hours=3), received_at=NOW)

    assert ev.occurred_at == NOW
    assert ev.occurred_ts == NOW.timestamp()


def test_an_email_trait_is_normalized_before_its_domain_is_judged():
    engine = engine_for("""
free_email_domains: [gmail.com]
fit:
  - id: free
    when: {email_type: free}
    points: -5
""")
    ev = make_event("identify", email=None, anonymous_id="v1", traits={"email": "  Ann@GMAIL.com "})

    score = score_of(engine, ev)

    assert cents_by_rule(score) == {"free": -500}
