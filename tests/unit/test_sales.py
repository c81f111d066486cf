"""How sales answers an alert, piece by piece: the buttons of the Slack alert, the answer links of the
email, which response URLs we post to, and what a Slack request must be to be heard.

Signatures are made by the independent signer (testbed.signing), from the documented schemes.
The whole path against the running local stack: tests/integration/test_sales.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from leadscore import links, sales, settings
from leadscore.adapters.leads import InMemoryLeadStore
from leadscore.contracts import LeadStageChanged
from leadscore.dependencies import Dependencies
from leadscore.edge import BadRequest, Rejected, Unauthorized
from leadscore.notify import mail, slack
from leadscore.notify.alert import Alert
from testbed.signing import sign_answer_link, sign_slack

ROOT = Path(__file__).resolve().parents[2]
MQL_EVENT = json.loads((ROOT / "events" / "functions" / "notify_mql.json").read_text())
SQL_EVENT = json.loads((ROOT / "events" / "functions" / "notify_sql.json").read_text())
LEAD = MQL_EVENT["detail"]["lead_id"]
TOKEN = "t0k3n-generated-by-the-stack"
API = "https://abc123.execute-api.eu-central-1.amazonaws.com"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_790_000_000
DAY = 86400


def alert(event=MQL_EVENT, **changes) -> Alert:
    detail = copy.deepcopy(event["detail"]) | changes
    return Alert(LeadStageChanged.model_validate(detail), lead_url="https://crm.example/leads/x")


def buttons(blocks) -> dict[str, dict]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


# -- the Slack alert ----------------------------------------------------------------------------

def test_an_mql_alert_carries_accept_and_reject_buttons_whose_value_is_the_lead():
    blocks = [b.to_dict() for b in slack.blocks(alert())]

    found = buttons(blocks)
    assert found["lead_accept"]["style"] == "primary" and found["lead_accept"]["text"]["text"] == "Accept"
    assert found["lead_reject"]["style"] == "danger" and found["lead_reject"]["text"]["text"] == "Reject"
    assert found["lead_accept"]["value"] == found["lead_reject"]["value"] == LEAD
    assert "view_lead" in found  # the link stays, in its own block


def test_an_sql_alert_has_no_accept_or_reject():
    found = buttons([b.to_dict() for b in slack.blocks(alert(SQL_EVENT))])

    assert set(found) == {"view_lead"}


def test_what_the_lead_typed_is_still_escaped_in_an_alert_with_buttons():
    blocks = [b.to_dict() for b in slack.blocks(alert(facts={"name": "<!channel> Eve", "company": "<https://x.example|Acme>"}))]

    rendered = json.dumps(blocks)
    assert "<!channel>" not in rendered and "<https://x.example" not in rendered
    assert "&lt;!channel&gt; Eve" in rendered
    assert buttons(blocks)["lead_accept"]["value"] == LEAD


def test_reject_asks_why_with_one_button_per_reason_and_a_cancel():
    original = [b.to_dict() for b in slack.blocks(alert())]

    asked = slack.with_feedback_block(original, slack.reason_picker(LEAD))

    found = buttons(asked)
    assert "lead_accept" not in found and "lead_reject" not in found
    reasons = {e["text"]["text"]: e["value"] for k, e in found.items() if k.startswith("lead_reject_reason_")}
    assert reasons == {words: f"{code}|{LEAD}" for code, words in sales.REASONS.items()}
    assert found["lead_reject_cancel"]["value"] == LEAD
    assert asked[:len(original) - 1] == original[:-1]  # the alert itself is kept as it was


def test_an_answered_alert_says_who_answered_and_has_no_buttons_left():
    original = [b.to_dict() for b in slack.blocks(alert())]
    note = slack.answered_note("rejected", "U0G9QF9C6", "No budget", "lead")

    answered = slack.with_feedback_block(original, slack.answered_block(note))

    assert set(buttons(answered)) == {"view_lead"}
    assert answered[-1]["elements"][0]["text"] == ":x: Rejected by <@U0G9QF9C6>: No budget, now Lead"
    assert slack.answered_note("accepted", "U1", None, "sql", duplicate=True) == ":white_check_mark: Accepted already, now SQL"


# -- where we post: Slack's response URLs only ----------------------------------------------------

@pytest.mark.parametrize("url, allowed", [
    ("https://hooks.slack.com/actions/T0AAA/1232321423432/D09sSasdasdAS9091209", True),
    ("http://hooks.slack.com/actions/T0AAA/1/x", False),
    ("https://hooks.slack.com.evil.example/actions/x", False),
    ("https://hooks.slack.com@evil.example/actions/x", False),
    ("https://user@hooks.slack.com/actions/x", False),
    ("https://hooks.slack.com:8443/actions/x", False),
    ("https://evil.example/?u=https://hooks.slack.com/", False),
    ("http://169.254.169.254/latest/meta-data/", False),
])
def test_only_slacks_own_response_urls_are_posted_to(url, allowed):
    assert sales.allowed_response_url(url, None) is allowed


def test_a_dev_response_base_is_honoured_for_loopback_only():
    assert sales.allowed_response_url("http://127.0.0.1:8123/actions/1", "http://127.0.0.1:8123")
    assert not sales.allowed_response_url("http://127.0.0.1:8124/actions/1", "http://127.0.0.1:8123")
    assert not sales.allowed_response_url("http://10.0.0.8/actions/1", "http://10.0.0.8/")


# -- what a Slack request must be -----------------------------------------------------------------

@pytest.fixture
def deps(monkeypatch) -> Dependencies:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    return Dependencies(settings.settings(), clock=lambda: float(NOW))


def form(payload) -> bytes:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}  # as API Gateway hands headers to the function


CLICK = {"type": "block_actions", "user": {"id": "U0G9QF9C6", "username": "sam", "team_id": "T0AAA"},
         "team": {"id": "T0AAA", "domain": "relaywise"}, "api_app_id": "A0APP",
         "container": {"type": "message", "message_ts": "1790000000.000200", "channel_id": "C0ALERTS", "is_ephemeral": False},
         "channel": {"id": "C0ALERTS", "name": "lead-alerts"},
         "response_url": "https://hooks.slack.com/actions/T0AAA/1232321423432/D09sSasdasdAS9091209",
         "actions": [{"type": "button", "action_id": "view_lead", "block_id": "b1", "action_ts": "1790000001.840180",
                      "text": {"type": "plain_text", "text": "View lead"}, "url": "https://crm.example/leads/x"}]}


def test_a_request_signed_as_slack_signs_is_heard(deps):
    body = form(CLICK)

    result = sales.slack_interaction(deps, body, lowered(sign_slack(body, SIGNING_SECRET, timestamp=NOW)))

    assert result["status"] == "ignored"  # a "View lead" click: acknowledged, nothing to do


@pytest.mark.parametrize("headers", [
    pytest.param(lambda body: sign_slack(body, "another-secret", timestamp=NOW), id="another secret"),
    pytest.param(lambda body: sign_slack(body, SIGNING_SECRET, timestamp=NOW - 301), id="older than 5 minutes"),
    pytest.param(lambda body: sign_slack(body, SIGNING_SECRET, timestamp=NOW + 301), id="5 minutes ahead"),
    pytest.param(lambda body: {**sign_slack(body, SIGNING_SECRET, timestamp=NOW), "X-Slack-Request-Timestamp": "soon"},
                 id="timestamp not a number"),
    pytest.param(lambda body: sign_slack(body + b"&x=1", SIGNING_SECRET, timestamp=NOW), id="another body"),
    pytest.param(lambda body: {}, id="unsigned"),
])
def test_a_request_not_signed_by_slack_just_now_is_unauthorized(deps, headers):
    body = form(CLICK)

    with pytest.raises(Unauthorized):
        sales.slack_interaction(deps, body, lowered(headers(body)))


def test_without_a_signing_secret_every_request_is_unauthorized(deps, monkeypatch):
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    body = form(CLICK)

    with pytest.raises(Unauthorized):
        sales.slack_interaction(deps, body, lowered(sign_slack(body, SIGNING_SECRET, timestamp=NOW)))


@pytest.mark.parametrize("body, named", [
    (b"payload=%7Bnot+json", "payload"),
    (b"nothing=here", "payload field"),
    (form({**CLICK, "type": "view_submission"}), "payload.type"),
    (form({**CLICK, "actions": []}), "payload.actions"),
    (form({k: v for k, v in CLICK.items() if k != "container"}), "payload.container"),
    (form({**CLICK, "user": {"id": "<!channel>"}}), "payload.user.id"),
    (form({**CLICK, "response_url": "https://evil.example/hook"}), "response_url"),
    (form({**CLICK, "actions": [{"type": "button", "action_id": "lead_accept", "value": "not a lead"}]}), "value"),
])
def test_a_signed_body_that_is_not_a_block_actions_payload_of_ours_is_a_bad_request_naming_what(deps, body, named):
    with pytest.raises(BadRequest) as refused:
        sales.slack_interaction(deps, body, lowered(sign_slack(body, SIGNING_SECRET, timestamp=NOW)))

    assert named in refused.value.message


# -- the email's answer links ---------------------------------------------------------------------

def test_answer_links_are_signed_with_the_documented_scheme_for_14_days():
    found = links.answer_links(LEAD, api_url=API, api_token=TOKEN, now=NOW)

    assert found is not None
    for outcome, verb in (("accepted", "accept"), ("rejected", "reject")):
        parts = urlsplit(found[outcome])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{API}/sales/leads/{LEAD}/{verb}"
        assert int(query["exp"]) == NOW + 14 * DAY
        assert query["sig"] == sign_answer_link(TOKEN, LEAD, outcome, NOW + 14 * DAY)


def test_an_answer_link_is_good_for_its_lead_and_outcome_until_it_expires():
    key, exp = links.answer_key(TOKEN), NOW + 14 * DAY
    sig = sign_answer_link(TOKEN, LEAD, "accepted", exp)

    assert links.valid_answer_link(LEAD, "accepted", str(exp), sig, key, now=NOW)
    assert not links.valid_answer_link(LEAD, "rejected", str(exp), sig, key, now=NOW)
    assert not links.valid_answer_link("e:someoneelse", "accepted", str(exp), sig, key, now=NOW)
    assert not links.valid_answer_link(LEAD, "accepted", str(exp), sig, key, now=exp)
    assert not links.valid_answer_link(LEAD, "accepted", str(exp), sig, links.answer_key("rotated"), now=NOW)
    assert not links.valid_answer_link(LEAD, "accepted", "x", sig, key, now=NOW)


def test_a_lead_page_signature_is_no_answer():
    exp = NOW + DAY
    page_sig = links.page_link(API, LEAD, links.page_key(TOKEN), now=NOW, valid_s=DAY).rsplit("sig=", 1)[1]

    assert not links.valid_answer_link(LEAD, "accepted", str(exp), page_sig, links.answer_key(TOKEN), now=NOW)


def test_an_mql_email_carries_both_links_in_its_text_and_html():
    answers = links.answer_links(LEAD, api_url=API, api_token=TOKEN, now=NOW)

    text, markup = mail.text(alert(), answers), mail.html(alert(), answers)

    assert f"Accept: {answers['accepted']}" in text and f"Reject: {answers['rejected']}" in text
    for url in answers.values():
        assert f'href="{url.replace("&", "&amp;")}"' in markup


# -- whatever a signed body holds, the answer is a 4xx ---------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                    max_leaves=20)
FIELDS = st.sampled_from(["type", "user", "container", "response_url", "actions", "message", "team", "channel"])


def near_payloads():
    """Slack's payload with some members replaced by arbitrary JSON: what a fuzzer of the shape would send."""
    return st.dictionaries(FIELDS, JSON, max_size=4).map(lambda changes: {**CLICK, **changes})


