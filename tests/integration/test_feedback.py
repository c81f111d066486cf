"""POST /leads/{id}/feedback on moto: the real leads handler, the real worker before it, the table's
stream through the real stream publisher to the bus, and the real notifiers after it.

What a salesperson (and the CRM) would notice: the answer, the lead's stage through the API, the
one LeadStageChanged on the bus, the one Slack alert and CRM call, and nothing more on a replay."""

from __future__ import annotations

import json
from functools import partial

import pytest
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.http import http_api_event
from leadscore.dev.template import http_routes
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.notify import crm

from tests.support.alerts import posted
from tests.support.handlers import invoke, invoke_notifier
from tests.support.queues import captured
from tests.support.template import TEMPLATE
from tests.support.worker import ev, run

TOKEN = "test-api-token"
ANN = email_key("ann@acme.example", LOCAL_KEY_SECRET)
SLACK_PATH = "/services/T0RELAYWISE/B0LEADALERTS/feedbacksecret"
CRM_PATH = "/hooks/leadscore"
(ROUTE,) = [r for r in http_routes(TEMPLATE) if r.method == "POST" and r.path == "/leads/{id}/feedback"]


@pytest.fixture
def api(notify, rec, monkeypatch):
    """The leads API (a token), Slack and the CRM webhook going to the recorder."""
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rec.url + SLACK_PATH)
    monkeypatch.setenv("CRM_WEBHOOK_URL", rec.url + CRM_PATH)
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "whsec_crm_feedback")
    monkeypatch.setattr(crm, "BACKOFF_S", 0.01)
    monkeypatch.setattr(crm, "post", partial(crm.post, timeout=0.3))
    return notify


