"""The model's triggers, pure: each kind fires once per episode and re-arms after its condition cleared."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from leadscore.cli import main
from scoring_core import Engine, Event, LeadState
from scoring_core.loader import parse_model
from scoring_core.triggers import TRIGGER_HITS_KEEP, Mark, Review, Triggers, trimmed_hits

DAY, HOUR = 86400, 3600
T0 = 1_780_000_000.0

MODEL = """\
version: "t1"
engagement:
  - {id: page_view, on: page_view, points: 1, half_life_days: 7, cap: 10}
  - {id: demo, on: demo_requested, points: 40, half_life_days: 10}
  - {id: big_demo, on: webinar_attended, points: 80, half_life_days: 10}
stages:
  mql: {score: 50}
  sql: {score: 90}
  hysteresis: 10
grades:
  fit: {A: 40, B: 25, C: 10}
  engagement: {"1": 40, "2": 20, "3": 8}
bands: {hot: 70, warm: 35}
triggers:
  - {id: engaged, kind: score_above, score: 60}
  - {id: cooling, kind: inactive, days: 7, stages: [mql, sql]}
  - {id: warm_quiet, kind: inactive, days: 3, bands: [warm, hot]}
  - {id: voucher, kind: repeated, on: page_view, when: {path: {starts_with: /products/}}, count: 3, within_days: 7, same: path}
  - {id: abandoned_cart, kind: not_followed, on: checkout_started, by: purchase, within_hours: 24}
"""


class Lead:
    """A lead as a store keeps it for triggers: state, each trigger's matches, the marks; `look` is
    what the worker (new events) or the sweep (none) does, applying what it records."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.triggers = Triggers(engine)
        self.state = LeadState()
        self.hits: dict[str, set[str]] = {}
        self.marks: dict[str, Mark] = {}
        self.fired: list[tuple[str, int, dict[str, Any]]] = []
        self.n = 0

    def event(self, type_: str, t: float, **properties: Any) -> Review:
        at = datetime.fromtimestamp(t, UTC)
        self.n += 1
        ev = Event(event_id=f"e{self.n}", type=type_, occurred_at=at, received_at=at, source="test",
                   email="ana@corp.example", properties=properties)
        self.engine.apply(self.state, ev)
        for trigger, entry in self.triggers.hits_for(ev).items():
            self.hits.setdefault(trigger, set()).add(entry)
            old = trimmed_hits(self.hits[trigger])  # as the stores trim: past 50, the newest 25 kept
            if old:
                self.hits[trigger] -= old
        return self.look(t, new_events=1, since=t)

    def look(self, now: float, new_events: int = 0, since: float | None = None) -> Review:
        self.engine.advance(self.state, now)
        score = self.engine.evaluate(self.state, now)
        review = self.triggers.review(self.state, score, self.hits, self.marks, now, new_events, since)
        if review.changed:
            self.marks = review.marks
        self.fired += [(f.trigger, f.episode, f.matched) for f in review.firings]
        return review

    def ids(self, trigger: str) -> list[int]:
        return [episode for t, episode, _ in self.fired if t == trigger]


@pytest.fixture
def lead() -> Lead:
    return Lead(Engine(parse_model(MODEL)))


def test_three_views_of_one_product_within_a_week_fire_the_voucher_once(lead):
    for i in range(3):
        lead.event("page_view", T0 + i * DAY, url="https://shop.example/products/kettle")
    lead.event("page_view", T0 + 3 * DAY, url="https://shop.example/products/kettle")  # a fourth: same episode
    lead.look(T0 + 4 * DAY)  # the sweep looking again: nothing more

    ((trigger, episode, matched),) = lead.fired
    assert trigger == "voucher" and episode == round((T0 + 2 * DAY) * 1000)
    assert matched["same"] == {"field": "path", "value": "/products/kettle"}
    assert matched["count"] == 3 and matched["times"] == [T0, T0 + DAY, T0 + 2 * DAY]


def test_views_spread_over_products_or_beyond_the_window_do_not_fire(lead):
    lead.event("page_view", T0, url="/products/kettle")
    lead.event("page_view", T0 + DAY, url="/products/toaster")
    lead.event("page_view", T0 + 2 * DAY, url="/products/kettle")
    lead.event("page_view", T0 + 9 * DAY, url="/products/kettle")  # the first has left the window
    lead.event("page_view", T0 + 10 * DAY, url="/pricing")  # not a product

    assert lead.ids("voucher") == []


