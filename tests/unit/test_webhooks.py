"""Webhook sources: each sender's signature scheme and payload, as the sender sends them.

Every delivery here is built the way the sender builds it: the body is
serialized once (the sample files in events/webhooks/ are raw bodies), those
bytes are signed, and the same bytes are delivered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from scoring_core import Event

from leadscore.edge import BadRequest, Unauthorized, UnknownSource
from leadscore.ingest.webhooks import SOURCES, Delivery, get_source
from leadscore.ingest.webhooks.stripe import major_units
from testbed.signing import sign_calendly, sign_generic, sign_stripe, sign_tally, sign_typeform

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "webhooks"
RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
T = int(RECEIVED.timestamp())
SECRETS = {
    "generic": "ls_whsec_7f3a9c21e8b44d06a1c5",
    "typeform": "tf-secret-3b8e1d47c2a9",
    "tally": "tally-signing-5c1e9a7d3b",
    "calendly": "cal-signing-key-e2d4f6a8c0b1",
    "stripe": "whsec_9kQ2mW4xZ7pL1vB8nR3tY6uC5dF0gH2j",
}
SAMPLE_FILES = {
    "generic": ["generic_single.json", "generic_batch.json"],
    "typeform": ["typeform_form_response.json"],
    "tally": ["tally_form_response.json"],
    "calendly": ["calendly_invitee_created.json", "calendly_invitee_canceled.json"],
    "stripe": [
        "stripe_checkout_session_completed.json",
        "stripe_invoice_paid.json",
        "stripe_customer_created.json",
    ],
}
ALL_SAMPLES = [(source, name) for source, names in SAMPLE_FILES.items() for name in names]


def sign(source: str, body: bytes, secret: str, timestamp: int = T) -> dict[str, str]:
    """The headers `source` would send with `body`, signed at `timestamp` where the scheme has one."""
    signers: dict[str, Callable[[], dict[str, str]]] = {
        "generic": lambda: sign_generic(body, secret, timestamp=timestamp),
        "typeform": lambda: sign_typeform(body, secret),
        "tally": lambda: sign_tally(body, secret),
        "calendly": lambda: sign_calendly(body, secret, timestamp=timestamp),
        "stripe": lambda: sign_stripe(body, secret, timestamp=timestamp),
    }
    return signers[source]()


def sample(source: str, name: str) -> bytes:
    return (SAMPLES / source / name).read_bytes()


def sample_json(source: str, name: str) -> dict[str, Any]:
    return json.loads(sample(source, name))


def serialize(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def delivery(headers: dict[str, str], body: bytes, at: datetime = RECEIVED) -> Delivery:
    return Delivery(headers={k.lower(): v for k, v in headers.items()}, body=body, received_at=at)


def receive(source: str, body: bytes, headers: dict[str, str] | None = None, *,
            field_map: dict[str, str] | None = None, at: datetime = RECEIVED) -> list[Event]:
    """What ingest does with one request: verify with the source's secret, then map."""
    headers = sign(source, body, SECRETS[source]) if headers is None else headers
    hook = get_source(source)
    request = delivery(headers, body, at)
    hook.verify(request, SECRETS[source])
    return hook.to_events(request, field_map or {})


def summary(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "email": event.email,
        "anonymous_id": event.anonymous_id,
        "lead_id": event.lead_id,
        "properties": event.properties,
        "traits": event.traits,
    }


# --- the WIRE_FORMATS test vector -------------------------------------------------

VECTOR_BODY = b'{"id":"evt_1","object":"event","type":"customer.created"}'
VECTOR_BASE64 = "3L9TiOproIogHldz//h2aGUwVbhCVxZ5HgySxA69GlE="
VECTOR_T = 1795391606
VECTOR_HEX = "737a3025cfece8233cbe293c8fec23f4b2610558e5e210c581b5bc90729b40d4"


def test_base64_schemes_reproduce_the_wire_formats_test_vector():
    tally = sign_tally(VECTOR_BODY, "s3cret")
    typeform = sign_typeform(VECTOR_BODY, "s3cret")

    assert tally["Tally-Signature"] == VECTOR_BASE64
    assert typeform["Typeform-Signature"] == "sha256=" + VECTOR_BASE64
    get_source("tally").verify(delivery(tally, VECTOR_BODY), "s3cret")
    get_source("typeform").verify(delivery(typeform, VECTOR_BODY), "s3cret")


