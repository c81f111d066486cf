"""SendMessageBatch: chunking, partial failures retried, nothing dropped silently (botocore Stubber)."""

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber
from leadscore.adapters.queue import EventQueue, QueueError
from scoring_core import Event

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def events(n, size=10):
    return [Event(event_id=f"e{i}", type="page_view", occurred_at=NOW, received_at=NOW, source="test",
                  anonymous_id=f"v{i}", properties={"blob": "x" * size}) for i in range(n)]


@pytest.fixture
def sqs():
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def sent_entries(client, field="Id"):
    """`field` of each entry of each SendMessageBatch call the client makes, filled in as it makes them."""
    calls = []
    client.meta.events.register("provide-client-params.sqs.SendMessageBatch",
                                lambda params, **_: calls.append([e[field] for e in params["Entries"]]))
    return calls


def ok(ids):
    return {"Successful": [{"Id": i, "MessageId": f"m{i}", "MD5OfMessageBody": "x"} for i in ids], "Failed": []}


def test_twenty_five_events_go_in_three_calls_of_at_most_ten(sqs):
    client, stub = sqs
    for ids in (range(10), range(10, 20), range(20, 25)):
        stub.add_response("send_message_batch", ok([str(i) for i in ids]),
                          {"QueueUrl": URL, "Entries": [{"Id": str(i), "MessageBody": ANY} for i in ids]})
    calls = sent_entries(client)

    EventQueue(client, URL, sleep=lambda s: None).send(events(25))

    assert calls == [[str(i) for i in ids] for ids in (range(10), range(10, 20), range(20, 25))]
    stub.assert_no_pending_responses()


def test_a_batch_is_split_before_it_exceeds_256_kib(sqs):
    client, stub = sqs
    # three events of ~100 KiB: two fit in 256 KiB, the third goes in a second call
    stub.add_response("send_message_batch", ok(["0", "1"]), {"QueueUrl": URL, "Entries": [{"Id": "0", "MessageBody": ANY}, {"Id": "1", "MessageBody": ANY}]})
    stub.add_response("send_message_batch", ok(["2"]), {"QueueUrl": URL, "Entries": [{"Id": "2", "MessageBody": ANY}]})
    bodies = sent_entries(client, "MessageBody")

    EventQueue(client, URL, sleep=lambda s: None).send(events(3, size=100_000))

    assert [len(call) for call in bodies] == [2, 1]
    assert all(sum(len(b.encode()) for b in call) <= 256 * 1024 for call in bodies)
    assert sum(len(b.encode()) for b in bodies[0] + bodies[1][:1]) > 256 * 1024  # the third would not have fitted
    stub.assert_no_pending_responses()


def test_entries_sqs_reports_failed_are_retried_until_queued(sqs):
    client, stub = sqs
    stub.add_response("send_message_batch", {"Successful": [{"Id": "0", "MessageId": "m", "MD5OfMessageBody": "x"}],
                                             "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]})
    stub.add_response("send_message_batch", ok(["1"]), {"QueueUrl": URL, "Entries": [{"Id": "1", "MessageBody": ANY}]})
    calls, waits = sent_entries(client), []

    EventQueue(client, URL, sleep=waits.append).send(events(2))  # no QueueError: both queued

    assert calls == [["0", "1"], ["1"]]  # only the failed entry is sent again
    assert len(waits) == 1 and waits[0] > 0  # after a backoff
    stub.assert_no_pending_responses()


def test_an_entry_that_keeps_failing_raises_so_the_sender_retries(sqs):
    client, stub = sqs
    failed = {"Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}]}
    for _ in range(4):
        stub.add_response("send_message_batch", failed)

    with pytest.raises(QueueError) as err:
        EventQueue(client, URL, sleep=lambda s: None).send(events(1))

    assert err.value.failed == 1


def test_a_sender_fault_is_not_retried_and_is_reported(sqs):
    client, stub = sqs
    stub.add_response("send_message_batch", {"Successful": [{"Id": "1", "MessageId": "m", "MD5OfMessageBody": "x"}],
                                             "Failed": [{"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents"}]})

    with pytest.raises(QueueError) as err:
        EventQueue(client, URL, sleep=lambda s: None).send(events(2))

    assert err.value.failed == 1 and "InvalidMessageContents" in str(err.value)


def test_a_failed_call_reports_every_unsent_event(sqs):
    client, stub = sqs
    stub.add_response("send_message_batch", ok([str(i) for i in range(10)]))
    stub.add_client_error("send_message_batch", service_error_code="AWS.SimpleQueueService.NonExistentQueue", http_status_code=400)

    with pytest.raises(QueueError) as err:
        EventQueue(client, URL, sleep=lambda s: None).send(events(15))

    assert err.value.failed == 5