def test_the_voucher_re_arms_once_the_window_holds_fewer_than_three_again(lead):
    for i in range(3):
        lead.event("page_view", T0 + i * HOUR, url="/products/kettle")
    lead.event("page_view", T0 + 3 * HOUR, url="/products/kettle")  # still the same episode
    # 20 days later the window held one at most: three more views are a new episode
    for i in range(3):
        lead.event("page_view", T0 + 20 * DAY + i * HOUR, url="/products/kettle")

    assert lead.ids("voucher") == [round((T0 + 2 * HOUR) * 1000), round((T0 + 20 * DAY + 2 * HOUR) * 1000)]


def test_a_heavy_browser_still_gets_a_voucher_for_a_new_product(lead):
    # given: 60 views of 30 products in three days (each twice): the matches are trimmed
    for i in range(60):
        lead.event("page_view", T0 + i * 3600, url=f"/products/p{i // 2}")
    assert len(lead.hits["voucher"]) <= 50 and lead.fired == []
    # when: three views of one more product
    for i in range(3):
        lead.event("page_view", T0 + 61 * 3600 + i * 60, url="/products/kettle")

    assert [m["same"]["value"] for t, _, m in lead.fired if t == "voucher"] == ["/products/kettle"]


def test_a_long_episode_whose_first_views_were_trimmed_does_not_fire_again(lead):
    # one product viewed every 10 minutes for 20 hours: the window holds 3 throughout
    for i in range(120):
        lead.event("page_view", T0 + i * 600, url="/products/kettle")

    assert lead.ids("voucher") == [round((T0 + 1200) * 1000)]


def test_a_cart_not_followed_by_a_purchase_fires_when_the_wait_is_over_once(lead):
    review = lead.event("checkout_started", T0)
    assert review.due_at == T0 + 24 * HOUR and lead.fired == []

    assert lead.look(T0 + 24 * HOUR - 1).firings == []
    lead.look(T0 + 24 * HOUR + 120)
    lead.look(T0 + 24 * HOUR + 420)  # the next sweep: fired already

    ((trigger, episode, matched),) = lead.fired
    assert (trigger, episode) == ("abandoned_cart", round(T0 * 1000))
    assert matched["start"] == {"type": "checkout_started", "at": T0} and matched["by"] == ["purchase"]
    assert lead.look(T0 + 30 * HOUR).due_at is None or lead.look(T0 + 30 * HOUR).due_at != T0 + 24 * HOUR


def test_a_purchase_within_the_wait_ends_the_episode_and_a_new_cart_starts_another(lead):
    lead.event("checkout_started", T0)
    review = lead.event("purchase", T0 + 2 * HOUR, amount=10, currency="EUR")
    assert lead.look(T0 + 25 * HOUR).firings == []

    lead.event("checkout_started", T0 + 3 * DAY)
    lead.look(T0 + 4 * DAY + 60)

    assert review.due_at != T0 + 24 * HOUR
    assert lead.ids("abandoned_cart") == [round((T0 + 3 * DAY) * 1000)]


def test_a_quiet_mql_fires_cooling_after_seven_days_once_and_again_only_after_a_new_event(lead):
    review = lead.event("webinar_attended", T0)  # 80: an mql, downgraded by decay after about 10 days
    assert lead.state.stage == "mql" and review.due_at == int(T0) + 3 * DAY  # warm_quiet first, then cooling

    lead.look(T0 + 7 * DAY + 60)
    lead.look(T0 + 7 * DAY + 360)  # the next sweep: fired already
    assert lead.ids("cooling") == [int(T0)]

    lead.event("page_view", T0 + 8 * DAY, url="/")  # a new event: a new quiet spell
    lead.look(T0 + 15 * DAY + 60)
    assert lead.ids("cooling") == [int(T0)]  # but decay took it out of mql before its 7 days were up

    lead.event("webinar_attended", T0 + 20 * DAY)
    lead.look(T0 + 27 * DAY + 60)
    assert lead.state.stage == "mql" and lead.ids("cooling") == [int(T0), int(T0 + 20 * DAY)]


def test_warm_at_its_last_event_and_quiet_for_three_days_fires_once(lead):
    lead.event("demo_requested", T0)  # 40: warm
    lead.look(T0 + 3 * DAY + 1)
    lead.look(T0 + 5 * DAY)

    ((trigger, episode, matched),) = [f for f in lead.fired if f[0] == "warm_quiet"]
    assert episode == int(T0) and matched["days_inactive"] == 3.0


def test_a_cold_lead_does_not_fire_warm_quiet(lead):
    lead.event("page_view", T0, url="/")
    assert lead.look(T0 + 10 * DAY).firings == [] and lead.ids("warm_quiet") == []


