"""`leadscore dev`: resources from template.yaml on the moto server, real handlers, Lambda's delivery rules."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from leadscore.cli import main
from leadscore.dev import stack as dev
from leadscore.dev.template import bus_rules, http_routes, load_template, resources

from tests.support.local_stack import http_call, running_stack
from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


@pytest.fixture
def local(monkeypatch):
    """A running local stack on a free port; the process environment restored afterwards."""
    monkeypatch.setattr(dev, "REDELIVERY_DELAY_S", 0)
    monkeypatch.setattr(dev, "ASYNC_RETRY_DELAY_S", 0)
    with running_stack() as s:
        yield s


def http(s, method, path, body=None, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_resources_are_the_templates(local):
    sqs, ddb, events = local.client("sqs"), local.client("dynamodb"), local.client("events")
    for logical_id, queue in resources(TEMPLATE, "AWS::SQS::Queue").items():
        attributes = sqs.get_queue_attributes(QueueUrl=local.queues[logical_id], AttributeNames=["All"])["Attributes"]
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == redrive["maxReceiveCount"]
        assert attributes["MessageRetentionPeriod"] == str(queue["Properties"]["MessageRetentionPeriod"])
    for logical_id, table in resources(TEMPLATE, "AWS::DynamoDB::Table").items():
        name = local.resolved.refs[logical_id]
        described = ddb.describe_table(TableName=name)["Table"]
        assert described["KeySchema"] == table["Properties"]["KeySchema"]
        indexes = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i["IndexName"] for i in table["Properties"].get("GlobalSecondaryIndexes", [])}
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == table["Properties"]["TimeToLiveSpecification"]["AttributeName"]
    bus = local.resolved.refs["LeadsBus"]
    rules = {r["Name"]: json.loads(r["EventPattern"]) for r in events.list_rules(EventBusName=bus)["Rules"]}
    automation = rules.pop("AutomationRule")  # the console stands in for AutomationEndpoint: it prints triggers
    assert automation == {"source": ["leadscore"], "detail-type": TEMPLATE["Parameters"]["AutomationEvents"]["Default"].split(",")}
    assert rules == {r.name: r.pattern for r in bus_rules(TEMPLATE)}
    assert len(rules) == 7  # Qualified, Downgraded and Triggered (Slack, email), StageChanged (CRM)


def test_every_route_of_the_template_is_served(local):
    for route in http_routes(TEMPLATE):
        path = route.path.replace("{source}", "generic").replace("{kind}", "track").replace("{id}", "e:x")
        status, body = http(local, route.method, path, b"{}" if route.method == "POST" else None,
                            {"Content-Type": "application/json"})
        assert body != b'{"message":"Not Found"}', route
        assert status < 500, (route, status, body)


def test_it_starts_in_under_ten_seconds(local):
    assert local.startup_s < 10


def test_a_port_in_use_is_a_clear_error(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dev", "--port", str(port)]) == 2
    out = capsys.readouterr().out
    assert f"port {port} on 127.0.0.1 is in use" in out and "--port" in out


def test_a_poison_message_reaches_the_dlq_after_the_templates_max_receives(local):
    sqs = local.client("sqs")
    sqs.send_message(QueueUrl=local.queues["EventsQueue"], MessageBody='{"not": "an event"}')
    max_receives = TEMPLATE["Resources"]["EventsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]

    moved = wait_until(lambda: sqs.receive_message(QueueUrl=local.queues["EventsDeadLetterQueue"],
                                                   AttributeNames=["All"]).get("Messages"), timeout=30)

    assert moved[0]["Body"] == '{"not": "an event"}'
    assert int(moved[0]["Attributes"]["ApproximateReceiveCount"]) >= max_receives


def test_an_alert_that_keeps_failing_goes_to_the_on_failure_destination(local, monkeypatch):
    """Slack unreachable: the event is retried as Lambda retries async events, then parked with Lambda's record."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{dev.free_port()}/nobody-listens")
    events = local.client("events")
    detail = json.loads((ROOT / "events" / "functions" / "notify_sql.json").read_text())["detail"]
    detail["transition_id"] = uuid.uuid4().hex
    events.put_events(Entries=[{"Source": "leadscore", "DetailType": "LeadStageChanged", "Detail": json.dumps(detail),
                                "EventBusName": local.resolved.refs["LeadsBus"]}])
    sqs = local.client("sqs")

    def parked():
        for m in sqs.receive_message(QueueUrl=local.queues["AlertsDeadLetterQueue"], MaxNumberOfMessages=10).get("Messages", []):
            record = json.loads(m["Body"])
            if record.get("requestContext", {}).get("functionArn", "").endswith(":SlackNotifyFunction:$LATEST"):
                return record
        return None

    record = wait_until(parked, timeout=40)

    retries = TEMPLATE["Resources"]["SlackNotifyFunction"]["Properties"]["EventInvokeConfig"]["MaximumRetryAttempts"]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert record["requestPayload"]["detail"]["transition_id"] == detail["transition_id"]


