"""Trigger alerts (`LeadTriggered`, the model's triggers) on moto: the real notifiers, a recorder standing
in for Slack, SES on moto. A firing alerts once per channel that `ALERT_TRIGGERS` names, on the route's
webhook and list; nothing at all when it names none."""

from __future__ import annotations

import copy
import json
import logging
import sys
from pathlib import Path

import boto3
import pytest
from leadscore import settings
from leadscore.dev.functions import load_module

from tests.support.alerts import SENDER, parts, posted, sent_emails
from tests.support.handlers import invoke_notifier as invoke
from tests.support.queues import parked

ROOT = Path(__file__).resolve().parents[2]
FIRING = json.loads((ROOT / "events" / "automation" / "lead_triggered.json").read_text())
MQL = json.loads((ROOT / "events" / "functions" / "notify_mql.json").read_text())
OWNER = {"id": "ana", "name": "Ana Ruiz", "email": "ana@relaywise.example", "team": "enterprise"}
ROUTING = """\
teams:
  enterprise: {members: [{id: ana, name: Ana Ruiz, email: ana@relaywise.example}]}
routes:
  - id: enterprise
    when: {company_size: {gte: 500}}
    team: enterprise
    slack: SLACK_WEBHOOK_URL_ENTERPRISE
    email: [enterprise-sales@relaywise.example]
  - id: retail
    when: {industry: retail}
    triggers: [cooling]
    slack: SLACK_WEBHOOK_URL_ENTERPRISE
  - id: default
"""
DEFAULT_PATH, ENTERPRISE_PATH = "/services/T0/B0DEFAULT/defaultsecret", "/services/T0/B0ENTERPRISE/entsecret"


def firing(**detail) -> dict:
    event = copy.deepcopy(FIRING)
    event["detail"].update(detail)
    return event


@pytest.fixture
def channels(notify, rec, monkeypatch, tmp_path):
    """Slack on the recorder (a default and a routed webhook), SES on moto, a routing file; ALERT_TRIGGERS unset."""
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING, encoding="utf-8")
    monkeypatch.setenv("ROUTING_FILE", str(path))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + DEFAULT_PATH)
    monkeypatch.setenv("SLACK_WEBHOOK_URL_ENTERPRISE", rec.url + ENTERPRISE_PATH)
    monkeypatch.setenv("LEAD_URL_BASE", "https://crm.relaywise.example/leads")
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("ALERT_EMAIL_FROM", SENDER)
    monkeypatch.setenv("ALERT_EMAIL_TO", "marketing@relaywise.example")
    settings.reset()
    yield notify
    settings.reset()


@pytest.fixture
def opted_in(channels, monkeypatch):
    monkeypatch.setenv("ALERT_TRIGGERS", "slack, email")
    settings.reset()
    return channels


def test_a_firing_alerts_once_per_channel_even_delivered_twice(opted_in, rec):
    for _ in range(2):
        for channel in ("slack", "email"):
            assert invoke(channel, FIRING)["status"] == "sent"

    (message,) = rec.to(DEFAULT_PATH)
    header = next(b for b in posted(message)["blocks"] if b["type"] == "header")["text"]["text"]
    assert header == ":bell: Abandoned cart: Dana Whitfield"
    assert "checkout started 24 h ago, no purchase" in posted(message)["text"]
    (sent,) = sent_emails()
    mime, text, markup = parts(sent.raw_data)
    assert mime["To"] == "marketing@relaywise.example"
    assert mime["Subject"].strip() == "[leadscore] Abandoned cart: Dana Whitfield (Northwind Robotics), grade B2"
    assert "Abandoned cart: Dana Whitfield (checkout started 24 h ago, no purchase)" in text
    assert "View lead: https://crm.relaywise.example/leads/u:9f3a6c2d1e8b4a7f" in text
    assert "View lead" in markup


def test_another_episode_of_the_same_trigger_alerts_again(opted_in, rec):
    invoke("slack", FIRING)
    invoke("slack", firing(firing_id="0" * 32))

    assert len(rec.to(DEFAULT_PATH)) == 2


def test_a_firing_and_a_transition_with_the_same_id_never_share_a_dedupe_record(opted_in, rec):
    invoke("slack", MQL)
    result = invoke("slack", firing(firing_id=MQL["detail"]["transition_id"]))

    assert result["status"] == "sent"
    assert len(rec.to(DEFAULT_PATH)) == 2


