"""The notifiers on moto, with a real HTTP server standing in for Slack and the CRM.

Each test invokes the real handlers (functions/notify/app.py) with EventBridge
`LeadStageChanged` events shaped like events/functions/notify_*.json (which are
what the worker's `transition_detail` produces), and looks at what a person
would see: the Slack message posted, the email SES sent, the CRM's request,
the alerts dead-letter queue, and the log.
"""

from __future__ import annotations

import copy
import email
import email.policy
import html
import json
import logging
import socket
import sys
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
from leadscore import dependencies
from leadscore.dev.functions import LambdaContext, load_handler, load_module
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.edge import Unauthorized
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.notify import crm
from leadscore.notify.errors import Transient
from leadscore.signing import verify_timestamped
from scoring_core import Engine, Event, LeadState, load_model
from scoring_core.score import transition_id

from tests.support.alerts import SENDER, parts, posted, sent_emails
from tests.support.handlers import invoke_notifier as invoke
from tests.support.queues import captured, parked

ROOT = Path(__file__).resolve().parents[2]
NOTIFY = ROOT / "functions" / "notify"
SAMPLES = ROOT / "events" / "functions"
MQL = json.loads((SAMPLES / "notify_mql.json").read_text())
SQL = json.loads((SAMPLES / "notify_sql.json").read_text())
LEAD = MQL["detail"]["lead_id"]
LEAD_EMAIL = MQL["detail"]["email"]  # priya.raman@harbor-analytics.example
LEAD_URL_BASE = "https://crm.relaywise.example/leads"
SLACK_PATH = "/services/T0RELAYWISE/B0LEADALERTS/q8ZrVd3kLx0pWm4sTn7YcHbE"  # an incoming webhook's secret path
CRM_PATH = "/hooks/leadscore"
CRM_SECRET = "whsec_crm_3b9f0c1e77a24d5e"


def stage_event(to_stage: str, *, from_stage: str = "lead", seq: int = 0, base: dict[str, Any] = MQL,
                **detail: Any) -> dict[str, Any]:
    """An envelope like the sample's, for another transition of the same lead (its own transition id)."""
    event = copy.deepcopy(base)
    d = event["detail"]
    d.update(from_stage=from_stage, to_stage=to_stage, sequence=seq + 1,
             transition_id=transition_id(d["lead_id"], seq, from_stage, to_stage))
    d.update(detail)
    event["id"] = f"{event['id'][:-4]}{seq:04d}"
    return event


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def with_recent(event: dict[str, Any]) -> dict[str, Any]:
    """The event with activities at known distances from now (the alert shows relative times)."""
    now = datetime.now(timezone.utc)
    event = copy.deepcopy(event)
    event["detail"]["recent"] = [
        {"type": "page_view", "at": iso(now - timedelta(hours=3, minutes=30))},
        {"type": "demo_requested", "at": iso(now - timedelta(minutes=4, seconds=30))},
        {"type": "email_clicked", "at": iso(now - timedelta(days=2, hours=12))},
    ]
    return event