def book_a_demo(local, email="dana@northwind-robotics.com", name="Dana Fox") -> None:
    """What a visitor of the demo site does: identify, browse the pricing page, request a demo (an MQL)."""
    vid = uuid.uuid4().hex
    key = base64.b64encode(f"{os.environ['WRITE_KEYS'].split(',')[0]}:".encode()).decode()
    sdk = {"Authorization": f"Basic {key}", "Content-Type": "application/json"}
    identify = {"anonymousId": vid, "traits": {"email": email, "name": name,
                                                "title": "Marketing Manager", "company": "Northwind Robotics"}}
    assert http(local, "POST", "/v1/identify", json.dumps(identify).encode(), sdk)[0] == 200
    for page in ("", "pricing.html", "pricing.html", "book-a-demo.html"):
        status, body = http(local, "GET", f"/t.gif?vid={vid}&url=http://127.0.0.1/demo/{page}", headers={"User-Agent": UA})
        assert status == 200 and body.startswith(b"GIF89a")
    assert http(local, "POST", "/v1/track", json.dumps({"anonymousId": vid, "event": "Demo Requested"}).encode(), sdk)[0] == 200


def mql_by_email(local, email="dana@northwind-robotics.com") -> dict:
    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}
    return wait_until(lambda: (lambda s, b: json.loads(b) if s == 200 and json.loads(b)["stage"] == "mql" else None)(
        *http(local, "GET", f"/leads?email={email}", headers=token)))


def test_a_visitor_qualifies_and_the_alert_is_printed(local, capsys):
    book_a_demo(local)

    lead = mql_by_email(local)
    printed = wait_until(lambda: "New MQL: Dana Fox" in capsys.readouterr().out or None)

    assert printed and lead["grade"] and lead["reasons"][0]["rule"] == "demo_request"
    assert http(local, "GET", "/demo/")[0] == 200
    assert b"leadscore.js" in http(local, "GET", "/demo/pricing.html")[1]
    assert http(local, "GET", "/demo/../template.yaml")[0] == 404


def test_the_printed_alerts_view_lead_link_opens_the_lead_page_on_this_server_without_a_token(local, capsys):
    book_a_demo(local)
    out: list[str] = []

    lead = mql_by_email(local)
    printed = wait_until(lambda: out.append(capsys.readouterr().out) or re.search(r"View lead: (\S+)", "".join(out)))

    url = printed.group(1)
    assert url.startswith(f"http://127.0.0.1:{local.port}/leads/{lead['lead_id']}/page?")
    with urllib.request.urlopen(url, timeout=10) as answer:  # a browser's GET: no Authorization header
        status, kind, body = answer.status, answer.headers["Content-Type"], answer.read().decode()
    assert (status, kind.split(";")[0]) == (200, "text/html")
    shown = float(re.search(r'<data class="score" value="([^"]+)">', body).group(1))
    assert abs(shown - lead["score"]) < 0.05  # scored again a moment later: decay may move the last digit
    assert "Dana Fox" in body
    assert http(local, "GET", url.replace(lead["lead_id"], "e:someoneelse").split(str(local.port), 1)[1])[0] == 403


