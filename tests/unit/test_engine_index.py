"""The rule index against its reference: every plan shape finds what checking every rule finds.

`Index._plan` compiles the rules of one event type into one of four shapes
(scoring_core/index.py):
- constant: no field to read (no rule, or only rules without conditions);
- one probed field read as an event property (`match_property`), or
- one probed field read by any other getter (`match_one`): both remember the
  finished answer per value, but only when no candidate has further
  conditions (the memo guard, `if not checked`);
- the general case (`match`): several probed fields, or rules with no
  indexable condition that are scanned.
Each test below builds a model that lands on one shape (checked first, so
the test says which shape it covers), then compares the indexed answer with
`Index(..., indexed=False)`, which tests every rule one by one, and with the
rules a reader expects.
"""

from __future__ import annotations

import textwrap

import pytest
from scoring_core import Engine, LeadState, parse_model
from scoring_core.compile import compile_model
from scoring_core.index import Index

from tests.support.events import NOW, make_event

_TAIL = """
stages: {mql: {score: 50}, sql: {score: 80}}
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
"""


def model(rules: str):
    return parse_model('version: "test"\n' + textwrap.dedent(rules) + _TAIL)


def indexes(rules: str, section: str = "engagement") -> tuple[Index, Index]:
    """The indexed and the naive index of a model's event rules (or its fact rules)."""
    compiled = compile_model(model(rules))
    matchers = compiled.event_matchers if section == "engagement" else compiled.fact_matchers
    return Index(matchers), Index(matchers, indexed=False)


def shape(index: Index, subject_type: str) -> str:
    """Which plan the index compiled for a subject type (the closures' names in index.py)."""
    name = index.matcher(subject_type).__name__
    return "constant" if name == "<lambda>" else name


def found(index: Index, subject, subject_type: str) -> set[str]:
    """Rule ids the index finds, by both of its ways in; they must agree, each rule once."""
    by_hits = [rule.id for rule in index.hits(subject, subject_type)]
    by_matcher = [rule.id for rule in index.matcher(subject_type)(subject)]
    assert len(by_hits) == len(set(by_hits)), by_hits
    assert sorted(by_hits) == sorted(by_matcher)
    return set(by_hits)


def view(path=None, **props):
    return make_event("page_view", properties=props if path is None else {"path": path, **props})


def buy(amount=None, currency=None, **props):
    given = {"amount": amount, "currency": currency}
    return make_event("purchase", properties={**{k: v for k, v in given.items() if v is not None}, **props})


def assert_like_reference(indexed: Index, naive: Index, cases, subject_type: str | None = None) -> None:
    """Each (subject, expected ids): the indexed index finds exactly the naive index's rules, as expected."""
    for subject, expected in cases:
        etype = subject_type or subject.type
        assert found(naive, subject, etype) == expected, subject
        assert found(indexed, subject, etype) == expected, subject


# -- constant plans --------------------------------------------------------


def test_a_type_no_rule_names_matches_nothing_when_no_rule_takes_every_type():
    # Arrange
    indexed, naive = indexes("""
        engagement:
          - {id: pricing, on: page_view, when: {path: /pricing}, points: 5}
    """)
    # Act / Assert
    assert shape(indexed, "webinar_attended") == "constant"
    assert_like_reference(indexed, naive, [(make_event("webinar_attended", properties={"path": "/pricing"}), set())])


def test_rules_without_conditions_match_every_event_of_their_type_whatever_it_holds():
    indexed, naive = indexes("""
        engagement:
          - {id: any_view, on: page_view, points: 1}
          - {id: any_email, on: [email_opened, email_clicked], points: 1}
    """)
    assert shape(indexed, "page_view") == "constant"
    assert_like_reference(indexed, naive, [
        (make_event("page_view", properties={"path": "/pricing"}), {"any_view"}),
        (make_event("page_view"), {"any_view"}),
        (make_event("email_clicked", properties={"campaign": "cmp-1"}), {"any_email"}),
        (make_event("purchase"), set()),
    ])