@pytest.fixture
def slack(notify, rec, monkeypatch):
    """Slack configured: one incoming webhook (the recorder), the lead link base."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + SLACK_PATH)
    monkeypatch.setenv("LEAD_URL_BASE", LEAD_URL_BASE)
    return notify


@pytest.fixture
def crm_hook(notify, rec, monkeypatch):
    """The CRM webhook configured (the recorder), retries fast: backoff 10 ms, timeout 0.3 s."""
    monkeypatch.setenv("CRM_WEBHOOK_URL", rec.url + CRM_PATH)
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", CRM_SECRET)
    monkeypatch.setattr(crm, "BACKOFF_S", 0.01)
    # `post`'s timeout default is bound at import (patching TIMEOUT_S alone changes nothing): pass it
    monkeypatch.setattr(crm, "post", partial(crm.post, timeout=0.3))
    return notify


@pytest.fixture
def ses(notify, monkeypatch):
    """SES on moto with a verified sender; MQL alerts to marketing, SQL alerts to two sellers."""
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("ALERT_EMAIL_FROM", SENDER)
    monkeypatch.setenv("ALERT_EMAIL_TO", "marketing@relaywise.example")
    monkeypatch.setenv("ALERT_EMAIL_TO_SQL", "ae-team@relaywise.example, vp-sales@relaywise.example")
    monkeypatch.setenv("LEAD_URL_BASE", LEAD_URL_BASE)
    return notify


@pytest.fixture
def fast_slack_retries(monkeypatch):
    """slack_sdk's backoff (0.5 s, 1 s, + up to 1 s jitter each) at 10 ms, for tests that exhaust it.
    Retry-After on a 429 is not affected."""
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    monkeypatch.setattr(BackoffRetryIntervalCalculator, "calculate_sleep_duration", lambda self, attempt: 0.01)


def header_text(message: dict[str, Any]) -> str:
    (header,) = [b for b in message["blocks"] if b["type"] == "header"]
    return header["text"]["text"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# 1. the Slack message


def test_the_slack_alert_is_valid_block_kit_and_shows_what_sales_needs(slack, rec):
    from slack_sdk.models.blocks import ActionsBlock, Block

    result = invoke("slack", with_recent(MQL))

    assert result["status"] == "sent"
    (request,) = rec.requests
    assert (request.method, request.path) == ("POST", SLACK_PATH)
    message = posted(request)
    blocks = Block.parse_all(message["blocks"])
    assert len(blocks) == len(message["blocks"]) and all(b is not None for b in blocks)
    for block in blocks:
        block.validate_json()  # Slack's own limits and required fields
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    for fact in ("Priya Raman", "VP Revenue Operations at Harbor Analytics", "A3", "59 (fit 47 + engagement 12)", "Lead → MQL"):
        assert fact in shown, fact
    assert "MQL" in header_text(message) and "Priya Raman" in header_text(message)
    # top reasons with their points, largest first
    why = next(b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b)
    assert why.index("+15") < why.index("title vp director") < why.index("+12") < why.index("company mid")
    # recent activity with relative times, newest first
    recent = next(e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"] if "Recent" in e["text"])
    assert recent.index("demo requested _4 min ago_") < recent.index("page view _3 h ago_") < recent.index("email clicked _2 d ago_")
    actions, answers = [b for b in blocks if isinstance(b, ActionsBlock)]
    (button,) = actions.elements
    assert button.text.text == "View lead"
    assert button.url == f"{LEAD_URL_BASE}/{LEAD}"
    # an MQL: Accept and Reject, answered at POST /slack/interactions (tests/integration/test_sales.py)
    assert [(e.text.text, e.style, e.value) for e in answers.elements] == [("Accept", "primary", LEAD), ("Reject", "danger", LEAD)]
    assert message["text"].strip() and "Priya Raman" in message["text"]  # the notification fallback
    assert f"mailto:{LEAD_EMAIL}" in shown


def test_mql_and_sql_alerts_look_different(slack, rec):
    invoke("slack", MQL)
    invoke("slack", SQL)

    mql, sql = (posted(r) for r in rec.wait_for(2))
    assert "MQL" in header_text(mql) and "SQL" not in header_text(mql)
    assert "SQL" in header_text(sql) and "MQL" not in header_text(sql)
    assert header_text(mql).split()[0] != header_text(sql).split()[0]  # a different emoji leads each
    sql_button = next(b for b in sql["blocks"] if b["type"] == "actions")["elements"][0]
    assert sql_button.get("style") == "primary"  # the urgent one stands out


@pytest.mark.parametrize("field, value", [
    ("name", "Jane <!channel> Doe"),
    ("company", "<!here> Acme"),
    ("job_title", "CEO <https://evil.example|click me>"),
])
def test_what_a_lead_typed_cannot_mention_channels_or_forge_links_in_mrkdwn(slack, rec, field, value):
    facts = {"name": "Jane Doe", "job_title": "CTO", "company": "Acme"} | {field: value}

    assert invoke("slack", stage_event("mql", facts=facts))["status"] == "sent"

    (request,) = rec.requests
    message = posted(request)
    mrkdwn = [o["text"] for b in message["blocks"] for o in ([b["text"]] if "text" in b else []) + b.get("fields", []) + b.get("elements", [])
              if isinstance(o, dict) and o.get("type") == "mrkdwn"]
    raw = value[value.index("<"):value.index(">") + 1]
    assert all(raw not in text for text in mrkdwn + [message["text"]])
    escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert any(escaped in text for text in mrkdwn)  # still shown, as text


def test_no_raw_channel_mention_anywhere_in_the_posted_body(slack, rec):
    # the header (plain_text) included: it once carried the name unescaped
    invoke("slack", stage_event("mql", facts={"name": "Jane <!channel> Doe", "company": "Acme"}))

    (request,) = rec.requests
    assert b"<!channel>" not in request.body
    assert "&lt;!channel&gt;" in header_text(posted(request))


# 2. Slack's failures


def test_a_429_is_retried_after_its_retry_after_then_delivered_once(slack, rec):
    rec.answer(SLACK_PATH, 429, retry_after=1)

    assert invoke("slack", MQL)["status"] == "sent"

    assert len(rec.requests) == 2
    first, second = rec.times
    assert second - first >= 0.95
    assert rec.requests[0].body == rec.requests[1].body
    invoke("slack", MQL)  # and a redelivery sends nothing more
    assert len(rec.requests) == 2


def test_a_500_is_retried_then_delivered(slack, rec):
    rec.answer(SLACK_PATH, 500)

    assert invoke("slack", MQL)["status"] == "sent"

    assert len(rec.requests) == 2


def test_slack_still_failing_fails_the_invocation_and_a_later_retry_still_sends(slack, rec, fast_slack_retries):
    for _ in range(3):
        rec.answer(SLACK_PATH, 500)

    with pytest.raises(Transient):
        invoke("slack", MQL)
    assert len(rec.requests) == 3  # the first try and slack_sdk's two retries
    assert parked(slack) == []

    assert invoke("slack", MQL)["status"] == "sent"  # Lambda's retry: the failed attempt left no record in the way
    assert len(rec.requests) == 4
    assert invoke("slack", MQL)["status"] == "sent"  # and now it is recorded: no second message
    assert len(rec.requests) == 4


def test_slack_unreachable_fails_the_invocation(slack, monkeypatch, fast_slack_retries):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}{SLACK_PATH}")

    with pytest.raises(Transient):
        invoke("slack", MQL)
    assert parked(slack) == []


def test_a_404_from_slack_is_parked_with_the_reason_not_raised_not_retried(slack, rec):
    rec.answer(SLACK_PATH, 404, body="no_service")

    result = invoke("slack", MQL)

    assert result["status"] == "parked"
    assert len(rec.requests) == 1
    (message,) = parked(slack)
    assert message["channel"] == "slack"
    assert "404" in message["reason"]
    assert message["event"]["detail"]["transition_id"] == MQL["detail"]["transition_id"]
    invoke("slack", MQL)  # EventBridge delivering it again does not post again
    assert len(rec.requests) == 1


# 3. once per transition per channel


def test_an_event_delivered_twice_alerts_once_per_channel_and_each_transition_alerts(slack, ses, crm_hook, rec):
    for _ in range(2):
        for channel in ("slack", "email", "crm"):
            assert invoke(channel, MQL)["status"] == "sent"

    assert len(rec.to(SLACK_PATH)) == 1
    assert len(sent_emails()) == 1
    assert len(rec.to(CRM_PATH)) == 1

    for _ in range(2):
        for channel in ("slack", "email", "crm"):
            assert invoke(channel, SQL)["status"] == "sent"

    slack_messages = [posted(r) for r in rec.to(SLACK_PATH)]
    assert [("MQL" in header_text(m), "SQL" in header_text(m)) for m in slack_messages] == [(True, False), (False, True)]
    subjects = [email.message_from_string(m.raw_data, policy=email.policy.default)["Subject"] for m in sent_emails()]
    assert len(subjects) == 2 and "New MQL" in subjects[0] and "New SQL" in subjects[1]
    deliveries = [r.headers["x-leadscore-delivery"] for r in rec.to(CRM_PATH)]
    assert deliveries == [MQL["detail"]["transition_id"], SQL["detail"]["transition_id"]]


# 4. a Slack channel per stage


def test_sql_alerts_go_to_the_sql_channel_and_mql_alerts_to_the_default_one(slack, rec, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + "/services/T0/B0MARKETING/generalsecret")
    monkeypatch.setenv("SLACK_WEBHOOK_URL_SQL", rec.url + "/services/T0/B0SALES/urgentsecret")

    invoke("slack", SQL)
    invoke("slack", MQL)

    (sql,) = rec.to("/services/T0/B0SALES/urgentsecret")
    (mql,) = rec.to("/services/T0/B0MARKETING/generalsecret")
    assert "SQL" in header_text(posted(sql))
    assert "MQL" in header_text(posted(mql))


# 5. email through SES


def test_one_email_per_transition_with_the_same_content_as_text_and_html(ses):
    result = invoke("email", with_recent(MQL))

    assert result["status"] == "sent"
    (sent,) = sent_emails()
    message, text, markup = parts(sent.raw_data)
    assert message["From"] == SENDER
    assert "New MQL" in message["Subject"] and "Priya Raman" in message["Subject"]
    shown = html.unescape(markup)
    for content in ("Priya Raman", "VP Revenue Operations at Harbor Analytics", LEAD_EMAIL, "Lead → MQL", "A3",
                    "59 (fit 47 + engagement 12)", "+15", "title vp director", "demo requested", "4 min ago",
                    "3 h ago", f"{LEAD_URL_BASE}/{LEAD}"):
        assert content in text, content
        assert content in shown, content
    assert f'href="mailto:{LEAD_EMAIL}"' in markup
    assert f'href="{LEAD_URL_BASE}/{LEAD}"' in markup


def test_email_recipients_follow_the_stage(ses):
    invoke("email", MQL)
    invoke("email", SQL)

    mql, sql = sent_emails()
    assert parts(mql.raw_data)[0]["To"] == "marketing@relaywise.example"
    assert set(mql.destinations) >= {"marketing@relaywise.example"}
    assert parts(sql.raw_data)[0]["To"] == "ae-team@relaywise.example, vp-sales@relaywise.example"
    assert "marketing@relaywise.example" not in " ".join(sql.destinations) + parts(sql.raw_data)[0]["To"]


def test_a_lead_that_typed_html_cannot_inject_markup_into_the_email(ses):
    invoke("email", stage_event("mql", facts={"name": '<img src="https://evil.example/x.png">Mallory', "company": "Acme"}))

    (sent,) = sent_emails()
    _, _, markup = parts(sent.raw_data)
    assert "<img" not in markup
    assert "&lt;img" in markup


# 6. the CRM webhook


def test_the_crm_receives_the_transition_signed_with_the_documented_scheme(crm_hook, rec):
    result = invoke("crm", MQL)

    assert result == {"status": "sent", "http_status": 200}
    (request,) = rec.requests
    assert (request.method, request.path) == ("POST", CRM_PATH)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-leadscore-event"] == "LeadStageChanged"
    assert request.headers["x-leadscore-delivery"] == MQL["detail"]["transition_id"]
    signature = verify_timestamped(request.body, request.headers["x-leadscore-signature"], CRM_SECRET,
                                   now=datetime.now(timezone.utc), reject_future=True)
    assert abs(signature.timestamp - time.time()) < 60
    with pytest.raises(Unauthorized):
        verify_timestamped(request.body, request.headers["x-leadscore-signature"], "another-secret", now=datetime.now(timezone.utc))
    assert json.loads(request.body) == MQL["detail"]  # the detail as validated: every field (no `cause` or `feedback` when none)


def test_the_crm_body_carries_the_leads_interests_when_it_has_some(crm_hook, rec):
    assert invoke("crm", SQL)["status"] == "sent"

    (request,) = rec.requests
    body = json.loads(request.body)
    assert body["interests"] == [{"category": "pricing", "weight": 2.71, "share": 62},
                                 {"category": "features", "weight": 1.0, "share": 23},
                                 {"category": "blog", "weight": 0.65, "share": 15}]
    assert body == SQL["detail"]


@pytest.mark.parametrize("to_stage", ["customer", "disqualified"])
def test_customer_and_disqualified_reach_the_crm_but_not_slack_or_email(slack, ses, crm_hook, rec, to_stage):
    event = stage_event(to_stage, from_stage="sql", seq=2, base=SQL,
                        disqualified_by=["competitor_domain"] if to_stage == "disqualified" else [])

    assert invoke("slack", event)["status"] == "ignored"
    assert invoke("email", event)["status"] == "ignored"
    assert invoke("crm", event)["status"] == "sent"

    assert rec.to(SLACK_PATH) == []
    assert sent_emails() == []
    (request,) = rec.to(CRM_PATH)
    assert json.loads(request.body)["to_stage"] == to_stage


def test_a_crm_500_is_retried_then_delivered_once(crm_hook, rec):
    rec.answer(CRM_PATH, 500)

    assert invoke("crm", MQL)["status"] == "sent"

    first, second = rec.requests
    assert first.body == second.body
    assert first.headers["x-leadscore-delivery"] == second.headers["x-leadscore-delivery"]
    verify_timestamped(second.body, second.headers["x-leadscore-signature"], CRM_SECRET, now=datetime.now(timezone.utc))
    invoke("crm", MQL)
    assert len(rec.requests) == 2


def test_a_crm_429_waits_for_its_retry_after(crm_hook, rec):
    rec.answer(CRM_PATH, 429, retry_after=1)

    assert invoke("crm", MQL)["status"] == "sent"

    assert len(rec.requests) == 2
    first, second = rec.times
    assert second - first >= 0.95


def test_a_crm_400_is_parked_and_not_retried(crm_hook, rec):
    rec.answer(CRM_PATH, 400, body='{"error": "unknown field"}')

    result = invoke("crm", MQL)

    assert result["status"] == "parked"
    assert len(rec.requests) == 1
    (message,) = parked(crm_hook)
    assert message["channel"] == "crm" and "400" in message["reason"]
    assert message["event"]["detail"]["transition_id"] == MQL["detail"]["transition_id"]


def test_a_crm_that_hangs_past_the_timeout_is_retried(crm_hook, rec):
    rec.answer(CRM_PATH, "hang", 2)

    started = time.monotonic()
    assert invoke("crm", MQL)["status"] == "sent"

    assert time.monotonic() - started < 1.5  # it gave up on the hung request after the timeout
    assert len(rec.requests) == 2


def test_a_crm_failing_every_attempt_fails_the_invocation_and_a_later_retry_sends(crm_hook, rec):
    for _ in range(crm.ATTEMPTS):
        rec.answer(CRM_PATH, 503)

    with pytest.raises(Transient):
        invoke("crm", MQL)
    assert len(rec.requests) == crm.ATTEMPTS

    assert invoke("crm", MQL)["status"] == "sent"
    assert len(rec.requests) == crm.ATTEMPTS + 1


def test_a_crm_url_without_a_secret_is_parked_not_sent_unsigned(crm_hook, rec, monkeypatch):
    monkeypatch.delenv("CRM_WEBHOOK_SECRET")

    assert invoke("crm", MQL)["status"] == "parked"

    assert rec.requests == []
    (message,) = parked(crm_hook)
    assert "CRM_WEBHOOK_SECRET" in message["reason"]


# 7. end to end, from events to the worker to one Slack alert

ENGINE = Engine(load_model())
HOVER_EMAIL = "nadia.okafor@tidewater-labs.example"


def hover_event(i: int, t: float, type_: str, **fields: Any) -> Event:
    at = datetime.fromtimestamp(t, timezone.utc)
    return Event(event_id=f"hover-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=HOVER_EMAIL, **fields)


def test_a_lead_hovering_around_the_mql_threshold_alerts_once(slack, rec, monkeypatch):
    score = load_handler(ROOT / "functions" / "score", "app.lambda_handler")
    now = time.time()
    base = now - 12 * 86400
    batches = [
        # a good fit (37) fills a form and clicks four emails: just over 50
        (base + 3600, [hover_event(1, base, "identify", traits={"first_name": "Nadia", "last_name": "Okafor",
                                                                 "job_title": "Director of Marketing", "company": "Tidewater Labs",
                                                                 "company_size": 180, "country": "CA"}),
                       hover_event(2, base + 600, "form_submitted")]
         + [hover_event(3 + i, base + 1200 + 60 * i, "email_clicked") for i in range(4)]),
        # twelve days later engagement has decayed: just under 50, above 50 - hysteresis
        (now, [hover_event(10, now - 60, "page_view", properties={"url": "https://www.relaywise.example/blog"})]),
        (now + 1, [hover_event(11, now, "webinar_attended")]),  # over again
        (now + 2, [hover_event(12, now + 1, "meeting_canceled")]),  # under again
        (now + 3, [hover_event(13, now + 2, "email_clicked")]),  # and over
    ]
    state, trajectory = LeadState(), []
    for at, events in batches:
        for e in events:
            ENGINE.apply(state, e)
        trajectory.append(ENGINE.evaluate(state, at).total)
    assert [s >= 50 for s in trajectory] == [True, False, True, False, True], trajectory  # it does hover
    assert min(trajectory) >= 40  # within the hysteresis

    for i, (at, events) in enumerate(batches):
        monkeypatch.setattr(dependencies.current(), "clock", lambda at=at: at)  # the worker scores at `at`
        records = [sqs_record(f"m-{e.event_id}", e.model_dump_json(), "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue")
                   for e in events]
        assert score(sqs_event(records), LambdaContext("ScoreFunction")) == {"batchItemFailures": []}

    published = captured(slack)
    assert [(e["detail-type"], e["detail"]["to_stage"]) for e in published] == [("LeadStageChanged", "mql")]
    assert published[0]["detail"]["lead_id"] == email_key(HOVER_EMAIL, LOCAL_KEY_SECRET)
    for event in published * 2:  # EventBridge and Lambda both retry: each event may arrive twice
        assert invoke("slack", event)["status"] == "sent"
    (alert,) = rec.requests
    assert "Nadia Okafor" in header_text(posted(alert))


# 8. nothing personal or secret in the log


def test_the_log_never_holds_the_leads_email_name_webhook_url_or_crm_secret(slack, ses, crm_hook, rec, capsys, caplog,
                                                                          monkeypatch, request, fast_slack_retries):
    app = load_module(NOTIFY)
    handler = app.logger.logger_handler
    # the log exactly as Lambda gets it, whatever an earlier test did to this process-wide logger: its
    # handler on today's stdout (it kept the one of the module's first load), the powertools JSON
    # formatter (the local dev stack swaps in a one-line one), the default INFO level
    monkeypatch.setattr(handler, "stream", sys.stdout)
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    json_lines = LambdaPowertoolsFormatter()
    json_lines.append_keys(service="notify")
    monkeypatch.setattr(handler, "formatter", json_lines)
    level = app.logger.log_level
    app.logger.setLevel(logging.INFO)
    request.addfinalizer(lambda: app.logger.setLevel(level))
    caplog.set_level(logging.WARNING)  # what any other library logs at Lambda's default level
    capsys.readouterr()

    # delivered
    for channel in ("slack", "email", "crm"):
        assert invoke(channel, MQL)["status"] == "sent"
    # parked
    rec.answer(SLACK_PATH, 404, body="no_service").answer(CRM_PATH, 400)
    assert invoke("slack", SQL)["status"] == "parked"
    assert invoke("crm", SQL)["status"] == "parked"
    # failing
    failing = stage_event("sql", from_stage="mql", seq=3, base=SQL)
    for _ in range(3):
        rec.answer(SLACK_PATH, 500)
    rec.answer(CRM_PATH, "hang", 1)
    for _ in range(crm.ATTEMPTS - 1):
        rec.answer(CRM_PATH, 502)
    for channel in ("slack", "crm"):
        with pytest.raises(Transient):
            invoke(channel, failing)

    out = capsys.readouterr()
    log = out.out + out.err + caplog.text
    records = [json.loads(line) for line in out.out.splitlines() if line.startswith("{") and '"level"' in line]
    # it did log each outcome (so the absence below means something)
    assert {r["message"] for r in records} >= {"alert sent", "alert parked", "alert not delivered, will retry"}
    assert MQL["detail"]["transition_id"] in log and failing["detail"]["transition_id"] in log
    for secret in (LEAD_EMAIL, "Priya", "Raman", rec.url + SLACK_PATH, SLACK_PATH, "q8ZrVd3kLx0pWm4sTn7YcHbE",
                   rec.url + CRM_PATH, CRM_SECRET):
        assert secret not in log, secret


# 9. an event that is not a transition


@pytest.mark.parametrize("channel", ["slack", "email", "crm"])
def test_an_event_without_a_transition_id_is_parked_naming_the_field(slack, ses, crm_hook, rec, channel):
    event = copy.deepcopy(MQL)
    del event["detail"]["transition_id"]

    result = invoke(channel, event)

    assert result["status"] == "invalid"
    assert "transition_id" in result["reason"]
    (message,) = parked(slack)
    assert message["channel"] == channel
    assert "transition_id" in message["reason"]
    assert message["event"] == event  # kept whole, to replay once fixed
    assert rec.requests == [] and sent_emails() == []


@pytest.mark.parametrize("channel", ["slack", "email"])
def test_an_activity_time_without_an_offset_is_parked_not_raised(slack, ses, rec, channel):
    # it once passed validation, then made the rendering raise TypeError (naive - aware) on every retry
    event = copy.deepcopy(MQL)
    event["detail"]["recent"][0]["at"] = "2026-10-28T15:09:11"  # no Z, no offset

    result = invoke(channel, event)

    assert result["status"] == "invalid" and "recent" in result["reason"]
    (message,) = parked(slack)
    assert message["channel"] == channel and "recent" in message["reason"]
    assert rec.requests == [] and sent_emails() == []


@pytest.mark.parametrize("event, field", [
    ({"version": "0", "id": "x", "source": "leadscore", "detail-type": "LeadStageChanged"}, "detail"),
    (stage_event("promoted"), "to_stage"),
    (stage_event("mql", changed_at="yesterday"), "changed_at"),
    (stage_event("mql", changed_at="2026-10-28T15:09:11"), "changed_at"),  # no offset
    ({**MQL, "source": "someone.else"}, "source"),
])
def test_a_malformed_event_is_parked_not_raised(slack, rec, event, field):
    result = invoke("slack", event)

    assert result["status"] == "invalid" and field in result["reason"]
    (message,) = parked(slack)
    assert field in message["reason"]
    assert rec.requests == []
