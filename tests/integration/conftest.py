"""Fixtures: AWS on moto built from template.yaml (queues, tables, bus, the notifiers' resources), a recording HTTP receiver."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import boto3
import pytest
from leadscore import settings
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.streams import StreamPump, streams_client
from leadscore.dev.template import create_buses, create_queues, create_tables, stream_sources
from moto import mock_aws

from tests.support.template import TEMPLATE, created


@pytest.fixture
def atomic_dynamodb(monkeypatch):
    """DynamoDB makes each single-item write atomic; moto's in-process backend has no lock
    (four threads doing 1,200 `ADD n :1` end with n < 1,200). Give the emulator that
    guarantee, and nothing more, for tests that run workers concurrently."""
    from moto.dynamodb.models import DynamoDBBackend

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    for name in ("update_item", "put_item", "get_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)
    # and a request is applied whole before another is answered: DynamoDB never shows a transaction's
    # writes to a read until it has committed, where moto, whose transaction writes item by item and
    # rolls back a failed one, lets a read see them in between
    original_call = DynamoHandler.call_action

    def whole(self, *args, **kwargs):
        with lock:
            return original_call(self, *args, **kwargs)

    monkeypatch.setattr(DynamoHandler, "call_action", whole)


@pytest.fixture
def aws(monkeypatch):
    """Queues from the template on moto; QUEUE_URL set as the template sets it."""
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("SECRETS_ARN", raising=False)
    settings.reset()
    with mock_aws():
        sqs = boto3.client("sqs")
        urls = create_queues(sqs, TEMPLATE)
        monkeypatch.setenv("QUEUE_URL", urls["EventsQueue"])
        yield SimpleNamespace(sqs=sqs, queue_url=urls["EventsQueue"], dlq_url=urls["EventsDeadLetterQueue"])
    settings.reset()


@pytest.fixture
def stack(aws, monkeypatch):
    """Queue, table and bus from the template; a rule captures every LeadStageChanged into a queue.
    `stack.publish()` runs the stream publisher over what the table's stream holds since its last
    call, as the template's event source mapping would (the worker itself publishes nothing)."""
    ddb, events = boto3.client("dynamodb"), boto3.client("events")
    tables, buses = create_tables(ddb, TEMPLATE), create_buses(events, TEMPLATE)
    monkeypatch.setenv("LEADS_TABLE", tables["LeadsTable"])
    monkeypatch.setenv("BUS_NAME", buses["LeadsBus"])
    monkeypatch.delenv("LEAD_KEY_SECRET", raising=False)
    capture = aws.sqs.create_queue(QueueName="capture")["QueueUrl"]
    capture_arn = aws.sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="capture", EventBusName=buses["LeadsBus"],
                    EventPattern=json.dumps({"source": ["leadscore"], "detail-type": ["LeadStageChanged"]}))
    events.put_targets(Rule="capture", EventBusName=buses["LeadsBus"], Targets=[{"Id": "q", "Arn": capture_arn}])
    settings.reset()  # read again, with the table and bus
    source = next(s for s in stream_sources(TEMPLATE) if s.function == "PublishFunction")
    pump = StreamPump(ddb, streams_client(), tables[source.table], source,
                      load_handler(source.code_uri, source.handler), LambdaContext("PublishFunction"))
    aws.ddb, aws.table, aws.capture, aws.publish, aws.pump = ddb, tables["LeadsTable"], capture, pump.pump, pump
    yield aws
    settings.reset()


#: every setting that turns a notifier channel on (deliver.py's docstring); `notify` clears them all
CHANNEL_SETTINGS = ("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_MQL", "SLACK_WEBHOOK_URL_SQL", "ALERT_EMAIL_FROM",
                    "ALERT_EMAIL_TO", "ALERT_EMAIL_TO_MQL", "ALERT_EMAIL_TO_SQL", "CRM_WEBHOOK_URL", "CRM_WEBHOOK_SECRET",
                    "LEAD_URL_BASE", "CONSOLE_ALERTS", "ALERT_TRIGGERS")


@pytest.fixture
def notify(stack, monkeypatch):
    """The notifiers' resources as the template sets them: ALERTS_TABLE and ALERTS_DLQ_URL
    (both created from the template by `stack`/`aws`), no channel configured. `stack.alerts_dlq`
    is the dead-letter queue's URL. The settings and what is built from them are read again
    around each test, since each test gets a fresh moto."""
    for name in CHANNEL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    table = created(stack.ddb.list_tables()["TableNames"], "AlertsTable")
    dlq = created(stack.sqs.list_queues().get("QueueUrls", []), "AlertsDeadLetterQueue")
    monkeypatch.setenv("ALERTS_TABLE", table)
    monkeypatch.setenv("ALERTS_DLQ_URL", dlq)
    settings.reset()
    stack.alerts_table, stack.alerts_dlq = table, dlq
    yield stack
    settings.reset()


@pytest.fixture
def rec():
    """A recording HTTP receiver on 127.0.0.1 (testbed/recorder.py): Slack, a CRM, any webhook target."""
    from testbed.recorder import Recorder

    with Recorder() as recorder:
        yield recorder
