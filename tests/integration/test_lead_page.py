"""The "View lead" link of an alert, opened the way a salesperson's browser opens it.

A lead qualifies through the real worker and stream publisher on moto; the real
Slack and email notifiers send the alert (Slack is a local recorder, SES is
moto); the link in it is then requested from the real leads handler with a
plain GET: no Authorization header, nothing but the link.
"""

from __future__ import annotations

import html
import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from leadscore import dependencies
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.http import http_api_event
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from scoring_core import Event

from tests.support.alerts import SENDER, parts, posted, sent_emails
from tests.support.queues import captured
from tests.support.handlers import invoke_notifier as alert

ROOT = Path(__file__).resolve().parents[2]
LEADS = ROOT / "functions" / "leads"
TOKEN = "api-token-of-this-stack"
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com"
EMAIL = "priya.raman@harbor-analytics.example"
DAY = 86400


@pytest.fixture
def alerts(notify, rec, monkeypatch):
    """Slack and email alerts on, no CRM URL (`LeadUrlBase` empty): links go to the lead page."""
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("API_URL", API_URL)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + "/services/T0/B0/secret")
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("ALERT_EMAIL_FROM", SENDER)
    monkeypatch.setenv("ALERT_EMAIL_TO", "sales@relaywise.example")
    return notify


def event(i: int, type_: str, email: str, minutes_ago: float, **fields: Any) -> Event:
    at = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return Event(event_id=f"{email}-{i}", type=type_, occurred_at=at, received_at=at, source="test", email=email, **fields)


def qualify(stack, email: str = EMAIL, name: str = "Priya Raman") -> dict[str, Any]:
    """A lead becomes an MQL through the real worker; returns the LeadStageChanged event the bus delivers."""
    events = [event(1, "identify", email, 30, traits={"name": name, "job_title": "Marketing Manager",
                                                       "company": "Harbor Analytics", "company_size": 200})]
    events += [event(2 + i, "page_view", email, 20 - i, properties={"url": f"https://example.com/pricing/{i}"}) for i in range(2)]
    events.append(event(9, "demo_requested", email, 5))
    records = [sqs_record(f"m-{e.event_id}", e.model_dump_json(), "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue")
               for e in events]
    score = load_handler(ROOT / "functions" / "score", "app.lambda_handler")
    assert score(sqs_event(records), LambdaContext("ScoreFunction")) == {"batchItemFailures": []}
    (changed,) = [e for e in captured(stack) if e["detail"]["lead_id"] == email_key(email, LOCAL_KEY_SECRET)]
    assert changed["detail"]["to_stage"] == "mql"
    return changed


