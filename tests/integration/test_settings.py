"""Settings from each of their sources, as the functions use them: the environment, the secret in
Secrets Manager (moto), and a template parameter through the local stack."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from leadscore import dependencies, settings
from leadscore.adapters import secrets as secrets_adapter
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.sqs import sqs_event, sqs_record
from leadscore.identity import LOCAL_KEY_SECRET, email_key
from leadscore.settings import ConfigError
from scoring_core import Event

from tests.support.handlers import invoke
from tests.support.queues import queued
from testbed import signing

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "webhooks"
TYPEFORM_REF = "4b1f0c2e-7d3a-4e95-b8c6-2a9f5e1d7c30"  # the sample's job title question, a ref Typeform generated
TALLY_KEY = "question_wQ1K7w"  # the sample's "Which topics should we cover?"


def post_hook(source: str, secret: str) -> dict:
    body = next((SAMPLES / source).glob("*.json")).read_bytes()
    headers = {"tally": signing.sign_tally, "typeform": signing.sign_typeform}[source](body, secret)
    return invoke("HooksFunction", f"/hooks/{source}", body=body, headers={"Content-Type": "application/json", **headers},
                  path_parameters={"source": source})


@pytest.fixture
def secret(aws, monkeypatch):
    """The stack's `Secrets` secret on moto, named in SECRETS_ARN; no secret in the environment.
    `secret.put(dict)` writes a new version of its JSON."""
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="leadscore-Secrets", SecretString="{}")["ARN"]
    monkeypatch.setenv("SECRETS_ARN", arn)
    for name in list(os.environ):
        if name.startswith(("WEBHOOK_SECRET_", "FIELD_MAP_")):
            monkeypatch.delenv(name)

    def put(values: dict) -> None:
        client.put_secret_value(SecretId=arn, SecretString=json.dumps(values))

    aws.put = put
    return aws


# -- from the secret -------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "field_key", "fact", "value"), [
    ("tally", TALLY_KEY, "interests", ["Multi-touch attribution", "Lead scoring"]),
    ("typeform", TYPEFORM_REF, "seniority", "Director of Revenue Operations"),
])
def test_a_field_map_in_the_secret_names_a_field_of_a_signed_webhook(secret, source, field_key, fact, value):
    secret.put({f"WEBHOOK_SECRET_{source.upper()}": "from-the-secret",
                f"FIELD_MAP_{source.upper()}": {field_key: fact}})

    response = post_hook(source, "from-the-secret")

    assert response["statusCode"] == 202
    [event] = [e for e in queued(secret) if e["traits"]]
    assert event["traits"][fact] == value


def test_a_field_map_in_the_secret_may_be_a_string_holding_the_json(secret):
    secret.put({"WEBHOOK_SECRET_TALLY": "from-the-secret", "FIELD_MAP_TALLY": json.dumps({TALLY_KEY: "interests"})})

    assert post_hook("tally", "from-the-secret")["statusCode"] == 202
    assert any("interests" in e["traits"] for e in queued(secret))


def test_an_environment_variable_wins_over_the_secret(secret, monkeypatch):
    secret.put({"WEBHOOK_SECRET_TALLY": "from-the-secret"})
    monkeypatch.setenv("WEBHOOK_SECRET_TALLY", "from-the-environment")

    assert post_hook("tally", "from-the-secret")["statusCode"] == 401
    assert post_hook("tally", "from-the-environment")["statusCode"] == 202


def test_a_rotated_secret_is_used_without_a_new_container(secret, monkeypatch):
    secret.put({"WEBHOOK_SECRET_TALLY": "before"})
    assert post_hook("tally", "before")["statusCode"] == 202
    settings_at_cold_start = settings.settings()

    secret.put({"WEBHOOK_SECRET_TALLY": "after"})
    assert post_hook("tally", "after")["statusCode"] == 401  # within the cache's 5 minutes: the old one
    later(monkeypatch, seconds=secrets_adapter.CACHE_SECONDS + 1)

    assert post_hook("tally", "after")["statusCode"] == 202
    assert settings.settings() is settings_at_cold_start


def later(monkeypatch, seconds: float) -> None:
    """Move the clock of powertools parameters' cache forward."""
    from aws_lambda_powertools.utilities.parameters import base

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(seconds=seconds)

    monkeypatch.setattr(base, "datetime", Later)


