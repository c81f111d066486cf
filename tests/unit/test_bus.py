"""PutEvents in chunks of 10, failed entries retried, what still fails is reported (botocore Stubber)."""

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from leadscore.adapters.bus import TransitionBus


def details(n):
    return [{"transition_id": f"t{i}", "lead_id": f"e:{i}", "to_stage": "mql"} for i in range(n)]


@pytest.fixture
def events():
    client = boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def ok(n):
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"id{i}"} for i in range(n)]}


def test_twelve_transitions_take_two_calls_with_the_contracted_shape(events):
    client, stub = events
    expected = [{"Source": "leadscore", "DetailType": "LeadStageChanged", "Detail": ANY, "EventBusName": "leads"}]
    stub.add_response("put_events", ok(10), {"Entries": expected * 10})
    stub.add_response("put_events", ok(2), {"Entries": expected * 2})

    failed = TransitionBus(client, "leads", sleep=lambda s: None).publish(details(12))

    assert failed == set()


def test_a_failed_entry_is_retried_alone_and_then_published(events):
    client, stub = events
    logged = []
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]})
    stub.add_response("put_events", ok(1), {"Entries": [{"Source": "leadscore", "DetailType": "LeadStageChanged",
                                                         "Detail": json.dumps(details(2)[1]), "EventBusName": "leads"}]})

    failed = TransitionBus(client, "leads", sleep=lambda s: None, log=lambda msg, **kw: logged.append(kw)).publish(details(2))

    assert failed == set()
    assert logged == [{"error_code": "InternalFailure", "error_message": "try again"}]  # the values, not literal names


def test_an_entry_failing_every_attempt_is_reported_for_redelivery(events):
    client, stub = events
    for _ in range(3):
        stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}]})

    assert TransitionBus(client, "leads", sleep=lambda s: None).publish(details(1)) == {"t0"}


def test_a_failing_call_reports_its_whole_chunk(events):
    client, stub = events
    for _ in range(3):
        stub.add_client_error("put_events", service_error_code="InternalException", http_status_code=500)

    assert TransitionBus(client, "leads", sleep=lambda s: None).publish(details(3)) == {"t0", "t1", "t2"}
