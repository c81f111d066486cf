"""The container's dependencies: AWS clients as the handlers get them, each built once."""

from __future__ import annotations

from datetime import datetime, timezone
from unittest.mock import ANY

import boto3
import pytest
from botocore.stub import Stubber
from leadscore import dependencies, settings
from leadscore.aws_clients import cache_user_agent
from leadscore.dependencies import Dependencies
from scoring_core import Event

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
AT = datetime(2026, 11, 1, tzinfo=timezone.utc)
EVENT = Event(event_id="e1", type="page_view", occurred_at=AT, received_at=AT, source="test", anonymous_id="v1")


def _client():
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _send(client, calls: int) -> None:
    with Stubber(client) as stub:
        for _ in range(calls):
            stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
            client.send_message(QueueUrl=QUEUE, MessageBody="{}")


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("QUEUE_URL", QUEUE)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings.reset()


def test_the_cached_user_agent_is_the_header_botocore_builds():
    plain, cached = _client(), cache_user_agent(_client())
    _send(cached, 2)

    assert cached._user_agent_creator.to_string() == plain._user_agent_creator.to_string()
    assert cached._user_agent_creator.to_string().startswith("Boto3/")


def test_the_user_agent_is_built_once_per_feature_set_not_per_call():
    client = _client()
    creator = client._user_agent_creator
    builds = []
    original = creator.to_string
    creator.to_string = lambda: builds.append(1) or original()
    cache_user_agent(client)

    _send(client, 20)

    assert len(builds) == 1


def test_only_the_events_queue_client_skips_botocore_parameter_validation(aws_env):
    from botocore.exceptions import ParamValidationError

    deps = dependencies.current()
    queue_client = deps.aws_client("sqs", validate=False)

    with Stubber(queue_client) as stub:  # the events queue sends with this client
        stub.add_response("send_message_batch", {"Successful": [{"Id": "0", "MessageId": "m", "MD5OfMessageBody": "x"}],
                                                 "Failed": []}, {"QueueUrl": QUEUE, "Entries": ANY})
        deps.queue.send([EVENT])
    # a body botocore's validator would refuse (not a string) reaches the (stubbed) wire
    with Stubber(queue_client) as stub:
        stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
        queue_client.send_message(QueueUrl=QUEUE, MessageBody=1)
    with Stubber(deps.aws_client("sqs")) as stub, pytest.raises(ParamValidationError):
        stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
        deps.aws_client("sqs").send_message(QueueUrl=QUEUE, MessageBody=1)


def test_a_container_builds_each_dependency_once_on_first_use(aws_env):
    deps = dependencies.current()

    assert "queue" not in vars(deps)  # nothing built before it is asked for
    assert dependencies.current() is deps
    assert deps.queue is deps.queue
    assert deps.aws_client("sqs") is deps.aws_client("sqs")


def test_a_reset_is_a_new_container(aws_env):
    before = dependencies.current()

    settings.reset()

    assert dependencies.current() is not before
    assert dependencies.current().settings is settings.settings()


def test_injected_dependencies_are_used_until_the_next_reset(aws_env):
    fake_queue = object()
    injected = Dependencies(settings.settings(), queue=fake_queue, clock=lambda: 42.0)

    dependencies.use(injected)

    assert dependencies.current() is injected
    assert dependencies.current().queue is fake_queue and dependencies.current().clock() == 42.0
    settings.reset()
    assert dependencies.current() is not injected


def test_a_given_leads_store_is_the_one_the_worker_writes_to(aws_env):
    store = object()  # an in-memory store would do; the worker only keeps it here

    deps = Dependencies(settings.settings(), leads_store=store)

    assert deps.worker.store is store


def test_a_dependency_it_does_not_build_is_refused_by_name(aws_env):
    with pytest.raises(TypeError, match="clients"):
        Dependencies(settings.settings(), clients={})