def test_the_score_crossing_sixty_fires_once_and_again_only_after_it_fell_below(lead):
    lead.event("webinar_attended", T0)  # 80: above 60
    clear = lead.marks["engaged"].clear_at
    assert clear is not None
    assert lead.engine.evaluate(lead.state, clear).total < 60 <= lead.engine.evaluate(lead.state, clear - 1).total
    lead.event("page_view", T0 + HOUR, url="/")  # still above: the same episode
    assert lead.ids("engaged") == [1]

    # the sweep at each due time: the page view kept it up a little longer, then it is below: re-armed
    for _ in range(3):
        mark = lead.marks["engaged"]
        if not mark.up:
            break
        assert mark.clear_at is not None
        lead.look(mark.clear_at + 60)
    assert not lead.marks["engaged"].up and lead.ids("engaged") == [1]

    lead.event("webinar_attended", clear + DAY)
    assert lead.ids("engaged") == [1, 2]


def test_an_event_after_the_score_fell_below_unseen_fires_again(lead):
    lead.event("webinar_attended", T0)
    clear = lead.marks["engaged"].clear_at
    assert clear is not None
    lead.event("webinar_attended", clear + 10)  # no sweep came between: the mark says it fell below first

    assert lead.ids("engaged") == [1, 2]


def test_a_disqualified_lead_fires_nothing():
    engine = Engine(parse_model(MODEL.replace("triggers:", "disqualifiers:\n  - {id: out, on: opt_out}\ntriggers:")))
    lead = Lead(engine)
    lead.event("opt_out", T0)
    lead.event("webinar_attended", T0 + 1)
    assert lead.fired == []


def test_a_model_without_triggers_records_no_matches():
    engine = Engine(parse_model(MODEL.split("triggers:")[0]))
    at = datetime.fromtimestamp(T0, UTC)
    ev = Event(event_id="e", type="checkout_started", occurred_at=at, received_at=at, source="t", email="a@b.example")
    triggers = Triggers(engine)
    assert triggers.hits_for(ev) == {} and not triggers


def test_a_triggers_matches_are_trimmed_to_the_newest():
    entries = {f"{1000 + i}|/p" for i in range(60)}
    old = trimmed_hits(entries)
    assert old is not None and len(entries - old) == TRIGGER_HITS_KEEP
    assert min(int(e.split("|")[0]) for e in entries - old) == 1000 + 60 - TRIGGER_HITS_KEEP
    assert trimmed_hits({f"{i}|x" for i in range(10)}) is None


def test_a_mark_survives_the_item_round_trip():
    mark = Mark(fired=3, episode=12, up=True, clear_at=99, events=7)
    assert Mark.of_item(mark.as_item()) == mark
    assert Mark.of_item(Mark(fired=1, episode=5).as_item()) == Mark(fired=1, episode=5)


DEFAULT = Path(__file__).resolve().parents[2] / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"


def test_the_default_model_ships_its_example_triggers_commented_out_and_each_is_valid(capsys, tmp_path):
    text = DEFAULT.read_text(encoding="utf-8")
    head, _, examples = text.partition("# triggers:")
    enabled = head + "triggers:" + "\n".join(line[1:] for line in examples.splitlines()) + "\n"

    assert parse_model(text).triggers == []  # off by default: nothing stored or computed for them
    model = parse_model(enabled)
    assert {t.kind for t in model.triggers} == {"score_above", "inactive", "repeated", "not_followed"}
    path = tmp_path / "default_with_triggers.yaml"
    path.write_text(enabled, encoding="utf-8")
    assert main(["model", "check", str(path)]) == 0
    assert "4 triggers (engaged, cooling, product_voucher, abandoned_cart)" in capsys.readouterr().out


# -- the worker and the sweep on the in-memory store (the DynamoDB store: tests/integration/test_triggers.py)


def test_the_in_memory_store_records_a_firing_once_and_the_sweep_fires_the_abandoned_cart():
    from leadscore.adapters.leads import InMemoryLeadStore
    from leadscore.adapters.leads.codec import TRIGGER_OUTBOX, unpack_details
    from leadscore.identity import LOCAL_KEY_SECRET, email_key
    from leadscore.sweep import Sweep
    from leadscore.worker import Worker

    engine = Engine(parse_model(MODEL))
    store = InMemoryLeadStore()
    worker = Worker(engine, store, LOCAL_KEY_SECRET, log=lambda *a, **k: None)
    key = email_key("ana@corp.example", LOCAL_KEY_SECRET)

    def ev(i: int, type_: str, t: float, **properties: Any) -> tuple[str, Event]:
        at = datetime.fromtimestamp(t, UTC)
        return f"m{i}", Event(event_id=f"e{i}", type=type_, occurred_at=at, received_at=at, source="t",
                              email="ana@corp.example", properties=properties)

    views = [ev(i, "page_view", T0 + i, url="/products/kettle") for i in range(3)]
    assert [f["trigger"] for f in worker.process(views, T0 + 5).firings] == ["voucher"]
    assert [d["trigger"] for d in unpack_details(store.items[key][TRIGGER_OUTBOX])] == ["voucher"]
    assert worker.process(views, T0 + 6).firings == []  # redelivered: duplicates
    assert TRIGGER_OUTBOX in store.items[key]  # no apply happened: the firing waits for the stream

    result = worker.process([ev(9, "checkout_started", T0 + 10)], T0 + 10)
    assert result.firings == [] and TRIGGER_OUTBOX not in store.items[key]  # the apply removed the old firings
    assert store.items[key]["due_at"] == int(T0) + 10 + 24 * HOUR

    sweep = Sweep(engine, store, log=lambda *a, **k: None)
    assert sweep.run(T0 + 10 + 24 * HOUR + 60).firings[0]["trigger"] == "abandoned_cart"
    assert sweep.run(T0 + 10 + 24 * HOUR + 360).firings == []