def test_ctrl_c_stops_everything(tmp_path):
    port = dev.free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("AWS_ENDPOINT_URL", "QUEUE_URL", "LEADS_TABLE", "BUS_NAME"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "leadscore.cli", "dev", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while "Ctrl-C stops everything" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "Ctrl-C stops everything" in seen, seen
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "stopped" in out
    dev.check_port("127.0.0.1", port)  # the port is free again


def test_concurrent_requests_each_get_their_own_answer(local):
    """A browser fires several API calls at once (the leads page does); each handler sees its own request,
    as each Lambda container handles one invocation at a time."""
    from concurrent.futures import ThreadPoolExecutor

    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}
    queries = ["stage=mql", "stage=nonsense"] * 20

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda q: http(local, "GET", f"/leads?{q}", headers=token)[0], queries))

    assert answers == [200 if q == "stage=mql" else 400 for q in queries]


def test_concurrent_requests_to_different_functions_each_get_their_own_answer(local):
    """The SDK posting events while a console reads leads: each function sees its own request (in Lambda each
    function is its own process; here powertools' resolvers share one class attribute for the current event)."""
    from concurrent.futures import ThreadPoolExecutor

    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}
    event = json.dumps({"type": "track", "event": "Webinar Attended", "anonymousId": "v1", "writeKey": local.write_key}).encode()

    def call(i):
        if i % 2:
            return http_with_headers(local, "GET", "/leads?stage=mql&limit=0", headers=token)
        return http_with_headers(local, "POST", "/v1/track", event,
                                 {"Origin": "https://www.customer.example", "Content-Type": "text/plain"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(120)))

    reads = [(status, json.loads(body)) for status, _, body in answers[1::2]]
    assert reads == [(400, {"error": "query.limit: Input should be greater than or equal to 1"})] * 60
    posts = [(status, headers.get("Access-Control-Allow-Origin")) for status, headers, _ in answers[::2]]
    assert posts == [(200, "*")] * 60


http_with_headers = http_call


def test_the_leads_tables_stream_keeps_no_record_its_readers_have_read(local):
    """moto keeps every stream record (both images of every write) for ever; the stack trims what it has read."""
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[dev.ACCOUNT][dev.REGION].get_table(local.tables["LeadsTable"]).stream_shard
    book_a_demo(local)
    mql_by_email(local)

    wait_until(lambda: not shard.items, timeout=10)

    assert shard.starting_sequence_number > 1100000000017454423009  # the trim horizon moved past what was read


def test_polling_the_stream_leaves_no_shard_iterators_behind(local):
    """Each GetRecords issues a new iterator and moto keeps them all: about 20 a second, idle."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    iterators = dynamodbstreams_backends[dev.ACCOUNT][dev.REGION].shard_iterators
    time.sleep(1.5)  # some 30 polls

    assert len(iterators) <= 2


def test_a_queue_keeps_a_bounded_number_of_deleted_receipt_handles(local):
    """moto remembers the receipt handle of every message it ever deleted; the stack's queues, the latest few."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[dev.ACCOUNT][dev.REGION].queues[local.queues["EventsQueue"].rsplit("/", 1)[1]]
    queue.deleted_messages.limit = 5
    for i in range(12):
        assert http(local, "GET", f"/t.gif?vid=receipts-{i}&url=http://127.0.0.1/demo/", headers={"User-Agent": UA})[0] == 200

    wait_until(lambda: not queue._messages and queue.approximate_number_of_messages == 0, timeout=20)
    time.sleep(0.5)  # the last batch's delete

    assert 0 < len(queue.deleted_messages) <= 5