def slack_link(rec) -> str:
    (request,) = rec.requests
    (button,) = [e for b in posted(request)["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" in e]
    return button["url"]


def email_link() -> str:
    (sent,) = sent_emails()
    _, text, markup = parts(sent.raw_data)
    (href,) = re.findall(r'<a href="([^"]+)">View lead</a>', markup)
    assert f"View lead: {html.unescape(href)}" in text
    return html.unescape(href)


def open_link(url: str) -> tuple[int, dict[str, str], str]:
    """A browser's GET of the link: the API Gateway event for it, to the leads function's real handler."""
    parts_ = urlsplit(url)
    assert f"{parts_.scheme}://{parts_.netloc}" == API_URL
    match = re.fullmatch(r"/leads/([^/]+)/page", parts_.path)
    assert match, parts_.path
    headers = {"Host": parts_.netloc, "User-Agent": "Mozilla/5.0", "Accept": "text/html"}
    request = http_api_event("GET", parts_.path, parts_.query, headers, b"", "GET /leads/{id}/page", {"id": match.group(1)})
    answer = load_handler(LEADS, "app.lambda_handler")(request, LambdaContext("LeadsFunction"))
    return answer["statusCode"], {k.lower(): v for k, v in answer["headers"].items()}, answer["body"]


def api_score(lead_id: str) -> float:
    request = http_api_event("GET", f"/leads/{lead_id}", "", {"Authorization": f"Bearer {TOKEN}"}, b"", "GET /leads/{id}",
                             {"id": lead_id})
    answer = load_handler(LEADS, "app.lambda_handler")(request, LambdaContext("LeadsFunction"))
    assert answer["statusCode"] == 200
    return json.loads(answer["body"])["score"]


def page_score(body: str) -> float:
    (value,) = re.findall(r'<data class="score" value="([^"]+)">', body)
    return float(value)


@pytest.fixture
def frozen(monkeypatch):
    """The leads function's clock held still (decay moves scores between two requests), and movable."""
    now = {"t": time.time()}
    monkeypatch.setattr(dependencies.current(), "clock", lambda: now["t"])
    return now


def assert_a_page(headers: dict[str, str]) -> None:
    assert headers["content-type"].startswith("text/html")
    assert headers["cache-control"] == "no-store"
    assert "noindex" in headers["x-robots-tag"]
    assert headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in headers["content-security-policy"]


def test_the_slack_alerts_link_opens_the_lead_page_in_a_browser_with_no_token(alerts, rec, frozen):
    changed = qualify(alerts)
    assert alert("slack", changed)["status"] == "sent"

    status, headers, body = open_link(slack_link(rec))

    assert status == 200
    assert_a_page(headers)
    assert page_score(body) == api_score(changed["detail"]["lead_id"])
    assert "Priya Raman" in body and "Marketing Manager at Harbor Analytics" in body and "demo request" in body


def test_the_email_alerts_link_opens_the_lead_page_in_a_browser_with_no_token(alerts, frozen):
    changed = qualify(alerts)
    assert alert("email", changed)["status"] == "sent"

    status, headers, body = open_link(email_link())

    assert status == 200
    assert_a_page(headers)
    assert page_score(body) == api_score(changed["detail"]["lead_id"])
    assert "Priya Raman" in body


def test_a_link_altered_to_open_another_lead_is_refused_with_a_403_page(alerts, rec, frozen):
    alert("slack", qualify(alerts))
    other = qualify(alerts, email="kofi.mensah@tidewater.example", name="Kofi Mensah")["detail"]["lead_id"]
    url = slack_link(rec)
    mine = urlsplit(url).path.split("/")[2]

    status, headers, body = open_link(url.replace(mine, other))

    assert status == 403
    assert_a_page(headers)
    assert "This link is invalid or has expired" in body
    assert "Kofi Mensah" not in body and "Priya Raman" not in body


def test_a_link_opened_after_thirty_days_is_refused_with_a_403_page(alerts, rec, frozen):
    alert("slack", qualify(alerts))
    url = slack_link(rec)
    assert open_link(url)[0] == 200

    # 30 days and a second after now: the alert signed the link at its own (real) time, later than
    # the frozen clock's start on a loaded machine, so `frozen["t"] += ...` could still be in time
    frozen["t"] = time.time() + 30 * DAY + 1
    status, headers, body = open_link(url)

    assert status == 403
    assert_a_page(headers)
    assert "This link is invalid or has expired" in body and "Priya Raman" not in body


def test_a_link_without_its_signature_is_refused_with_a_403_page_not_an_error(alerts, rec, frozen):
    alert("slack", qualify(alerts))
    url = slack_link(rec)
    query = dict(parse_qsl(urlsplit(url).query))

    for broken in (url.split("?")[0], url.replace(query["sig"], "zz"), url.replace(f"exp={query['exp']}", "exp=soon")):
        status, headers, body = open_link(broken)
        assert status == 403, broken
        assert "This link is invalid or has expired" in body


def test_a_hostile_name_is_shown_escaped_on_the_lead_page(alerts, rec, frozen):
    alert("slack", qualify(alerts, name='<script>alert("pwned")</script><img src=x onerror=alert(1)>'))

    status, _, body = open_link(slack_link(rec))

    assert status == 200
    assert "<script>alert" not in body and "<img" not in body
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in body


def test_a_link_to_a_lead_that_is_gone_is_a_404_page(alerts, rec, frozen):
    changed = qualify(alerts)
    alert("slack", changed)
    alerts.ddb.delete_item(TableName=alerts.table, Key={"pk": {"S": changed["detail"]["lead_id"]}})

    status, headers, body = open_link(slack_link(rec))

    assert status == 404
    assert_a_page(headers)
    assert "This lead no longer exists" in body


def test_with_a_crm_url_configured_both_alerts_link_to_the_lead_in_the_crm(alerts, rec, monkeypatch):
    monkeypatch.setenv("LEAD_URL_BASE", "https://crm.relaywise.example/leads")
    changed = qualify(alerts)
    lead_id = changed["detail"]["lead_id"]

    alert("slack", changed)
    alert("email", changed)

    assert slack_link(rec) == f"https://crm.relaywise.example/leads/{lead_id}"
    assert email_link() == f"https://crm.relaywise.example/leads/{lead_id}"
