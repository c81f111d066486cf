"""Downgrades on time on moto: a qualified lead goes quiet, time moves on, the sweep moves it down once."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from leadscore import dependencies, settings
from leadscore.adapters.leads import state_of
from leadscore.aws_clients import botocore_session
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.dev.template import bus_rules, matches
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from scoring_core import Engine, Event, load_model
from scoring_core.timing import stage_change_at
from testbed.request_units import Meter

from tests.support.alerts import posted
from tests.support.handlers import invoke_notifier
from tests.support.queues import captured
from tests.support.template import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
ENGINE = Engine(load_model())
EMAIL = "nadia@tidewater.example"
KEY = email_key(EMAIL, LOCAL_KEY_SECRET)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"
SLACK_PATH = "/services/T000/B000/downgrades"


def event(i: int, t: float, type_: str, **fields: Any) -> Event:
    at = datetime.fromtimestamp(t, timezone.utc)
    return Event(event_id=f"cool-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=EMAIL, **fields)


def qualifying(t: float) -> list[Event]:
    """A good fit (37) fills a form and clicks four emails: just over the MQL threshold of 50.
    Fit alone is below 50 − 10, so as engagement decays the lead must leave mql."""
    return ([event(1, t, "identify", traits={"first_name": "Nadia", "last_name": "Okafor", "job_title": "Director of Marketing",
                                            "company": "Tidewater Labs", "company_size": 180, "country": "CA"}),
             event(2, t + 1, "form_submitted")]
            + [event(3 + i, t + 2 + i, "email_clicked") for i in range(4)])


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def timed(notify, rec, monkeypatch):
    """The stack's moto, Slack on the recorder asking for downgrades, and every handler on one clock
    the test moves; AWS calls counted from here on (`timed.meter`)."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + SLACK_PATH)
    monkeypatch.setenv("ALERT_DOWNGRADES", "slack")
    monkeypatch.setenv("LEAD_URL_BASE", "https://crm.example/leads")
    settings.reset()
    meter = Meter(TEMPLATE, {"LeadsTable": notify.table})
    session = botocore_session()
    session.register("provide-client-params", meter.before)
    session.register("after-call", meter.after)
    clock = Clock(time.time())
    dependencies.use(dependencies.Dependencies(settings.settings(), clock=clock))  # its clients see the meter
    notify.clock, notify.meter, notify.rec = clock, meter, rec
    notify.score = load_handler(ROOT / "functions" / "score", "app.lambda_handler")
    notify.sweep = load_handler(ROOT / "functions" / "sweep", "app.lambda_handler")
    yield notify
    session.unregister("provide-client-params", meter.before)
    session.unregister("after-call", meter.after)
    dependencies.use(None)


def deliver(stack, events: list[Event]) -> None:
    records = [sqs_record(f"m-{e.event_id}", e.model_dump_json(), QUEUE_ARN) for e in events]
    assert stack.score(sqs_event(records), LambdaContext("ScoreFunction")) == {"batchItemFailures": []}