def test_a_wildcard_rule_without_conditions_matches_types_no_other_rule_names():
    indexed, naive = indexes("""
        engagement:
          - {id: anything, on: "*", points: 1}
          - {id: pricing, on: page_view, when: {path: /pricing}, points: 5}
    """)
    assert shape(indexed, "custom_signal") == "constant"
    assert_like_reference(indexed, naive, [
        (make_event("custom_signal"), {"anything"}),
        (make_event("page_view", properties={"path": "/pricing"}), {"anything", "pricing"}),
        (make_event("page_view", properties={"path": "/blog"}), {"anything"}),
    ])


# -- one probed field, read as an event property ----------------------------


def test_one_property_probe_finds_exact_values_lists_of_values_and_prefixes_ignoring_case():
    indexed, naive = indexes("""
        engagement:
          - {id: pricing, on: page_view, when: {path: /pricing}, points: 5}
          - {id: docs_or_api, on: page_view, when: {path: [/docs, /api]}, points: 2}
          - {id: careers, on: page_view, when: {path: {starts_with: /careers}}, points: -3}
          - {id: blog, on: page_view, when: {path: {starts_with: /blog/}}, points: 1}
          - {id: any_view, on: page_view, points: 1}
    """)
    assert shape(indexed, "page_view") == "match_property"
    assert_like_reference(indexed, naive, [
        (view("/pricing"), {"pricing", "any_view"}),
        (view("/PRICING"), {"pricing", "any_view"}),
        (view("/pricing"), {"pricing", "any_view"}),  # the same value again: the remembered answer
        (view("/api"), {"docs_or_api", "any_view"}),
        (view("/careers/engineer"), {"careers", "any_view"}),
        (view("/Careers"), {"careers", "any_view"}),
        (view("/blog"), {"any_view"}),  # shorter than the /blog/ prefix
        (view("/blog/post-1"), {"blog", "any_view"}),
        (view(""), {"any_view"}),
        (make_event("page_view", properties={"path": None}), {"any_view"}),
        (make_event("page_view"), {"any_view"}),  # no path at all
    ])


def test_one_property_probe_reads_list_values_element_by_element_and_finds_each_rule_once():
    indexed, naive = indexes("""
        engagement:
          - {id: sku_a, on: purchase, when: {sku: [sku-1, sku-2]}, points: 5}
          - {id: sku_pro, on: purchase, when: {sku: {starts_with: pro-}}, points: 3}
    """)
    assert shape(indexed, "purchase") == "match_property"
    assert_like_reference(indexed, naive, [
        (buy(sku=["sku-1", "SKU-2"]), {"sku_a"}),  # two elements select the same rule: found once
        (buy(sku=["sku-9", "pro-x"]), {"sku_pro"}),
        (buy(sku=["sku-2", "pro-y"]), {"sku_a", "sku_pro"}),
        (buy(sku=["sku-1", "sku-1"]), {"sku_a"}),
        (buy(sku=[]), set()),
        (buy(sku=[None, 3]), set()),
        (buy(sku="sku-1"), {"sku_a"}),  # the same field as a plain value, after the lists
    ])


def test_one_property_probe_files_numbers_and_booleans_by_value():
    indexed, naive = indexes("""
        engagement:
          - {id: form_three, on: form_submitted, when: {form_id: 3}, points: 5}
          - {id: consented, on: form_submitted, when: {form_id: true}, points: 1}
    """)
    assert shape(indexed, "form_submitted") == "match_property"
    assert_like_reference(indexed, naive, [
        (make_event("form_submitted", properties={"form_id": 3}), {"form_three"}),
        (make_event("form_submitted", properties={"form_id": 3.0}), {"form_three"}),
        (make_event("form_submitted", properties={"form_id": "3"}), set()),
        (make_event("form_submitted", properties={"form_id": True}), {"consented"}),
        (make_event("form_submitted", properties={"form_id": 1}), {"consented"}),  # 1 == True, for the conditions as for the index
        (make_event("form_submitted", properties={"form_id": 4}), set()),
    ])


# -- one probed field, read by another getter ------------------------------


