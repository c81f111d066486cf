"""What Lambda runs: the `sam build` output (make build), in Lambda's layout, on python3.12.

For every function of the built template, a fresh `python3.12 -I -S` whose sys.path is
exactly [function folder, merged layers' python/, an SDK folder, stdlib], with every
folder read-only and run as an unprivileged user (when the suite runs as root), imports
the handler and invokes it with its sample from events/functions against the moto
server, whose resources come from the built template as the local stack makes them.
Secrets come from Secrets Manager (SECRETS_ARN), as deployed. Each is done once with
the SDK the tests run (requirements/dev.lock) and once with an older boto3/botocore a
Lambda runtime may still bundle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from leadscore.dev.lambda_layout import BUILD_DIR, LambdaRoot, built_functions, runtime_python, sdk_dir
from leadscore.dev.template import functions_for_sample, load_template

from testbed.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "events" / "functions").glob("*.json"))
OLD_SDK = "1.34.162"  # the last boto3/botocore 1.34, before botocore.context (1.38) and account-based endpoints
#: the secrets the samples were made with (docs/ingest.md, "Sample events"), put in the stack's secret
SAMPLE_SECRETS = {"WRITE_KEYS": "wk_sample", "WEBHOOK_SECRET_TYPEFORM": "sample-secret",
                  "WEBHOOK_SECRET_TALLY": "sample-secret", "API_TOKEN": "sample-token"}
SENDER, TEAM = "alerts@relaywise.example", "sales@relaywise.example"

pytestmark = pytest.mark.skipif(
    not (BUILD_DIR / ".built").is_file() and not os.environ.get("CI"),
    reason="no built artifact: `make build` (make test runs it first)")


def _cases() -> list[tuple[str, Path]]:
    template = load_template()  # the built template has the same functions and events
    return [(logical_id, path) for path in SAMPLES
            for logical_id in functions_for_sample(template, json.loads(path.read_text(encoding="utf-8")))]


CASES = _cases()


@pytest.fixture(scope="module")
def functions():
    assert (BUILD_DIR / ".built").is_file(), "no built artifact: run `make build` (make test runs it first)"
    return built_functions(BUILD_DIR)


@pytest.fixture(scope="module", params=["locked", OLD_SDK], ids=["sdk-locked", f"sdk-{OLD_SDK}"])
def root(request, functions):
    assert runtime_python(), "python3.12 is needed to run the artifact as Lambda does"
    sdk = sdk_dir(None if request.param == "locked" else request.param)
    by_layers: dict[tuple, list] = {}
    for f in functions.values():
        by_layers.setdefault(f.layers, []).append(f)
    assert len(by_layers) == 1, "every function shares the same layers"
    made = LambdaRoot.create(next(iter(by_layers.values())), sdk)
    yield made
    made.remove()


@pytest.fixture(scope="module")
def aws(root):
    """The moto server with the built template's resources, and the stack's secret holding the
    samples' secrets; a new one for each SDK (`root`), so the second run is not deduped against the first."""
    from leadscore.dev.stack import DevStack

    saved = dict(os.environ)
    stack = DevStack(template_path=BUILD_DIR / "template.yaml", out=lambda line: None).start_aws()
    try:
        secrets = stack.client("secretsmanager")
        arn = secrets.create_secret(Name="leadscore-secrets", SecretString=json.dumps(SAMPLE_SECRETS))["ARN"]
        key_arn = secrets.create_secret(Name="leadscore-lead-key",
                                        SecretString=json.dumps({"LEAD_KEY_SECRET": "k" * 48}))["ARN"]
        stack.resolved.refs.update({"Secrets": arn, "LeadKeySecret": key_arn})
        stack.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def receivers():
    with Recorder() as rec:
        yield rec