def sweep(stack) -> dict[str, Any]:
    return stack.sweep({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, LambdaContext("SweepFunction"))


def alert_slack(stack) -> list[dict[str, Any]]:
    """Publish what the table's stream holds, hand each event to the Slack notifier as the template's
    rules route it (each matching rule delivers it), and return the events published."""
    events = captured(stack)
    rules = [r for r in bus_rules(TEMPLATE) if r.function == "SlackNotifyFunction"]
    for e in events:
        for rule in rules:
            if matches(rule.pattern, e):
                invoke_notifier("slack", e)
    return events


def lead(stack) -> dict[str, Any]:
    return dependencies.current().leads_store.get(KEY)


def test_a_quiet_mql_is_downgraded_once_published_once_and_alerted_once_where_downgrades_are_asked_for(timed):
    # given: the lead qualifies now, and its due time says when its decayed score leaves mql
    t0 = timed.clock.t
    deliver(timed, qualifying(t0 - 60))
    (qualified,) = alert_slack(timed)
    assert qualified["detail"]["to_stage"] == "mql"
    item = lead(timed)
    due = int(item["due_at"])
    assert due == stage_change_at(ENGINE, state_of(item), t0) and due > t0 + 86400
    assert int(item["due_bucket"]) == due // 900 * 900

    # when: the sweep runs a second before the due time, nothing moves
    timed.clock.t = due - 1
    assert sweep(timed)["downgraded"] == 0
    assert alert_slack(timed) == []

    # when: it runs after the due time (the schedule's 5 minutes later at most)
    timed.clock.t = due + 299
    timed.meter.reset()
    timed.meter.active = True
    assert sweep(timed)["downgraded"] == 1
    timed.meter.active = False

    # then: the lead is a lead again, out of the due index, and it read no more than the due lead
    item = lead(timed)
    assert item["stage"] == "lead" and "due_at" not in item and "due_bucket" not in item
    calls = timed.meter.calls
    assert not [c for c in calls if ".Scan" in c]
    assert sum(n for c, n in calls.items() if ".BatchGetItem" in c) == 1
    # then: published once, as a decay, and the channel that asked for downgrades alerted once
    (downgraded,) = alert_slack(timed)
    detail = downgraded["detail"]
    assert (detail["from_stage"], detail["to_stage"], detail["cause"]) == ("mql", "lead", "decay")
    assert detail["score"] < 40
    assert len(timed.rec.requests) == 2  # the qualification, then the downgrade
    header = next(b for b in posted(timed.rec.requests[1])["blocks"] if b["type"] == "header")["text"]["text"]
    assert "Cooled to lead: Nadia Okafor" in header

    # when: the next sweep runs: then nothing more happens
    timed.clock.t += 300
    assert sweep(timed) == {"due": 0, "downgraded": 0, "triggered": 0, "rescheduled": 0, "failed": 0}
    assert alert_slack(timed) == []


def test_a_channel_that_does_not_ask_for_downgrades_is_not_alerted(timed, monkeypatch):
    monkeypatch.setenv("ALERT_DOWNGRADES", "")
    settings.reset()
    dependencies.use(dependencies.Dependencies(settings.settings(), clock=timed.clock))
    deliver(timed, qualifying(timed.clock.t - 60))
    alert_slack(timed)
    timed.clock.t = int(lead(timed)["due_at"]) + 10

    assert sweep(timed)["downgraded"] == 1

    (downgraded,) = alert_slack(timed)
    assert downgraded["detail"]["to_stage"] == "lead"
    assert len(timed.rec.requests) == 1  # the qualification only


def test_an_event_before_the_due_time_costs_no_extra_write_and_the_sweep_moves_the_due_time(timed):
    # given: a qualified lead and its due time
    t0 = timed.clock.t
    deliver(timed, qualifying(t0 - 60))
    due = int(lead(timed)["due_at"])

    # when: a day before it, the lead clicks an email (points that keep it warm)
    timed.clock.t = due - 86400
    timed.meter.reset()
    timed.meter.active = True
    deliver(timed, [event(20, timed.clock.t - 5, "email_clicked")])
    timed.meter.active = False

    # then: one write for the event, as without due times: the due time rides on nothing
    writes = {c: n for c, n in timed.meter.calls.items() if "UpdateItem" in c or "PutItem" in c or "Transact" in c}
    assert writes == {"dynamodb.UpdateItem[apply]": 1}
    assert int(lead(timed)["due_at"]) == due  # kept: a safe lower bound, points only delay a downgrade

    # when: the old due time comes, the sweep finds the lead warm and moves its due time
    timed.clock.t = due + 60
    result = sweep(timed)
    assert (result["downgraded"], result["rescheduled"]) == (0, 1)
    item = lead(timed)
    later = int(item["due_at"])
    assert item["stage"] == "mql" and later == stage_change_at(ENGINE, state_of(item), due + 60) and later > due

    # when: the new due time comes, the sweep downgrades it
    timed.clock.t = later + 1
    assert sweep(timed)["downgraded"] == 1
    assert lead(timed)["stage"] == "lead"


def test_a_cooling_event_brings_the_due_time_forward_in_one_conditional_write(timed):
    # given: a qualified lead
    deliver(timed, qualifying(timed.clock.t - 60))
    due = int(lead(timed)["due_at"])

    # when: it cancels a meeting (negative points): the downgrade comes sooner
    timed.clock.t += 3600
    deliver(timed, [event(30, timed.clock.t - 5, "meeting_canceled")])

    # then: the due time is the new, earlier crossing
    item = lead(timed)
    earlier = int(item["due_at"])
    assert earlier < due and earlier == stage_change_at(ENGINE, state_of(item), timed.clock.t)


def test_a_concurrent_stage_change_wins_over_the_sweep(timed):
    # given: the lead is due, and the sweep has read it
    deliver(timed, qualifying(timed.clock.t - 60))
    timed.clock.t = int(lead(timed)["due_at"]) + 30
    sweep_ = dependencies.current().sweep
    store = dependencies.current().leads_store
    stale = store.get(KEY)
    # when: before the sweep writes, an event worth nothing arrives: the worker scores the lead and records mql -> lead
    deliver(timed, [event(40, timed.clock.t - 1, "heartbeat")])
    assert lead(timed)["stage"] == "lead"
    from leadscore.sweep import SweepResult

    result = SweepResult()
    sweep_._sweep_one(KEY, stale, int(timed.clock.t), result)  # noqa: SLF001 (the sweep's step for one lead, with what it read)

    # then: the sweep's conditional write failed, it looked again and left the lead alone
    assert result.transitions == [] and result.failed == 0
    published = captured(timed)
    assert [(e["detail"]["from_stage"], e["detail"]["to_stage"]) for e in published] == [("lead", "mql"), ("mql", "lead")]
    assert [e["detail"].get("cause") for e in published] == [None, None]  # absent: an event moved it