def test_moto_keeps_no_copy_of_the_objects_the_pipeline_has_finished_with(local):
    """moto appends every model object it creates (each item version a write leaves, each stream record, each
    shard iterator, each queue message) to a per-class list for its dashboard, for ever: about 150 KB per
    event applied, 538 MB after 50,000 events (bench/dev_memory.py). The stack's moto keeps none of them."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator
    from moto.sqs.models import Message

    book_a_demo(local)
    mql_by_email(local)

    for model in (Item, StreamRecord, ShardIterator, Message):
        assert len(model.instances_tracked) == 0, model.__name__


class MovedClock:
    """The wall clock plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def test_the_stack_fires_the_sweep_on_its_schedule_and_a_quiet_mql_is_downgraded(monkeypatch):
    # given: the stack on a clock the test moves; a visitor books a demo and becomes an MQL
    monkeypatch.setattr(dev, "ASYNC_RETRY_DELAY_S", 0)
    clock = MovedClock()
    with running_stack(clock=clock) as s:
        book_a_demo(s)
        mql_by_email(s)
        token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}

        def stage() -> str:
            status, body = http(s, "GET", "/leads?email=dana@northwind-robotics.com", headers=token)
            return json.loads(body)["stage"] if status == 200 else ""

        # when: time passes in a moment to just after the lead's due time (its decayed score below
        # 50 - 10); the sweep's schedule, rate(5 minutes), is due at once
        from leadscore import dependencies
        from leadscore.identity import LOCAL_KEY_SECRET, email_key

        lead = wait_until(lambda: (lambda i: i if i and "due_at" in i else None)(dependencies.current().leads_store.find(
            email_key("dana@northwind-robotics.com", os.environ.get("LEAD_KEY_SECRET") or LOCAL_KEY_SECRET))))
        assert stage() == "mql"
        clock.offset = float(lead["due_at"]) + 60 - time.time()

        # then: the sweep fires and the lead is a lead again (the handlers' log, where the stack also
        # prints why, is bound to the stdout of the first test that loaded them: not checked here)
        assert wait_until(lambda: stage() == "lead" or None, timeout=20)


def test_the_stacks_sweep_fires_an_abandoned_cart_after_its_wait_and_prints_it(monkeypatch, tmp_path):
    # given: a model with the abandoned-cart trigger, the stack on a clock the test moves
    monkeypatch.setattr(dev, "ASYNC_RETRY_DELAY_S", 0)
    default = ROOT / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"
    model = tmp_path / "carts.yaml"
    model.write_text(default.read_text(encoding="utf-8") + (
        "\ntriggers:\n  - {id: abandoned_cart, kind: not_followed, on: checkout_started, by: purchase, within_hours: 24}\n"),
        encoding="utf-8")
    monkeypatch.setenv("MODEL_FILE", str(model))
    clock = MovedClock()
    with running_stack(clock=clock) as s:
        from leadscore import dependencies
        from leadscore.identity import LOCAL_KEY_SECRET, email_key

        # when: a known visitor starts a checkout and buys nothing
        key = base64.b64encode(f"{os.environ['WRITE_KEYS'].split(',')[0]}:".encode()).decode()
        sdk = {"Authorization": f"Basic {key}", "Content-Type": "application/json"}
        email = "lena@fairbrook-studio.example"
        cart = {"userId": "lena-1", "event": "Checkout Started", "properties": {"email": email, "cart_id": "c-17"},
                "context": {"traits": {"email": email}}}
        assert http(s, "POST", "/v1/identify", json.dumps({"userId": "lena-1", "traits": {"email": email}}).encode(), sdk)[0] == 200
        assert http(s, "POST", "/v1/track", json.dumps(cart).encode(), sdk)[0] == 200
        lead_key = email_key(email, os.environ.get("LEAD_KEY_SECRET") or LOCAL_KEY_SECRET)
        item = wait_until(lambda: (lambda i: i if i and "due_at" in i else None)(dependencies.current().leads_store.find(lead_key)))
        assert wait_until(lambda: any("checkout_started" in str(e) for e in dependencies.current().leads_store.find(lead_key)
                                      .get("g.abandoned_cart", ())) or None)
        assert not [line for line in s.lines if "LeadTriggered" in line]

        # when: time passes to just after the 24 hours; the sweep's schedule fires on its own
        clock.offset = float(item["due_at"]) + 60 - time.time()

        # then: the stack prints the trigger once, and the lead records the episode
        printed = wait_until(lambda: [line for line in s.lines if line.startswith("LeadTriggered abandoned_cart")] or None, timeout=30)
        assert printed and "(not_followed)" in printed[0] and "checkout_started" in printed[0] and email not in printed[0]
        assert dependencies.current().leads_store.find(lead_key)["tm"]["abandoned_cart"]["k"] == 1