def test_timestamped_schemes_reproduce_the_wire_formats_test_vector():
    stripe = sign_stripe(VECTOR_BODY, "s3cret", timestamp=VECTOR_T)
    calendly = sign_calendly(VECTOR_BODY, "s3cret", timestamp=VECTOR_T)
    generic = sign_generic(VECTOR_BODY, "s3cret", timestamp=VECTOR_T)
    just_after = datetime.fromtimestamp(VECTOR_T + 5, tz=timezone.utc)

    assert stripe["Stripe-Signature"] == f"t={VECTOR_T},v1={VECTOR_HEX}"
    assert calendly["Calendly-Webhook-Signature"] == f"t={VECTOR_T},v1={VECTOR_HEX}"
    assert generic["X-Leadscore-Signature"] == f"t={VECTOR_T},v1={VECTOR_HEX}"
    get_source("stripe").verify(delivery(stripe, VECTOR_BODY, just_after), "s3cret")
    get_source("calendly").verify(delivery(calendly, VECTOR_BODY, just_after), "s3cret")
    get_source("generic").verify(delivery(generic, VECTOR_BODY, just_after), "s3cret")


# --- the registry -----------------------------------------------------------------

def test_sources_are_the_five_routes_by_name():
    assert sorted(SOURCES) == ["calendly", "generic", "stripe", "tally", "typeform"]
    assert all(SOURCES[name].name == name for name in SOURCES)


def test_an_unknown_source_is_a_404_that_does_not_echo_the_path():
    with pytest.raises(UnknownSource) as raised:
        get_source("hubspot<script>")

    assert raised.value.status == 404
    assert "hubspot" not in raised.value.message


# --- signatures: every source -----------------------------------------------------

@pytest.mark.parametrize(("source", "name"), ALL_SAMPLES)
def test_a_tampered_body_is_unauthorized(source, name):
    body = sample(source, name)
    headers = sign(source, body, SECRETS[source])
    tampered = body.replace(b"e", b"E", 1)

    with pytest.raises(Unauthorized):
        get_source(source).verify(delivery(headers, tampered), SECRETS[source])


@pytest.mark.parametrize(("source", "name"), ALL_SAMPLES)
def test_a_body_signed_with_another_secret_is_unauthorized(source, name):
    body = sample(source, name)
    headers = sign(source, body, SECRETS[source] + "-old")

    with pytest.raises(Unauthorized):
        get_source(source).verify(delivery(headers, body), SECRETS[source])


@pytest.mark.parametrize("source", sorted(SAMPLE_FILES))
def test_a_missing_signature_header_is_unauthorized(source):
    body = sample(source, SAMPLE_FILES[source][0])

    with pytest.raises(Unauthorized):
        get_source(source).verify(delivery({"Content-Type": "application/json"}, body), SECRETS[source])


@pytest.mark.parametrize("source", sorted(SAMPLE_FILES))
def test_no_configured_secret_refuses_even_a_body_signed_with_the_empty_key(source):
    body = sample(source, SAMPLE_FILES[source][0])
    headers = sign(source, body, "")

    with pytest.raises(Unauthorized):
        get_source(source).verify(delivery(headers, body), "")


@pytest.mark.parametrize("source", ["generic", "calendly", "stripe"])
def test_a_timestamp_older_than_five_minutes_is_unauthorized(source):
    body = sample(source, SAMPLE_FILES[source][0])
    headers = sign(source, body, SECRETS[source], timestamp=T - 301)

    with pytest.raises(Unauthorized):
        get_source(source).verify(delivery(headers, body), SECRETS[source])


@pytest.mark.parametrize("source", ["generic", "calendly", "stripe"])
def test_a_timestamp_just_inside_five_minutes_is_accepted(source):
    body = sample(source, SAMPLE_FILES[source][0])
    headers = sign(source, body, SECRETS[source], timestamp=T - 299)

    get_source(source).verify(delivery(headers, body), SECRETS[source])


def test_generic_rejects_a_timestamp_more_than_five_minutes_ahead():
    body = sample("generic", "generic_single.json")
    headers = sign_generic(body, SECRETS["generic"], timestamp=T + 301)

    with pytest.raises(Unauthorized):
        get_source("generic").verify(delivery(headers, body), SECRETS["generic"])


def test_stripe_like_its_libraries_accepts_a_timestamp_ahead_of_our_clock():
    body = sample("stripe", "stripe_invoice_paid.json")
    headers = sign_stripe(body, SECRETS["stripe"], timestamp=T + 600)

    get_source("stripe").verify(delivery(headers, body), SECRETS["stripe"])


