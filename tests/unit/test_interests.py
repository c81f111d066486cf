"""Interest by content category (docs/model.md, Interests): which pages count for which category,
how interest adds up and fades, and that it changes no score."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_core import Engine, LeadState, compact, epoch, load_model, merge, parse_model
from scoring_core.interests import Interest, glob_regex
from scoring_core.timing import stage_change_at

from tests.support.events import NOW, make_event
from tests.unit.test_engine_reference import reference_glob

TAIL = """
engagement:
  - {id: page_view, on: page_view, points: 1, half_life_days: 7, cap: 10}
  - {id: pricing_page, on: page_view, when: {path: {starts_with: /pricing}}, points: 10, half_life_days: 14}
stages: {mql: {score: 50}, sql: {score: 80}}
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""
INTERESTS = """
interests:
  half_life_days: 10
  view: 1
  engaged_minute: 2
  categories:
    - {id: pricing, paths: ["/pricing*", "/plans/**"]}
    - {id: security, paths: ["/docs/security/**", "/blog/*security*"]}
    - {id: blog, paths: ["/blog/**"]}
"""
WITH = Engine(parse_model('version: "1"' + INTERESTS + TAIL, "with"))
WITHOUT = Engine(parse_model('version: "1"' + TAIL, "without"))


def view(path, **fields):
    return make_event("page_view", properties={"path": path}, **fields)


def engaged(path, seconds, **fields):
    return make_event("page_engaged", properties={"path": path, "engaged_seconds": seconds}, **fields)


def applied(engine, events):
    state = LeadState()
    for ev in events:
        engine.apply(state, ev)
    return state


@pytest.mark.parametrize("path, categories", [
    ("/pricing", ("pricing",)),
    ("/PRICING.html", ("pricing",)),  # case is ignored
    ("/pricing-teams", ("pricing",)),
    ("/pricing/teams", ()),  # `*` stays within its segment
    ("/plans", ("pricing",)),  # a trailing /** matches the directory itself
    ("/plans/pro/annual", ("pricing",)),
    ("/plansx", ()),
    ("/docs/security/sso/saml", ("security",)),
    ("/blog/why-security-matters", ("security", "blog")),  # a page may belong to several categories
    ("/blog/2026/security", ("blog",)),
    ("/en/pricing", ()),  # a pattern matches the whole path from its start
    ("/", ()),
])
def test_a_page_belongs_to_every_category_one_of_whose_globs_matches_its_whole_path(path, categories):
    assert WITH.interest_categories.matching(path) == categories


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(alphabet="/ab*.", min_size=1, max_size=10).map(lambda p: "/" + p),
       path=st.text(alphabet="/abAB.", max_size=12).map(lambda p: "/" + p))
def test_the_compiled_glob_matches_exactly_what_the_definition_does(pattern, path):
    if "***" in pattern:
        return  # refused by the model
    assert bool(re.fullmatch(glob_regex(pattern), path.casefold())) == reference_glob(pattern, path)


def test_views_and_engaged_minutes_add_up_per_category_and_engaged_time_weighs_more():
    state = applied(WITH, [view("/pricing"), view("/pricing"), engaged("/pricing", 90), view("/blog/a"),
                           engaged("/blog/a", 30), engaged("/docs/security/x", 5000)])

    # pricing: 2 views + 1.5 minutes × 2; blog: 1 + 0.5 × 2; security: a report counts at most 10 minutes
    assert WITH.interests(state, NOW) == (Interest("security", 20.0, 74), Interest("pricing", 5.0, 19),
                                          Interest("blog", 2.0, 7))


def test_interest_halves_every_half_life_and_the_shares_follow_the_weights():
    state = applied(WITH, [view("/pricing", ago_days=10), view("/pricing", ago_days=10), view("/blog/a")])

    # two views ten days ago weigh one view today
    assert WITH.interests(state, NOW) == (Interest("pricing", 1.0, 50), Interest("blog", 1.0, 50))
    assert WITH.interests(state, NOW + timedelta(days=10)) == (Interest("pricing", 0.5, 50), Interest("blog", 0.5, 50))
    assert WITH.interests(state, NOW + timedelta(days=400)) == ()  # faded below 0.01


