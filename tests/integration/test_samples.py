"""Every sample in events/functions invokes its function successfully (the `sam local invoke -e` contract)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from leadscore.dev.functions import LambdaContext, load_handler

from tests.integration.conftest import ROUTES, TEMPLATE, queued

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "events" / "functions").glob("*.json"))
# the secrets the samples were made with (docs/ingest.md, "Sample events")
SAMPLE_SECRETS = {"WRITE_KEYS": "wk_sample", "WEBHOOK_SECRET_TYPEFORM": "sample-secret", "WEBHOOK_SECRET_TALLY": "sample-secret"}


def function_for(event):
    """The function a sample is for: by its HTTP route, or by its event source (SQS → the worker)."""
    if "Records" in event:
        assert {r["eventSource"] for r in event["Records"]} == {"aws:sqs"}
        return SimpleNamespace(function="ScoreFunction", code_uri=ROOT / "functions" / "score", handler="app.lambda_handler")
    matches = [r for r in ROUTES.values() if f"{r.method} {r.path}" == event["routeKey"]]
    assert len(matches) == 1, event["routeKey"]
    return matches[0]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_the_sample_invokes_its_function_successfully(stack, monkeypatch, path):
    aws = stack
    for name, value in SAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    event = json.loads(path.read_text())
    route = function_for(event)

    response = load_handler(route.code_uri, route.handler)(event, LambdaContext(route.function))

    if route.function == "ScoreFunction":
        assert response == {"batchItemFailures": []}
    else:
        assert 200 <= response["statusCode"] < 300, response.get("body")
        assert queued(aws), "the sample carries at least one usable event"


def test_every_ingest_function_has_a_sample():
    covered = {function_for(json.loads(p.read_text())).function for p in SAMPLES}

    functions = {k for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert covered == functions
