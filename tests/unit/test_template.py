"""template.yaml: lints clean, transforms with the SAM translator, and points at real code.

Nothing here talks to AWS: cfn-lint works offline, and the SAM translator gets
a region and an empty managed-policy lookup instead of an IAM client.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint, lint_file
from cfnlint.decode.decode import decode
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "eu-central-1"

# Local paths `sam build` packages; the translator accepts only S3 locations
# (cfn-lint's own SAM transform swaps them the same way).
LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class _NoIamPolicyLoader:
    """Stands in for ManagedPolicyLoader, which would list policies through IAM.

    The translator resolves AWS managed policy names from its bundled list and
    only falls back to this loader; an empty map keeps it offline.
    """

    def load(self) -> dict[str, str]:
        return {}


def _template() -> dict[str, Any]:
    template, problems = decode(str(TEMPLATE))
    assert not problems, [str(p) for p in problems]
    return json.loads(json.dumps(template))  # plain dicts and strs, as the translator expects


def _format(matches) -> str:
    return "\n".join(f"{m.rule.id} {m.filename}:{m.linenumber}:{m.columnnumber} {m.message}" for m in matches) or "(none)"


@pytest.fixture(scope="module")
def lint_matches():
    return lint_file(TEMPLATE)


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    template = _template()
    for resource in template.get("Resources", {}).values():
        prop = LOCAL_URIS.get(resource.get("Type"))
        props = resource.get("Properties", {})
        if prop and isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
            props[prop] = "s3://bucket/value"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setattr(ArnGenerator, "BOTO_SESSION_REGION_NAME", REGION)
        return transform(template, {}, _NoIamPolicyLoader())


@pytest.fixture(scope="module")
def transformed_lint_matches(transformed):
    # what CloudFormation receives after `sam package` and the transform: some
    # errors (a dependency cycle through generated resources) exist only here
    return lint(json.dumps(transformed, indent=1), regions=[REGION])


def _layer_content_dir(logical_id: str = "ScoringCoreLayer") -> Path:
    layer = _template()["Resources"][logical_id]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    return TEMPLATE.parent / layer["Properties"]["ContentUri"]


def test_the_template_passes_cfn_lint_without_errors(lint_matches):
    errors = [m for m in lint_matches if m.rule.id.startswith("E")]
    others = [m for m in lint_matches if not m.rule.id.startswith("E")]

    assert not errors, f"cfn-lint errors:\n{_format(errors)}\nwarnings and notes:\n{_format(others)}"


def test_the_template_as_cloudformation_receives_it_passes_cfn_lint_without_errors(transformed_lint_matches):
    errors = [m for m in transformed_lint_matches if m.rule.id.startswith("E")]

    assert not errors, f"cfn-lint errors in the SAM-transformed template:\n{_format(errors)}"


def test_the_sam_translator_turns_every_serverless_resource_into_plain_cloudformation(transformed):
    types = sorted(r["Type"] for r in transformed["Resources"].values())

    assert "AWS::Lambda::LayerVersion" in types
    assert not [t for t in types if t.startswith("AWS::Serverless::")], types
    assert "Transform" not in transformed


def test_the_translated_layer_output_refers_to_the_translated_layer(transformed):
    layer_ids = [k for k, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"]

    value = transformed["Outputs"]["ScoringCoreLayerArn"]["Value"]

    assert value == {"Ref": layer_ids[0]}


def test_the_layer_folder_holds_the_scoring_core_package_its_default_model_and_requirements():
    folder = _layer_content_dir()

    assert folder.is_dir(), folder
    assert (folder / "scoring_core" / "__init__.py").is_file()
    assert (folder / "scoring_core" / "models" / "default.yaml").is_file()
    assert (folder / "requirements.txt").is_file()


def _requirements(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("#")[0].strip() for line in lines} - {""}


def test_the_layers_together_install_every_runtime_dependency_but_boto3():
    # boto3 ships with the Lambda runtime; everything else must come from a layer
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    layered = (_requirements(_layer_content_dir("ScoringCoreLayer") / "requirements.in")
               | _requirements(_layer_content_dir("RuntimeLayer") / "requirements.in"))

    assert layered == {d for d in project["dependencies"] if not d.startswith("boto3")}


def test_the_runtime_layer_holds_the_leadscore_package():
    folder = _layer_content_dir("RuntimeLayer")

    assert (folder / "leadscore" / "ingest" / "pixel.py").is_file()
    assert (folder / "leadscore" / "adapters" / "queue.py").is_file()


def _statements(transformed):
    for resource in transformed["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                yield from policy["PolicyDocument"]["Statement"]


def test_no_policy_grants_a_wildcard_action_or_resource(transformed):
    statements = list(_statements(transformed))

    assert statements, "the functions have inline policies"
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert not [a for a in actions if "*" in a], st
        assert "*" not in resources, st


def test_the_events_queue_has_a_dead_letter_queue():
    queue = _template()["Resources"]["EventsQueue"]["Properties"]

    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1


def _functions() -> dict[str, dict[str, Any]]:
    return {k: r for k, r in _template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_every_function_handler_resolves_to_an_importable_callable(logical_id):
    """What `sam build` and Lambda do: <CodeUri>/<module>.py, attribute <function>."""
    import subprocess
    import sys

    props = _functions()[logical_id]["Properties"]
    module, _, function = props["Handler"].rpartition(".")
    code = TEMPLATE.parent / props["CodeUri"]
    assert (code / f"{module}.py").is_file(), (logical_id, code)
    # a fresh interpreter with only the code folder (and the installed layers) on the path, as in Lambda
    check = f"import {module}; assert callable({module}.{function})"
    result = subprocess.run([sys.executable, "-c", check], cwd=code, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_alert_path_retries_and_ends_on_a_dead_letter_queue():
    """No alert is lost: each notifier's rule retries and has a DLQ, and each function's
    async invocations retry and have an on-failure destination."""
    notifiers = {k: f for k, f in _functions().items() if f["Properties"]["CodeUri"].rstrip("/") == "functions/notify"}
    assert set(notifiers) == {"SlackNotifyFunction", "EmailNotifyFunction", "CrmNotifyFunction"}
    dlq = {"Fn::GetAtt": ["AlertsDeadLetterQueue", "Arn"]}
    for logical_id, fn in notifiers.items():
        props = fn["Properties"]
        config = props["EventInvokeConfig"]
        assert config["MaximumRetryAttempts"] >= 1 and config["DestinationConfig"]["OnFailure"]["Destination"] == dlq
        rules = [e["Properties"] for e in props["Events"].values() if e["Type"] == "EventBridgeRule"]
        assert rules, logical_id
        for rule in rules:
            assert rule["EventBusName"] == {"Ref": "LeadsBus"}
            assert rule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            assert rule["DeadLetterConfig"]["Arn"] == dlq
            if rule["Pattern"]["detail-type"] == ["LeadTriggered"]:  # the trigger rule (ALERT_TRIGGERS)
                assert "detail" not in rule["Pattern"] and logical_id != "CrmNotifyFunction"
                continue
            stages = set(rule["Pattern"]["detail"]["to_stage"])
            if rule["Pattern"]["detail"].get("cause") == ["decay"]:  # the downgrade rule (ALERT_DOWNGRADES)
                assert stages == {"lead"}
                continue
            assert {"mql", "sql"} <= stages and "lead" not in stages


def test_the_stack_outputs_the_arn_of_the_secret_the_readme_says_to_fill_in():
    outputs = _template()["Outputs"]

    assert outputs["SecretsArn"]["Value"] == {"Ref": "Secrets"}  # a secret's Ref is its ARN


RETAINED_TYPES = ("AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")


def test_every_table_and_secret_is_kept_when_the_stack_is_deleted_or_replaces_it(transformed):
    kept = {logical_id: (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
            for logical_id, r in transformed["Resources"].items() if r["Type"] in RETAINED_TYPES}

    assert {"LeadsTable", "AlertsTable", "Secrets", "LeadKeySecret"} <= set(kept)
    assert {k: v for k, v in kept.items() if v != ("Retain", "Retain")} == {}


def test_the_layers_declare_exactly_the_architecture_and_runtime_the_functions_run_on():
    template = _template()
    functions = template["Globals"]["Function"]
    layers = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"}

    assert layers
    for logical_id, layer in layers.items():
        props, build = layer["Properties"], layer.get("Metadata", {})
        assert props["CompatibleArchitectures"] == functions["Architectures"], logical_id
        assert props["CompatibleRuntimes"] == [functions["Runtime"]], logical_id
        assert (build["BuildArchitecture"], build["BuildMethod"]) == (functions["Architectures"][0], functions["Runtime"]), logical_id
    overriding = {k for k, f in _functions().items() if {"Runtime", "Architectures"} & set(f["Properties"])}
    assert overriding == set(), "a function with its own runtime or architecture may not fit the layers"


def test_every_notifier_that_links_to_the_lead_page_may_read_the_api_token_its_key_comes_from():
    linking = {k: f for k, f in _functions().items() if "API_URL" in f["Properties"].get("Environment", {}).get("Variables", {})}

    assert set(linking) == {"SlackNotifyFunction", "EmailNotifyFunction"}
    for logical_id, fn in linking.items():
        statements = [st for policy in fn["Properties"]["Policies"] for st in policy["Statement"]]
        readable = [st["Resource"] for st in statements if "secretsmanager:GetSecretValue" in st["Action"]]
        assert {"Ref": "Secrets"} in readable or any({"Ref": "Secrets"} in r for r in readable if isinstance(r, list)), logical_id


def test_lead_url_base_is_only_in_the_environment_of_the_notifiers_that_read_it():
    # issue 14: in Globals it named the API in every route function's environment, a cycle
    # CloudFormation rejects; only the Slack and email alerts build "View lead" links
    globals_env = _template().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    having = {k for k, f in _functions().items() if "LEAD_URL_BASE" in f["Properties"].get("Environment", {}).get("Variables", {})}

    assert "LEAD_URL_BASE" not in globals_env
    assert having == {"SlackNotifyFunction", "EmailNotifyFunction"}


def test_the_lead_page_is_a_route_of_the_leads_function():
    events = _functions()["LeadsFunction"]["Properties"]["Events"].values()

    assert {"Path": "/leads/{id}/page", "Method": "GET"} in [{k: e["Properties"][k] for k in ("Path", "Method")} for e in events]


BROWSER_PATHS = {"/v1/{kind}": "CollectFunction", "/beacon/v1/batch": "CollectFunction",
                 "/leads": "LeadsFunction", "/leads/{id}": "LeadsFunction", "/leads/{id}/feedback": "LeadsFunction"}


def test_the_http_api_leaves_cors_to_the_functions_and_sends_each_browser_paths_preflight_to_its_function(transformed):
    """One CorsConfiguration would be one policy for every route (ingest open to all, /leads not):
    API Gateway must pass preflights through to the functions, which answer them."""
    apis = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert len(apis) == 1
    body = apis[0]["Properties"]["Body"]
    assert "x-amazon-apigateway-cors" not in body
    for path, function in BROWSER_PATHS.items():
        options = body["paths"][path].get("options")
        assert options is not None, f"no OPTIONS route for {path}: its preflight would get 404"
        uri = json.dumps(options["x-amazon-apigateway-integration"]["uri"])
        assert f"{function}.Arn" in uri, (path, uri)


def test_the_console_origins_parameter_reaches_the_leads_function():
    template = _template()
    assert template["Parameters"]["ConsoleOrigins"]["Default"] == ""
    env = template["Resources"]["LeadsFunction"]["Properties"]["Environment"]["Variables"]
    assert env["CONSOLE_ORIGINS"] == {"Ref": "ConsoleOrigins"}


AUTOMATION = ("AutomationConnection", "AutomationDestination", "AutomationRole", "AutomationRule")


def test_the_automation_destination_exists_only_when_an_endpoint_is_given_and_gets_the_bus_events():
    import leadscore.dev.template as dev_template

    template = _template()
    resources, parameters = template["Resources"], template["Parameters"]
    assert parameters["AutomationEndpoint"]["Default"] == ""  # off unless the user asks
    assert {resources[name]["Condition"] for name in AUTOMATION} == {"Automation"}
    assert template["Conditions"]["Automation"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AutomationEndpoint"}, ""]}]}
    [target] = resources["AutomationRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["AutomationDestination", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["AutomationRole", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["AlertsDeadLetterQueue", "Arn"]}  # nothing lost after a day
    assert parameters["AutomationSecret"]["NoEcho"] is True

    pattern = dict(resources["AutomationRule"]["Properties"]["EventPattern"])
    pattern["detail-type"] = parameters["AutomationEvents"]["Default"].split(",")  # the parameter as CloudFormation resolves it
    stage_changed = json.loads((ROOT / "events" / "functions" / "notify_mql.json").read_text())
    assert dev_template.matches(pattern, stage_changed)
    assert not dev_template.matches(pattern, {**stage_changed, "source": "someone.else"})


def test_the_template_with_an_automation_endpoint_passes_cfn_lint_as_cloudformation_receives_it(transformed):
    on = json.loads(json.dumps(transformed))
    on["Parameters"]["AutomationEndpoint"]["Default"] = "https://automation.example/hooks/leadscore"
    for auth in ("API_KEY", "BASIC"):
        on["Parameters"]["AutomationAuth"]["Default"] = auth
        errors = [m for m in lint(json.dumps(on), regions=[REGION]) if m.rule.id.startswith("E")]
        assert not errors, f"{auth}: {_format(errors)}"


def test_every_function_logs_to_its_own_log_group_with_a_retention_the_user_sets(transformed):
    # without it Lambda creates /aws/lambda/<name> itself, keeps every line forever and
    # leaves the group behind when the stack is deleted
    resources = transformed["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == len([r for r in _template()["Resources"].values() if r["Type"] == "AWS::Serverless::Function"])
    groups = set()
    for logical_id, function in functions.items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert isinstance(group, dict) and set(group) == {"Ref"}, f"{logical_id} names no log group of the stack"
        resource = resources[group["Ref"]]
        assert resource["Type"] == "AWS::Logs::LogGroup"
        assert resource["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert resource.get("DeletionPolicy", "Delete") == "Delete"
        groups.add(group["Ref"])
    assert len(groups) == len(functions), "two functions share a log group"
    assert transformed["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_lead_triggered_goes_to_the_automation_rule_and_to_slack_and_email_but_never_the_crm():
    import leadscore.dev.template as dev_template
    from leadscore.contracts import LeadTriggeredEvent

    template = _template()
    triggered = json.loads((ROOT / "events" / "automation" / "lead_triggered.json").read_text())
    LeadTriggeredEvent.model_validate(triggered)  # the sample is the contract's
    stage_changed = json.loads((ROOT / "events" / "functions" / "notify_mql.json").read_text())

    pattern = dict(template["Resources"]["AutomationRule"]["Properties"]["EventPattern"])
    pattern["detail-type"] = template["Parameters"]["AutomationEvents"]["Default"].split(",")
    assert dev_template.matches(pattern, triggered)
    alerts = [r for r in dev_template.bus_rules(template)
              if r.function in ("SlackNotifyFunction", "EmailNotifyFunction", "CrmNotifyFunction")]
    assert len(alerts) == 7
    # one rule per alert channel takes the firings (each notifier then alerts only if ALERT_TRIGGERS names it)
    taking = [r for r in alerts if dev_template.matches(r.pattern, triggered)]
    assert sorted(r.function for r in taking) == ["EmailNotifyFunction", "SlackNotifyFunction"]
    assert all(r.pattern["detail-type"] == ["LeadTriggered"] for r in taking)
    # the rest take stage changes only; the CRM's never gets a firing
    others = [r for r in alerts if r not in taking]
    assert all(r.pattern["detail-type"] == ["LeadStageChanged"] for r in others)
    assert [r.name for r in others if dev_template.matches(r.pattern, stage_changed)]
    assert not [r for r in taking if dev_template.matches(r.pattern, stage_changed)]


def test_the_alert_triggers_parameter_reaches_the_slack_and_email_notifiers_only():
    functions = _functions()
    having = sorted(k for k, f in functions.items()
                    if "ALERT_TRIGGERS" in f["Properties"].get("Environment", {}).get("Variables", {}))
    assert having == ["EmailNotifyFunction", "SlackNotifyFunction"]
    assert all(functions[k]["Properties"]["Environment"]["Variables"]["ALERT_TRIGGERS"] == {"Ref": "AlertTriggers"}
               for k in having)
    assert _template()["Parameters"]["AlertTriggers"]["Default"] == ""


def test_the_stream_publisher_is_invoked_for_writes_that_record_a_transition_or_a_firing():
    import leadscore.dev.template as dev_template

    (source,) = [s for s in dev_template.stream_sources(_template()) if s.function == "PublishFunction"]
    patterns = [json.loads(p) if isinstance(p, str) else p for p in source.patterns]
    outboxes = {attribute for p in patterns for attribute in p["dynamodb"]["NewImage"]}
    assert outboxes == {"ob", "ot"}
