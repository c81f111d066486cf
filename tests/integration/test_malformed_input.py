"""Issue 15, items 5 and 7: malformed input gets a 4xx naming the field (the pixel: its GIF), never a 5xx,
and nothing is queued. Requests go to the real handlers as API Gateway v2 events."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from leadscore.dev.functions import LambdaContext, load_handler
from leadscore.dev.http import http_api_event

from tests.support.handlers import invoke
from tests.support.queues import queued
from tests.support.template import ROUTES
from testbed import signing

WRITE_KEY = "wk_malformed_test"
SAMPLES = Path(__file__).resolve().parents[2] / "events" / "webhooks"
SECRETS = {"generic": "gen-s3cret", "typeform": "tf-s3cret", "tally": "tally-s3cret",
           "calendly": "cal-s3cret", "stripe": "whsec_test_s3cret"}
SIGN = {"generic": signing.sign_generic, "typeform": signing.sign_typeform, "tally": signing.sign_tally,
        "calendly": signing.sign_calendly, "stripe": signing.sign_stripe}
YEAR_ONE = "0001-01-01T00:00:00+01:00"  # before datetime.min once in UTC
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0 Safari/537.36"


@pytest.fixture
def keys(aws, monkeypatch):
    monkeypatch.setenv("WRITE_KEYS", WRITE_KEY)
    for source, secret in SECRETS.items():
        monkeypatch.setenv(f"WEBHOOK_SECRET_{source.upper()}", secret)
    return aws


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _run(function: str, event: dict) -> dict:
    route = ROUTES[function]
    return load_handler(route.code_uri, route.handler)(event, LambdaContext(function))


def _error(response: dict) -> str:
    return json.loads(response["body"])["error"]


def sample(source: str, name: str) -> dict:
    return json.loads((SAMPLES / source / name).read_text())


def hook(source: str, body: bytes, headers: dict[str, str] | None = None) -> dict:
    return invoke("HooksFunction", f"/hooks/{source}", body=body, path_parameters={"source": source},
                  headers=headers if headers is not None else SIGN[source](body, SECRETS[source]))


def track(**fields) -> dict:
    body = json.dumps({"userId": "u-1", "event": "Signed Up", **fields}).encode()
    return invoke("CollectFunction", "/v1/track", body=body, path_parameters={"kind": "track"},
                  headers={"Content-Type": "application/json", "Authorization": _basic(WRITE_KEY)})


# ------------------------------------------------------------ lone surrogates outside the JSON


def test_a_lone_surrogate_in_the_beacon_write_key_is_a_401_not_a_500(keys):
    event = http_api_event("POST", "/beacon/v1/batch", "", {"Content-Type": "text/plain"}, b'{"batch": []}',
                           "POST /beacon/v1/batch", {})
    event["queryStringParameters"] = {"writeKey": "wk_\ud800"}  # what a URL with %ED%A0%80 may decode to

    response = _run("CollectFunction", event)

    assert response["statusCode"] == 401
    assert queued(keys) == []


@pytest.mark.parametrize("function,path,route_key,parameters", [
    ("CollectFunction", "/v1/batch", "POST /v1/{kind}", {"kind": "batch"}),
    ("HooksFunction", "/hooks/generic", "POST /hooks/{source}", {"source": "generic"}),
])
def test_a_text_body_holding_a_lone_surrogate_is_a_400_not_a_500(keys, function, path, route_key, parameters):
    # the bytes a lone surrogate stands for (CESU-8), signed as they are, so the hook gets past its signature
    raw = b'{"batch": [], "events": [], "x": "\xed\xa0\x80"}'
    headers = {"Content-Type": "application/json", "Authorization": _basic(WRITE_KEY),
               **signing.sign_generic(raw, SECRETS["generic"])}
    event = http_api_event("POST", path, "", headers, b"{}", route_key, parameters)
    event["body"] = raw.decode("utf-8", "surrogatepass")

    response = _run(function, event)

    assert response["statusCode"] == 400
    assert "not valid JSON" in _error(response)
    assert queued(keys) == []


@pytest.mark.parametrize("function,path,route_key,parameters", [
    ("CollectFunction", "/v1/batch", "POST /v1/{kind}", {"kind": "batch"}),
    ("HooksFunction", "/hooks/generic", "POST /hooks/{source}", {"source": "generic"}),
])
def test_a_body_flagged_as_base64_that_is_not_base64_is_a_400(keys, function, path, route_key, parameters):
    event = http_api_event("POST", path, "", {"Authorization": _basic(WRITE_KEY)}, b"\x1f\x8b", route_key, parameters)
    event["body"], event["isBase64Encoded"] = "not*base64!", True

    response = _run(function, event)

    assert response["statusCode"] == 400
    assert _error(response) == "body is not valid base64"


# ------------------------------------------------------------ times no datetime arithmetic survives


@pytest.mark.parametrize("field", ["timestamp", "sentAt"])
def test_a_segment_time_in_year_one_with_a_positive_offset_is_a_400_naming_the_field(keys, field):
    times = {"timestamp": "2026-10-14T08:12:03.417+00:00", "sentAt": "2026-10-14T08:12:04.000+00:00", field: YEAR_ONE}

    response = track(**times)

    assert response["statusCode"] == 400
    assert _error(response) == f"message 0: {field}: a time outside 2000-01-01..9000-01-01"
    assert queued(keys) == []


def test_a_sent_at_that_moves_the_timestamp_before_2000_is_a_400_naming_the_timestamp(keys):
    response = track(timestamp="2000-01-02T00:00:00Z", sentAt="8999-01-01T00:00:00Z")

    assert response["statusCode"] == 400
    assert _error(response).startswith("message 0: timestamp: ")
    assert queued(keys) == []


def _with(data: dict, path: tuple, value) -> bytes:
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return json.dumps(data).encode()


HOOK_TIMES = [
    ("generic", "generic_single.json", ("occurred_at",)),
    ("typeform", "typeform_form_response.json", ("form_response", "submitted_at")),
    ("tally", "tally_form_response.json", ("data", "createdAt")),
    ("tally", "tally_form_response.json", ("createdAt",)),
    ("calendly", "calendly_invitee_created.json", ("created_at",)),
]


@pytest.mark.parametrize("source,name,path", HOOK_TIMES, ids=[f"{s}-{'.'.join(p)}" for s, _, p in HOOK_TIMES])
def test_a_webhook_time_in_year_one_with_a_positive_offset_is_a_400_and_nothing_is_queued(keys, source, name, path):
    data = sample(source, name)
    if path == ("createdAt",):
        data["data"].pop("createdAt")  # the envelope's time is used only without the response's own
    body = _with(data, path, YEAR_ONE)

    response = hook(source, body)

    assert response["statusCode"] == 400
    assert "2000-01-01..9000-01-01" in _error(response)
    assert queued(keys) == []


# ------------------------------------------------------------ deep nesting in webhook bodies

HOOK_NESTS = [
    ("generic", "generic_single.json", ("properties",)),
    ("typeform", "typeform_form_response.json", ("form_response", "hidden")),
    ("tally", "tally_form_response.json", ("data", "fields", 0, "value")),
    ("calendly", "calendly_invitee_created.json", ("payload", "tracking")),
    ("stripe", "stripe_checkout_session_completed.json", ("data", "object", "metadata")),
]


@pytest.mark.parametrize("depth", [250, 1000])
@pytest.mark.parametrize("source,name,path", HOOK_NESTS, ids=[s for s, _, _ in HOOK_NESTS])
def test_a_webhook_body_nested_hundreds_of_levels_deep_is_a_400(keys, source, name, path, depth):
    body = _with(sample(source, name), path, "NEST").replace(b'"NEST"', b'{"a":' * depth + b"1" + b"}" * depth)

    response = hook(source, body)

    assert response["statusCode"] == 400
    assert queued(keys) == []


# ------------------------------------------------------------ the pixel's privacy signals


def pixel(headers: dict[str, str]) -> dict:
    return invoke("PixelFunction", "/t.gif", query={"vid": "v-1"}, headers={"User-Agent": BROWSER, **headers})


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
@pytest.mark.parametrize("value", ["  1  ", " 1", "1,1", "1 , 1"])
def test_a_privacy_signal_with_spaces_or_repeated_is_honoured(keys, header, value):
    response = pixel({header: value})

    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "image/gif"
    assert queued(keys) == []


@pytest.mark.parametrize("header,value", [("DNT", "0"), ("DNT", " 0 "), ("Sec-GPC", "0"), ("Sec-GPC", "10")])
def test_a_privacy_header_that_does_not_say_1_does_not_drop_the_hit(keys, header, value):
    pixel({header: value})

    assert len(queued(keys)) == 1


# ------------------------------------------------------------ signatures from the future


def _calendly(offset_s: int) -> dict:
    body = (SAMPLES / "calendly" / "calendly_invitee_created.json").read_bytes()
    return hook("calendly", body, signing.sign_calendly(body, SECRETS["calendly"], timestamp=int(time.time()) + offset_s))


def test_a_calendly_signature_dated_a_year_ahead_is_refused(keys):
    response = _calendly(365 * 86400)

    assert response["statusCode"] == 401
    assert queued(keys) == []


def test_a_calendly_signature_a_few_minutes_ahead_is_accepted_as_clock_skew(keys):
    response = _calendly(200)

    assert response["statusCode"] == 202


def test_a_stripe_signature_dated_ahead_is_accepted_as_stripe_s_own_libraries_accept_it(keys):
    body = (SAMPLES / "stripe" / "stripe_invoice_paid.json").read_bytes()

    response = hook("stripe", body, signing.sign_stripe(body, SECRETS["stripe"], timestamp=int(time.time()) + 3600))

    assert response["statusCode"] == 202