def test_a_field_map_in_the_secret_that_is_not_an_object_fails_naming_the_key_and_the_secret(secret):
    secret.put({"WEBHOOK_SECRET_TALLY": "from-the-secret", "FIELD_MAP_TALLY": "question_wQ1K7w=interests"})

    with pytest.raises(ConfigError) as error:
        post_hook("tally", "from-the-secret")

    assert str(error.value) == "FIELD_MAP_TALLY (key of the leadscore-Secrets secret) is not a JSON object"
    assert queued(secret) == []


def test_an_api_token_in_the_secret_opens_the_leads_api(stack, monkeypatch):
    arn = boto3.client("secretsmanager").create_secret(Name="leadscore-Secrets",
                                                       SecretString=json.dumps({"API_TOKEN": "tok-from-secret"}))["ARN"]
    monkeypatch.setenv("SECRETS_ARN", arn)
    monkeypatch.delenv("API_TOKEN", raising=False)

    def get(token):
        return invoke("LeadsFunction", "/leads", query={"stage": "mql"}, headers={"authorization": f"Bearer {token}"})

    assert get("wrong")["statusCode"] == 401
    assert get("tok-from-secret")["statusCode"] == 200


# -- from the environment --------------------------------------------------------------------

def test_retention_days_from_the_environment_sets_when_an_idle_lead_expires(stack, monkeypatch):
    monkeypatch.setenv("RETENTION_DAYS", "30")
    now = datetime.now(timezone.utc)
    event = Event(event_id="e-1", type="page_view", occurred_at=now, received_at=now, source="test", email="ann@acme.example")
    handler = load_handler(ROOT / "functions" / "score", "app.lambda_handler")

    handler(sqs_event([sqs_record("m-1", event.model_dump_json(), "arn:aws:sqs:us-east-1:123456789012:q")]),
            LambdaContext("score"))

    item = dependencies.current().worker.store.get(email_key("ann@acme.example", LOCAL_KEY_SECRET))
    assert abs(int(item["expires_at"]) - (time.time() + 30 * 86400)) < 120


def test_an_invalid_setting_stops_the_function_at_cold_start_naming_it(stack, monkeypatch):
    monkeypatch.setenv("RETENTION_DAYS", "0")
    from leadscore.dev.functions import load_module

    app = load_module(ROOT / "functions" / "score", "app")

    with pytest.raises(ConfigError, match="^RETENTION_DAYS must be a whole number of days ≥ 1$"):
        app.init()


# -- from a template parameter, through the local stack -----------------------------------------

@pytest.fixture
def local_stack_with(tmp_path, monkeypatch):
    """Start the local stack on a copy of template.yaml whose parameters default to the values given."""
    from leadscore.dev import stack as dev

    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    started = []
    saved = dict(os.environ)

    def start(**defaults: str):
        changed = text
        for parameter, value in defaults.items():
            old = f'  {parameter}:\n    Type: String\n    Default: ""\n'
            assert old in changed, parameter
            changed = changed.replace(old, f'  {parameter}:\n    Type: String\n    Default: "{value}"\n')
        path = tmp_path / "template.yaml"
        path.write_text(changed, encoding="utf-8")
        s = dev.DevStack(port=dev.free_port(), out=lambda line: None, template_path=path).start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
    os.environ.clear()
    os.environ.update(saved)


def test_the_local_stack_passes_a_template_parameter_to_the_functions(local_stack_with, monkeypatch, tmp_path):
    model = tmp_path / "acme.yaml"
    model.write_text((ROOT / "layers/scoring_core/scoring_core/models/default.yaml").read_text().replace(
        "name: default", "name: acme", 1))
    for name in ("MODEL_FILE", "ALERT_EMAIL_TO_MQL", "SECRETS_ARN"):
        monkeypatch.delenv(name, raising=False)

    local_stack_with(ModelFile=str(model), AlertEmailToMql="mql-desk@relaywise.example")

    assert dependencies.current().engine.model.name == "acme"  # what the worker and the leads API score with
    assert dependencies.current().settings.alert_recipients("mql") == ("mql-desk@relaywise.example",)