def _environment(aws, receivers, logical_id: str) -> dict[str, str]:
    env = aws.function_environment(logical_id)
    assert "SECRETS_ARN" in env, f"{logical_id}: the template gives it no secrets"
    env.update({"AWS_ENDPOINT_URL": aws.endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "POWERTOOLS_METRICS_DISABLED": "true"})
    # channel settings the template leaves to the user: every notifier really sends
    env.update({"ALERT_EMAIL_FROM": SENDER, "ALERT_EMAIL_TO": TEAM,
                "SLACK_WEBHOOK_URL": f"{receivers.url}/slack", "CRM_WEBHOOK_URL": f"{receivers.url}/crm",
                "CRM_WEBHOOK_SECRET": "crm-secret", "ALERT_TRIGGERS": "slack,email"})
    return env


def _drain(sqs, url: str) -> list[dict]:
    out = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


@pytest.mark.parametrize("logical_id,sample", CASES, ids=[f"{f}-{p.stem}" for f, p in CASES])
def test_the_built_function_runs_its_sample_in_lambdas_layout(root, functions, aws, receivers, logical_id, sample):
    function = functions[logical_id]
    sqs = aws.client("sqs")
    for url in aws.queues.values():
        _drain(sqs, url)
    before = len(receivers.requests)

    done = root.invoke(function, json.loads(sample.read_text(encoding="utf-8")),
                       _environment(aws, receivers, logical_id)).raise_for_error()

    assert done.version[:2] == (3, 12)
    assert done.sys_path == root.expected_sys_path(function) + done.stdlib
    if os.geteuid() == 0:
        assert done.uid == 65534, "run as root: the read-only code folders would be writable"
    ours = [p for p in done.compiled_from_source if any(p.startswith(str(d)) for d in root.code_dirs(function))]
    assert ours == [], "compiled from source at cold start (no usable bytecode shipped)"
    response = done.response
    if logical_id in ("PixelFunction", "CollectFunction", "HooksFunction"):
        assert 200 <= response["statusCode"] < 300, response
        assert _drain(sqs, aws.queues["EventsQueue"]), "the sample's events were queued"
    elif logical_id == "LeadsFunction":
        assert response["statusCode"] == 200, response
    elif logical_id == "SalesFunction":  # its signed link checked, the lead looked up in the (empty) table
        assert response["statusCode"] == 404 and "This lead no longer exists" in response["body"], response
    elif logical_id == "SweepFunction":
        assert response == {"due": 0, "downgraded": 0, "triggered": 0, "rescheduled": 0, "failed": 0}, response
    elif logical_id in ("ScoreFunction", "PublishFunction"):
        assert response == {"batchItemFailures": []}
        if logical_id == "ScoreFunction":
            assert aws.client("dynamodb").scan(TableName=aws.tables["LeadsTable"], Select="COUNT")["Count"] > 0
        else:
            delivered = [m["detail-type"] for _, url in aws.rules for m in _drain(sqs, url)]
            assert delivered and set(delivered) == {"LeadStageChanged"}, "the transition reached the bus's rules"
    else:
        assert response["status"] == "sent", response
        if logical_id != "EmailNotifyFunction":
            path = "/slack" if logical_id == "SlackNotifyFunction" else "/crm"
            assert [r.path for r in receivers.requests[before:]] == [path]
    assert _drain(sqs, aws.queues["AlertsDeadLetterQueue"]) == []
    assert _drain(sqs, aws.queues["EventsDeadLetterQueue"]) == []


def test_every_built_function_is_invoked_with_a_sample(functions):
    assert {logical_id for logical_id, _ in CASES} == set(functions)


def test_the_build_ships_bytecode_for_python312_that_stays_valid_under_sams_zip_dates(functions):
    missing, checked = [], []
    folders = {f.code_dir for f in functions.values()} | {layer for f in functions.values() for layer in f.layers}
    for folder in sorted(folders):
        for source in folder.rglob("*.py"):
            cached = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
            if not cached.is_file():
                missing.append(str(source.relative_to(BUILD_DIR)))
                continue
            flags = int.from_bytes(cached.read_bytes()[4:8], "little")
            checked.append(flags)
    assert missing == []
    assert set(checked) == {0b01}, "hash-based and unchecked (PEP 552 flags 0b01), not timestamp-based"