def test_one_fact_probe_matches_current_facts_with_lists_and_missing_facts():
    indexed, naive = indexes("""
        fit:
          - {id: country, when: {country: [US, DE]}, points: 5}
          - {id: usa, when: {country: US}, points: 1}
          - {id: u_country, when: {country: {starts_with: u}}, points: 2}
    """, section="fit")
    assert shape(indexed, "fit") == "match_one"
    assert_like_reference(indexed, naive, [
        ({"country": "us"}, {"country", "usa", "u_country"}),
        ({"country": "DE"}, {"country"}),
        ({"country": "UK"}, {"u_country"}),
        ({"country": ["FR", "de"]}, {"country"}),
        ({}, set()),
    ], subject_type="fit")


def test_one_probe_on_a_top_level_event_field_matches_like_the_reference():
    indexed, naive = indexes("""
        engagement:
          - {id: from_segment, on: identify, when: {source: segment}, points: 1}
    """)
    assert shape(indexed, "identify") == "match_one"
    assert_like_reference(indexed, naive, [
        (make_event("identify", source="segment"), {"from_segment"}),
        (make_event("identify", source="pixel"), set()),
        (make_event("identify", source="segment"), {"from_segment"}),
    ])


# -- the memo guard: a value's answer is remembered only when it needs no other test --


@pytest.mark.parametrize("getter", ["match_property", "match_one"])
def test_a_value_whose_rule_has_other_conditions_is_tested_on_every_event(getter):
    """The memo guard (`if not checked` in index.py): a €500 purchase that earns the
    rule must not make the €5 one after it earn the rule too."""
    field = "currency" if getter == "match_property" else "properties.currency"
    indexed, naive = indexes(f"""
        engagement:
          - {{id: big_euro_order, on: purchase, when: {{{field}: EUR, amount: {{gt: 100}}}}, points: 10}}
    """)
    assert shape(indexed, "purchase") == getter
    assert_like_reference(indexed, naive, [
        (buy(500, "EUR"), {"big_euro_order"}),
        (buy(5, "EUR"), set()),
        (buy(500, "EUR"), {"big_euro_order"}),
        (buy(5, "EUR"), set()),
        (buy(500, "USD"), set()),
    ])


def test_a_value_selecting_plain_and_conditional_rules_is_tested_on_every_event():
    indexed, naive = indexes("""
        engagement:
          - {id: euro_order, on: purchase, when: {currency: EUR}, points: 2}
          - {id: big_euro_order, on: purchase, when: {currency: EUR, amount: {gt: 100}}, points: 10}
          - {id: dollar_order, on: purchase, when: {currency: USD}, points: 2}
    """)
    assert shape(indexed, "purchase") == "match_property"
    assert_like_reference(indexed, naive, [
        (buy(500, "EUR"), {"euro_order", "big_euro_order"}),
        (buy(5, "EUR"), {"euro_order"}),
        (buy(500, "USD"), {"dollar_order"}),
        (buy(5, "USD"), {"dollar_order"}),  # remembered: USD selects no rule with another condition
        (buy(500, "eur"), {"euro_order", "big_euro_order"}),
    ])


def test_a_one_rule_euro_model_credits_only_the_purchases_over_100():
    """The memo guard as a user sees it: €500 then €5, only the first earns points."""
    # Arrange
    engine = Engine(model("""
        engagement:
          - {id: big_euro_order, on: purchase, when: {currency: EUR, amount: {gt: 100}}, points: 10}
    """))
    state = LeadState()
    # Act
    engine.apply(state, make_event("purchase", properties={"currency": "EUR", "amount": 500}))
    small = make_event("purchase", properties={"currency": "EUR", "amount": 5})
    engine.apply(state, small)
    # Assert
    assert engine.effects(small).rules == ()
    assert engine.evaluate(state, NOW).engagement == 10


# -- the general plan: several probed fields, scanned rules -----------------