@settings_(max_examples=150, deadline=None)
@given(body=st.binary(max_size=200) | st.builds(form, near_payloads()) | st.builds(form, JSON.map(json.dumps))
       | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_signed_body_is_answered_or_refused_with_a_4xx_never_an_exception(body):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        settings.reset()
        deps = Dependencies(settings.settings(), clock=lambda: float(NOW), leads_store=InMemoryLeadStore())

        try:
            sales.slack_interaction(deps, body, lowered(sign_slack(body, SIGNING_SECRET, timestamp=NOW)))
        except Rejected as refused:
            assert refused.status in (400, 401, 404, 409)


def test_a_body_of_many_fields_is_a_bad_request():
    body = b"&".join(b"f%d=1" % i for i in range(20)) + b"&" + form(CLICK)
    deps = Dependencies(settings.settings(), clock=lambda: float(NOW))

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        with pytest.raises(BadRequest):
            sales.slack_interaction(deps, body, lowered(sign_slack(body, SIGNING_SECRET, timestamp=NOW)))


def test_the_answer_page_escapes_what_the_lead_typed_and_posts_only_to_its_own_link():
    from leadscore import answer_page

    view = {"lead_id": LEAD, "stage": "mql", "score": 52.0,
            "facts": {"name": "<script>alert(1)</script>", "job_title": '"><img src=x>', "company": "A & B"}}

    page = answer_page.confirm(view, LEAD, "rejected", exp="1791209600", sig="ab" * 32, reasons=sales.REASONS)

    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "A &amp; B" in page
    assert f'<form method="post" action="/sales/leads/{LEAD}/reject">' in page
    assert "form-action 'self'" in answer_page.HEADERS["Content-Security-Policy"]
    assert "script-src" not in answer_page.HEADERS["Content-Security-Policy"]  # default-src 'none': no scripts