def feedback(key: str, body: object, token: str | None = TOKEN, raw: bytes | None = None) -> tuple[int, dict]:
    """POST /leads/{key}/feedback as API Gateway delivers it to the leads function."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    event = http_api_event("POST", f"/leads/{key}/feedback", "", headers, data, f"POST {ROUTE.path}", {"id": key})
    response = load_handler(ROUTE.code_uri, ROUTE.handler)(event, LambdaContext("LeadsFunction"))
    return response["statusCode"], json.loads(response["body"])


def lead(key: str) -> dict:
    response = invoke("LeadsFunction", f"/leads/{key}", headers={"Authorization": f"Bearer {TOKEN}"},
                      path_parameters={"id": key})
    return json.loads(response["body"])


def qualify(email="ann@acme.example", anon=None):
    events = [ev(f"{email}-id", "identify", email=email, anon=anon,
                 traits={"job_title": "Marketing Manager", "company_size": 200, "first_name": "Ann", "last_name": "Lee"})]
    events += [ev(f"{email}-p{i}", "page_view", email=email, properties={"url": f"https://example.com/pricing/{i}"})
               for i in range(2)]
    events.append(ev(f"{email}-demo", "demo_requested", email=email))
    assert run(events) == []


def deliver(events: list[dict]) -> None:
    """Every notifier gets each event, twice (EventBridge and Lambda both retry)."""
    for event in events * 2:
        for channel in ("slack", "crm"):
            assert invoke_notifier(channel, event)["status"] == "sent"


def test_accepting_an_mql_publishes_one_sql_transition_one_alert_and_one_crm_call(api, rec):
    qualify()
    deliver(captured(api))  # the MQL and its alert
    assert len(rec.to(SLACK_PATH)) == 1

    status, body = feedback(ANN, {"outcome": "accepted", "reason": "budget confirmed", "by": "Sam Seller",
                                  "feedback_id": "crm-77"})

    assert status == 200, body
    assert body == {"lead_id": ANN, "feedback_id": "crm-77", "outcome": "accepted", "stage": "sql",
                    "previous_stage": "mql", "changed": True, "duplicate": False}
    assert lead(ANN)["stage"] == "sql"
    events = captured(api)
    assert [(e["detail"]["from_stage"], e["detail"]["to_stage"]) for e in events] == [("mql", "sql")]
    assert events[0]["detail"]["feedback"] == {"outcome": "accepted", "reason": "budget confirmed", "by": "Sam Seller",
                                               "source": "api", "feedback_id": "crm-77"}
    deliver(events)
    slack = rec.to(SLACK_PATH)
    assert len(slack) == 2 and "SQL" in json.dumps(posted(slack[1])["blocks"])
    crm_calls = rec.to(CRM_PATH)
    assert [json.loads(r.body)["to_stage"] for r in crm_calls] == ["mql", "sql"]
    assert json.loads(crm_calls[1].body)["feedback"]["outcome"] == "accepted"


def test_the_same_feedback_id_again_publishes_nothing_and_answers_the_first_result(api, rec):
    qualify()
    first = feedback(ANN, {"outcome": "accepted", "feedback_id": "once"})
    deliver(captured(api))
    alerts = len(rec.requests)

    status, body = feedback(ANN, {"outcome": "accepted", "feedback_id": "once"})

    assert status == 200
    assert body == {**first[1], "duplicate": True}
    assert captured(api) == []
    assert len(rec.requests) == alerts


def test_a_feedback_id_reused_for_another_outcome_is_409_and_changes_nothing(api):
    qualify()
    feedback(ANN, {"outcome": "accepted", "feedback_id": "k-1"})
    captured(api)

    assert feedback(ANN, {"outcome": "rejected", "feedback_id": "k-1"}) == (
        409, {"error": "feedback_id was already used for another outcome"})
    assert lead(ANN)["stage"] == "sql"
    assert captured(api) == []


def test_feedback_given_on_a_visitor_id_moves_the_lead_it_was_merged_into(api):
    assert run([ev("v-1", "page_view", email=None, anon="visitor-9", properties={"url": "https://example.com/"})]) == []
    qualify(anon="visitor-9")
    captured(api)

    status, body = feedback("v:visitor-9", {"outcome": "rejected", "reason": "a student"})

    assert status == 200 and body["lead_id"] == ANN and body["stage"] == "disqualified"
    (event,) = captured(api)
    assert event["detail"]["lead_id"] == ANN and event["detail"]["to_stage"] == "disqualified"


def test_feedback_that_moves_no_stage_answers_200_and_publishes_nothing(api):
    qualify()
    feedback(ANN, {"outcome": "accepted"})
    captured(api)

    status, body = feedback(ANN, {"outcome": "accepted", "reason": "still keen"})

    assert status == 200 and (body["stage"], body["changed"]) == ("sql", False)
    assert captured(api) == []


def test_a_lost_deal_goes_back_to_lead_and_more_activity_does_not_alert_again(api):
    qualify()
    feedback(ANN, {"outcome": "accepted"})
    captured(api)

    assert feedback(ANN, {"outcome": "lost"})[1]["stage"] == "lead"
    assert run([ev("after-loss", "demo_requested")]) == []

    assert lead(ANN)["stage"] == "lead"
    assert [e["detail"]["to_stage"] for e in captured(api)] == ["lead"]


@pytest.mark.parametrize("raw, error", [
    (b"{not json", "body is not valid JSON"),
    (b"", "body is not valid JSON"),
    (b"[]", "body must be a JSON object"),
    (json.dumps({"outcome": "maybe"}).encode(), "outcome: Input should be 'accepted', 'rejected', 'won' or 'lost'"),
    (json.dumps({"outcome": "accepted", "reason": "x" * 501}).encode(), "reason: String should have at most 500 characters"),
    (json.dumps({"outcome": "accepted", "stage": "sql"}).encode(), "stage: Extra inputs are not permitted"),
    (b"{" + b" " * 20_000 + b"}", "body is larger than 16384 bytes"),
])
def test_bad_bodies_get_a_clear_400_and_nothing_is_written(api, raw, error):
    qualify()
    captured(api)
    before = api.ddb.get_item(TableName=api.table, Key={"pk": {"S": ANN}})["Item"]

    assert feedback(ANN, None, raw=raw) == (400, {"error": error})

    assert api.ddb.get_item(TableName=api.table, Key={"pk": {"S": ANN}})["Item"] == before
    assert captured(api) == []


def test_an_unknown_lead_is_404_and_a_missing_token_401(api):
    qualify()

    assert feedback("e:nobody", {"outcome": "accepted"}) == (404, {"error": "no such lead"})
    assert feedback(ANN, {"outcome": "accepted"}, token=None) == (401, {"error": "unauthorized"})
    assert feedback(ANN, {"outcome": "accepted"}, token="wrong") == (401, {"error": "unauthorized"})
    assert lead(ANN)["stage"] == "mql"


def test_the_dynamodb_write_refuses_a_stale_read_and_writes_nothing(api):
    from leadscore import dependencies
    from scoring_core import apply_feedback

    from leadscore.adapters.leads import state_of

    qualify()
    store = dependencies.current().leads_store
    item = store.get(ANN)
    state = state_of(item)
    apply_feedback(state, "rejected")

    stale_transitions = store.record_feedback(ANN, state, state.transitions - 1, [], 0, None, 0.0)
    stale_feedbacks = store.record_feedback(ANN, state, state.transitions, [], 3, None, 0.0)

    assert stale_transitions == (False, item) and stale_feedbacks == (False, item)
    assert store.get(ANN) == item


def test_the_log_holds_neither_who_gave_feedback_nor_why_nor_the_leads_address(api, caplog, capsys):
    qualify()
    caplog.set_level("INFO")  # as in Lambda (botocore's DEBUG lines quote every request)

    assert feedback(ANN, {"outcome": "rejected", "reason": "rude-reason-7", "by": "sam.seller@relaywise.example"})[0] == 200

    logged = caplog.text + "".join(capsys.readouterr())
    assert "feedback recorded" in logged  # it is logged, by kind
    for secret in ("rude-reason-7", "sam.seller", "ann@acme.example", TOKEN):
        assert secret not in logged


def test_the_in_memory_store_records_feedback_as_dynamodb_does(api):
    """The unit tests' store (tests/unit/test_feedback.py) against the real one, over one sequence of feedback."""
    from leadscore import dependencies
    from leadscore.adapters.leads import OUTBOX, InMemoryLeadStore, unpack_detail
    from leadscore.adapters.leads.codec import plain
    from leadscore.dependencies import Dependencies
    from leadscore.feedback import FeedbackIn, give_feedback

    qualify()
    real = dependencies.current()
    memory = Dependencies(real.settings, clock=lambda: 1_800_000_000.0, leads_store=InMemoryLeadStore(), engine=real.engine)
    dynamo = Dependencies(real.settings, clock=lambda: 1_800_000_000.0)
    memory.leads_store.items[ANN] = plain(dynamo.leads_store.get(ANN))
    memory.leads_store.items[ANN].pop(OUTBOX, None)
    steps = [FeedbackIn(outcome="accepted", by="Sam", feedback_id="s1"), FeedbackIn(outcome="accepted", feedback_id="s2"),
             FeedbackIn(outcome="accepted", feedback_id="s1"), FeedbackIn(outcome="lost", reason="budget cut"),
             FeedbackIn(outcome="won", feedback_id="s3")]
    answers = {}
    for name, deps in (("memory", memory), ("dynamo", dynamo)):
        answers[name] = [{k: v for k, v in give_feedback(deps, ANN, given, source="api").as_json().items()
                          if k != "feedback_id"} for given in steps]
    assert answers["memory"] == answers["dynamo"]

    mine, theirs = memory.leads_store.get(ANN), plain(dynamo.leads_store.get(ANN))
    fields = ("stage", "tr", "pinned", "recycled", "fbn", "qstage", "score")
    assert {k: mine.get(k) for k in fields} == {k: theirs.get(k) for k in fields}
    assert [{k: v for k, v in e.items() if k != "id"} for e in mine["fb"]] == [
        {k: v for k, v in e.items() if k != "id"} for e in theirs["fb"]]
    assert unpack_detail(mine[OUTBOX])["transition_id"] == unpack_detail(dynamo.leads_store.get(ANN)[OUTBOX])["transition_id"]
