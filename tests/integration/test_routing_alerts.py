"""Alerts by route (docs/routing.md): the real notifiers, a recorder standing in for Slack and the CRM,
SES on moto. A transition's `route` picks the Slack webhook and the email list; its `owner` shows."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import boto3
import pytest
from leadscore import settings

from tests.support.alerts import SENDER, parts, posted, sent_emails
from tests.support.handlers import invoke_notifier as invoke

MQL = json.loads((Path(__file__).resolve().parents[2] / "events" / "functions" / "notify_mql.json").read_text())
OWNER = {"id": "ana", "name": "Ana Ruiz", "email": "ana@example.com", "team": "enterprise"}
ROUTING = """\
teams:
  enterprise: {members: [{id: ana, name: Ana Ruiz, email: ana@example.com}]}
routes:
  - id: enterprise
    when: {company_size: {gte: 500}}
    team: enterprise
    slack: SLACK_WEBHOOK_URL_ENTERPRISE
    email: [enterprise-sales@relaywise.example]
  - id: unconfigured
    when: {country: FR}
    slack: SLACK_WEBHOOK_URL_NOWHERE
  - id: default
"""
DEFAULT_PATH, ENTERPRISE_PATH = "/services/T0/B0DEFAULT/defaultsecret", "/services/T0/B0ENTERPRISE/entsecret"


def routed(route: str | None, owner: dict | None = OWNER) -> dict:
    event = copy.deepcopy(MQL)
    if route:
        event["detail"]["route"] = route
    if owner:
        event["detail"]["owner"] = owner
    return event


@pytest.fixture
def routing(notify, rec, monkeypatch, tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING, encoding="utf-8")
    monkeypatch.setenv("ROUTING_FILE", str(path))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + DEFAULT_PATH)
    monkeypatch.setenv("SLACK_WEBHOOK_URL_ENTERPRISE", rec.url + ENTERPRISE_PATH)
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("ALERT_EMAIL_FROM", SENDER)
    monkeypatch.setenv("ALERT_EMAIL_TO", "marketing@relaywise.example")
    settings.reset()
    yield notify
    settings.reset()


def owner_field(message: dict) -> list[str]:
    return [f["text"] for b in message["blocks"] if b["type"] == "section" for f in b.get("fields") or []
            if f["text"].startswith("*Owner*")]


def test_a_routed_slack_alert_goes_to_its_routes_webhook_and_shows_the_owner(routing, rec):
    invoke("slack", routed("enterprise"))

    (message,) = rec.to(ENTERPRISE_PATH)
    assert not rec.to(DEFAULT_PATH)
    assert owner_field(posted(message)) == ["*Owner*\nAna Ruiz (enterprise)"]
    assert "Owner: Ana Ruiz (enterprise)" in posted(message)["text"]


def test_a_route_without_a_webhook_and_an_alert_without_a_route_use_the_default_webhook(routing, rec):
    unrouted = routed(None, owner=None)
    unrouted["detail"]["transition_id"] += "-other"  # another transition: alerted on its own

    invoke("slack", routed("default", owner=None))
    invoke("slack", unrouted)

    sent = rec.to(DEFAULT_PATH)
    assert len(sent) == 2
    assert not rec.to(ENTERPRISE_PATH)
    assert all(not owner_field(posted(m)) for m in sent)


def test_a_route_naming_a_key_not_in_the_secrets_falls_back_to_the_default_webhook_with_a_warning(routing, rec, caplog):
    with caplog.at_level(logging.WARNING, logger="leadscore.notify"):
        invoke("slack", routed("unconfigured"))

    assert len(rec.to(DEFAULT_PATH)) == 1
    warning = next(r for r in caplog.records if "not in the secrets" in r.getMessage())
    assert (warning.route, warning.key) == ("unconfigured", "SLACK_WEBHOOK_URL_NOWHERE")
    assert "priya" not in caplog.text.lower() and rec.url not in caplog.text


def test_a_routed_email_goes_to_the_routes_list_and_shows_the_owner(routing):
    invoke("email", routed("enterprise"))

    (sent,) = sent_emails()
    message, text, markup = parts(sent.raw_data)
    assert message["To"] == "enterprise-sales@relaywise.example"
    assert "marketing@relaywise.example" not in " ".join(sent.destinations)
    assert "Owner: Ana Ruiz (enterprise)" in text
    assert "Ana Ruiz (enterprise)" in markup


def test_the_crm_body_carries_the_owner_and_the_route(routing, rec, monkeypatch):
    monkeypatch.setenv("CRM_WEBHOOK_URL", rec.url + "/hooks/crm")
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "whsec_test")
    settings.reset()

    invoke("crm", routed("enterprise"))

    (request,) = rec.requests
    body = json.loads(request.body)
    assert body["owner"] == OWNER and body["route"] == "enterprise"
    assert body == routed("enterprise")["detail"]
