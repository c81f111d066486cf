"""The Segment-compatible endpoint, driven by the real segment-analytics-python client over HTTP."""

import json
import urllib.error
import urllib.request

import pytest
from leadscore.dev.functions import load_handler
from leadscore.dev.http import LambdaHttpServer, Route
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.support.handlers import invoke
from tests.support.queues import queued
from tests.support.template import ROUTES

WRITE_KEY = "wk_live_test"
EMAIL = "ines.moreau@lindqvist-robotics.example"


@pytest.fixture
def server(aws, monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", f"other, {WRITE_KEY}")
    route = ROUTES["CollectFunction"]
    srv = LambdaHttpServer(("127.0.0.1", 0), [Route(route.method, route.path, load_handler(route.code_uri, route.handler), "collect")])
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def client(server, key=WRITE_KEY):
    return Client(write_key=key, host=server.url, sync_mode=True, gzip=True, max_retries=0)


def test_the_real_sdk_delivers_identify_track_and_page_as_canonical_events(server, aws, capsys):
    sdk = client(server)

    sdk.identify("user-42", {"email": EMAIL, "title": "VP Operations", "company": {"name": "Lindqvist Robotics", "employee_count": 240}})
    sdk.track("user-42", "Demo Requested", {"plan": "growth"})
    sdk.page("user-42", "Docs", "Pricing", {"url": "https://relaywise.example/pricing"})

    events = queued(aws)
    assert [e["type"] for e in events] == ["identify", "demo_requested", "page_view"]
    assert {e["lead_id"] for e in events} == {"user-42"}
    assert events[0]["email"] == EMAIL
    assert events[0]["traits"]["job_title"] == "VP Operations"
    assert events[0]["traits"]["company_size"] == 240
    assert events[2]["properties"]["path"] == "/pricing"
    assert all(e["source"] == "segment" for e in events)
    assert EMAIL not in capsys.readouterr().out  # the handler's logs never carry the address


def test_a_retried_batch_carries_the_same_event_ids(server, aws):
    body = json.dumps({"batch": [{"type": "track", "event": "Form Submitted", "userId": "u1", "messageId": "m-1",
                                  "timestamp": "2026-11-01T10:00:00.000+00:00"}],
                       "sentAt": "2026-11-01T10:00:00.100+00:00", "writeKey": WRITE_KEY}).encode()
    for _ in range(2):
        request = urllib.request.Request(f"{server.url}/v1/batch", data=body, headers={"Content-Type": "application/json"})
        assert json.load(urllib.request.urlopen(request)) == {"success": True}

    assert [e["event_id"] for e in queued(aws)] == ["m-1", "m-1"]  # the worker dedupes


def test_a_wrong_write_key_is_refused_and_nothing_is_queued(server, aws):
    with pytest.raises(APIError) as err:  # sync mode raises what async mode hands to on_error
        client(server, key="not-a-key").track("u1", "Demo Requested")

    assert (err.value.status, err.value.code) == (401, "unauthorized")
    assert queued(aws) == []


def test_an_oversize_message_gets_a_clear_400(server, aws):
    body = json.dumps({"type": "track", "event": "Big", "userId": "u1", "writeKey": WRITE_KEY,
                       "properties": {"blob": "x" * 40_000}}).encode()
    request = urllib.request.Request(f"{server.url}/v1/track", data=body, headers={"Content-Type": "application/json"})

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)

    assert err.value.code == 400
    assert "32 KB" in json.load(err.value)["error"]
    assert queued(aws) == []


def test_an_unknown_call_is_404(aws, monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", WRITE_KEY)

    response = invoke("CollectFunction", "/v1/nope", body=b"{}", path_parameters={"kind": "nope"})

    assert response["statusCode"] == 404


def test_a_queue_outage_answers_503_so_the_sdk_retries(aws, monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", WRITE_KEY)
    aws.sqs.delete_queue(QueueUrl=aws.queue_url)
    body = json.dumps({"type": "track", "event": "Demo Requested", "userId": "u1", "writeKey": WRITE_KEY}).encode()

    response = invoke("CollectFunction", "/v1/track", body=body, headers={"Content-Type": "application/json"},
                      path_parameters={"kind": "track"})

    assert response["statusCode"] == 503