@pytest.mark.parametrize("header", [
    "v1=abc",  # no t
    f"t={T}",  # no v1
    f"t=-{T},v1=abc",
    f"t={T}.5,v1=abc",
    f"t={T},t={T},v1=abc",
    "garbage",
])
def test_a_malformed_timestamped_header_is_unauthorized(header):
    body = sample("stripe", "stripe_customer_created.json")

    with pytest.raises(Unauthorized):
        get_source("stripe").verify(delivery({"Stripe-Signature": header}, body), SECRETS["stripe"])


def test_a_non_ascii_signature_header_is_unauthorized_not_an_error():
    body = sample("typeform", "typeform_form_response.json")

    with pytest.raises(Unauthorized):
        get_source("typeform").verify(delivery({"Typeform-Signature": "sha256=é"}, body), SECRETS["typeform"])


def test_typeform_signature_without_its_sha256_prefix_is_unauthorized():
    body = sample("typeform", "typeform_form_response.json")
    bare = sign_tally(body, SECRETS["typeform"])["Tally-Signature"]

    with pytest.raises(Unauthorized):
        get_source("typeform").verify(delivery({"Typeform-Signature": bare}, body), SECRETS["typeform"])


def test_stripe_accepts_two_v1_when_only_the_second_matches_during_rotation():
    body = sample("stripe", "stripe_checkout_session_completed.json")
    headers = sign_stripe(body, SECRETS["stripe"], timestamp=T, rotating_from="whsec_retiredSecret0000000000000")

    get_source("stripe").verify(delivery(headers, body), SECRETS["stripe"])

    assert headers["Stripe-Signature"].count("v1=") == 2


def test_stripe_ignores_v0_next_to_a_valid_v1():
    body = sample("stripe", "stripe_checkout_session_completed.json")
    headers = sign_stripe(body, SECRETS["stripe"], timestamp=T, with_v0=True)

    get_source("stripe").verify(delivery(headers, body), SECRETS["stripe"])


def test_stripe_does_not_accept_a_matching_v0_in_place_of_v1():
    body = sample("stripe", "stripe_checkout_session_completed.json")
    valid = sign_stripe(body, SECRETS["stripe"], timestamp=T)["Stripe-Signature"].split("v1=")[1]
    headers = {"Stripe-Signature": f"t={T},v0={valid},v1={'0' * 64}"}

    with pytest.raises(Unauthorized):
        get_source("stripe").verify(delivery(headers, body), SECRETS["stripe"])


def test_generic_accepts_the_new_secret_while_a_sender_still_signs_with_the_old_one_too():
    body = sample("generic", "generic_batch.json")
    headers = sign_generic(body, SECRETS["generic"], timestamp=T, rotating_from="ls_whsec_previous")

    get_source("generic").verify(delivery(headers, body), SECRETS["generic"])


# --- payloads: each sample maps to exactly these events ---------------------------

def test_typeform_form_response_becomes_one_form_submitted_linked_to_the_visitor():
    events = receive("typeform", sample("typeform", "typeform_form_response.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "01M4TBK409QB2YHST1H2MK2AAQ",
        "type": "form_submitted",
        "source": "typeform",
        "occurred_at": "2026-10-13T10:05:37+00:00",
        "email": "dana.whitfield@northwind-freight.example",
        "anonymous_id": "6f1c2b9e-4d7a-4b53-9a0e-2c8f5e1d7a34",
        "lead_id": None,
        "properties": {
            "form_id": "Qm7xT2pL",
            "form_title": "Book a demo",
            "response_id": "01M4TBK409QB2YHST1H2MK2AAQ",
            "utm": {"source": "google", "medium": "cpc", "campaign": "attribution-q4"},
        },
        "traits": {
            "first_name": "Dana",
            "last_name": "Whitfield",
            "company": "Northwind Freight",
            "job_title": "Director of Revenue Operations",  # generated ref: named by its title
            "company_size": 320,
            "industry": "Logistics",
            "tech_stack": ["Salesforce", "Looker", "Outreach"],  # ref `tools`
            "country": "US",
            "phone": "+13125550147",
            "newsletter": False,
        },
    }]


