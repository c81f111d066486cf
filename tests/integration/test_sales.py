"""Sales answers an alert, against the running local stack: Slack's Accept/Reject buttons and the email's links.

A visitor books a demo on the local stack and becomes an MQL; the Slack notifier posts the alert to a
recording HTTP server standing in for the incoming webhook, and the email notifier sends it through SES
(moto). Clicks are posted to `POST /slack/interactions` as Slack posts them: a form-encoded `payload=`
holding a `block_actions` payload built from the message Slack was given, signed with the signing
secret by the independent signer (testbed.signing). Slack's `response_url` has no emulator: it points
at the same recorder (allowed by the dev-only `SLACK_DEV_RESPONSE_BASE`), which shows what the
message was updated to."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.parse
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from leadscore import links
from testbed.recorder import Recorder
from testbed.signing import sign_slack

from tests.support.alerts import SENDER, parts, sent_emails
from tests.support.local_stack import http_call, running_stack
from tests.support.polling import wait_until

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_PATH = "/services/T0RELAYWISE/B0LEADALERTS/q8ZrVd3kLx0pWm4sTn7YcHbE"
SALES_TEAM = "sales@relaywise.example"
USER = "U0G9QF9C6"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


@pytest.fixture(scope="module")
def world():
    """The local stack with Slack alerts posted to a recorder, email alerts on, the signing secret set."""
    saved = dict(os.environ)
    with Recorder() as rec:
        os.environ.update({"SLACK_WEBHOOK_URL": rec.url + SLACK_PATH, "SLACK_DEV_RESPONSE_BASE": rec.url,
                           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "ALERT_EMAIL_FROM": SENDER,
                           "ALERT_EMAIL_TO": SALES_TEAM})
        try:
            with running_stack(unset=("SLACK_WEBHOOK_URL_MQL", "SLACK_WEBHOOK_URL_SQL", "CRM_WEBHOOK_URL",
                                      "ALERT_EMAIL_TO_MQL", "ALERT_EMAIL_TO_SQL", "SECRETS_ARN")) as s:
                s.client("sesv2").create_email_identity(EmailIdentity=SENDER)
                yield SimpleNamespace(stack=s, rec=rec)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def call(world, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    return http_call(world.stack, method, path, body, headers)


def lead(world, lead_id: str) -> dict[str, Any]:
    status, _, body = call(world, "GET", f"/leads/{lead_id}", headers={"Authorization": f"Bearer {os.environ['API_TOKEN']}"})
    assert status == 200, body
    return json.loads(body)


def an_mql(world, name: str) -> str:
    """A visitor of the demo site identifies, browses pricing and books a demo: an MQL. Its lead id."""
    email = f"{name.split()[0].lower()}.{uuid.uuid4().hex[:6]}@northwind-robotics.example"
    vid = uuid.uuid4().hex
    key = base64.b64encode(f"{world.stack.write_key}:".encode()).decode()
    sdk = {"Authorization": f"Basic {key}", "Content-Type": "application/json"}
    traits = {"email": email, "name": name, "title": "Marketing Manager", "company": "Northwind Robotics"}
    assert call(world, "POST", "/v1/identify", json.dumps({"anonymousId": vid, "traits": traits}).encode(), sdk)[0] == 200
    for page in ("", "pricing.html", "pricing.html", "book-a-demo.html"):
        assert call(world, "GET", f"/t.gif?vid={vid}&url=http://127.0.0.1/demo/{page}", headers={"User-Agent": UA})[0] == 200
    assert call(world, "POST", "/v1/track", json.dumps({"anonymousId": vid, "event": "Demo Requested"}).encode(), sdk)[0] == 200
    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}

    def qualified():
        status, _, body = call(world, "GET", f"/leads?email={urllib.parse.quote(email)}", headers=token)
        return json.loads(body)["lead_id"] if status == 200 and json.loads(body)["stage"] == "mql" else None

    return wait_until(qualified)


def slack_alerts(world, name: str, headline: str) -> list[dict[str, Any]]:
    return [m for m in (json.loads(r.body) for r in world.rec.to(SLACK_PATH)) if m["text"].startswith(f"{headline}: {name}")]


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


class Message:
    """An alert as it sits in the channel: what Slack was given, at a timestamp, updated by each response."""

    def __init__(self, world, posted: dict[str, Any]):
        self.world, self.ts = world, f"{int(time.time())}.{uuid.uuid4().int % 10**6:06d}"
        self.text, self.blocks = posted["text"], posted["blocks"]
        self.response_path = f"/actions/T0RELAYWISE/{uuid.uuid4().int % 10**13}/{uuid.uuid4().hex[:24]}"

    def payload(self, action_id: str, *, user: str = USER) -> dict[str, Any]:
        """A block_actions payload as Slack sends it for a click on `action_id` of this message."""
        block, element = next((b, e) for b in self.blocks if b["type"] == "actions" for e in b["elements"]
                              if e["action_id"] == action_id)
        action = {"action_id": action_id, "block_id": block.get("block_id", "Xa1"), "text": element["text"],
                  "value": element.get("value"), "type": "button", "action_ts": f"{time.time():.6f}"}
        if "style" in element:
            action["style"] = element["style"]
        return {
            "type": "block_actions",
            "user": {"id": user, "username": "sam.seller", "name": "sam.seller", "team_id": "T0RELAYWISE"},
            "api_app_id": "A0LEADSCORE", "token": "Shh_legacy_verification_token",
            "container": {"type": "message", "message_ts": self.ts, "channel_id": "C0ALERTS", "is_ephemeral": False},
            "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}",
            "team": {"id": "T0RELAYWISE", "domain": "relaywise"},
            "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": "C0ALERTS", "name": "lead-alerts"},
            "message": {"bot_id": "B0LEADALERTS", "type": "message", "text": self.text, "user": "U0BOT", "ts": self.ts,
                        "app_id": "A0LEADSCORE", "blocks": self.blocks, "team": "T0RELAYWISE"},
            "state": {"values": {}},
            "response_url": self.world.rec.url + self.response_path,
            "actions": [action],
        }

    def click(self, action_id: str, **signing: Any) -> tuple[int, bytes, float]:
        """Click `action_id` as it is in the message now."""
        return self.send(self.payload(action_id), **signing)

    def send(self, payload: dict[str, Any], *, retry: int | None = None, **signing: Any) -> tuple[int, bytes, float]:
        """POST a payload as Slack does; (status, body, seconds to answer). The message follows the update."""
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        headers = sign_slack(body, signing.pop("secret", SIGNING_SECRET), **signing)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        started = time.monotonic()
        status, _, answer = call(self.world, "POST", "/slack/interactions", body, headers)
        took = time.monotonic() - started
        for update in self.updates():
            if update.get("replace_original"):
                self.text, self.blocks = update["text"], update["blocks"]
        return status, answer, took

    def updates(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.world.rec.to(self.response_path)]


def alert_for(world, name: str) -> Message:
    return Message(world, wait_until(lambda: slack_alerts(world, name, "New MQL"))[0])


# -- Slack -----------------------------------------------------------------------------------------

def test_accept_in_slack_makes_the_lead_an_sql_updates_the_message_and_a_second_click_changes_nothing(world):
    lead_id = an_mql(world, "Dana Fox")
    message = alert_for(world, "Dana Fox")
    assert buttons(message.blocks)["lead_accept"]["value"] == lead_id

    click = message.payload("lead_accept")
    status, answer, took = message.send(click)

    assert (status, answer) == (200, b"") and took < 3.0  # within Slack's 3 seconds
    assert lead(world, lead_id)["stage"] == "sql"
    (update,) = message.updates()
    assert update["replace_original"] is True
    assert "lead_accept" not in buttons(update["blocks"]) and "lead_reject" not in buttons(update["blocks"])
    assert update["blocks"][0] == click["message"]["blocks"][0]  # the alert itself is still there
    assert update["blocks"][-1]["elements"][0]["text"] == f":white_check_mark: Accepted by <@{USER}>, now SQL"
    first_sql = wait_until(lambda: slack_alerts(world, "Dana Fox", "New SQL"))  # the transition alerts like any other
    assert len(first_sql) == 1

    status, _, _ = message.send(click, retry=1)  # a second click before the update, or Slack's retry: the same payload
    time.sleep(2.0)  # what the first SQL alert needed, and more

    assert status == 200 and lead(world, lead_id)["stage"] == "sql"
    assert len(slack_alerts(world, "Dana Fox", "New SQL")) == 1  # no second alert
    assert message.updates()[-1]["blocks"][-1]["elements"][0]["text"] == ":white_check_mark: Accepted already, now SQL"


def test_reject_in_slack_asks_why_then_records_the_reason_and_says_who(world):
    lead_id = an_mql(world, "Ravi Iyer")
    message = alert_for(world, "Ravi Iyer")

    status, _, _ = message.click("lead_reject")

    assert status == 200 and lead(world, lead_id)["stage"] == "mql"  # nothing recorded yet
    reasons = {k: e["text"]["text"] for k, e in buttons(message.blocks).items() if k.startswith("lead_reject_reason_")}
    assert "No budget" in reasons.values() and "lead_reject_cancel" in buttons(message.blocks)

    status, _, _ = message.click("lead_reject_reason_no_budget")

    assert status == 200 and lead(world, lead_id)["stage"] == "disqualified"
    assert message.blocks[-1]["elements"][0]["text"] == f":x: Rejected by <@{USER}>: No budget, now Disqualified"
    assert set(buttons(message.blocks)) == {"view_lead"}


def test_cancel_puts_accept_and_reject_back(world):
    lead_id = an_mql(world, "Mia Chen")
    message = alert_for(world, "Mia Chen")
    message.click("lead_reject")

    status, _, _ = message.click("lead_reject_cancel")

    assert status == 200 and lead(world, lead_id)["stage"] == "mql"
    assert {"lead_accept", "lead_reject"} <= set(buttons(message.blocks))


def test_a_response_url_that_fails_loses_no_feedback(world):
    lead_id = an_mql(world, "Ola Berg")
    message = alert_for(world, "Ola Berg")
    world.rec.answer(message.response_path, 500)

    status, _, took = message.click("lead_accept")

    assert status == 200 and took < 3.0
    assert lead(world, lead_id)["stage"] == "sql"


def test_a_bad_signature_a_stale_timestamp_or_garbage_is_refused_and_changes_nothing(world):
    lead_id = an_mql(world, "Kim Park")
    message = alert_for(world, "Kim Park")
    signed = message.payload("lead_accept")
    body = urllib.parse.urlencode({"payload": json.dumps(signed)}).encode()

    forged = call(world, "POST", "/slack/interactions", body, sign_slack(body, "not-our-secret"))
    stale = call(world, "POST", "/slack/interactions", body, sign_slack(body, SIGNING_SECRET, timestamp=int(time.time()) - 6 * 60))
    garbage = b"payload=%7B%22type%22%3A+%22block_actions%22%2C+%22user%22%3A+17%7D"
    bad = call(world, "POST", "/slack/interactions", garbage, sign_slack(garbage, SIGNING_SECRET))
    not_a_form = b"\x00\xff{]"
    worse = call(world, "POST", "/slack/interactions", not_a_form, sign_slack(not_a_form, SIGNING_SECRET))

    assert (forged[0], json.loads(forged[2])) == (401, {"error": "unauthorized"})
    assert (stale[0], json.loads(stale[2])) == (401, {"error": "unauthorized"})
    assert bad[0] == 400 and "payload" in json.loads(bad[2])["error"]
    assert (worse[0], json.loads(worse[2])) == (401, {"error": "unauthorized"})  # not UTF-8: nothing Slack signs
    assert lead(world, lead_id)["stage"] == "mql" and message.updates() == []


# -- email ------------------------------------------------------------------------------------------

def email_for(world, name: str, headline: str = "New MQL"):
    def found():
        for m in sent_emails():
            message, text, markup = parts(m.raw_data)
            if message["Subject"].startswith(f"[leadscore] {headline}: {name}"):
                return message, text, markup
        return None

    return wait_until(found)


def answer_links_in(text: str) -> dict[str, str]:
    return {outcome: re.search(rf"^{word}: (\S+)$", text, re.M).group(1)
            for outcome, word in (("accepted", "Accept"), ("rejected", "Reject"))}


def local_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def form_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))


def test_the_email_alert_carries_accept_and_reject_links_whose_page_records_nothing_until_its_button(world):
    lead_id = an_mql(world, "Lea Roux")
    _, text, markup = email_for(world, "Lea Roux")
    found = answer_links_in(text)
    for url in found.values():
        assert url.replace("&", "&amp;") in markup

    status, headers, page = call(world, "GET", local_path(found["accepted"]))

    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-store" and "form-action 'self'" in headers["Content-Security-Policy"]
    assert "Lea Roux" in page.decode() and '<form method="post"' in page.decode()
    assert lead(world, lead_id)["stage"] == "mql"  # a mail scanner's GET changes nothing

    path = urllib.parse.urlsplit(found["accepted"]).path
    form = urllib.parse.urlencode(form_fields(page.decode())).encode()
    status, _, done = call(world, "POST", path, form, {"Content-Type": "application/x-www-form-urlencoded"})

    assert status == 200 and "<h1>Accepted</h1>" in done.decode()
    assert lead(world, lead_id)["stage"] == "sql"
    _, sql_text, sql_markup = email_for(world, "Lea Roux", "New SQL")  # the SQL alert: nothing left to answer
    assert "/sales/leads/" not in sql_text and "/sales/leads/" not in sql_markup

    status, _, again = call(world, "POST", path, form, {"Content-Type": "application/x-www-form-urlencoded"})

    assert status == 200 and "Already answered" in again.decode()


def test_the_reject_link_asks_for_a_reason(world):
    lead_id = an_mql(world, "Tom Hale")
    _, text, _ = email_for(world, "Tom Hale")
    url = answer_links_in(text)["rejected"]
    _, _, page = call(world, "GET", local_path(url))
    assert '<select id="reason" name="reason" required>' in page.decode()
    path = urllib.parse.urlsplit(url).path
    fields = form_fields(page.decode())

    without = call(world, "POST", path, urllib.parse.urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    status, _, done = call(world, "POST", path, urllib.parse.urlencode(fields | {"reason": "bad_timing"}).encode(),
                           {"Content-Type": "application/x-www-form-urlencoded"})

    assert without[0] == 400
    assert status == 200 and "Rejected (Bad timing)" in done.decode()
    assert lead(world, lead_id)["stage"] == "disqualified"


def test_an_expired_or_altered_link_is_a_403_page_and_an_unknown_lead_a_404_page(world):
    lead_id = an_mql(world, "Ann Vik")
    token, now = os.environ["API_TOKEN"], time.time()
    expired = links.answer_link("", lead_id, "accepted", links.answer_key(token), now=now - 15 * 86400)
    gone = links.answer_link("", "e:nosuchleadanywhere", "accepted", links.answer_key(token), now=now)
    _, text, _ = email_for(world, "Ann Vik")
    altered = answer_links_in(text)["accepted"].replace("/accept?", "/reject?")

    for url, expected in ((expired, 403), (altered, 403), (gone, 404)):
        status, headers, page = call(world, "GET", local_path(url))
        assert (status, headers["Content-Type"].split(";")[0]) == (expected, "text/html"), url
    path = urllib.parse.urlsplit(expired).path
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(expired).query))
    posted = call(world, "POST", path, urllib.parse.urlencode(query).encode(), {"Content-Type": "application/x-www-form-urlencoded"})

    assert posted[0] == 403 and "invalid or has expired" in posted[2].decode()
    assert lead(world, lead_id)["stage"] == "mql"