def test_several_probed_fields_in_one_type_each_find_their_rules():
    indexed, naive = indexes("""
        engagement:
          - {id: pricing, on: page_view, when: {path: /pricing}, points: 5}
          - {id: docs, on: page_view, when: {path: {starts_with: /docs}}, points: 2}
          - {id: campaign_visit, on: page_view, when: {campaign: cmp-1}, points: 3}
          - {id: campaign_pricing, on: page_view, when: {campaign: cmp-1, path: /pricing}, points: 1}
    """)
    assert shape(indexed, "page_view") == "match"
    assert_like_reference(indexed, naive, [
        (view(path="/pricing"), {"pricing"}),
        (view(path="/pricing", campaign="CMP-1"), {"pricing", "campaign_visit", "campaign_pricing"}),
        (view(path="/docs/api", campaign="cmp-1"), {"docs", "campaign_visit"}),
        (view(path="/blog", campaign="cmp-2"), set()),
        (view(path=["/pricing", "/docs"], campaign=["cmp-1"]), {"pricing", "docs", "campaign_visit", "campaign_pricing"}),
        (view(), set()),
    ])


def test_rules_with_no_indexable_condition_are_scanned_beside_a_probed_field():
    indexed, naive = indexes("""
        engagement:
          - {id: big_order, on: purchase, when: {amount: {gt: 100}}, points: 5}
          - {id: gift, on: purchase, when: {note: {contains: gift}}, points: 1}
          - {id: no_coupon, on: purchase, when: {coupon: {eq: null}}, points: 1}
          - {id: euro_order, on: purchase, when: {currency: EUR}, points: 2}
          - {id: big_euro_order, on: purchase, when: {currency: EUR, amount: {gte: 1000}}, points: 10}
    """)
    assert shape(indexed, "purchase") == "match"
    assert_like_reference(indexed, naive, [
        (buy(currency="EUR", amount=5000, coupon="X"), {"big_order", "euro_order", "big_euro_order"}),
        (buy(currency="EUR", amount=5, coupon="X"), {"euro_order"}),  # the probe's remembered EUR still tests the amount
        (buy(currency="EUR", amount=5000, note="A Gift"), {"big_order", "gift", "no_coupon", "euro_order", "big_euro_order"}),
        (buy(currency="USD", amount=50), {"no_coupon"}),
        (buy(currency=["EUR"], amount="1,500", coupon="X"), {"big_order", "euro_order", "big_euro_order"}),
    ])


def test_a_typed_rule_and_a_wildcard_rule_with_conditions_are_both_probed():
    indexed, naive = indexes("""
        engagement:
          - {id: pricing, on: page_view, when: {path: /pricing}, points: 5}
          - {id: from_ads, on: "*", when: {utm_source: google}, points: 1}
    """)
    assert shape(indexed, "page_view") == "match"
    assert shape(indexed, "custom_signal") == "match_property"  # a type no rule names: the wildcard rules only
    assert_like_reference(indexed, naive, [
        (make_event("page_view", properties={"path": "/pricing", "utm_source": "Google"}), {"pricing", "from_ads"}),
        (make_event("page_view", properties={"path": "/pricing"}), {"pricing"}),
        (make_event("custom_signal", properties={"path": "/pricing", "utm_source": "google"}), {"from_ads"}),
        (make_event("custom_signal", properties={"utm_source": "bing"}), set()),
    ])


# -- bounds ----------------------------------------------------------------


@pytest.mark.parametrize("rules", [
    "- {id: pricing, on: page_view, when: {path: /p-7}, points: 5}",
    "- {id: pricing, on: page_view, when: {path: /p-7, ref: x}, points: 5}\n  - {id: scan, on: page_view, when: {n: {gt: 1}}, points: 1}",
], ids=["one-probe", "general"])
def test_more_distinct_values_than_the_memo_holds_still_match_like_the_reference(rules):
    """The memos are cleared when full (4,096 values): answers after that are still right."""
    indexed, naive = indexes("engagement:\n  " + rules)
    views = [make_event("page_view", properties={"path": f"/p-{i % 5000}", "ref": "x", "n": i % 3}) for i in range(9000)]
    for ev in views:
        assert found(indexed, ev, "page_view") == found(naive, ev, "page_view")