def test_tally_form_response_maps_option_ids_to_their_text_and_links_the_known_lead():
    events = receive("tally", sample("tally", "tally_form_response.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "7c3e9a15-2b4d-4f68-8a1c-5e9d3b7f2a60",
        "type": "form_submitted",
        "source": "tally",
        "occurred_at": "2026-10-06T07:48:30+00:00",
        "email": "ines.calloway@brightwater-analytics.example",
        "anonymous_id": None,
        "lead_id": "ld_7Q2M9XK4WB",  # hidden field `lid`
        "properties": {
            "form_id": "wMd2Lk",
            "form_title": "Webinar registration: Pipeline attribution in 2026",
            "response_id": "mKq7Rv",
            "respondent_id": "3EvQxP",
            "utm": {"source": "newsletter", "campaign": "webinar-attribution-2026"},
        },
        "traits": {
            "first_name": "Inès",
            "last_name": "Calloway",
            "company": "Brightwater Analytics",
            "job_title": "Marketing Operations Manager",
            "company_size": 140,  # label "Number of employees"
            "industry": "Software",  # DROPDOWN option id -> text
            "which_topics_should_we_cover": ["Multi-touch attribution", "Lead scoring"],  # no per-option echoes
            "will_you_attend_live": "Yes, live",  # MULTIPLE_CHOICE: one text, not a list
        },
    }]


def test_calendly_invitee_created_becomes_meeting_booked():
    events = receive("calendly", sample("calendly", "calendly_invitee_created.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "https://api.calendly.com/scheduled_events/3f0c9a52-8d1e-4b7a-a2c4-6e9b1d5f7c20"
                    "/invitees/9b7e4d21-5a3c-4f68-b0d2-1c8e6a4f3b95#invitee.created",
        "type": "meeting_booked",
        "source": "calendly",
        "occurred_at": "2026-10-13T10:09:12+00:00",
        "email": "dana.whitfield@northwind-freight.example",
        "anonymous_id": None,
        "lead_id": None,
        "properties": {
            "event_name": "30 Minute Demo",
            "start_time": "2026-10-16T15:00:00+00:00",
            "scheduled_event": "https://api.calendly.com/scheduled_events/3f0c9a52-8d1e-4b7a-a2c4-6e9b1d5f7c20",
            "timezone": "America/Chicago",
            "utm": {"source": "linkedin", "medium": "paid_social", "campaign": "demo-q4"},
        },
        "traits": {
            "name": "Dana Whitfield",
            "first_name": "Dana",
            "last_name": "Whitfield",
            "company": "Northwind Freight",  # "Company name"
            "job_title": "Director of Revenue Operations",
            "how_many_employees_does_your_company_have": "320",
            "what_would_you_like_to_see_in_the_demo": "Routing MQLs from our webinar program into Salesforce.",
        },
    }]


def test_calendly_invitee_canceled_becomes_meeting_canceled_with_its_own_event_id():
    booked = receive("calendly", sample("calendly", "calendly_invitee_created.json"))[0]

    canceled = receive("calendly", sample("calendly", "calendly_invitee_canceled.json"))[0]

    assert canceled.type == "meeting_canceled"
    assert canceled.event_id == booked.event_id.replace("#invitee.created", "#invitee.canceled")
    assert canceled.email == "dana.whitfield@northwind-freight.example"
    assert canceled.occurred_at == datetime(2026, 10, 15, 16, 41, 7, tzinfo=timezone.utc)
    assert canceled.properties["canceled_by"] == "invitee"
    assert canceled.properties["cancel_reason"] == "Our VP can't make Thursday; I'll rebook for next week."


def test_calendly_cancel_that_is_a_reschedule_is_not_a_canceled_meeting():
    payload = sample_json("calendly", "calendly_invitee_canceled.json")
    payload["payload"]["rescheduled"] = True

    events = receive("calendly", serialize(payload))

    assert [e.type for e in events] == ["meeting_rescheduled"]


def test_stripe_checkout_session_completed_becomes_a_purchase_in_major_units():
    events = receive("stripe", sample("stripe", "stripe_checkout_session_completed.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "evt_1QS4mXcxVtiSbi8cYAtecpO3",
        "type": "purchase",
        "source": "stripe",
        "occurred_at": "2026-09-30T08:44:51+00:00",
        "email": "lena@fairbrook-studio.example",
        "anonymous_id": None,
        "lead_id": None,
        "properties": {
            "amount": 149.0,
            "currency": "EUR",
            "order_id": "cs_live_a1QUdEyjzpBFYLCeHWfpRMihXk3TnV9qZ2cLr8Wd5Yb7Hs4Gf6Jp0Me",
            "customer_id": "cus_T4fbRkW2mQz8Lp",
        },
        "traits": {"name": "Lena Fairbrook", "country": "PT"},
    }]


