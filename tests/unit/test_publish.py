"""The stream publisher: which stream records carry a transition to publish, and what it answers Lambda."""

import base64
import json
from pathlib import Path

import boto3
import pytest
from boto3.dynamodb.types import Binary
from botocore.stub import Stubber
from leadscore import dependencies, settings
from leadscore.adapters.bus import TransitionBus
from leadscore.adapters.leads import OUTBOX, pack_detail, unpack_detail
from leadscore.adapters.leads.codec import pack_details
from leadscore.contracts import LeadTriggered
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.publish import BadRecord, transitions_in

ROOT = Path(__file__).resolve().parents[2]
DETAIL = json.loads((ROOT / "events" / "functions" / "notify_sql.json").read_text())["detail"]


def b64(detail: dict) -> str:
    return base64.b64encode(pack_detail(detail)).decode()


def record(seq: str, name: str = "MODIFY", new: dict | None = None, old: dict | None = None) -> dict:
    """A stream record as Lambda delivers it (DynamoDB JSON, binary base64)."""
    ddb = {"Keys": {"pk": {"S": DETAIL["lead_id"]}}, "SequenceNumber": seq, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        ddb["NewImage"] = {"pk": {"S": DETAIL["lead_id"]}, **new}
    if old is not None:
        ddb["OldImage"] = {"pk": {"S": DETAIL["lead_id"]}, **old}
    return {"eventID": seq, "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": ddb}


def test_a_recorded_transition_round_trips_exactly_and_is_less_than_half_the_json():
    packed = pack_detail(DETAIL)

    assert unpack_detail(packed) == DETAIL
    assert unpack_detail(Binary(packed)) == DETAIL  # as boto3 reads a binary attribute back
    assert unpack_detail({"pk": "e:x", OUTBOX: Binary(packed)}[OUTBOX]) == DETAIL
    assert len(packed) < len(json.dumps(DETAIL)) / 2


def test_only_the_write_that_recorded_a_transition_publishes_it():
    t1, t2 = {**DETAIL, "transition_id": "t1"}, {**DETAIL, "transition_id": "t2"}
    records = [
        record("1", new={"n": {"N": "3"}}, old={"n": {"N": "2"}}),  # an apply: nothing recorded
        record("2", new={"ob": {"B": b64(t1)}}, old={}),  # the record
        record("3", new={"ob": {"B": b64(t1)}, "recent": {"L": []}}, old={"ob": {"B": b64(t1)}}),  # a trim that kept it
        record("4", new={"n": {"N": "4"}}, old={"ob": {"B": b64(t1)}}),  # the next apply removed it
        record("5", "INSERT", new={"ob": {"B": b64(t2)}}),  # a new lead recorded at once
        record("6", new={"ob": {"B": b64(t2) + ""}}, old={"ob": {"B": b64(t2)}}),  # same bytes again
        record("7", "REMOVE", old={"ob": {"B": b64(t2)}}),  # TTL deleted the lead
    ]

    found = transitions_in(records)

    assert [(seq, d["transition_id"]) for seq, d in found] == [("2", "t1"), ("5", "t2")]


def test_an_unreadable_attribute_is_reported_not_raised():
    found = transitions_in([record("9", new={"ob": {"B": base64.b64encode(b"not zlib").decode()}})])

    assert len(found) == 1 and found[0][0] == "9" and isinstance(found[0][1], BadRecord)


@pytest.fixture
def handler():
    """The publisher's handler with a bus whose EventBridge client is stubbed and whose retries do not wait."""
    client = boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    bus = TransitionBus(client, "leadscore-bus", sleep=lambda s: None)
    dependencies.use(dependencies.Dependencies(settings.settings(), publisher=bus))
    yield load_handler(ROOT / "functions" / "publish", "app.lambda_handler"), Stubber(client)


def test_twelve_transitions_go_out_in_two_calls(handler):
    fn, stub = handler
    details = [{**DETAIL, "transition_id": f"t{i:02d}"} for i in range(12)]
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(10)]})
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(2)]})
    with stub:
        response = fn({"Records": [record(str(i), new={"ob": {"B": b64(d)}}) for i, d in enumerate(details)]}, LambdaContext("publish"))
    stub.assert_no_pending_responses()
    assert response == {"batchItemFailures": []}


def test_an_entry_still_refused_after_retries_makes_lambda_retry_from_its_record(handler):
    fn, stub = handler
    details = [{**DETAIL, "transition_id": f"t{i}"} for i in range(3)]
    refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, refused, {"EventId": "c"}]})
    for _ in range(2):
        stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [refused]})
    with stub:
        response = fn({"Records": [record(f"s{i}", new={"ob": {"B": b64(d)}}) for i, d in enumerate(details)]}, LambdaContext("publish"))

    assert response == {"batchItemFailures": [{"itemIdentifier": "s1"}]}


FIRING = {"trigger": "abandoned_cart", "kind": "not_followed", "firing_id": "f1", "fired_at": "2026-12-06T12:00:00Z",
          "lead_id": DETAIL["lead_id"], "email": None, "stage": "lead", "score": 12.0, "fit": 10.0, "engagement": 2.0,
          "grade": "C3", "band": "cold", "facts": {}, "matched": {"start": {"type": "checkout_started", "at": "2026-12-05T12:00:00Z"}}}


def ot(*details: dict) -> str:
    return base64.b64encode(pack_details(list(details))).decode()


def test_a_write_that_recorded_a_transition_and_firings_publishes_all_of_them_once():
    f2 = {**FIRING, "trigger": "engaged", "kind": "score_above", "firing_id": "f2"}
    records = [
        record("1", new={"ob": {"B": b64(DETAIL)}, "ot": {"B": ot(FIRING, f2)}}, old={}),  # one write: a change and two firings
        record("2", new={"ot": {"B": ot(FIRING, f2)}, "n": {"N": "2"}}, old={"ot": {"B": ot(FIRING, f2)}}),  # a trim kept it
        record("3", new={"ot": {"B": ot({**FIRING, "firing_id": "f3"})}}, old={}),  # a firing alone
    ]

    found = transitions_in(records)

    assert [(seq, d.get("transition_id") or d["firing_id"]) for seq, d in found] == [
        ("1", DETAIL["transition_id"]), ("1", "f1"), ("1", "f2"), ("3", "f3")]


def test_a_firing_goes_out_as_lead_triggered_and_a_transition_as_lead_stage_changed(handler):
    fn, stub = handler
    expected = [{"Source": "leadscore", "DetailType": "LeadStageChanged", "Detail": json.dumps(DETAIL), "EventBusName": "leadscore-bus"},
                {"Source": "leadscore", "DetailType": "LeadTriggered", "Detail": json.dumps(FIRING), "EventBusName": "leadscore-bus"}]
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}]}, {"Entries": expected})
    with stub:
        response = fn({"Records": [record("1", new={"ob": {"B": b64(DETAIL)}, "ot": {"B": ot(FIRING)}})]}, LambdaContext("publish"))
    stub.assert_no_pending_responses()
    assert response == {"batchItemFailures": []}
    assert LeadTriggered.model_validate(FIRING).firing_id == "f1"


def test_an_unreadable_firings_attribute_is_reported_not_raised():
    found = transitions_in([record("9", new={"ot": {"B": base64.b64encode(b"not zlib").decode()}})])

    assert len(found) == 1 and isinstance(found[0][1], BadRecord) and "ot" in str(found[0][1])
