"""The model's triggers on moto: each kind fires `LeadTriggered` once per episode, not twice under
redelivery or a concurrent worker (or sweep), and re-arms after its condition cleared; time moves forward."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from leadscore import dependencies, settings
from leadscore.adapters.leads import state_of
from leadscore.contracts import LeadTriggeredEvent
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.dev.template import bus_rules, matches
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.sweep import SweepResult
from scoring_core import Event
from scoring_core.loader import parse_model
from scoring_core.triggers import firing_id

from tests.support.handlers import invoke_notifier
from tests.support.queues import _drain
from tests.support.template import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"
TRIGGERS = """
triggers:
  - {id: engaged, kind: score_above, score: 60}
  - {id: cooling, kind: inactive, days: 14, stages: [mql, sql]}
  - {id: voucher, kind: repeated, on: page_view, when: {path: {starts_with: /products/}}, count: 3, within_days: 7, same: path}
  - {id: abandoned_cart, kind: not_followed, on: checkout_started, by: purchase, within_hours: 24}
"""
EMAIL = "nadia@tidewater.example"
KEY = email_key(EMAIL, LOCAL_KEY_SECRET)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"
DAY, HOUR = 86400, 3600


def model_text() -> str:
    return DEFAULT.read_text(encoding="utf-8") + TRIGGERS


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def trig(notify, monkeypatch, tmp_path):
    """The default model with four triggers, every handler on one clock the test moves, and a bus rule
    that captures every LeadTriggered (`fired(trig)`)."""
    model = tmp_path / "triggers.yaml"
    model.write_text(model_text(), encoding="utf-8")
    parse_model(model_text())  # a valid model
    monkeypatch.setenv("MODEL_FILE", str(model))
    settings.reset()
    events = boto3.client("events")
    queue = notify.sqs.create_queue(QueueName="triggered")["QueueUrl"]
    arn = notify.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = settings.settings().bus_name
    events.put_rule(Name="triggered", EventBusName=bus,
                    EventPattern=json.dumps({"source": ["leadscore"], "detail-type": ["LeadTriggered"]}))
    events.put_targets(Rule="triggered", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    clock = Clock(float(int(time.time())))
    dependencies.use(dependencies.Dependencies(settings.settings(), clock=clock))
    notify.clock, notify.triggered = clock, queue
    notify.score = load_handler(ROOT / "functions" / "score", "app.lambda_handler")
    notify.sweep = load_handler(ROOT / "functions" / "sweep", "app.lambda_handler")
    yield notify
    dependencies.use(None)


def event(event_id: str, t: float, type_: str, **fields: Any) -> Event:
    at = datetime.fromtimestamp(t, timezone.utc)
    return Event(event_id=event_id, type=type_, occurred_at=at, received_at=at, source="test", email=EMAIL, **fields)


def deliver(stack, events: list[Event]) -> None:
    records = [sqs_record(f"m-{e.event_id}", e.model_dump_json(), QUEUE_ARN) for e in events]
    assert stack.score(sqs_event(records), LambdaContext("ScoreFunction")) == {"batchItemFailures": []}


def sweep(stack) -> dict[str, Any]:
    return stack.sweep({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, LambdaContext("SweepFunction"))


def sweep_until(stack, until: float) -> int:
    """Move time to `until` as the 5-minute schedule would see it: a sweep at each due time the lead
    has on the way (a minute after it), then one at `until`. How many triggers fired."""
    count = 0
    for _ in range(20):
        due = lead(stack).get("due_at")
        if due is None or int(due) + 60 >= until:
            break
        stack.clock.t = int(due) + 60
        count += sweep(stack)["triggered"]
    stack.clock.t = until
    return count + sweep(stack)["triggered"]


def fired(stack, trigger: str | None = None) -> list[dict[str, Any]]:
    """The LeadTriggered events the bus delivered since the last call (the publisher run first), as parsed by the contract."""
    stack.publish()
    _drain(stack.sqs, stack.capture)  # the stage changes: not what these tests are about
    events = [LeadTriggeredEvent.model_validate(e) for e in _drain(stack.sqs, stack.triggered)]
    return [e.detail.model_dump(mode="json") for e in events if trigger is None or e.detail.trigger == trigger]


def lead(stack) -> dict[str, Any]:
    return dependencies.current().leads_store.get(KEY)


def identify(t: float) -> Event:
    return event("id-1", t, "identify", traits={"first_name": "Nadia", "last_name": "Okafor", "job_title": "Director of Marketing",
                                                  "company": "Tidewater Labs", "company_size": 180, "country": "CA"})


# -- not_followed: the abandoned cart -------------------------------------------------------------


def test_an_abandoned_cart_fires_once_after_24_hours_through_the_sweep(trig):
    # given: a known lead starts a checkout
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("cart-1", t0, "checkout_started", properties={"cart_id": "c1"})])
    assert int(lead(trig)["due_at"]) == int(t0) + 24 * HOUR  # the trigger's due time, on the ByDue index
    assert fired(trig, "abandoned_cart") == []

    # when: the sweep runs just before the wait is over, then after it (within its 5 minutes)
    trig.clock.t = t0 + 24 * HOUR - 1
    assert sweep(trig)["triggered"] == 0
    trig.clock.t = t0 + 24 * HOUR + 299
    assert sweep(trig)["triggered"] == 1

    # then: one LeadTriggered with the lead's summary and what matched, and no more on the next sweeps
    (detail,) = fired(trig)
    assert (detail["trigger"], detail["kind"], detail["lead_id"], detail["email"]) == ("abandoned_cart", "not_followed", KEY, EMAIL)
    assert detail["firing_id"] == firing_id(KEY, "abandoned_cart", round(t0 * 1000))
    assert detail["matched"]["start"]["type"] == "checkout_started" and detail["matched"]["by"] == ["purchase"]
    assert detail["facts"]["first_name"] == "Nadia" and detail["stage"] == "lead"
    # redelivered, the cart event is a duplicate and starts nothing
    deliver(trig, [event("cart-1", t0, "checkout_started", properties={"cart_id": "c1"})])
    trig.clock.t += 300
    assert sweep(trig)["triggered"] == 0
    trig.clock.t += 2 * DAY
    assert sweep(trig)["triggered"] == 0
    assert fired(trig) == []


def test_a_purchase_within_the_wait_cancels_and_a_new_cart_re_arms(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("cart-1", t0, "checkout_started")])
    deliver(trig, [event("buy-1", t0 + 2 * HOUR, "purchase", properties={"amount": 20, "currency": "EUR"})])
    trig.clock.t = t0 + 25 * HOUR
    assert sweep(trig)["triggered"] == 0

    trig.clock.t = t0 + 3 * DAY
    deliver(trig, [event("cart-2", trig.clock.t, "checkout_started")])
    trig.clock.t += 24 * HOUR + 60
    assert sweep(trig)["triggered"] == 1
    assert [d["matched"]["start"]["at"] for d in fired(trig, "abandoned_cart")] == [
        datetime.fromtimestamp(t0 + 3 * DAY, timezone.utc).isoformat().replace("+00:00", "Z")]


def test_a_second_sweep_that_read_the_lead_before_the_first_wrote_fires_nothing(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("cart-1", t0, "checkout_started")])
    trig.clock.t = t0 + 24 * HOUR + 30
    stale = lead(trig)

    assert sweep(trig)["triggered"] == 1
    result = SweepResult()
    dependencies.current().sweep._sweep_one(KEY, stale, int(trig.clock.t), result)  # noqa: SLF001 (a concurrent sweep's step)

    assert result.firings == [] and result.failed == 0
    assert len(fired(trig, "abandoned_cart")) == 1


# -- repeated: the voucher --------------------------------------------------------------------------


def views(t: float, n: int, path: str = "/products/kettle", prefix: str = "v") -> list[Event]:
    return [event(f"{prefix}-{i}", t + i * HOUR, "page_view", properties={"url": f"https://shop.example{path}"}) for i in range(n)]


def test_three_views_of_one_product_fire_a_voucher_once_even_redelivered(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)])
    deliver(trig, views(t0, 2))
    assert fired(trig, "voucher") == []

    deliver(trig, views(t0, 3)[2:])
    (detail,) = fired(trig, "voucher")
    assert detail["matched"]["same"] == {"field": "path", "value": "/products/kettle"} and detail["matched"]["count"] == 3

    deliver(trig, views(t0, 3))  # the same deliveries again: duplicates
    deliver(trig, views(t0 + 4 * HOUR, 1, prefix="w"))  # a fourth view: the same episode
    assert fired(trig, "voucher") == []


def test_concurrent_workers_fire_one_voucher(trig, atomic_dynamodb):
    # given: two views; when: four more arrive at once, each on its own worker (container)
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)] + views(t0, 2))
    batch = views(t0 + 2 * HOUR, 4, prefix="c")
    handlers = [load_handler(ROOT / "functions" / "score", "app.lambda_handler") for _ in batch]
    errors: list[Exception] = []

    def run(handler, e):
        try:
            record = sqs_record(f"m-{e.event_id}", e.model_dump_json(), QUEUE_ARN)
            assert handler(sqs_event([record]), LambdaContext("ScoreFunction")) == {"batchItemFailures": []}
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(handlers, batch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then: every event applied, and one voucher
    assert errors == [] and int(lead(trig)["n"]) == 7
    assert len(fired(trig, "voucher")) == 1


def test_the_voucher_re_arms_when_the_week_no_longer_holds_three_views(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)] + views(t0, 3))
    trig.clock.t = t0 + 10 * DAY
    deliver(trig, views(trig.clock.t, 3, prefix="later"))

    assert len(fired(trig, "voucher")) == 2


# -- inactive: the cooling mql ----------------------------------------------------------------------


def test_an_mql_quiet_for_14_days_fires_cooling_once_and_a_new_event_re_arms_it(trig):
    # given: an mql for months (demo and form, a good fit)
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("demo-1", t0, "demo_requested"), event("form-1", t0 + 1, "form_submitted")])
    item = lead(trig)
    assert item["stage"] == "mql" and int(item["due_at"]) == int(t0) + 1 + 14 * DAY

    # when: 14 days pass without an event
    trig.clock.t = t0 + 1 + 14 * DAY + 120
    assert sweep(trig)["triggered"] == 1
    trig.clock.t += 300
    assert sweep(trig)["triggered"] == 0

    # then: one cooling, with how long it was quiet
    (detail,) = fired(trig, "cooling")
    assert detail["kind"] == "inactive" and detail["stage"] == "mql" and detail["matched"]["days_inactive"] >= 14

    # when: it comes back, then goes quiet again for 14 days: a new episode
    trig.clock.t = t0 + 16 * DAY
    deliver(trig, [event("back-1", trig.clock.t, "email_clicked")])
    assert sweep(trig)["triggered"] == 0
    assert sweep_until(trig, trig.clock.t + 14 * DAY - 60) == 0
    assert sweep_until(trig, trig.clock.t + 120) == 1
    assert len(fired(trig, "cooling")) == 1


def test_an_event_that_postpones_the_inactivity_writes_nothing_extra(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("demo-1", t0, "demo_requested"), event("form-1", t0 + 1, "form_submitted")])
    due = int(lead(trig)["due_at"])
    fired(trig)
    store = dependencies.current().leads_store
    writes: list[str] = []
    original = store._update  # noqa: SLF001 (counting the store's UpdateItem requests)

    def counted(key, **request):
        writes.append(request["UpdateExpression"][:12])
        return original(key, **request)

    store._update = counted  # noqa: SLF001
    trig.clock.t = t0 + 3 * DAY
    deliver(trig, [event("click-1", trig.clock.t, "email_clicked")])
    store._update = original  # noqa: SLF001

    assert len(writes) == 1  # the event's own apply; the later inactivity rides on nothing
    assert int(lead(trig)["due_at"]) == due  # a safe lower bound: the sweep moves it
    # then: the old inactivity time passes without a firing, the new one fires
    quiet_from = int(t0 + 3 * DAY)
    assert sweep_until(trig, int(t0) + 1 + 14 * DAY + 120) == 0
    assert sweep_until(trig, quiet_from + 14 * DAY - 60) == 0
    assert sweep_until(trig, quiet_from + 14 * DAY + 120) == 1
    (detail,) = fired(trig, "cooling")
    assert detail["matched"]["last_event_at"] == datetime.fromtimestamp(quiet_from, timezone.utc).isoformat().replace("+00:00", "Z")


# -- score_above: reward the engaged ----------------------------------------------------------------


def test_crossing_sixty_fires_once_and_again_only_after_the_score_fell_below(trig):
    # given: a good fit (37) clicking emails: below 60
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)] + [event(f"click-{i}", t0 + i, "email_clicked") for i in range(3)])
    assert fired(trig, "engaged") == []

    # when: a demo request takes it over 60, then another event while above, then the same delivery again
    deliver(trig, [event("demo-1", t0 + 10, "demo_requested")])
    deliver(trig, [event("click-9", t0 + 20, "email_clicked")])
    deliver(trig, [event("demo-1", t0 + 10, "demo_requested")])
    (first,) = fired(trig, "engaged")
    assert first["kind"] == "score_above" and first["score"] >= 60 and first["matched"]["threshold"] == 60

    # when: decay takes it below 60 (the sweep sees it at the due time), then a new demo request
    for _ in range(4):
        mark = lead(trig)["tm"]["engaged"]
        if not mark.get("up"):
            break
        trig.clock.t = int(mark["c"]) + 60
        sweep(trig)
    assert not lead(trig)["tm"]["engaged"].get("up")
    deliver(trig, [event("webinar-1", trig.clock.t, "webinar_attended"), event("demo-2", trig.clock.t + 1, "demo_requested")])

    # then: a second episode, with its own id
    (second,) = fired(trig, "engaged")
    assert second["firing_id"] != first["firing_id"] and second["firing_id"] == firing_id(KEY, "engaged", 2)


def test_concurrent_workers_fire_one_engaged(trig, atomic_dynamodb):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)] + [event(f"click-{i}", t0 + i, "email_clicked") for i in range(3)])
    batch = [event(f"demo-{i}", t0 + 10 + i, "demo_requested") for i in range(4)]
    handlers = [load_handler(ROOT / "functions" / "score", "app.lambda_handler") for _ in batch]
    threads = [threading.Thread(target=lambda h=h, e=e: h(sqs_event([sqs_record(f"m-{e.event_id}", e.model_dump_json(), QUEUE_ARN)]),
                                                          LambdaContext("ScoreFunction")))
               for h, e in zip(handlers, batch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert int(lead(trig)["n"]) == 8
    assert len(fired(trig, "engaged")) == 1


# -- the bus: LeadTriggered goes to the automation rule and the Slack and email rules, never the CRM's ----


def test_lead_triggered_reaches_the_bus_and_the_slack_and_email_rules_never_the_crms(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)] + views(t0, 3))
    trig.publish()
    _drain(trig.sqs, trig.capture)
    raw = _drain(trig.sqs, trig.triggered)

    assert [(e["source"], e["detail-type"]) for e in raw] == [("leadscore", "LeadTriggered")]
    alert_functions = {"SlackNotifyFunction", "EmailNotifyFunction", "CrmNotifyFunction"}
    rules = [r for r in bus_rules(TEMPLATE) if r.function in alert_functions]
    assert {r.function for r in rules} == alert_functions
    assert sorted(r.function for r in rules if matches(r.pattern, raw[0])) == ["EmailNotifyFunction", "SlackNotifyFunction"]
    assert state_of(lead(trig)).event_count == 4


def test_a_voucher_firing_alerts_slack_once_through_the_templates_rule_when_alert_triggers_names_it(trig, rec,
                                                                                                     monkeypatch):
    # given: Slack on the recorder, asked to alert on triggers
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + "/services/T0/B0/triggers")
    monkeypatch.setenv("ALERT_TRIGGERS", "slack")
    settings.reset()
    dependencies.use(dependencies.Dependencies(settings.settings(), clock=trig.clock))
    (rule,) = [r for r in bus_rules(TEMPLATE) if r.function == "SlackNotifyFunction" and r.name.endswith("Triggered")]

    # when: the third view of one product fires the voucher, and the bus hands the event to the rule's target twice
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)] + views(t0, 3))
    trig.publish()
    _drain(trig.sqs, trig.capture)
    (event,) = _drain(trig.sqs, trig.triggered)
    assert matches(rule.pattern, event)
    results = [invoke_notifier("slack", event)["status"] for _ in range(2)]

    # then: one Slack message, saying the trigger and what matched
    assert results == ["sent", "sent"]
    (message,) = rec.requests
    text = json.loads(message.body)["text"]
    assert text.startswith("Voucher: Nadia Okafor (3 matching events within 7 days: path /products/kettle)")


def test_views_made_before_the_visitor_was_known_count_once_merged_into_the_lead(trig):
    # given: an anonymous visitor views one product twice
    t0 = trig.clock.t
    anonymous = [Event(event_id=f"anon-{i}", type="page_view", occurred_at=datetime.fromtimestamp(t0 + i, timezone.utc),
                       received_at=datetime.fromtimestamp(t0 + i, timezone.utc), source="test", anonymous_id="vis-42",
                       properties={"url": "https://shop.example/products/kettle"}) for i in range(2)]
    deliver(trig, anonymous)
    # when: it identifies (its history moves into the email lead) and views the product a third time
    at = datetime.fromtimestamp(t0 + 10, timezone.utc)
    deliver(trig, [Event(event_id="known-1", type="page_view", occurred_at=at, received_at=at, source="test", anonymous_id="vis-42",
                         email=EMAIL, properties={"url": "https://shop.example/products/kettle"})])

    # then: the lead's voucher, counting all three
    (detail,) = fired(trig, "voucher")
    assert detail["lead_id"] == KEY and detail["matched"]["count"] == 3


def test_a_sweep_racing_a_worker_that_fired_the_cart_first_fires_nothing(trig):
    # given: the wait is over and the sweep has read the lead
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("cart-1", t0, "checkout_started")])
    trig.clock.t = t0 + 24 * HOUR + 30
    stale = lead(trig)
    # when: before the sweep writes, an unrelated event arrives: its worker sees the cart abandoned and fires it
    deliver(trig, [event("view-1", trig.clock.t - 1, "page_view", properties={"url": "https://shop.example/"})])
    result = SweepResult()
    dependencies.current().sweep._sweep_one(KEY, stale, int(trig.clock.t), result)  # noqa: SLF001

    # then: one firing in all
    assert result.firings == [] and result.failed == 0
    assert len(fired(trig, "abandoned_cart")) == 1


def test_a_second_sweep_with_a_stale_read_fires_no_second_cooling(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10), event("demo-1", t0, "demo_requested"), event("form-1", t0 + 1, "form_submitted")])
    trig.clock.t = int(lead(trig)["due_at"]) + 60
    stale = lead(trig)

    assert sweep(trig)["triggered"] == 1
    result = SweepResult()
    dependencies.current().sweep._sweep_one(KEY, stale, int(trig.clock.t), result)  # noqa: SLF001

    assert result.firings == [] and result.failed == 0
    assert len(fired(trig, "cooling")) == 1


def test_a_flood_of_product_views_keeps_the_triggers_matches_bounded(trig):
    t0 = trig.clock.t
    deliver(trig, [identify(t0 - 10)])
    for batch in range(6):  # 60 views of 60 products, 10 a batch
        deliver(trig, [event(f"f-{batch}-{i}", t0 + batch * 10 + i, "page_view",
                             properties={"url": f"https://shop.example/products/p{batch}-{i}-" + "x" * 200})
                       for i in range(10)])

    entries = lead(trig)["g.voucher"]
    assert 25 <= len(entries) <= 50 and all(len(e.encode()) <= 14 + 1 + 64 for e in entries)
    assert fired(trig, "voucher") == []