def test_a_routed_firing_goes_to_its_routes_webhook_and_list_and_shows_the_owner(opted_in, rec):
    routed = firing(route="enterprise", owner=OWNER)

    invoke("slack", routed)
    invoke("email", routed)

    (message,) = rec.to(ENTERPRISE_PATH)
    assert not rec.to(DEFAULT_PATH)
    assert "Owner: Ana Ruiz (enterprise)" in posted(message)["text"]
    (sent,) = sent_emails()
    mime, text, markup = parts(sent.raw_data)
    assert mime["To"] == "enterprise-sales@relaywise.example"
    assert "Owner: Ana Ruiz (enterprise)" in text and "Ana Ruiz (enterprise)" in markup


def test_a_route_that_names_its_triggers_alerts_only_those(opted_in, rec):
    assert invoke("slack", firing(route="retail"))["status"] == "ignored"  # abandoned_cart: not the retail route's
    assert invoke("slack", firing(route="retail", trigger="cooling", kind="inactive", firing_id="1" * 32,
                                  matched={"last_event_at": "2026-10-15T09:00:00Z", "days_inactive": 14.3}))["status"] == "sent"

    (message,) = rec.to(ENTERPRISE_PATH)
    assert "Cooling: Dana Whitfield (no activity for 14 days)" in posted(message)["text"]


def test_with_alert_triggers_empty_no_firing_alerts_and_nothing_is_parked(channels, rec):
    invalid = firing()
    del invalid["detail"]["firing_id"]

    for channel in ("slack", "email"):
        assert invoke(channel, FIRING)["status"] == "ignored"
        assert invoke(channel, invalid)["status"] == "ignored"

    assert rec.requests == [] and sent_emails() == []
    assert parked(channels) == []
    assert invoke("slack", MQL)["status"] == "sent"  # stage changes alert as before


def test_one_channel_named_alerts_and_the_other_does_not(channels, rec, monkeypatch):
    monkeypatch.setenv("ALERT_TRIGGERS", "email")
    settings.reset()

    assert invoke("slack", FIRING)["status"] == "ignored"
    assert invoke("email", FIRING)["status"] == "sent"
    assert rec.requests == [] and len(sent_emails()) == 1


def test_the_crm_never_alerts_a_firing(opted_in, rec, monkeypatch):
    monkeypatch.setenv("CRM_WEBHOOK_URL", rec.url + "/hooks/crm")
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "whsec_test")
    settings.reset()

    assert invoke("crm", FIRING)["status"] == "ignored"
    assert rec.requests == []


@pytest.mark.parametrize("channel", ["slack", "email"])
def test_an_invalid_firing_is_parked_naming_the_field(opted_in, rec, channel):
    event = firing()
    del event["detail"]["firing_id"]

    result = invoke(channel, event)

    assert result["status"] == "invalid" and "firing_id" in result["reason"]
    (message,) = parked(opted_in)
    assert message["channel"] == channel and "firing_id" in message["reason"] and "LeadTriggered" in message["reason"]
    assert message["event"] == event
    assert rec.requests == [] and sent_emails() == []


def test_the_log_of_a_trigger_alert_names_the_firing_never_the_leads_email_or_name(opted_in, rec, capsys, monkeypatch,
                                                                                   request):
    app = load_module(ROOT / "functions" / "notify")
    handler = app.logger.logger_handler
    # the log as Lambda gets it (see test_notify's log test): the powertools JSON lines on today's stdout
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    monkeypatch.setattr(handler, "stream", sys.stdout)
    monkeypatch.setattr(handler, "formatter", LambdaPowertoolsFormatter())
    level = app.logger.log_level
    app.logger.setLevel(logging.INFO)
    request.addfinalizer(lambda: app.logger.setLevel(level))
    capsys.readouterr()

    for channel in ("slack", "email"):
        invoke(channel, firing(route="enterprise", owner=OWNER))

    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    sent = [r for r in records if r.get("message") == "alert sent"]
    assert [(r["firing"], r["trigger"]) for r in sent] == [(FIRING["detail"]["firing_id"], "abandoned_cart")] * 2
    for secret in ("dana@northwind-robotics.com", "Dana", "Whitfield", "Ana Ruiz", "ana@relaywise.example",
                   "enterprise-sales@relaywise.example", ENTERPRISE_PATH):
        assert secret not in out, secret