def test_only_the_top_categories_are_reported_largest_first_ties_in_model_order():
    state = applied(WITH, [view("/blog/x"), view("/plans/a"), view("/docs/security/a")])

    assert [i.category for i in WITH.interests(state, NOW)] == ["pricing", "security", "blog"]
    assert WITH.interests(state, NOW, limit=1) == (Interest("pricing", 1.0, 33),)


def test_interest_changes_no_score_band_stage_or_recorded_rules():
    events = [view("/pricing", ago_days=d) for d in range(8)] + [engaged("/pricing", 600), view("/blog/security")]
    with_state, without_state = applied(WITH, events), applied(WITHOUT, events)

    for now in (NOW, NOW + timedelta(days=20)):
        assert WITH.evaluate(with_state, now) == WITHOUT.evaluate(without_state, now)
        assert WITH.advance(with_state, now) == WITHOUT.advance(without_state, now)
    assert with_state.recent == without_state.recent  # categories are not rules: the activity lists none
    with_state.stage = without_state.stage = "mql"
    due = stage_change_at(WITH, with_state, epoch(NOW))
    assert due is not None and due == stage_change_at(WITHOUT, without_state, epoch(NOW))  # the same downgrade time
    assert WITHOUT.interests(without_state, NOW) == ()


def test_a_store_applies_interest_with_adds_and_no_read_like_any_accumulator():
    events = [view("/pricing"), engaged("/blog/a", 61), view("/careers")]

    via_effects = LeadState()
    for ev in reversed(events):
        merge(via_effects, WITH.effects(ev))

    assert WITH.effects(events[0]).increments.keys() == {("page_view", 92), ("pricing_page", 46), ("i:pricing", 64)}
    assert via_effects.accumulated() == applied(WITH, events).accumulated()


def test_events_that_are_not_page_events_or_have_no_readable_path_carry_no_interest():
    state = applied(WITH, [make_event("form_submitted", properties={"path": "/pricing"}), view(None), view(["/pricing"]),
                           engaged("/pricing", "soon"), engaged("/pricing", -3)])

    assert WITH.interests(state, NOW) == ()
    assert not [key for key in state.acc if key[0].startswith("i:")]


def test_compaction_keeps_live_interest_drops_faded_eras_and_categories_the_model_no_longer_has():
    state = applied(WITH, [view("/pricing", ago_days=2000), view("/pricing"), view("/blog/x")])
    state.acc[("i:retired", 64)] = 10**15

    compact(WITH, state, NOW)

    assert sorted(k for k in state.acc if k[0].startswith("i:")) == [("i:blog", 64), ("i:pricing", 64)]
    assert WITH.interests(state, NOW) == (Interest("pricing", 1.0, 50), Interest("blog", 1.0, 50))
    compact(WITHOUT, state, NOW)  # a model without interests: every category is gone
    assert not [k for k in state.acc if k[0].startswith("i:")]


def test_the_default_model_sorts_the_demo_sites_pages_into_its_categories():
    categories = Engine(load_model()).interest_categories
    assert categories is not None

    assert {page: categories.matching(page) for page in (
        "/demo/pricing.html", "/demo/features.html", "/demo/blog/lead-scoring-that-explains-itself.html",
        "/demo/careers.html", "/demo/book-a-demo.html", "/demo/index.html", "/pricing", "/en/plans/pro",
    )} == {
        "/demo/pricing.html": ("pricing",), "/demo/features.html": ("features",),
        "/demo/blog/lead-scoring-that-explains-itself.html": ("blog",), "/demo/careers.html": ("careers",),
        "/demo/book-a-demo.html": ("book_a_demo",), "/demo/index.html": (), "/pricing": ("pricing",),
        "/en/plans/pro": ("pricing",),
    }
