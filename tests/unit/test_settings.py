"""The settings model: each setting from its source, validated once, errors that name the setting,
the template wiring every parameter to the functions that read it, and the README's table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from leadscore import settings
from leadscore.dev.template import function_environment, load_template, resources
from leadscore.settings import ConfigError, SecretKeys, Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
MODELS = ROOT / "layers" / "scoring_core" / "scoring_core" / "models"
FIELDS = [*Settings.model_fields.values(), *SecretKeys.model_fields.values()]


def extra(field) -> dict:
    return field.json_schema_extra or {}


def refs(node) -> set[str]:
    """Every name a template value `Ref`s (directly, or inside !If, !Join, !Sub...)."""
    if isinstance(node, dict):
        found = {node["Ref"]} if "Ref" in node and isinstance(node["Ref"], str) else set()
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            found |= set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


# -- from the environment, validated once -------------------------------------------------------

def test_a_setting_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("RETENTION_DAYS", "30")
    monkeypatch.setenv("ALERT_EMAIL_TO", "a@x.example, b@x.example")

    s = settings.settings()

    assert s.retention_days == 30
    assert s.alert_recipients("mql") == ("a@x.example", "b@x.example")


def test_an_unset_or_empty_setting_takes_its_default(monkeypatch):
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    monkeypatch.setenv("MAX_RECEIVES", "")  # a template parameter left empty arrives as ""

    s = settings.settings()

    assert (s.retention_days, s.max_receives, s.model_file) == (400, 5, None)


def test_settings_are_read_once_per_container_and_again_after_reset(monkeypatch):
    monkeypatch.setenv("RETENTION_DAYS", "30")
    first = settings.settings()
    monkeypatch.setenv("RETENTION_DAYS", "60")

    assert settings.settings() is first and settings.settings().retention_days == 30
    settings.reset()
    assert settings.settings().retention_days == 60


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "four hundred", "٣"])
def test_an_invalid_retention_is_an_error_naming_the_setting_not_the_value(monkeypatch, value):
    monkeypatch.setenv("RETENTION_DAYS", value)

    with pytest.raises(ConfigError) as error:
        settings.settings()

    assert str(error.value) == "RETENTION_DAYS must be a whole number of days ≥ 1"


def test_every_invalid_setting_is_named_in_one_error(monkeypatch):
    monkeypatch.setenv("MAX_RECEIVES", "many")
    monkeypatch.setenv("ALERT_EMAIL_TO_SQL", "sales-team")
    monkeypatch.setenv("CONSOLE_ALERTS", "perhaps")

    with pytest.raises(ConfigError) as error:
        settings.settings()

    message = str(error.value)
    assert "MAX_RECEIVES must be a whole number ≥ 1" in message
    assert "ALERT_EMAIL_TO_SQL is not a comma-separated list of email addresses" in message
    assert "CONSOLE_ALERTS must be 1 or 0" in message
    assert "sales-team" not in message and "perhaps" not in message and "many" not in message


def test_a_missing_required_setting_names_it_and_where_it_comes_from(monkeypatch):
    monkeypatch.delenv("LEADS_TABLE", raising=False)

    with pytest.raises(ConfigError, match=r"^LEADS_TABLE is not set \(set by the template\)$"):
        settings.settings().required("leads_table")


# -- MODEL_FILE ----------------------------------------------------------------------------------

def test_a_bare_model_file_name_is_a_model_in_the_engine_layer(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not the working directory: Lambda's is the function's code
    monkeypatch.setenv("MODEL_FILE", "default.yaml")

    assert settings.settings().model_file == MODELS / "default.yaml"


def test_a_model_file_path_is_used_as_it_is(monkeypatch, tmp_path):
    model = tmp_path / "acme.yaml"
    model.write_text((MODELS / "default.yaml").read_text())
    monkeypatch.setenv("MODEL_FILE", str(model))

    assert settings.settings().model_file == model


def test_a_relative_model_file_path_is_a_path_not_a_name_in_the_layer(monkeypatch, tmp_path):
    # the README: "a path (`./my-model.yaml`, ...) is used as it is"; ./ made it a bare name before
    (tmp_path / "my-model.yaml").write_text((MODELS / "default.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL_FILE", "./my-model.yaml")

    assert settings.settings().model_file.resolve() == (tmp_path / "my-model.yaml").resolve()


def test_a_model_file_not_in_the_layer_is_an_error_naming_model_file_and_the_folder(monkeypatch):
    monkeypatch.setenv("MODEL_FILE", "acme.yaml")

    with pytest.raises(ConfigError) as error:
        settings.settings()

    message = str(error.value)
    assert message.startswith("MODEL_FILE names acme.yaml, which is not in the scoring_core layer's models folder")
    assert str(MODELS) in message and "default.yaml" in message
    assert "layers/scoring_core/scoring_core/models/" in message


def test_a_routing_file_is_found_like_a_model_and_a_missing_one_is_an_error_naming_routing_file(monkeypatch, tmp_path):
    routing = tmp_path / "routing.yaml"
    routing.write_text("routes: [{id: default}]\n")
    monkeypatch.setenv("ROUTING_FILE", str(routing))
    assert settings.settings().routing_file == routing
    settings.reset()
    monkeypatch.setenv("ROUTING_FILE", "routing.yaml")

    with pytest.raises(ConfigError) as error:
        settings.settings()

    assert str(error.value).startswith("ROUTING_FILE names routing.yaml, which is not in the scoring_core layer's models folder")


def test_no_routing_file_is_no_routing(monkeypatch):
    monkeypatch.setenv("ROUTING_FILE", "")

    assert settings.settings().routing_file is None


def test_a_missing_model_file_path_is_an_error_naming_model_file(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_FILE", str(tmp_path / "gone.yaml"))

    with pytest.raises(ConfigError, match=r"^MODEL_FILE names .*gone\.yaml, which is not a file$"):
        settings.settings()


# -- secrets from the environment (the Secrets Manager path: tests/integration/test_settings.py) --

def test_a_secret_is_read_from_the_environment_on_each_call(monkeypatch):
    monkeypatch.delenv("SECRETS_ARN", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRET_TALLY", "first")
    s = settings.settings()
    assert s.webhook_secret("tally") == "first"

    monkeypatch.setenv("WEBHOOK_SECRET_TALLY", "rotated")

    assert s.webhook_secret("tally") == "rotated"


def test_a_field_map_that_is_not_a_json_object_is_an_error_naming_it_not_quoting_it(monkeypatch):
    monkeypatch.delenv("SECRETS_ARN", raising=False)
    monkeypatch.setenv("FIELD_MAP_TALLY", '["s3cr3t-looking", "list"]')

    with pytest.raises(ConfigError) as error:
        settings.settings().field_map("tally")

    assert str(error.value) == "FIELD_MAP_TALLY (environment variable) is not a JSON object"


def test_per_stage_settings_fall_back_to_the_shared_one(monkeypatch):
    monkeypatch.delenv("SECRETS_ARN", raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example/all")
    monkeypatch.setenv("SLACK_WEBHOOK_URL_SQL", "https://hooks.example/sales")
    monkeypatch.delenv("SLACK_WEBHOOK_URL_MQL", raising=False)
    monkeypatch.setenv("ALERT_EMAIL_TO", "all@x.example")
    monkeypatch.setenv("ALERT_EMAIL_TO_MQL", "marketing@x.example")
    monkeypatch.delenv("ALERT_EMAIL_TO_SQL", raising=False)

    s = settings.settings()

    assert (s.slack_webhook_url("mql"), s.slack_webhook_url("sql")) == ("https://hooks.example/all", "https://hooks.example/sales")
    assert (s.alert_recipients("mql"), s.alert_recipients("sql")) == (("marketing@x.example",), ("all@x.example",))


def test_in_aws_a_missing_lead_key_secret_is_an_error_not_the_local_key(monkeypatch):
    monkeypatch.delenv("LEAD_KEY_SECRET", raising=False)
    monkeypatch.setenv("SECRETS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:Secrets-AbCdEf")
    monkeypatch.setattr("leadscore.adapters.secrets.secret_key", lambda name, arns: None)

    with pytest.raises(ConfigError, match="^LEAD_KEY_SECRET is missing"):
        settings.settings().lead_key_secret()


# -- cold start --------------------------------------------------------------------------------

def test_importing_and_validating_the_settings_loads_no_aws_sdk():
    code = ("import sys, leadscore.settings as s; s.settings().field_map('tally'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aws_lambda_powertools', "
            "'scoring_core', 'yaml')))")
    env = {"PATH": "/usr/bin:/bin", "MODEL_FILE": "default.yaml", "RETENTION_DAYS": "7"}

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout

    assert out.strip() == "[]"


# -- the template: every parameter reaches the functions that read it --------------------------

PARAMETER_FIELDS = [f for f in FIELDS if extra(f).get("source") == "parameter"]


@pytest.mark.parametrize("field", PARAMETER_FIELDS, ids=[f.alias for f in PARAMETER_FIELDS])
def test_a_parameter_reaches_the_environment_of_every_function_that_reads_it(field):
    parameter = extra(field)["parameter"]
    assert parameter in TEMPLATE["Parameters"]
    assert extra(field)["read_by"], "which functions read it"

    for function in extra(field)["read_by"]:
        env = function_environment(TEMPLATE, function)
        assert field.alias in env, f"{function} has no {field.alias}"
        assert parameter in refs(env[field.alias]), f"{function}'s {field.alias} is not from {parameter}"


# Parameters no function reads: they configure resources alone (and are documented where named)
RESOURCE_PARAMETERS = dict.fromkeys(("AutomationEndpoint", "AutomationEvents", "AutomationAuth", "AutomationKeyName", "AutomationSecret"), "docs/notifications.md")
RESOURCE_PARAMETERS["LogRetentionDays"] = "docs/deploy.md"


def test_every_template_parameter_is_a_documented_setting_or_a_documented_resource_parameter():
    assert set(TEMPLATE["Parameters"]) == {extra(f)["parameter"] for f in PARAMETER_FIELDS} | set(RESOURCE_PARAMETERS)
    root = Path(__file__).resolve().parents[2]
    for name, doc in RESOURCE_PARAMETERS.items():
        assert f"`{name}`" in (root / doc).read_text(), f"{name} is not documented in {doc}"


TEMPLATE_FIELDS = [f for f in FIELDS if extra(f).get("source") == "template"]


@pytest.mark.parametrize("field", TEMPLATE_FIELDS, ids=[f.alias for f in TEMPLATE_FIELDS])
def test_a_setting_of_the_template_is_in_the_environment_of_every_function_that_reads_it(field):
    for function in extra(field)["read_by"]:
        assert field.alias in function_environment(TEMPLATE, function), f"{function} has no {field.alias}"


SECRET_FIELDS = [f for f in FIELDS if extra(f).get("source") == "secret"]


def _may_read(function: str, secret: str) -> bool:
    statements = [s for p in TEMPLATE["Resources"][function]["Properties"].get("Policies", [])
                  for s in (p.get("Statement", []) if isinstance(p, dict) else [])]
    return any("secretsmanager:GetSecretValue" in s.get("Action", []) and secret in refs(s.get("Resource")) for s in statements)


@pytest.mark.parametrize("field", SECRET_FIELDS, ids=[f.alias for f in SECRET_FIELDS])
def test_a_function_that_reads_a_secret_key_is_given_the_secret_and_may_read_it(field):
    secret = "LeadKeySecret" if field.alias == "LEAD_KEY_SECRET" else "Secrets"
    assert extra(field)["read_by"]

    for function in extra(field)["read_by"]:
        assert secret in refs(function_environment(TEMPLATE, function).get("SECRETS_ARN")), function
        assert _may_read(function, secret), f"{function} may not read {secret}"


def test_read_by_names_only_functions_of_the_template():
    functions = set(resources(TEMPLATE, "AWS::Serverless::Function"))

    assert {fn for f in FIELDS for fn in extra(f).get("read_by", [])} <= functions


# -- the README ----------------------------------------------------------------------------------

def _readme_table() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- settings table:[^>]*-->\n(.*?)\n<!-- end of settings table -->", text, re.S)
    assert found, "README.md has no settings table between its markers"
    return found.group(1).strip()


def test_the_readme_configuration_table_is_the_one_the_model_prints():
    printed = subprocess.run([sys.executable, "-m", "leadscore.cli", "config", "table"], capture_output=True,
                             text=True, check=True, cwd=ROOT).stdout.strip()

    assert _readme_table() == printed, "regenerate it: .venv/bin/leadscore config table"


def test_every_setting_has_a_description_and_a_source():
    for field in FIELDS:
        assert field.description and extra(field).get("source") in ("template", "parameter", "secret", "local"), field.alias


def test_the_readme_guided_deploy_line_names_every_parameter():
    line = next(l for l in (ROOT / "README.md").read_text().splitlines() if "sam deploy --guided" in l)

    assert set(re.findall(r"[A-Z][A-Za-z]+", line.partition("#")[2])) >= set(TEMPLATE["Parameters"])