def test_with_alert_triggers_the_stacks_abandoned_cart_is_alerted_once_on_the_console(monkeypatch, tmp_path, capsys):
    # given: the abandoned-cart trigger, Slack asked to alert on triggers (the console stands in for it)
    monkeypatch.setattr(dev, "ASYNC_RETRY_DELAY_S", 0)
    default = ROOT / "layers" / "scoring_core" / "scoring_core" / "models" / "default.yaml"
    model = tmp_path / "carts.yaml"
    model.write_text(default.read_text(encoding="utf-8") + (
        "\ntriggers:\n  - {id: abandoned_cart, kind: not_followed, on: checkout_started, by: purchase, within_hours: 24}\n"),
        encoding="utf-8")
    monkeypatch.setenv("MODEL_FILE", str(model))
    monkeypatch.setenv("ALERT_TRIGGERS", "slack")  # the shell's value wins over the template's empty default
    clock = MovedClock()
    with running_stack(clock=clock) as s:
        from leadscore import dependencies
        from leadscore.identity import LOCAL_KEY_SECRET, email_key

        # when: a known visitor starts a checkout, buys nothing, and 24 hours pass
        key = base64.b64encode(f"{os.environ['WRITE_KEYS'].split(',')[0]}:".encode()).decode()
        sdk = {"Authorization": f"Basic {key}", "Content-Type": "application/json"}
        email = "lena@fairbrook-studio.example"
        identify = {"userId": "lena-1", "traits": {"email": email, "first_name": "Lena", "last_name": "Fairbrook"}}
        cart = {"userId": "lena-1", "event": "Checkout Started", "properties": {"email": email, "cart_id": "c-17"},
                "context": {"traits": {"email": email}}}
        assert http(s, "POST", "/v1/identify", json.dumps(identify).encode(), sdk)[0] == 200
        assert http(s, "POST", "/v1/track", json.dumps(cart).encode(), sdk)[0] == 200
        lead_key = email_key(email, os.environ.get("LEAD_KEY_SECRET") or LOCAL_KEY_SECRET)
        item = wait_until(lambda: (lambda i: i if i and "due_at" in i else None)(dependencies.current().leads_store.find(lead_key)))
        assert wait_until(lambda: any("checkout_started" in str(e) for e in dependencies.current().leads_store.find(lead_key)
                                      .get("g.abandoned_cart", ())) or None)
        clock.offset = float(item["due_at"]) + 60 - time.time()

        # then: the trigger's alert is printed, once, saying what matched
        seen: list[str] = []

        def alerted() -> list[str] | None:
            seen.append(capsys.readouterr().out)
            return [line for line in "".join(seen).splitlines() if line.startswith("Abandoned cart: ")] or None

        (headline,) = wait_until(alerted, timeout=30)
        assert headline == "Abandoned cart: Lena Fairbrook (checkout started 24 h ago, no purchase)"
        time.sleep(2)  # a redelivery would have printed by now
        assert len([line for line in ("".join(seen) + capsys.readouterr().out).splitlines()
                    if line.startswith("Abandoned cart: ")]) == 1


def test_with_a_routing_file_the_lead_gets_an_owner_shown_by_the_api_and_the_printed_alert(monkeypatch, tmp_path, capsys):
    routing = tmp_path / "routing.yaml"
    routing.write_text("teams:\n  smb: {members: [{id: ana, name: Ana Ruiz, email: ana@example.com}]}\n"
                       "routes:\n  - id: default\n    team: smb\n", encoding="utf-8")
    monkeypatch.setattr(dev, "REDELIVERY_DELAY_S", 0)
    monkeypatch.setenv("ROUTING_FILE", str(routing))  # the shell's value wins over the template's empty default

    with running_stack() as local:
        book_a_demo(local)
        lead = mql_by_email(local)
        printed = wait_until(lambda: "Owner: Ana Ruiz (smb)" in capsys.readouterr().out or None)

    assert lead["owner"] == {"id": "ana", "name": "Ana Ruiz", "email": "ana@example.com", "team": "smb"}
    assert printed
