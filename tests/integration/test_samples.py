"""Every sample in events/functions invokes its function successfully (the `sam local invoke -e` contract).

An HTTP sample goes to the function of its route, an SQS sample to the worker, a
DynamoDB stream sample to the stream publisher, and an
EventBridge sample (one with a `detail-type`) to every function whose rule in the
template matches it, as the bus would deliver it."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from leadscore import settings
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.template import functions_for_sample

from tests.support.queues import parked, queued
from tests.support.template import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "events" / "functions").glob("*.json"))
# the secrets the samples were made with (docs/ingest.md, "Sample events")
SAMPLE_SECRETS = {"WRITE_KEYS": "wk_sample", "WEBHOOK_SECRET_TYPEFORM": "sample-secret", "WEBHOOK_SECRET_TALLY": "sample-secret",
                  "API_TOKEN": "sample-token"}
READERS = {"LeadsFunction"}  # HTTP functions that answer from the table and queue nothing


def functions_for(event):
    """The functions a sample is for (`functions_for_sample`), each with its code and handler."""
    found = []
    for logical_id in functions_for_sample(TEMPLATE, event):
        props = TEMPLATE["Resources"][logical_id]["Properties"]
        found.append(SimpleNamespace(function=logical_id, code_uri=ROOT / props["CodeUri"], handler=props["Handler"]))
    return found


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_the_sample_invokes_its_function_successfully(notify, monkeypatch, path):
    aws = notify  # the stack, with the notifiers' table and dead-letter queue and no channel configured
    for name, value in SAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALERT_TRIGGERS", "slack,email")  # a LeadTriggered sample is read, not ignored unread
    settings.reset()
    event = json.loads(path.read_text())
    routes = functions_for(event)
    assert routes, f"no function in the template takes {path.name}"

    for route in routes:
        response = load_handler(route.code_uri, route.handler)(json.loads(path.read_text()), LambdaContext(route.function))

        if route.function == "SweepFunction":
            assert response == {"due": 0, "downgraded": 0, "triggered": 0, "rescheduled": 0, "failed": 0}
        elif "detail-type" in event:
            assert isinstance(response, dict) and "status" in response, (route.function, response)
            # an event the notifier cannot read is parked, not raised: that is not a working sample
            assert response["status"] not in ("invalid", "parked"), (route.function, response)
        elif route.function == "ScoreFunction":
            assert response == {"batchItemFailures": []}
        elif route.function == "PublishFunction":
            assert response == {"batchItemFailures": []}
            published = aws.sqs.receive_message(QueueUrl=aws.capture, MaxNumberOfMessages=10).get("Messages", [])
            assert [json.loads(m["Body"])["detail-type"] for m in published] == ["LeadStageChanged"]
        elif route.function == "SalesFunction":
            # the email's signed Accept link (sample-token, good until 2100) is accepted (a bad one is a 403)
            # and the lead looked up: the samples' table does not hold it, so the page says it is gone
            assert response["statusCode"] == 404 and "This lead no longer exists" in response["body"], response
        else:
            assert 200 <= response["statusCode"] < 300, response.get("body")
            if route.function in READERS:
                assert json.loads(response["body"]) == {"leads": []}  # an empty table: no qualified lead yet
            else:
                assert queued(aws), "the sample carries at least one usable event"
    if "detail-type" in event:
        assert parked(aws) == []


def test_every_ingest_function_has_a_sample():
    covered = {f.function for p in SAMPLES for f in functions_for(json.loads(p.read_text()))}

    functions = {k for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert covered == functions