def test_a_sweep_every_five_minutes_fires_each_time_based_trigger_and_the_downgrade_on_time():
    from leadscore.adapters.leads import InMemoryLeadStore
    from leadscore.sweep import Sweep
    from leadscore.worker import Worker
    from scoring_core.timing import stage_change_at

    engine = Engine(parse_model(MODEL))
    store = InMemoryLeadStore()
    worker = Worker(engine, store, "k", log=lambda *a, **k: None)
    at = datetime.fromtimestamp(T0, UTC)
    webinar = Event(event_id="w", type="webinar_attended", occurred_at=at, received_at=at, source="t", email="ana@corp.example")
    worker.process([("m", webinar)], T0)
    (key,) = store.items
    state = LeadState()
    engine.apply(state, webinar)
    engine.advance(state, T0)
    downgrade_at = stage_change_at(engine, state, T0)
    assert downgrade_at is not None and downgrade_at > T0 + 7 * DAY

    sweep = Sweep(engine, store, log=lambda *a, **k: None)
    fired: dict[str, float] = {}
    downgraded = None
    t = T0 + 7
    while t < downgrade_at + DAY and downgraded is None:
        result = sweep.run(t)
        fired.update({f["trigger"]: t for f in result.firings})
        if result.transitions:
            downgraded = t
        t += 300

    # then: each fired within one sweep interval of its time, the downgrade too, all once
    assert set(fired) == {"warm_quiet", "cooling"}  # engaged fired in the worker; the sweep only re-armed it
    assert 0 <= fired["warm_quiet"] - (T0 + 3 * DAY) < 300 and 0 <= fired["cooling"] - (T0 + 7 * DAY) < 300
    assert downgraded is not None and 0 <= downgraded - downgrade_at < 300


def test_a_worker_that_crashed_after_applying_leaves_the_firing_to_the_redelivery():
    from leadscore.adapters.leads import InMemoryLeadStore, Pending
    from leadscore.identity import keys_of
    from leadscore.worker import Worker

    engine = Engine(parse_model(MODEL))
    store = InMemoryLeadStore()
    worker = Worker(engine, store, "k", log=lambda *a, **k: None)
    messages = []
    for i in range(3):
        at = datetime.fromtimestamp(T0 + i, UTC)
        messages.append((f"m{i}", Event(event_id=f"v{i}", type="page_view", occurred_at=at, received_at=at, source="t",
                                         email="ana@corp.example", properties={"url": "/products/kettle"})))
    # given: a worker applied the three views and crashed before recording anything
    key = keys_of(messages[0][1], "k")[0]
    pending = []
    for _, e in messages:
        fx = engine.effects(e)
        fx.hits = worker.triggers.hits_for(e)
        pending.append(Pending(fx))
    store.apply(key, pending, T0 + 5)

    # when: the batch is redelivered: every event a duplicate
    result = worker.process(messages, T0 + 60)

    # then: the voucher the crash did not record is recorded now, with the id it would have had
    assert result.duplicates == 3 and [f["trigger"] for f in result.firings] == ["voucher"]
    assert worker.process(messages, T0 + 120).firings == []


def test_a_same_value_is_kept_to_64_bytes_whatever_its_characters():
    triggers = Triggers(Engine(parse_model(MODEL)))
    at = datetime.fromtimestamp(T0, UTC)
    ev = Event(event_id="e", type="page_view", occurred_at=at, received_at=at, source="t", email="a@b.example",
               properties={"url": "/products/" + "\U0001F600" * 100})

    entry = triggers.hits_for(ev)["voucher"]
    tag = entry.partition("|")[2]
    assert len(tag.encode()) <= 64 and tag.startswith("/products/")
