"""runtime: AWS clients as the handlers build them."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from leadscore.runtime import cache_user_agent

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def _client():
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _send(client, calls: int) -> None:
    with Stubber(client) as stub:
        for _ in range(calls):
            stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
            client.send_message(QueueUrl=QUEUE, MessageBody="{}")


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


def test_only_the_events_queue_client_skips_botocore_parameter_validation(monkeypatch):
    from botocore.exceptions import ParamValidationError
    from leadscore import runtime, settings

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    settings.reset()
    try:
        # a body botocore's validator would refuse (not a string) reaches the (stubbed) wire
        with Stubber(runtime.queue_client()) as stub:
            stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
            runtime.queue_client().send_message(QueueUrl=QUEUE, MessageBody=1)
        with Stubber(runtime.aws_client("sqs")) as stub, pytest.raises(ParamValidationError):
            stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
            runtime.aws_client("sqs").send_message(QueueUrl=QUEUE, MessageBody=1)
    finally:
        settings.reset()
