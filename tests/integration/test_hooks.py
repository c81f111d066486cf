"""POST /hooks/{source} end to end: real signatures over the sample bodies, events on the moto queue."""

import json
import time
from pathlib import Path

import pytest

from tests.support.handlers import invoke
from tests.support.queues import queued
from testbed import signing

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "webhooks"
SECRETS = {"generic": "gen-s3cret", "typeform": "tf-s3cret", "tally": "tally-s3cret",
           "calendly": "cal-s3cret", "stripe": "whsec_test_s3cret"}
SIGN = {"generic": signing.sign_generic, "typeform": signing.sign_typeform, "tally": signing.sign_tally,
        "calendly": signing.sign_calendly, "stripe": signing.sign_stripe}
CASES = sorted((p.parent.name, p) for p in SAMPLES.glob("*/*.json"))


@pytest.fixture
def secrets_set(monkeypatch):
    for source, secret in SECRETS.items():
        monkeypatch.setenv(f"WEBHOOK_SECRET_{source.upper()}", secret)


def post(source, body, headers):
    return invoke("HooksFunction", f"/hooks/{source}", body=body, headers={"Content-Type": "application/json", **headers},
                  path_parameters={"source": source})


def signed(source, body, secret=None):
    return SIGN[source](body, secret or SECRETS[source])


@pytest.mark.parametrize(("source", "path"), CASES, ids=[p.name for _, p in CASES])
def test_a_signed_sample_is_accepted_and_its_events_are_queued(aws, secrets_set, source, path, capsys):
    body = path.read_bytes()

    response = post(source, body, signed(source, body))

    events = queued(aws)
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"queued": len(events)}
    assert events, "every sample maps to at least one event"
    assert all(e["source"] == source for e in events)
    logs = capsys.readouterr().out
    assert "@" not in logs and SECRETS[source] not in logs  # no address, no secret in any log line


@pytest.mark.parametrize("source", sorted(SECRETS))
def test_a_tampered_body_is_401_with_no_detail_and_nothing_queued(aws, secrets_set, source):
    body = next(p for s, p in CASES if s == source).read_bytes()
    headers = signed(source, body)

    response = post(source, body.replace(b"example", b"exampel", 1), headers)

    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"error": "unauthorized"}
    assert queued(aws) == []


@pytest.mark.parametrize("source", sorted(SECRETS))
def test_a_wrong_secret_is_401(aws, secrets_set, source):
    body = next(p for s, p in CASES if s == source).read_bytes()

    assert post(source, body, signed(source, body, secret="not-the-secret"))["statusCode"] == 401
    assert queued(aws) == []


@pytest.mark.parametrize("source", ["generic", "calendly", "stripe"])
def test_a_stale_signature_is_401(aws, secrets_set, source):
    body = next(p for s, p in CASES if s == source).read_bytes()

    response = post(source, body, SIGN[source](body, SECRETS[source], timestamp=int(time.time()) - 301))

    assert response["statusCode"] == 401
    assert queued(aws) == []


def test_a_malformed_body_with_a_valid_signature_is_400_naming_the_problem(aws, secrets_set):
    body = b'{"type": "form_submitted", "email": "someone@acme.example"}'  # no event_id: no dedupe key

    response = post("generic", body, signed("generic", body))

    assert response["statusCode"] == 400
    error = json.loads(response["body"])["error"]
    assert "event_id" in error and "someone@acme.example" not in error
    assert queued(aws) == []


def test_an_oversize_body_is_400(aws, secrets_set):
    body = json.dumps({"event_id": "e1", "type": "page_view", "anonymous_id": "v", "properties": {"x": "y" * 1_100_000}}).encode()

    response = post("generic", body, signed("generic", body))

    assert response["statusCode"] == 400
    assert "1 MB" in json.loads(response["body"])["error"]


def test_an_unknown_source_is_404(aws, secrets_set):
    assert post("mailchimp", b"{}", {})["statusCode"] == 404


def test_a_source_without_a_configured_secret_is_401(aws, monkeypatch):
    body = next(p for s, p in CASES if s == "typeform").read_bytes()
    monkeypatch.delenv("WEBHOOK_SECRET_TYPEFORM", raising=False)

    assert post("typeform", body, signed("typeform", body))["statusCode"] == 401


def test_the_same_delivery_posted_twice_carries_the_same_event_ids(aws, secrets_set):
    body = next(p for s, p in CASES if s == "stripe" and "checkout" in p.name).read_bytes()

    post("stripe", body, signed("stripe", body))
    post("stripe", body, signed("stripe", body))

    ids = [e["event_id"] for e in queued(aws)]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_a_queue_outage_is_503_so_the_sender_retries(aws, secrets_set):
    body = next(p for s, p in CASES if s == "tally").read_bytes()
    aws.sqs.delete_queue(QueueUrl=aws.queue_url)

    assert post("tally", body, signed("tally", body))["statusCode"] == 503
