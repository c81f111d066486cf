"""Properties of the engine on random histories of the default model's events.

Applying the same events in any order, or in batches whose effects are merged
in any order, gives the identical state and the identical score: not close,
equal.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_core import Consent, Engine, Event, EventContext, LeadState, load_model, merge

from tests.support.events import NOW

IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
DAY_MS = 86_400_000

paths = st.sampled_from(["/", "/pricing", "/pricing/enterprise", "/Pricing?x=1", "/careers", "/careers/jobs", "/blog/post", "/docs",
                         "/demo/features.html", "/demo/book-a-demo.html"])
user_agents = st.sampled_from([None, "Mozilla/5.0", IPHONE_UA, "Mozilla/5.0 (compatible; Mimecast)", "GoogleImageProxy"])
ips = st.sampled_from([None, "17.0.0.1", "17.250.3.4", "203.0.113.5", "2001:db8::1", "bogus"])
emails = st.sampled_from(["ann@acme.io", "ann@gmail.com", "bob@acme.io", "eve@hubspot.com", None])
amounts = st.one_of(st.integers(0, 2000), st.sampled_from(["350", "99.5", "1,200", "n/a"]))
traits = st.fixed_dictionaries(
    {},
    optional={
        "job_title": st.sampled_from(["CEO", "VP Sales", "Engineering Manager", "Engineer", "Student", None]),
        "company_size": st.integers(1, 5000),
        "industry": st.sampled_from(["Software", "education", "Mining"]),
        "country": st.sampled_from(["US", "de", "BR", "no"]),
        "tech_stack": st.lists(st.sampled_from(["Salesforce", "zendesk", "HubSpot", "segment"]), max_size=3),
        "seniority": st.sampled_from(["vp", "Director", "intern"]),
        "annual_revenue": st.integers(0, 50_000_000),
    },
)


@st.composite
def event_spec(draw) -> dict:
    """The fields of one event, without its id."""
    kind = draw(st.sampled_from([
        "page_view", "page_view", "page_engaged", "email_opened", "email_clicked", "form_submitted",
        "demo_requested", "purchase", "unsubscribed", "identify", "webinar_attended", "opt_out",
    ]))  # fmt: skip
    properties: dict = {}
    spec_traits: dict = {}
    if kind == "page_view":
        properties["url"] = "https://acme.test" + draw(paths)
    elif kind == "page_engaged":
        properties = {"url": "https://acme.test" + draw(paths), "engaged_seconds": draw(st.sampled_from([0, 5, 130, 900, "61", None]))}
    elif kind == "purchase":
        properties = {"amount": draw(amounts), "currency": draw(st.sampled_from(["EUR", "eur", "USD"]))}
    elif kind == "identify":
        spec_traits = draw(traits)
    email = draw(emails)
    return {
        "type": kind,
        "ago_ms": draw(st.integers(0, 120 * DAY_MS)),
        "email": email,
        "anonymous_id": None if email else "anon-1",
        "properties": properties,
        "traits": spec_traits,
        "context": EventContext(
            user_agent=draw(user_agents),
            ip=draw(ips),
            consent=Consent(opted_out=draw(st.sampled_from([False] * 9 + [True]))),
        ),
    }


def build(specs: list[dict]) -> list[Event]:
    out = []
    for i, spec in enumerate(specs):
        spec = dict(spec)
        at = NOW - timedelta(milliseconds=spec.pop("ago_ms"))
        out.append(Event(event_id=f"e{i:03d}", occurred_at=at, received_at=at, source="prop", **spec))
    return out


histories = st.lists(event_spec(), min_size=1, max_size=30).map(build)

# built once: function-scoped fixtures do not mix with @given
ENGINE = Engine(load_model())
NAIVE = Engine(ENGINE.model, indexed=False)


def applied(eng: Engine, events) -> LeadState:
    state = LeadState()
    for ev in events:
        eng.apply(state, ev)
    return state


@settings(max_examples=100, deadline=None)
@given(history=histories, data=st.data())
def test_order_and_batching_give_the_identical_state_and_score(history, data):
    eng = ENGINE
    shuffled = data.draw(st.permutations(history), label="shuffled")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(shuffled) - 1)), max_size=5), label="cuts"))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)]) if a < b]
    batch_order = data.draw(st.permutations(range(len(batches))), label="batch order")

    in_order = applied(eng, history)
    reordered = applied(eng, shuffled)
    # each batch worked on its own fresh state (as a worker would), its effects then merged in any order
    batch_effects = []
    for batch in batches:
        worker_state = LeadState()
        effects = [eng.effects(ev) for ev in batch]
        for fx in effects:
            merge(worker_state, fx)
        batch_effects.append(effects)
    merged = LeadState()
    for i in batch_order:
        for fx in batch_effects[i]:
            merge(merged, fx)

    assert reordered.accumulated() == in_order.accumulated()
    assert merged.accumulated() == in_order.accumulated()
    for now in (NOW, NOW + timedelta(days=30)):
        expected = eng.evaluate(in_order, now)
        assert eng.evaluate(reordered, now) == expected
        assert eng.evaluate(merged, now) == expected
        interests = eng.interests(in_order, now)
        assert eng.interests(reordered, now) == interests
        assert eng.interests(merged, now) == interests


@settings(max_examples=100, deadline=None)
@given(history=histories)
def test_apply_and_merging_effects_give_the_identical_state(history):
    eng = ENGINE
    via_effects = LeadState()
    for ev in history:
        merge(via_effects, eng.effects(ev))

    via_apply = applied(eng, history)

    assert via_apply.accumulated() == via_effects.accumulated()
    assert eng.evaluate(via_apply, NOW) == eng.evaluate(via_effects, NOW)
    assert eng.interests(via_apply, NOW) == eng.interests(via_effects, NOW)


@settings(max_examples=100, deadline=None)
@given(history=histories)
def test_indexed_and_naive_engines_give_the_identical_score(history):
    eng = ENGINE
    naive = NAIVE

    fast, slow = applied(eng, history), applied(naive, history)

    assert eng.evaluate(fast, NOW) == naive.evaluate(slow, NOW)
    assert eng.interests(fast, NOW) == naive.interests(slow, NOW)
