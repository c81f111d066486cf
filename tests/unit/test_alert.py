"""What an alert says, rendered without any I/O: the words, the Slack blocks, the email.

The transitions are the sample events' details (events/functions/notify_*.json, as the
worker's `transition_detail` makes them), at a fixed `now`."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from leadscore.contracts import LeadStageChanged, LeadStageChangedEvent
from leadscore.display import ago, humanize, points
from leadscore.notify import mail, slack
from leadscore.notify.alert import Alert
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
MQL_EVENT = json.loads((ROOT / "events" / "functions" / "notify_mql.json").read_text())
SQL_EVENT = json.loads((ROOT / "events" / "functions" / "notify_sql.json").read_text())
NOW = datetime(2026, 10, 29, 15, 20, 11, tzinfo=timezone.utc)  # three minutes after the SQL transition
LINK = "https://crm.relaywise.example/leads/e:66hk3f3xwp7syvrqdr6b34ivefi4jjw3"


def transition(event=MQL_EVENT, **changes) -> LeadStageChanged:
    detail = copy.deepcopy(event["detail"])
    detail.update(changes)
    return LeadStageChanged.model_validate(detail)


def alert(event=MQL_EVENT, *, lead_url=LINK, **changes) -> Alert:
    return Alert(transition(event, **changes), now=NOW, lead_url=lead_url)


@pytest.mark.parametrize("seconds, words", [
    (0, "just now"), (59, "just now"), (60, "1 min ago"), (3599, "59 min ago"), (3600, "1 h ago"),
    (86399, "23 h ago"), (86400, "1 d ago"), (30 * 86400 + 5, "30 d ago"),
    (-120, "just now"),  # a clock a little ahead of ours is not "in 2 min"
])
def test_relative_times(seconds, words):
    assert ago(NOW - timedelta(seconds=seconds), NOW) == words


@pytest.mark.parametrize("value, shown", [
    (12, "+12"), (15.0, "+15"), (-5, "-5"), (2.5, "+2.5"), (9.51, "+9.51"), (1.9, "+1.9"), (100, "+100"),
    (0, "0"), (0.004, "0"), (-0.004, "0"),
])
def test_points_are_signed_without_trailing_zeros(value, shown):
    assert points(value) == shown


def test_rule_and_event_ids_read_as_words():
    assert humanize("title_vp_director") == "title vp director"
    assert humanize("Webinar.Attended") == "Webinar Attended"


def test_who_prefers_the_name_then_first_and_last_then_the_email():
    assert alert().who == "Priya Raman"  # first_name + last_name
    assert alert(facts={"name": "Dr. Priya Raman", "first_name": "Priya"}).who == "Dr. Priya Raman"
    assert alert(facts={"name": "   ", "last_name": "Raman"}).who == "Raman"
    assert alert(facts={}).who == "priya.raman@harbor-analytics.example"
    assert alert(facts={}, email=None).who == "anonymous visitor"


def test_the_role_combines_title_and_company():
    assert alert().role == "VP Revenue Operations at Harbor Analytics"
    assert alert(facts={"job_title": "CTO"}).role == "CTO"
    assert alert(facts={"company": "Harbor Analytics"}).role == "Harbor Analytics"
    assert alert(facts={}).role is None


def test_the_plain_text_alert_says_who_why_and_where_to_look():
    text = alert(SQL_EVENT).text()
    lines = text.splitlines()

    assert lines[0] == "New SQL: Priya Raman (Sales-qualified lead: reach out now)"
    assert "VP Revenue Operations at Harbor Analytics" in lines
    assert "Email: priya.raman@harbor-analytics.example" in lines
    assert "Stage: MQL → SQL" in lines
    assert "Fit grade A1, score 93.22 (fit 47 + engagement 46.22)" in lines
    reads = "Reads most: pricing 62%  ·  features 23%  ·  blog 15%"
    why = lines[lines.index("Why:") + 1: lines.index(reads)]
    # the five largest contributions of the ten, largest first, with their points
    assert [line.split() for line in why] == [["+25", "demo", "request"], ["+15", "title", "vp", "director"],
                                              ["+12", "company", "mid"], ["+10", "industry", "core"],
                                              ["+9.51", "pricing", "page"]]
    recent = lines[lines.index("Recent activity:") + 1: lines.index(f"View lead: {LINK}")]
    assert [r.strip() for r in recent] == ["demo requested (3 min ago)", "form submitted (4 min ago)",
                                           "email clicked (23 h ago)", "page view (1 d ago)", "page view (1 d ago)"]


def test_the_alert_says_what_the_lead_reads_most_and_nothing_when_it_reads_nothing_of_note():
    with_interests, without = alert(SQL_EVENT), alert(SQL_EVENT, interests=[])

    assert with_interests.interests() == [("pricing", "62%"), ("features", "23%"), ("blog", "15%")]
    assert "Reads most: pricing 62%  ·  features 23%  ·  blog 15%" in with_interests.text().splitlines()
    assert without.interests() == [] and "Reads most" not in without.text()
    assert "Reads most" not in alert(MQL_EVENT).text()  # the MQL sample: a lead of a model without categories


def test_recent_activity_is_newest_first_and_at_most_five_whatever_the_order_given():
    recent = [{"type": f"step_{i}", "at": (NOW - timedelta(hours=i)).isoformat()} for i in (4, 1, 6, 2, 3, 5, 0)]

    assert alert(recent=recent).activity() == [("step 0", "just now"), ("step 1", "1 h ago"), ("step 2", "2 h ago"),
                                               ("step 3", "3 h ago"), ("step 4", "4 h ago")]


def test_mql_and_sql_headlines_differ():
    mql, sql = alert(), alert(SQL_EVENT)

    assert (mql.headline, mql.label) == ("New MQL: Priya Raman", "MQL")
    assert (sql.headline, sql.label) == ("New SQL: Priya Raman", "SQL")
    assert mql.tagline != sql.tagline


def test_the_lead_link_is_shown_when_there_is_one():
    assert f"View lead: {LINK}" in alert().text()
    assert alert(lead_url=None).url is None
    assert "View lead" not in alert(lead_url=None).text()


def test_a_missing_grade_shows_a_dash():
    assert alert(grade=None).grade == "–"


def test_an_event_is_validated_at_the_edge():
    assert LeadStageChangedEvent.model_validate(MQL_EVENT).detail.transition_id == MQL_EVENT["detail"]["transition_id"]
    assert transition(unknown_field=1).lead_id  # what a newer worker adds is ignored
    with pytest.raises(ValidationError, match="to_stage"):
        transition(to_stage="promoted")
    with pytest.raises(ValidationError, match="detail-type"):
        LeadStageChangedEvent.model_validate({**MQL_EVENT, "detail-type": "LeadScored"})
    with pytest.raises(ValidationError, match="transition_id"):
        transition(transition_id="")
    with pytest.raises(ValidationError, match="timezone"):  # the worker writes UTC with Z
        transition(recent=[{"type": "page_view", "at": "2026-10-28T15:09:11"}])


# Slack


def test_the_slack_blocks_pass_slacks_limits_and_carry_the_alert():
    from slack_sdk.models.blocks import ActionsBlock, HeaderBlock

    blocks = slack.blocks(alert(SQL_EVENT))

    header = blocks[0]
    assert isinstance(header, HeaderBlock) and header.text.text == ":fire: New SQL: Priya Raman"
    (actions,) = [b for b in blocks if isinstance(b, ActionsBlock)]
    assert actions.elements[0].url == LINK
    assert actions.elements[0].style == "primary"
    rendered = json.dumps([b.to_dict() for b in blocks], ensure_ascii=False)
    assert "*Fit grade*\\nA1" in rendered and "`   +25`  demo request" in rendered


def test_the_slack_blocks_show_the_categories_the_lead_reads_most():
    from slack_sdk.models.blocks import SectionBlock

    blocks = slack.blocks(alert(SQL_EVENT, interests=[{"category": "book_a_demo", "weight": 3, "share": 60},
                                                      {"category": "<!channel>", "weight": 2, "share": 40}]))

    (reads,) = [b for b in blocks if isinstance(b, SectionBlock) and b.text is not None and "Reads most" in b.text.text]
    assert reads.text.text == "*Reads most*\nbook a demo `60%`  ·  &lt;!channel&gt; `40%`"
    assert not [b for b in slack.blocks(alert(SQL_EVENT, interests=[])) if "Reads most" in json.dumps(b.to_dict())]


def test_a_bare_transition_still_makes_valid_blocks():
    bare = alert(facts={}, email=None, reasons=[], recent=[], grade=None, lead_url=None)

    blocks = slack.blocks(bare)  # validates each block

    assert [b.type for b in blocks] == ["header", "context", "section", "actions"]  # an MQL: Accept / Reject
    assert "anonymous visitor" in blocks[0].text.text


def test_oversized_facts_are_clipped_to_slacks_limits():
    huge = alert(facts={"name": "N" * 400, "job_title": "<" * 400, "company": "&" * 400})

    blocks = slack.blocks(huge)  # would raise SlackObjectFormationError beyond a limit

    assert len(blocks[0].text.text) == 150 and blocks[0].text.text.endswith("…")


def test_mrkdwn_control_characters_are_escaped():
    assert slack.escape("a <!channel> & <https://x.example|y>") == "a &lt;!channel&gt; &amp; &lt;https://x.example|y&gt;"


# email


def test_the_email_subject_names_the_stage_the_lead_and_the_grade():
    assert mail.subject(alert(SQL_EVENT)) == "[leadscore] New SQL: Priya Raman (VP Revenue Operations at Harbor Analytics), grade A1"
    assert len(mail.subject(alert(facts={"name": "N" * 400}))) == 200


def test_the_email_html_escapes_what_the_lead_typed_and_links_the_address():
    markup = mail.html(alert(facts={"name": "<b>Bold</b> & Co", "company": '"><script>x</script>'}))

    assert "<b>Bold</b>" not in markup and "<script>" not in markup
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in markup
    assert '<a href="mailto:priya.raman@harbor-analytics.example">priya.raman@harbor-analytics.example</a>' in markup


def test_the_email_html_lists_what_the_lead_reads_most():
    markup = mail.html(alert(SQL_EVENT))

    assert '<h3 style="margin:14px 0 4px">Reads most</h3>' in markup
    assert ('<tr><td align="right" style="font-family:monospace">62%</td><td>pricing</td></tr>'
            '<tr><td align="right" style="font-family:monospace">23%</td><td>features</td></tr>') in markup.replace("\n", "")
    assert "Reads most" not in mail.html(alert(MQL_EVENT))


def test_the_mime_message_has_a_text_and_an_html_alternative():
    import email
    import email.policy

    raw = mail.message(alert(), "alerts@relaywise.example", ["a@relaywise.example", "b@relaywise.example"])

    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "a@relaywise.example, b@relaywise.example"
    assert message.get_body(("plain",)).get_content().strip() == alert().text()