def test_stripe_invoice_paid_becomes_a_purchase():
    events = receive("stripe", sample("stripe", "stripe_invoice_paid.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "evt_1QZr8uJdjLkYrjleS7mV2pXc",
        "type": "purchase",
        "source": "stripe",
        "occurred_at": "2026-10-21T14:02:13+00:00",
        "email": "dana.whitfield@northwind-freight.example",
        "anonymous_id": None,
        "lead_id": None,
        "properties": {
            "amount": 4800.0,
            "currency": "USD",
            "order_id": "in_1QZr8sJdjLkYrjle4Hc2Wn7K",
            "invoice_number": "RW-2026-0412",
            "customer_id": "cus_TA9kQm3Rz7Wx2N",
        },
        "traits": {"name": "Dana Whitfield", "country": "US"},
    }]


def test_stripe_customer_created_becomes_an_identify_with_traits():
    events = receive("stripe", sample("stripe", "stripe_customer_created.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "evt_1QZvB2JdjLkYrjleN4cT8wRm",
        "type": "identify",
        "source": "stripe",
        "occurred_at": "2026-10-22T09:17:44+00:00",
        "email": "owen.marsh@harborline-capital.example",
        "anonymous_id": None,
        "lead_id": None,
        "properties": {"customer_id": "cus_TB3nW8qLx5Rk1Z"},
        "traits": {"name": "Owen Marsh", "country": "IE"},
    }]


def test_generic_single_event_keeps_its_fields_with_traits_under_our_names():
    events = receive("generic", sample("generic", "generic_single.json"))

    assert [summary(e) for e in events] == [{
        "event_id": "webinar-2026-10-15-att-ines-calloway",
        "type": "webinar_attended",
        "source": "generic",
        "occurred_at": "2026-10-15T16:05:00+00:00",
        "email": "ines.calloway@brightwater-analytics.example",
        "anonymous_id": None,
        "lead_id": None,
        "properties": {"webinar_id": "pipeline-attribution-2026", "minutes_watched": 47},
        "traits": {
            "job_title": "Marketing Operations Manager",
            "company": "Brightwater Analytics",
            "company_size": 140,
        },
    }]


def test_generic_batch_gives_one_event_per_object_in_order():
    events = receive("generic", sample("generic", "generic_batch.json"))

    assert [(e.event_id, e.type, e.email, e.lead_id, e.anonymous_id) for e in events] == [
        ("crm-enrich-8f2c41d7", "identify", "dana.whitfield@northwind-freight.example", None, None),
        ("esp-click-5b9e03a2", "email_clicked", None, "ld_7Q2M9XK4WB", None),  # "Email Clicked"
        ("app-demo-1c7d9e20", "demo_requested", None, None, "9a2f6d84-1e07-4c3b-bd58-f61c2e9047a0"),
    ]
    assert events[0].traits["tech_stack"] == ["salesforce", "outreach", "looker"]
    assert events[1].properties["path"] == "/webinars/pipeline-attribution-2026"
    assert events[2].occurred_at == RECEIVED  # no occurred_at: when we received it


# --- dedupe: a retry is the same event --------------------------------------------

@pytest.mark.parametrize(("source", "name"), ALL_SAMPLES)
def test_the_same_delivery_twice_gives_identical_event_ids(source, name):
    body = sample(source, name)

    first = receive(source, body, at=RECEIVED)
    retry = receive(source, body, sign(source, body, SECRETS[source], timestamp=T + 60),
                    at=RECEIVED + timedelta(seconds=60))

    assert first and [e.event_id for e in first] == [e.event_id for e in retry]


# --- identity ---------------------------------------------------------------------

def test_typeform_hidden_anonymous_id_links_the_submission_to_the_browsing_visitor():
    payload = sample_json("typeform", "typeform_form_response.json")
    payload["form_response"]["hidden"] = {"anonymous_id": "c7e15a93-0b4d-4e8f-a2d6-5f9b0c1e8a46"}

    [event] = receive("typeform", serialize(payload))

    assert event.anonymous_id == "c7e15a93-0b4d-4e8f-a2d6-5f9b0c1e8a46"
    assert event.email == "dana.whitfield@northwind-freight.example"
    assert "anonymous_id" not in event.traits


