"""DELETE /leads/{id} and GET /leads/{id}/export: the real handlers on moto, leads scored by the real
worker, alerts recorded by the real notifier, every table the template creates scanned afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from leadscore.identity import LOCAL_KEY_SECRET, email_key
from scoring_core import Event

from tests.support.handlers import invoke, invoke_notifier
from tests.support.queues import captured
from tests.support.template import TEMPLATE
from tests.support.worker import ev, run

TOKEN = "test-api-token"
EMAIL = "erin.privacy@acme.example"
KEY = email_key(EMAIL, LOCAL_KEY_SECRET)
VISITORS = ("4f1d2c7a-erin-laptop", "9b3e6d10-erin-phone")


@pytest.fixture
def api(notify, monkeypatch):
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("CONSOLE_ALERTS", "1")  # the Slack notifier prints the alert and records it
    return notify


def call(method, path, token=TOKEN, body=None, **path_parameters):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = invoke("LeadsFunction", path, method=method, headers=headers, path_parameters=path_parameters,
                      body=json.dumps(body).encode() if body is not None else b"")
    return response["statusCode"], json.loads(response["body"] or "null")


def now_event(i, type_, **fields) -> Event:
    """An event that happens now (after an erasure made earlier in the test)."""
    at = datetime.now(UTC)
    return Event(event_id=f"later-{i}", type=type_, occurred_at=at, received_at=at, source="test", **fields)


def erin_qualifies(api):
    """Anonymous page views on two devices, then a form with the email on each: merged into one MQL, alerted."""
    laptop, phone = VISITORS
    events = [ev(f"l{i}", "page_view", email=None, anon=laptop, days_ago=1,
                 properties={"url": f"https://relaywise.example/pricing/{i}"}) for i in range(2)]
    events += [ev("p0", "page_view", email=None, anon=phone, days_ago=1, properties={"url": "https://relaywise.example/"})]
    assert run(events) == []
    assert run([ev("id", "identify", email=EMAIL, anon=laptop,
                   traits={"job_title": "Marketing Manager", "company_size": 200, "first_name": "Erin"})]) == []
    assert run([ev("demo", "demo_requested", email=EMAIL, anon=phone)]) == []
    alerts = [invoke_notifier("slack", event) for event in captured(api)]
    assert [a["status"] for a in alerts] == ["printed"]  # one MQL alert, recorded in the alerts table


def template_tables(api) -> dict[str, str]:
    """Every DynamoDB table the template creates, by logical id, as created on moto."""
    names = api.ddb.list_tables()["TableNames"]
    logical = [n for n, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    return {lid: next(n for n in names if lid in n) for lid in logical}


def everything_stored(api) -> str:
    """Every item of every table, every attribute, as one text (a paginated Scan)."""
    dumps = []
    for table in template_tables(api).values():
        for page in api.ddb.get_paginator("scan").paginate(TableName=table):
            dumps += [json.dumps(item, default=str) for item in page["Items"]]
    return "\n".join(dumps)


def test_an_erased_lead_leaves_no_email_key_or_visitor_id_in_any_table(api):
    erin_qualifies(api)
    feedback = {"outcome": "accepted", "by": "Sam Seller", "reason": "called Erin", "feedback_id": "fb-1"}
    assert call("POST", f"/leads/{KEY}/feedback", body=feedback, id=KEY)[0] == 200
    assert [invoke_notifier("slack", event)["status"] for event in captured(api)] == ["printed"]  # the SQL alert
    before = everything_stored(api)
    assert EMAIL in before and KEY in before and all(v in before for v in VISITORS)
    assert set(template_tables(api)) == {"LeadsTable", "AlertsTable"}

    status, answer = call("DELETE", f"/leads/v:{VISITORS[1]}", id=f"v:{VISITORS[1]}")  # any key of the lead

    assert status == 200
    assert answer == {"erased": True, "removed": {"leads": 1, "identities": 2, "tombstones": 3, "alerts": 2}}
    after = everything_stored(api)
    for needle in (EMAIL, KEY, KEY[2:], *VISITORS, "Erin", "Sam Seller"):
        assert needle not in after
    assert call("GET", f"/leads/{KEY}", id=KEY)[0] == 404


def test_a_later_hit_with_the_same_visitor_id_starts_a_fresh_anonymous_lead(api):
    erin_qualifies(api)
    assert call("DELETE", f"/leads/{KEY}", id=KEY)[0] == 200

    hit = [now_event("hit", "page_view", anonymous_id=VISITORS[0], properties={"url": "https://relaywise.example/"})]
    # this warm worker still knows the visitor as Erin's alias: the write is refused and redelivered
    assert [f["itemIdentifier"] for f in run(hit)] == ["m-later-hit"]
    assert run(hit) == []

    status, lead = call("GET", f"/leads/v:{VISITORS[0]}", id=f"v:{VISITORS[0]}")
    assert status == 200
    assert lead["lead_id"] == f"v:{VISITORS[0]}" and lead["email"] is None
    assert lead["facts"] == {} and lead["events"] == 1 and lead["stage"] == "lead"
    assert call("GET", f"/leads/{KEY}", id=KEY)[0] == 404
    assert EMAIL not in everything_stored(api)


def test_events_from_before_the_erasure_that_arrive_after_it_do_not_bring_the_lead_back(api):
    erin_qualifies(api)
    in_flight = [ev("late-id", "identify", email=EMAIL, anon=VISITORS[1], traits={"job_title": "CMO"}),
                 ev("late-view", "page_view", email=None, anon=VISITORS[0], properties={"url": "https://relaywise.example/"})]
    assert call("DELETE", f"/leads/{KEY}", id=KEY)[0] == 200

    # the visitor's view joins Erin's group through this warm worker's remembered redirect: refused,
    # redelivered (as SQS does), then each event meets its key's tombstone
    assert len(run(in_flight)) == 2
    assert run(in_flight) == []

    stored = everything_stored(api)
    for needle in (EMAIL, KEY, *VISITORS, "CMO"):
        assert needle not in stored
    assert call("GET", f"/leads/{KEY}", id=KEY)[0] == 404
    assert call("GET", f"/leads/v:{VISITORS[0]}", id=f"v:{VISITORS[0]}")[0] == 404


def test_the_export_holds_the_facts_identities_activity_stage_feedback_and_alerts(api):
    erin_qualifies(api)
    assert call("POST", f"/leads/{KEY}/feedback", body={"outcome": "accepted", "feedback_id": "fb-1"}, id=KEY)[0] == 200

    status, export = call("GET", f"/leads/v:{VISITORS[0]}/export", id=f"v:{VISITORS[0]}")

    assert status == 200
    assert export["lead_id"] == KEY
    assert export["identities"]["emails"] == [EMAIL]
    assert sorted(export["identities"]["visitor_ids"]) == sorted(VISITORS)
    assert export["facts"]["job_title"]["value"] == "Marketing Manager"
    assert export["facts"]["first_name"]["value"] == "Erin"
    assert export["activity"]["events"] == 5
    assert export["activity"]["by_type"] == {"page_view": 3, "identify": 1, "demo_requested": 1}
    assert export["stage"]["current"] == "sql" and export["stage"]["transitions"] == 2
    assert export["stage"]["last_transition"]["to_stage"] == "sql"
    assert [f["outcome"] for f in export["feedback"]] == ["accepted"]
    assert [(a["channel"], a["status"]) for a in export["alerts"]] == [("slack", "COMPLETED")]  # the MQL alert
    assert set(export["stored"]) == {KEY, *(f"v:{v}" for v in VISITORS)}
    # reading is not erasing
    assert call("GET", f"/leads/{KEY}", id=KEY)[0] == 200


def test_a_second_delete_is_404_and_a_bad_token_is_401(api):
    erin_qualifies(api)

    assert call("DELETE", f"/leads/{KEY}", token="wrong", id=KEY) == (401, {"error": "unauthorized"})
    assert call("GET", f"/leads/{KEY}/export", token=None, id=KEY)[0] == 401
    assert call("DELETE", f"/leads/{KEY}", id=KEY)[0] == 200
    assert call("DELETE", f"/leads/{KEY}", id=KEY) == (404, {"error": "no such lead"})
    assert call("GET", f"/leads/{KEY}/export", id=KEY)[0] == 404
    assert call("DELETE", "/leads/v:nobody", id="v:nobody")[0] == 404


def test_the_erasure_log_holds_no_email_key_or_visitor_id(api, capsys, caplog):
    erin_qualifies(api)
    capsys.readouterr()

    assert call("DELETE", f"/leads/v:{VISITORS[0]}", id=f"v:{VISITORS[0]}")[0] == 200

    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text
    assert "lead erased" in logged and "LeadsErased" in logged
    for needle in (EMAIL, KEY, *VISITORS):
        assert needle not in logged



def test_a_console_origin_may_erase_and_export_cross_origin_and_no_other_origin_may(api, monkeypatch):
    from leadscore import settings

    monkeypatch.setenv("CONSOLE_ORIGINS", "https://console.relaywise.example")
    settings.reset()

    def preflight(path, origin, method):
        headers = {"Origin": origin, "Access-Control-Request-Method": method,
                   "Access-Control-Request-Headers": "authorization"}
        return invoke("LeadsFunction", path, method="OPTIONS", headers=headers)["headers"]

    erase = preflight(f"/leads/{KEY}", "https://console.relaywise.example", "DELETE")
    export = preflight(f"/leads/{KEY}/export", "https://console.relaywise.example", "GET")
    elsewhere = preflight(f"/leads/{KEY}", "https://evil.example", "DELETE")

    assert "DELETE" in erase["Access-Control-Allow-Methods"]
    assert export["Access-Control-Allow-Origin"] == "https://console.relaywise.example"
    assert "Access-Control-Allow-Origin" not in elsewhere
