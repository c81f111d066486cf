"""What a trigger's alert says (`LeadTriggered`, the model's triggers), rendered without any I/O:
the words, the Slack blocks, the email. The firing is the sample event's detail
(events/automation/lead_triggered.json, an abandoned cart), changed per test."""

from __future__ import annotations

import copy
import email
import email.policy
import json
from pathlib import Path

import pytest
from leadscore.contracts import LeadTriggered
from leadscore.notify import mail, slack
from leadscore.notify.alert import TriggerAlert, matched_words

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "events" / "automation" / "lead_triggered.json").read_text())
LINK = "https://crm.relaywise.example/leads/u:9f3a6c2d1e8b4a7f"
OWNER = {"id": "ana", "name": "Ana Ruiz", "email": "ana@relaywise.example", "team": "enterprise"}


def alert(*, lead_url: str | None = LINK, **changes) -> TriggerAlert:
    detail = copy.deepcopy(EVENT["detail"])
    detail.update(changes)
    return TriggerAlert(LeadTriggered.model_validate(detail), lead_url=lead_url)


def test_the_plain_text_says_the_trigger_what_matched_the_lead_the_owner_and_the_link():
    text = alert(owner=OWNER).text()

    assert text.splitlines() == [
        "Abandoned cart: Dana Whitfield (checkout started 24 h ago, no purchase)",
        "Northwind Robotics",
        "Email: dana@northwind-robotics.com",
        "Stage: MQL, warm",
        "Owner: Ana Ruiz (enterprise)",
        "Fit grade B2, score 58.5 (fit 37 + engagement 21.5)",
        f"View lead: {LINK}",
    ]


def test_without_an_owner_a_name_or_a_link_the_alert_says_less_not_something_wrong():
    text = alert(facts={}, email=None, grade=None, band=None, lead_url=None).text()

    assert text.splitlines() == [
        "Abandoned cart: anonymous visitor (checkout started 24 h ago, no purchase)",
        "Stage: MQL",
        "Fit grade –, score 58.5 (fit 37 + engagement 21.5)",
    ]


@pytest.mark.parametrize("kind, matched, words", [
    ("score_above", {"threshold": 70.0, "score": 72.5, "band": "hot"}, "score 72.5 reached 70, now hot"),
    ("inactive", {"last_event_at": "2026-10-01T09:00:00Z", "days_inactive": 14.02}, "no activity for 14 days"),
    ("repeated", {"count": 3, "within_days": 7, "times": [], "same": {"field": "path", "value": "/products/kettle"}},
     "3 matching events within 7 days: path /products/kettle"),
    ("repeated", {"count": 3, "within_days": 7, "times": []}, "3 matching events within 7 days"),
    ("repeated", {"count": 2, "within_days": 1, "times": []}, "2 matching events within 1 day"),
    ("inactive", {"days_inactive": 1.5}, "no activity for 1 day"),
    ("not_followed", {"start": {"type": "checkout_started", "at": "2026-10-28T15:07:41Z"}, "by": ["purchase", "order_paid"],
                      "waited_hours": 73.9}, "checkout started 3 d ago, no purchase or order paid"),
])
def test_what_matched_reads_as_words_for_every_kind(kind, matched, words):
    assert matched_words(kind, matched) == words


@pytest.mark.parametrize("kind", ["score_above", "inactive", "repeated", "not_followed"])
@pytest.mark.parametrize("matched", [
    {}, {"score": "high", "days_inactive": True, "count": None, "start": "x"},
    {"score": float("nan"), "threshold": 70, "days_inactive": float("inf"), "count": 3, "within_days": float("nan"),
     "start": {"type": "checkout_started"}, "waited_hours": float("nan")},  # JSON lets NaN and Infinity in
])
def test_a_matched_without_what_its_kind_documents_still_alerts(kind, matched):
    firing = alert(kind=kind, matched=matched)

    assert firing.matched == "the trigger's condition held"
    slack.trigger_blocks(firing)  # valid blocks all the same


def test_the_trigger_id_is_the_headline_in_words():
    assert alert(trigger="hot_lead_cooling").headline == "Hot lead cooling: Dana Whitfield"


# Slack


def test_the_slack_blocks_show_the_trigger_the_lead_the_owner_and_a_link_and_no_accept_or_reject():
    from slack_sdk.models.blocks import ActionsBlock, HeaderBlock

    blocks = slack.trigger_blocks(alert(owner=OWNER))

    header = blocks[0]
    assert isinstance(header, HeaderBlock) and header.text.text == ":bell: Abandoned cart: Dana Whitfield"
    (actions,) = [b for b in blocks if isinstance(b, ActionsBlock)]
    assert [e.url for e in actions.elements] == [LINK]  # View lead only: a firing is not answered
    rendered = json.dumps([b.to_dict() for b in blocks], ensure_ascii=False)
    assert "*Trigger*: checkout started 24 h ago, no purchase" in rendered
    assert "*Owner*\\nAna Ruiz (enterprise)" in rendered and "*Stage*\\nMQL, warm" in rendered
    assert "*Score*\\n58.5 (fit 37 + engagement 21.5)" in rendered
    assert slack.FEEDBACK_BLOCK not in rendered


def test_what_a_lead_sent_cannot_mention_channels_in_the_slack_blocks():
    firing = alert(kind="repeated", facts={"name": "<!channel> Eve"},
                   matched={"count": 3, "within_days": 7, "same": {"field": "path", "value": "/<!here>"}})

    rendered = json.dumps([b.to_dict() for b in slack.trigger_blocks(firing)], ensure_ascii=False)

    assert "<!channel>" not in rendered and "<!here>" not in rendered
    assert "&lt;!channel&gt; Eve" in rendered and "/&lt;!here&gt;" in rendered


def test_oversized_facts_and_matches_are_clipped_to_slacks_limits():
    huge = alert(facts={"name": "N" * 400, "company": "&" * 400}, kind="repeated",
                 matched={"count": 3, "within_days": 7, "same": {"field": "path", "value": "/" + "p" * 5000}})

    blocks = slack.trigger_blocks(huge)  # would raise SlackObjectFormationError beyond a limit

    assert len(blocks[0].text.text) == 150 and blocks[0].text.text.endswith("…")


# email


def test_the_email_subject_names_the_trigger_the_lead_and_the_grade():
    assert mail.subject(alert()) == "[leadscore] Abandoned cart: Dana Whitfield (Northwind Robotics), grade B2"


def test_the_email_has_the_same_content_as_text_and_html_without_answer_links():
    raw = mail.message(alert(owner=OWNER), "alerts@relaywise.example", ["sales@relaywise.example"])

    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("plain",)).get_content().strip() == alert(owner=OWNER).text()
    markup = message.get_body(("html",)).get_content()
    assert "checkout started 24 h ago, no purchase" in markup
    assert "<th align=\"left\" style=\"color:#4a5568\">Owner</th><td>Ana Ruiz (enterprise)</td>" in markup
    assert f'<a href="{LINK}">View lead</a>' in markup
    assert "Accept" not in markup and "Reject" not in markup


def test_the_email_html_escapes_what_the_lead_sent():
    markup = mail.trigger_html(alert(facts={"name": "<b>Bold</b>"}, kind="repeated",
                                     matched={"count": 3, "within_days": 7, "same": {"field": "path", "value": "/<script>"}}))

    assert "<b>Bold</b>" not in markup and "<script>" not in markup
    assert "&lt;b&gt;Bold&lt;/b&gt;" in markup and "/&lt;script&gt;" in markup