def test_typeform_invalid_email_is_dropped_and_the_visitor_id_still_identifies_the_event():
    payload = sample_json("typeform", "typeform_form_response.json")
    email_answer = next(a for a in payload["form_response"]["answers"] if a["type"] == "email")
    email_answer["email"] = "dana at northwind"

    [event] = receive("typeform", serialize(payload))

    assert event.email is None
    assert event.anonymous_id == "6f1c2b9e-4d7a-4b53-9a0e-2c8f5e1d7a34"
    assert event.traits["company"] == "Northwind Freight"


def test_typeform_with_no_usable_identity_is_a_bad_request_that_does_not_echo_the_email():
    payload = sample_json("typeform", "typeform_form_response.json")
    payload["form_response"]["hidden"] = {}
    email_answer = next(a for a in payload["form_response"]["answers"] if a["type"] == "email")
    email_answer["email"] = "dana.whitfield@northwind-freight"  # no top-level domain

    with pytest.raises(BadRequest) as raised:
        receive("typeform", serialize(payload))

    assert "identity" in raised.value.message
    assert "northwind" not in raised.value.message


def test_generic_event_without_any_identity_names_its_position_in_the_batch():
    payload = sample_json("generic", "generic_batch.json")
    del payload["events"][2]["anonymous_id"]

    with pytest.raises(BadRequest) as raised:
        receive("generic", serialize(payload))

    assert raised.value.message.startswith("events[2]: no usable identity")


# --- field_map ----------------------------------------------------------------------

def test_typeform_field_map_overrides_the_name_a_ref_would_get():
    body = sample("typeform", "typeform_form_response.json")

    [event] = receive("typeform", body, field_map={"company": "account_name", "newsletter": ""})

    assert event.traits["account_name"] == "Northwind Freight"
    assert "company" not in event.traits
    assert "newsletter" not in event.traits  # mapped to "": dropped


def test_typeform_field_map_can_name_a_question_whose_ref_typeform_generated():
    body = sample("typeform", "typeform_form_response.json")

    [event] = receive("typeform", body, field_map={"4b1f0c2e-7d3a-4e95-b8c6-2a9f5e1d7c30": "seniority"})

    assert event.traits["seniority"] == "Director of Revenue Operations"
    assert "job_title" not in event.traits


def test_tally_field_map_matches_a_label():
    body = sample("tally", "tally_form_response.json")

    [event] = receive("tally", body, field_map={"Which topics should we cover?": "interests"})

    assert event.traits["interests"] == ["Multi-touch attribution", "Lead scoring"]


def test_calendly_field_map_turns_a_question_into_a_fit_fact():
    body = sample("calendly", "calendly_invitee_created.json")

    [event] = receive("calendly", body, field_map={"How many employees does your company have?": "company_size"})

    assert event.traits["company_size"] == "320"
    assert "how_many_employees_does_your_company_have" not in event.traits


# --- events the engine has no use for ------------------------------------------------

@pytest.mark.parametrize(("source", "name", "change"), [
    ("typeform", "typeform_form_response.json", lambda p: p.update(event_type="form_response_partial")),
    ("tally", "tally_form_response.json", lambda p: p.update(eventType="FORM_DELETED")),
    ("calendly", "calendly_invitee_created.json", lambda p: p.update(event="routing_form_submission.created")),
    ("stripe", "stripe_customer_created.json", lambda p: p.update(type="customer.updated")),
    ("stripe", "stripe_checkout_session_completed.json",
     lambda p: p["data"]["object"].update(payment_status="unpaid")),
    ("stripe", "stripe_checkout_session_completed.json",
     lambda p: p["data"]["object"].update(mode="subscription", subscription="sub_1QZr8rJdjLkYrjleYp4Km2Qs")),
    ("stripe", "stripe_invoice_paid.json", lambda p: p["data"]["object"].update(amount_paid=0)),
    ("stripe", "stripe_customer_created.json", lambda p: p["data"]["object"].update(email=None)),
])
def test_deliveries_the_engine_has_no_use_for_give_no_events(source, name, change):
    payload = sample_json(source, name)
    change(payload)

    assert receive(source, serialize(payload)) == []