def test_a_model_added_to_the_layer_folder_is_the_one_the_built_worker_scores_with(functions):
    """README, "The scoring model": a model file beside default.yaml, named by the ModelFile parameter."""
    from leadscore.dev.stack import DevStack

    default = (ROOT / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml").read_text(encoding="utf-8")
    acme = default.replace("engagement:\n", "engagement:\n  - id: acme_any_page\n    on: page_view\n    points: 7\n"
                                            "    half_life_days: 30\n", 1)
    score = functions["ScoreFunction"]
    root = LambdaRoot.create([score], sdk_dir(), opt_files={"scoring_core/models/acme.yaml": acme})
    saved = dict(os.environ)
    stack = DevStack(template_path=BUILD_DIR / "template.yaml", out=lambda line: None).start_aws()
    try:
        env = {**stack.function_environment("ScoreFunction"), "MODEL_FILE": "acme.yaml", "AWS_ENDPOINT_URL": stack.endpoint,
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "POWERTOOLS_METRICS_DISABLED": "true"}
        env.pop("SECRETS_ARN", None)
        sample = json.loads((ROOT / "events" / "functions" / "score_batch.json").read_text(encoding="utf-8"))

        done = root.invoke(score, sample, env).raise_for_error()

        assert done.response == {"batchItemFailures": []}
        items = stack.client("dynamodb").scan(TableName=stack.tables["LeadsTable"])["Items"]
        assert any(name.startswith("a.acme_any_page.") for item in items for name in item)
        missing = root.invoke(score, None, {**env, "MODEL_FILE": "nope.yaml"}, init=True)  # init: the cold start builds the engine
        assert missing.error and "MODEL_FILE" in missing.error and "nope.yaml" in missing.error
    finally:
        root.remove()
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


def test_a_routing_file_added_to_the_layer_folder_gives_the_built_workers_leads_owners(functions):
    """docs/routing.md, "Shipping it": a routing file beside default.yaml, named by the RoutingFile parameter."""
    from datetime import datetime, timedelta, timezone

    from leadscore.dev.sqs import sqs_event, sqs_record
    from leadscore.dev.stack import DevStack
    from scoring_core import Event

    routing = "teams:\n  smb: {members: [{id: ana, name: Ana Ruiz}]}\nroutes:\n  - id: default\n    team: smb\n"
    score = functions["ScoreFunction"]
    root = LambdaRoot.create([score], sdk_dir(), opt_files={"scoring_core/models/routing.yaml": routing})
    saved = dict(os.environ)
    stack = DevStack(template_path=BUILD_DIR / "template.yaml", out=lambda line: None).start_aws()
    now = datetime.now(timezone.utc)
    kinds = [("identify", {"traits": {"job_title": "CTO", "company_size": 300, "industry": "software", "country": "US"}}),
             ("form_submitted", {}), ("page_view", {"properties": {"url": "https://relaywise.example/pricing"}})]
    events = [Event(event_id=f"routing-{i}", type=t, occurred_at=now - timedelta(minutes=3 - i), received_at=now,
                    source="test", email="ann@acme.example", **extra) for i, (t, extra) in enumerate(kinds)]
    batch = sqs_event([sqs_record(f"m-{e.event_id}", e.model_dump_json(), "arn:aws:sqs:us-east-1:123456789012:q")
                       for e in events])
    try:
        env = {**stack.function_environment("ScoreFunction"), "ROUTING_FILE": "routing.yaml",
               "AWS_ENDPOINT_URL": stack.endpoint, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local",
               "AWS_SECRET_ACCESS_KEY": "local", "POWERTOOLS_METRICS_DISABLED": "true"}
        env.pop("SECRETS_ARN", None)

        done = root.invoke(score, batch, env).raise_for_error()

        assert done.response == {"batchItemFailures": []}
        items = stack.client("dynamodb").scan(TableName=stack.tables["LeadsTable"])["Items"]
        owners = [i["owner"]["M"]["id"]["S"] for i in items if "owner" in i and i["pk"]["S"].startswith("e:")]
        assert owners == ["ana"]
        missing = root.invoke(score, None, {**env, "ROUTING_FILE": "nope.yaml"}, init=True)
        assert missing.error and "ROUTING_FILE" in missing.error and "nope.yaml" in missing.error
    finally:
        root.remove()
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
