"""Every sample in events/functions invokes its function successfully (the `sam local invoke -e` contract).

An HTTP sample goes to the function of its route, an SQS sample to the worker, a
DynamoDB stream sample to the stream publisher, and an
EventBridge sample (one with a `detail-type`) to every function whose rule in the
template matches it, as the bus would deliver it."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.template import bus_rules, matches

from tests.integration.conftest import ROUTES, TEMPLATE, parked, queued

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "events" / "functions").glob("*.json"))
# the secrets the samples were made with (docs/ingest.md, "Sample events")
SAMPLE_SECRETS = {"WRITE_KEYS": "wk_sample", "WEBHOOK_SECRET_TYPEFORM": "sample-secret", "WEBHOOK_SECRET_TALLY": "sample-secret",
                  "API_TOKEN": "sample-token"}
READERS = {"LeadsFunction"}  # HTTP functions that answer from the table and queue nothing
RULES = bus_rules(TEMPLATE)


def functions_for(event):
    """The functions a sample is for: by its HTTP route, its event source (SQS → the worker),
    or, for an EventBridge event, every function whose rule matches it."""
    if "detail-type" in event:
        return [r for r in RULES if matches(r.pattern, event)]
    if "Records" in event:
        sources = {r["eventSource"] for r in event["Records"]}
        if sources == {"aws:dynamodb"}:  # the leads table's stream
            return [SimpleNamespace(function="PublishFunction", code_uri=ROOT / "functions" / "publish", handler="app.lambda_handler")]
        assert sources == {"aws:sqs"}
        return [SimpleNamespace(function="ScoreFunction", code_uri=ROOT / "functions" / "score", handler="app.lambda_handler")]
    found = [r for r in ROUTES.values() if f"{r.method} {r.path}" == event["routeKey"]]
    assert len(found) == 1, event["routeKey"]
    return found


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_the_sample_invokes_its_function_successfully(notify, monkeypatch, path):
    aws = notify  # the stack, with the notifiers' table and dead-letter queue and no channel configured
    for name, value in SAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    event = json.loads(path.read_text())
    routes = functions_for(event)
    assert routes, f"no function in the template takes {path.name}"

    for route in routes:
        response = load_handler(route.code_uri, route.handler)(json.loads(path.read_text()), LambdaContext(route.function))

        if "detail-type" in event:
            assert isinstance(response, dict) and "status" in response, (route.function, response)
            # an event the notifier cannot read is parked, not raised: that is not a working sample
            assert response["status"] not in ("invalid", "parked"), (route.function, response)
        elif route.function == "ScoreFunction":
            assert response == {"batchItemFailures": []}
        elif route.function == "PublishFunction":
            assert response == {"batchItemFailures": []}
            published = aws.sqs.receive_message(QueueUrl=aws.capture, MaxNumberOfMessages=10).get("Messages", [])
            assert [json.loads(m["Body"])["detail-type"] for m in published] == ["LeadStageChanged"]
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