def test_stripe_async_payment_succeeded_is_the_purchase_an_unpaid_checkout_was_waiting_for():
    payload = sample_json("stripe", "stripe_checkout_session_completed.json")
    payload["type"] = "checkout.session.async_payment_succeeded"

    [event] = receive("stripe", serialize(payload))

    assert (event.type, event.properties["amount"], event.properties["currency"]) == ("purchase", 149.0, "EUR")


# --- Stripe amounts -----------------------------------------------------------------

@pytest.mark.parametrize(("amount", "currency", "major"), [
    (14900, "eur", 149.0),
    (1999, "usd", 19.99),
    (5000, "jpy", 5000.0),
    (120000, "KRW", 120000.0),
    (12340, "kwd", 12.34),
    (500, "isk", 5.0),  # Stripe keeps ISK two-decimal in its API
])
def test_stripe_minor_units_become_major_units_per_currency(amount, currency, major):
    assert major_units(amount, currency) == major


def test_stripe_checkout_in_yen_is_not_divided_by_a_hundred():
    payload = sample_json("stripe", "stripe_checkout_session_completed.json")
    payload["data"]["object"].update(amount_total=16500, currency="jpy")

    [event] = receive("stripe", serialize(payload))

    assert (event.properties["amount"], event.properties["currency"]) == (16500.0, "JPY")


# --- malformed bodies: 400 with a message that names the field, never a value ---------

@pytest.mark.parametrize("source", sorted(SAMPLE_FILES))
def test_a_body_that_is_not_json_is_a_bad_request(source):
    body = b'{"event_id": "01M4TB'

    with pytest.raises(BadRequest) as raised:
        receive(source, body)

    assert raised.value.message == "body is not valid JSON"


@pytest.mark.parametrize("source", sorted(SAMPLE_FILES))
def test_a_json_array_is_a_bad_request(source):
    with pytest.raises(BadRequest) as raised:
        receive(source, b'[{"email": "dana.whitfield@northwind-freight.example"}]')

    assert raised.value.message == "body must be a JSON object"


@pytest.mark.parametrize(("source", "name", "change", "field"), [
    ("typeform", "typeform_form_response.json",
     lambda p: p["form_response"].update(submitted_at="dana.whitfield@northwind-freight.example"),
     "form_response.submitted_at"),
    ("typeform", "typeform_form_response.json",
     lambda p: p["form_response"]["answers"][2].pop("field"), "form_response.answers[2].field"),
    ("tally", "tally_form_response.json",
     lambda p: p["data"].update(fields="dana.whitfield@northwind-freight.example"), "data.fields"),
    ("calendly", "calendly_invitee_created.json", lambda p: p["payload"].pop("uri"), "payload.uri"),
    ("calendly", "calendly_invitee_created.json",
     lambda p: p["payload"].update(email=["dana.whitfield@northwind-freight.example"]), "payload.email"),
    ("stripe", "stripe_checkout_session_completed.json",
     lambda p: p["data"]["object"].update(amount_total="dana.whitfield@northwind-freight.example"),
     "data.object.amount_total"),
    ("stripe", "stripe_invoice_paid.json", lambda p: p.pop("created"), "created"),
    ("generic", "generic_single.json",
     lambda p: p.update(occurred_at="dana.whitfield@northwind-freight.example"), "occurred_at"),
    ("generic", "generic_batch.json",
     lambda p: p["events"][1].update(event_id=""), "events[1].event_id"),
])
def test_a_wrong_shape_is_a_bad_request_naming_the_field_without_its_value(source, name, change, field):
    payload = sample_json(source, name)
    change(payload)

    with pytest.raises(BadRequest) as raised:
        receive(source, serialize(payload))

    assert raised.value.message.startswith(f"{field}:")
    assert "@" not in raised.value.message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_generic_batch_of_more_than_a_hundred_events_is_a_bad_request():
    one = sample_json("generic", "generic_single.json")
    batch = {"events": [{**one, "event_id": f"evt-{i}"} for i in range(101)]}

    with pytest.raises(BadRequest) as raised:
        receive("generic", serialize(batch))

    assert raised.value.message.startswith("events:")


def test_generic_empty_batch_is_a_bad_request():
    with pytest.raises(BadRequest):
        receive("generic", b'{"events": []}')


def test_generic_type_that_is_not_an_identifier_is_a_bad_request():
    payload = sample_json("generic", "generic_single.json")
    payload["type"] = "🎉"

    with pytest.raises(BadRequest) as raised:
        receive("generic", serialize(payload))

    assert raised.value.message.startswith("type:")
