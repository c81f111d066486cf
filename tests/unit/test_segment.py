"""The Segment HTTP Tracking API parser: what SDKs of the Segment family send,
turned into canonical events (src/leadscore/ingest/segment.py, docs/ingest.md).

Request bodies come from events/segment/ (made with the real clients) or from
segment-analytics-python itself, its HTTP session swapped for one that keeps
the exact bytes and headers it would have sent.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import tracemalloc
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import segment.analytics.request as segment_request
from scoring_core import Event
from segment.analytics import Client

from leadscore.edge import BadRequest, Unauthorized
from leadscore.ingest.segment import parse_request

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "segment"
KEY = "wk_relaywise_demo_3fQ9x2Lm"  # the write key in the samples
KEYS = frozenset({KEY, "wk_other_source_8Tz"})
UTC = timezone.utc
PYTHON_SENT_AT = datetime(2026, 10, 14, 9, 2, 41, 263518, tzinfo=UTC)  # the sample batch's sentAt
RUDDER_SENT_AT = datetime(2026, 10, 22, 7, 41, 9, 612087, tzinfo=UTC)
ANON = "5c0e9f4a-2b71-4d8e-93a6-7f1d2c4b8e60"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/141.0.0.0 Safari/537.36")
TOMAS = "tomas.ekberg@lindqvist-robotics.example"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def parse(body: bytes, kind: str = "batch", headers: dict[str, str] | None = None,
          keys: frozenset[str] = KEYS, at: datetime = PYTHON_SENT_AT) -> list[Event]:
    return parse_request(kind, headers or {}, body, keys, at)


def python_headers(key: str = KEY) -> dict[str, str]:
    """What analytics-python 2.4 sends with a batch (names lowercased, as the handler passes them)."""
    return {"content-type": "application/json", "user-agent": "analytics-python/2.4.0",
            "authorization": basic(key)}


def event(**fields: Any) -> Event:
    fields.setdefault("source", "segment")
    fields.setdefault("received_at", PYTHON_SENT_AT)
    return Event(**fields)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def batch_of(*messages: dict[str, Any], **envelope: Any) -> bytes:
    return dumps({"batch": list(messages), **envelope})


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Demo Requested", "anonymousId": "anon-1",
            "messageId": "m-1", "timestamp": "2026-10-14T08:00:00.000+00:00", **fields}


# ------------------------------------------------------------------ real client


@pytest.fixture
def wire(monkeypatch):
    """segment-analytics-python with its HTTP session replaced: every request it
    would send is kept as (url, headers with lowercased names, body bytes)."""
    sent: list[tuple[str, dict[str, str], bytes]] = []

    class Accepted:
        status_code = 200

    def post(url, data=None, headers=None, **_):
        body = data if isinstance(data, bytes) else data.encode()
        sent.append((url, {name.lower(): value for name, value in headers.items()}, body))
        return Accepted()

    monkeypatch.setattr(segment_request._session, "post", post)
    return sent


def test_every_call_the_real_python_client_sends_with_gzip_parses_to_its_canonical_event(wire):
    # Arrange: the real client in sync mode posts each call at once, gzipped, to /v1/batch
    client = Client(KEY, host="https://ingest.relaywise.example", sync_mode=True, gzip=True)
    at = datetime(2026, 10, 14, 12, 0, tzinfo=UTC)
    client.track("usr_9", "Order Completed", {"revenue": 49, "currency": "usd"}, timestamp=at, message_id="t-1")
    client.identify("usr_9", {"email": "Ann.Lee@acme-freight.example", "title": "CTO"}, timestamp=at, message_id="i-1")
    client.page(anonymous_id="anon-9", name="Home", properties={"url": "https://www.relaywise.example/"},
                timestamp=at, message_id="p-1")
    client.screen(user_id="usr_9", name="Dashboard", timestamp=at, message_id="s-1")
    client.group("usr_9", "acct_9", {"name": "Acme Freight", "employees": 60}, timestamp=at, message_id="g-1")
    client.alias("anon-9", "usr_9", timestamp=at, message_id="a-1")

    # Act: received now, just after the client stamped sentAt with its (our) clock
    received = datetime.now(UTC)
    events = [e for url, headers, body in wire for e in parse(body, "batch", headers, at=received)]

    # Assert: what went on the wire, and what it became
    assert [url for url, _, _ in wire] == ["https://ingest.relaywise.example/v1/batch"] * 6
    assert all(h["content-encoding"] == "gzip" and h["authorization"] == basic(KEY) for _, h, _ in wire)
    assert all(h["user-agent"] == "analytics-python/2.4.0" for _, h, _ in wire)
    assert [(e.event_id, e.type) for e in events] == [
        ("t-1", "purchase"), ("i-1", "identify"), ("p-1", "page_view"),
        ("s-1", "screen_view"), ("g-1", "group"), ("a-1", "alias"),
    ]
    purchase, identify, page, screen, group, alias = events
    assert (purchase.properties["amount"], purchase.properties["currency"]) == (49, "USD")
    assert (identify.email, identify.traits) == ("ann.lee@acme-freight.example", {"job_title": "CTO"})
    assert (page.anonymous_id, page.properties["path"]) == ("anon-9", "/")
    assert screen.properties["name"] == "Dashboard"
    assert group.traits == {"company": "Acme Freight", "company_size": 60}
    assert (alias.anonymous_id, alias.lead_id) == ("anon-9", "usr_9")
    assert all(e.properties["library"] == "analytics-python" for e in events)
    # no skew between the client's clock and ours: each event stays (about) where it was stamped
    assert all(abs(e.occurred_at - at) < timedelta(seconds=5) for e in events)


def test_a_batch_from_the_real_clients_background_consumer_parses_in_message_order(wire):
    # Arrange: the default (threaded) client batches calls and uploads them from its consumer
    client = Client(KEY, host="https://ingest.relaywise.example", upload_interval=0.05)
    for n in range(5):
        client.track(anonymous_id="anon-7", event="Pricing Viewed", properties={"n": n}, message_id=f"c-{n}")

    # Act
    client.flush()
    client.join()
    events = [e for _, headers, body in wire for e in parse(body, "batch", headers)]

    # Assert
    assert [e.event_id for e in events] == [f"c-{n}" for n in range(5)]
    assert {e.type for e in events} == {"pricing_viewed"}


def test_older_python_clients_are_accepted_with_only_one_of_the_two_keys(wire):
    # Arrange: 2.3 sent only the body writeKey, 2.2 and older only Basic auth
    client = Client(KEY, host="https://ingest.relaywise.example", sync_mode=True)
    client.track("usr_9", "Demo Requested", message_id="d-1")
    _, headers, body = wire[0]
    body_key_only = {name: value for name, value in headers.items() if name != "authorization"}
    without_key = json.loads(body)
    del without_key["writeKey"]

    # Act
    from_2_3 = parse(body, "batch", body_key_only)
    from_2_2 = parse(dumps(without_key), "batch", headers)

    # Assert
    assert [e.event_id for e in from_2_3] == [e.event_id for e in from_2_2] == ["d-1"]


def test_a_retry_by_the_real_client_gives_the_same_event_ids(wire):
    # Arrange: the client computes sentAt afresh for every attempt of the same batch
    _, msg = Client(KEY, send=False).track("usr_9", "Demo Requested")
    segment_request.post(KEY, "https://ingest.relaywise.example", batch=[msg])
    time.sleep(0.002)
    segment_request.post(KEY, "https://ingest.relaywise.example", batch=[msg], retry_count=1)
    (_, h1, first), (_, h2, second) = wire

    # Act
    ids = [[e.event_id for e in parse(body, "batch", headers)] for headers, body in ((h1, first), (h2, second))]

    # Assert
    assert json.loads(first)["sentAt"] != json.loads(second)["sentAt"]
    assert h2["x-retry-count"] == "1"
    assert ids[0] == ids[1] == [msg["messageId"]]


def test_a_client_clock_an_hour_fast_lands_at_the_right_time(wire):
    # Arrange: the event really happened at `happened`; the client's clock reads one hour
    # ahead, so both its timestamp and its sentAt are an hour fast; we receive it 250 ms later
    happened = datetime(2026, 10, 14, 9, 0, 0, tzinfo=UTC)
    skew, sent = timedelta(hours=1), happened + timedelta(seconds=30)
    _, msg = Client(KEY, send=False).track("usr_9", "Demo Requested", timestamp=happened + skew)
    segment_request.post(KEY, "https://ingest.relaywise.example", batch=[msg], sentAt=(sent + skew).isoformat())
    _, headers, body = wire[0]

    # Act
    (demo,) = parse(body, "batch", headers, at=sent + timedelta(milliseconds=250))

    # Assert: receivedAt - (sentAt - originalTimestamp)
    assert demo.occurred_at == happened + timedelta(milliseconds=250)


# ------------------------------------------------------------------ samples: every call type


def test_the_analytics_python_sample_batch_maps_to_exactly_the_expected_events():
    # Arrange
    body = sample("batch_analytics_python.json")
    context = {"ip": "203.0.113.77", "user_agent": CHROME}

    # Act: received the moment it was sent (no skew), so each event occurs at its own timestamp
    events = parse(body, "batch", python_headers())

    # Assert
    assert events == [
        event(event_id="0b6f3f0e-6d0a-4d52-9a3e-1f2c7d9a4b11", type="page_view",
              occurred_at="2026-10-14T08:12:03.417Z", anonymous_id=ANON, context=context,
              properties={"url": "https://www.relaywise.example/pricing?utm_source=linkedin&utm_medium=paid-social",
                          "path": "/pricing", "title": "Pricing | Relaywise", "referrer": "https://www.linkedin.example/",
                          "search": "?utm_source=linkedin&utm_medium=paid-social", "name": "Pricing",
                          "library": "analytics-python"}),
        event(event_id="1c7a4e21-8b3f-4c6d-b0a9-2e5d8f1c3a72", type="form_submitted",
              occurred_at="2026-10-14T08:14:48.902Z", anonymous_id=ANON, email=TOMAS, context=context,
              properties={"form_id": "contact-sales", "url": "https://www.relaywise.example/contact-sales",
                          "path": "/contact-sales", "library": "analytics-python"}),
        event(event_id="2d8b5f32-9c4a-4d7e-a1b0-3f6e9a2d4b83", type="identify",
              occurred_at="2026-10-14T08:14:49.015Z", anonymous_id=ANON, lead_id="usr_4821", email=TOMAS,
              context=context, properties={"library": "analytics-python"},
              traits={"first_name": "Tomas", "last_name": "Ekberg", "job_title": "Head of Operations",
                      "country": "SE", "company": "Lindqvist Robotics", "company_size": 240,
                      "industry": "Industrial Automation", "tech_stack": ["hubspot", "snowflake"]}),
        event(event_id="3e9c6a43-ad5b-4e8f-b2c1-4a7f0b3e5c94", type="alias",
              occurred_at="2026-10-14T08:14:49.016Z", anonymous_id=ANON, lead_id="usr_4821",
              properties={"library": "analytics-python"}),
        event(event_id="4fad7b54-be6c-4f90-83d2-5b8a1c4f6da5", type="group",
              occurred_at="2026-10-14T08:14:49.020Z", lead_id="usr_4821",
              properties={"group_id": "acct_lindqvist", "library": "analytics-python"},
              traits={"company": "Lindqvist Robotics", "company_size": 240, "industry": "Industrial Automation",
                      "website": "https://lindqvist-robotics.example", "company_plan": "trial"}),
        event(event_id="50be8c65-cf7d-4a01-94e3-6c9b2d5a7eb6", type="demo_requested",
              occurred_at="2026-10-14T08:16:02.331Z", lead_id="usr_4821", context=context,
              properties={"source": "pricing-page", "product": "Relaywise Routing", "library": "analytics-python"}),
        event(event_id="61cf9d76-d08e-4b12-a5f4-7dac3e6b8fc7", type="purchase",
              occurred_at="2026-10-14T09:02:40.058Z", lead_id="usr_4821",
              properties={"checkout_id": "chk_8f2a61", "order_id": "ord_20261014_0042",
                          "affiliation": "Relaywise web store", "total": 1188.0, "subtotal": 990.0,
                          "revenue": 990.0, "tax": 198.0, "currency": "EUR", "amount": 1188.0,
                          "products": [{"product_id": "rw-routing-team", "sku": "RW-TEAM-12",
                                        "name": "Relaywise Routing, Team plan (12 months)",
                                        "price": 990.0, "quantity": 1}],
                          "library": "analytics-python"}),
    ]


def test_the_rudderstack_sample_maps_to_exactly_the_expected_events_plain_or_gzipped():
    # Arrange: RudderStack's Python SDK: Basic auth only, gzip on by default, channel "server"
    plain = sample("batch_rudderstack_python.json")
    headers = {"content-type": "application/json", "user-agent": "analytics-python/2.1.10",
               "authorization": basic(KEY)}
    library = {"library": "analytics-python"}
    expected = [
        event(event_id="9a1d2c3b-4e5f-4a6b-8c7d-0e1f2a3b4c5d", type="identify",
              occurred_at="2026-10-21T15:30:12.448193Z", received_at=RUDDER_SENT_AT, lead_id="crm-00317",
              email="amara.okafor@brightfield-health.example", properties=library,
              traits={"first_name": "Amara", "last_name": "Okafor", "job_title": "Director of Data Platform",
                      "company": "Brightfield Health", "company_size": 85, "industry": "Healthcare",
                      "country": "GB"}),
        event(event_id="ab2e3d4c-5f60-4b7c-9d8e-1f2a3b4c5d6e", type="webinar_attended",
              occurred_at="2026-10-21T16:05:40.901377Z", received_at=RUDDER_SENT_AT, lead_id="crm-00317",
              properties={"webinar_id": "wbn-2026-10-routing", "title": "Routing leads in real time",
                          "minutes_watched": 47, **library}),
        event(event_id="bc3f4e5d-6071-4c8d-ae9f-2a3b4c5d6e7f", type="email_clicked",
              occurred_at="2026-10-22T07:41:09.000412Z", received_at=RUDDER_SENT_AT, lead_id="crm-00317",
              context={"ip": "198.51.100.42",
                       "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                                     "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"},
              properties={"email_id": "nl-2026-10-22", "email_subject": "Your webinar recording",
                          "campaign_id": "cmp-118", "campaign_name": "Webinar follow-up", "link_id": "recording",
                          "link_url": "https://www.relaywise.example/webinars/routing?utm_source=email", **library}),
    ]

    # Act
    from_plain = parse(plain, "batch", headers, at=RUDDER_SENT_AT)
    from_gzip = parse(gzip.compress(plain), "batch", {**headers, "content-encoding": "gzip"}, at=RUDDER_SENT_AT)

    # Assert
    assert from_plain == expected
    assert from_gzip == expected


def test_a_single_track_call_with_the_key_in_the_body_maps_to_one_event():
    # Arrange: POST /v1/track as in Segment's HTTP API reference: no header, no messageId, no sentAt
    body = sample("track_http_api.json")
    received = datetime(2026, 10, 15, 10, 20, 32, tzinfo=UTC)

    # Act
    (demo,) = parse(body, "track", {"content-type": "application/json"}, at=received)

    # Assert
    assert demo == event(event_id=demo.event_id, type="demo_requested", occurred_at="2026-10-15T10:20:31.250Z",
                         received_at=received, lead_id="usr_4821", context={"ip": "203.0.113.77"},
                         properties={"source": "in-app-banner", "plan": "team"})
    assert demo.event_id.startswith("segment-")


def test_an_analytics_js_page_call_takes_page_fields_from_context_page():
    # Arrange: analytics.js posts a page call to /v1/p with the key in the body, text/plain
    body = dumps({
        "type": "page", "name": None, "properties": {}, "anonymousId": "ajs-anon-3", "messageId": "ajs-next-1a2b",
        "timestamp": "2026-10-14T08:00:00.000Z", "sentAt": "2026-10-14T08:00:00.120Z", "writeKey": KEY,
        "context": {"page": {"path": "/pricing", "referrer": "https://search.example/", "search": "?utm_source=news",
                             "title": "Pricing", "url": "https://www.relaywise.example/pricing?utm_source=news"},
                    "userAgent": CHROME, "campaign": {"source": "news", "name": "october"},
                    "library": {"name": "analytics.js", "version": "next-1.81.0"}},
        "integrations": {}, "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    })
    received = datetime(2026, 10, 14, 8, 0, 0, 200000, tzinfo=UTC)

    # Act
    (page,) = parse(body, "p", {"content-type": "text/plain"}, at=received)

    # Assert: no skew to correct (sentAt 120 ms after timestamp, received 200 ms after)
    assert page == event(event_id="ajs-next-1a2b", type="page_view", anonymous_id="ajs-anon-3",
                         occurred_at=received - timedelta(milliseconds=120), received_at=received,
                         context={"user_agent": CHROME},
                         properties={"url": "https://www.relaywise.example/pricing?utm_source=news", "path": "/pricing",
                                     "title": "Pricing", "referrer": "https://search.example/",
                                     "search": "?utm_source=news", "library": "analytics.js",
                                     "utm": {"source": "news", "campaign": "october"}})


def test_a_screen_call_maps_to_a_screen_view():
    # Arrange
    body = dumps({"userId": 42, "name": "Billing", "properties": {"tab": "invoices"}, "messageId": "scr-1",
                  "timestamp": "2026-10-14T08:00:00Z", "writeKey": KEY})

    # Act
    (screen,) = parse(body, "screen")

    # Assert: a numeric userId is stringified, as the SDKs do
    assert screen == event(event_id="scr-1", type="screen_view", occurred_at="2026-10-14T08:00:00Z",
                           lead_id="42", properties={"tab": "invoices", "name": "Billing"})


def test_an_identify_with_traits_only_under_context_traits_still_carries_them():
    # Arrange: some RudderStack SDK versions put identify traits under context.traits
    body = dumps({"userId": "crm-9", "messageId": "id-9", "timestamp": "2026-10-14T08:00:00Z", "writeKey": KEY,
                  "context": {"traits": {"email": "Lea@Fjord-Data.example", "jobTitle": "VP Engineering",
                                         "employees": "1,200"}}})

    # Act
    (identify,) = parse(body, "identify")

    # Assert
    assert (identify.email, identify.traits) == (
        "lea@fjord-data.example", {"job_title": "VP Engineering", "company_size": "1,200"})


@pytest.mark.parametrize(("name", "expected_type"), [
    ("Order Completed", "purchase"),
    ("Email Opened", "email_opened"),
    ("Email Link Clicked", "email_clicked"),
    ("Email Bounced", "email_bounced"),
    ("Unsubscribed", "unsubscribed"),
    ("Form Submitted", "form_submitted"),
    ("Cart Abandoned", "cart_abandoned"),
    ("Demo Requested", "demo_requested"),
    ("webinarAttended", "webinar_attended"),
    ("Checkout Started", "checkout_started"),
])
def test_track_event_names_map_to_our_types(name, expected_type):
    # Arrange
    body = batch_of(track(event=name), writeKey=KEY)

    # Act
    (tracked,) = parse(body)

    # Assert
    assert tracked.type == expected_type


@pytest.mark.parametrize(("properties", "amount"), [
    ({"total": 27.5, "revenue": 25, "value": 20}, 27.5),
    ({"revenue": 25, "value": 20}, 25),
    ({"value": "149.00"}, "149.00"),
    ({"total": "n/a", "revenue": 25}, 25),
    ({"products": []}, None),
])
def test_an_order_completed_takes_its_amount_from_total_then_revenue_then_value(properties, amount):
    # Arrange
    body = batch_of(track(event="Order Completed", properties={**properties, "currency": " sek "}), writeKey=KEY)

    # Act
    (purchase,) = parse(body)

    # Assert
    assert purchase.properties.get("amount") == amount
    assert purchase.properties["currency"] == "SEK"


def test_an_invalid_email_is_dropped_and_the_event_kept():
    # Arrange
    body = batch_of({"type": "identify", "userId": "u-1", "messageId": "m-9",
                     "traits": {"email": "not an address", "title": "Founder"}}, writeKey=KEY)

    # Act
    (identify,) = parse(body)

    # Assert
    assert identify.email is None
    assert identify.traits == {"job_title": "Founder"}


def test_a_batch_context_is_merged_under_each_messages_own():
    # Arrange: Segment's batch envelope may carry a context shared by its messages
    body = batch_of(track(context={"ip": "198.51.100.9"}), track(messageId="m-2"),
                    context={"ip": "203.0.113.1", "userAgent": "curl/8.9.1"}, writeKey=KEY)

    # Act
    first, second = parse(body)

    # Assert
    assert (first.context.ip, first.context.user_agent) == ("198.51.100.9", "curl/8.9.1")
    assert (second.context.ip, second.context.user_agent) == ("203.0.113.1", "curl/8.9.1")


def test_an_empty_batch_gives_no_events():
    assert parse(batch_of(writeKey=KEY)) == []


# ------------------------------------------------------------------ write keys


def test_the_write_key_is_accepted_as_the_basic_auth_user_name():
    # Arrange
    body = batch_of(track())

    # Act
    events = parse(body, "batch", {"authorization": basic("wk_other_source_8Tz")})

    # Assert
    assert [e.event_id for e in events] == ["m-1"]


def test_the_write_key_is_accepted_in_the_body():
    assert [e.event_id for e in parse(batch_of(track(), writeKey=KEY))] == ["m-1"]


def test_a_basic_auth_key_encoded_without_the_colon_is_accepted():
    # Arrange: Segment's docs say this still works "for backward compatibility"
    header = "Basic " + base64.b64encode(KEY.encode()).decode()

    # Act
    events = parse(batch_of(track()), "batch", {"authorization": header})

    # Assert
    assert len(events) == 1


@pytest.mark.parametrize(("headers", "envelope"), [
    ({"authorization": basic("wk_revoked_0000")}, {}),
    ({}, {"writeKey": "wk_revoked_0000"}),
    ({"authorization": basic("wk_revoked_0000")}, {"writeKey": "wk_revoked_0001"}),
    ({}, {}),
    ({"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"}, {}),
    ({"authorization": "Basic %%%not-base64%%%"}, {}),
    ({"authorization": basic("")}, {"writeKey": ""}),
])
def test_a_wrong_or_missing_write_key_is_unauthorized(headers, envelope):
    # Arrange
    body = batch_of(track(), **envelope)

    # Act / Assert
    with pytest.raises(Unauthorized):
        parse(body, "batch", headers)


def test_no_write_key_is_valid_when_none_are_configured():
    with pytest.raises(Unauthorized):
        parse(batch_of(track(), writeKey=KEY), "batch", {"authorization": basic(KEY)}, keys=frozenset())


# ------------------------------------------------------------------ gzip


def test_a_gzip_body_with_content_encoding_is_accepted():
    body = gzip.compress(batch_of(track(), writeKey=KEY))
    assert len(parse(body, "batch", {"content-encoding": "gzip"})) == 1


def test_a_gzip_body_without_the_header_is_recognised_by_its_magic_bytes():
    body = gzip.compress(batch_of(track(), writeKey=KEY))
    assert len(parse(body, "batch", {})) == 1


@pytest.mark.parametrize("body", [
    batch_of(track(), writeKey=KEY),  # says gzip, is not
    gzip.compress(batch_of(track(), writeKey=KEY))[:-12],  # truncated
    gzip.compress(batch_of(track(), writeKey=KEY)) + b"trailing",
])
def test_a_body_that_is_not_valid_gzip_is_a_bad_request(body):
    with pytest.raises(BadRequest, match="gzip"):
        parse(body, "batch", {"content-encoding": "gzip"})


def test_an_unsupported_content_encoding_is_a_bad_request():
    with pytest.raises(BadRequest, match="Content-Encoding"):
        parse(batch_of(track(), writeKey=KEY), "batch", {"content-encoding": "br"})


# ------------------------------------------------------------------ limits


def _padded(size: int, message_id: str) -> dict[str, Any]:
    """A track message whose compact JSON is exactly `size` bytes."""
    message = track(messageId=message_id, properties={"pad": ""})
    overhead = len(json.dumps(message, separators=(",", ":")).encode())
    message["properties"]["pad"] = "x" * (size - overhead)
    return message


def test_a_batch_over_500_kb_is_refused_naming_the_limit():
    # Arrange: 17 messages of 31 KB each
    body = batch_of(*(_padded(31 * 1024, f"m-{n}") for n in range(17)), writeKey=KEY)
    assert len(body) > 500 * 1024

    # Act / Assert
    with pytest.raises(BadRequest, match="500 KB"):
        parse(body)


def test_a_gzip_body_inflating_past_500_kb_is_refused_naming_the_limit():
    body = gzip.compress(batch_of(*(_padded(31 * 1024, f"m-{n}") for n in range(17)), writeKey=KEY))
    assert len(body) < 50 * 1024
    with pytest.raises(BadRequest, match="500 KB"):
        parse(body, "batch", {"content-encoding": "gzip"})


def test_the_largest_batch_the_python_client_builds_is_accepted():
    # Arrange: the client fills a batch until its messages reach 475,000 bytes, so one
    # more message of up to 32 KB can follow: about 508,000 bytes in all
    messages = [_padded(31_600, f"m-{n}") for n in range(15)] + [_padded(32 * 1024, "m-15")]
    body = json.dumps({"batch": messages, "sentAt": "2026-10-14T08:00:00.5+00:00", "writeKey": KEY}).encode()
    assert 500_000 < len(body) <= 500 * 1024

    # Act
    events = parse(body)

    # Assert
    assert len(events) == 16


def test_a_message_over_32_kb_is_refused_naming_its_index_and_the_limit():
    # Arrange
    body = batch_of(_padded(1000, "m-0"), _padded(32 * 1024, "m-1"), _padded(32 * 1024 + 1, "m-2"), writeKey=KEY)

    # Act / Assert
    with pytest.raises(BadRequest, match=r"^message 2: larger than 32 KB$"):
        parse(body)


def test_a_single_call_over_32_kb_is_refused():
    body = dumps({**_padded(33 * 1024, "m-0"), "writeKey": KEY})
    with pytest.raises(BadRequest, match="32 KB"):
        parse(body, "track")


def test_a_gzip_bomb_is_refused_without_inflating_it():
    # Arrange: 64 MB of zeros, about 64 KB compressed
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    megabyte = bytes(1 << 20)
    bomb = b"".join(packer.compress(megabyte) for _ in range(64)) + packer.flush()
    assert len(bomb) < 100 * 1024

    # Act
    tracemalloc.start()
    try:
        with pytest.raises(BadRequest, match="500 KB"):
            parse(bomb, "batch", {"content-encoding": "gzip", "authorization": basic(KEY)})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Assert: memory stays near the 500 KB limit, nowhere near 64 MB
    assert peak < 4 * 1024 * 1024


# ------------------------------------------------------------------ time


def test_a_client_clock_behind_ours_is_corrected_forward():
    # Arrange: a client clock 10 minutes slow, sending 2 s after the event
    body = batch_of(track(timestamp="2026-10-14T07:50:00.000+00:00"),
                    sentAt="2026-10-14T07:50:02.000+00:00", writeKey=KEY)

    # Act
    (demo,) = parse(body, at=datetime(2026, 10, 14, 8, 0, 2, tzinfo=UTC))

    # Assert
    assert demo.occurred_at == datetime(2026, 10, 14, 8, 0, 0, tzinfo=UTC)


def test_a_messages_own_sent_at_wins_over_the_batchs():
    body = batch_of(track(timestamp="2026-10-14T08:00:00Z", sentAt="2026-10-14T08:00:05Z"),
                    sentAt="2026-10-14T09:00:00Z", writeKey=KEY)
    (demo,) = parse(body, at=datetime(2026, 10, 14, 8, 0, 5, tzinfo=UTC))
    assert demo.occurred_at == datetime(2026, 10, 14, 8, 0, 0, tzinfo=UTC)


def test_a_timestamp_after_receipt_is_clamped_to_receipt():
    # Arrange: no sentAt to correct by, and a timestamp in our future
    received = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)
    body = batch_of(track(timestamp="2026-10-14T09:00:00Z"), writeKey=KEY)

    # Act
    (demo,) = parse(body, at=received)

    # Assert
    assert demo.occurred_at == received


def test_a_message_without_timestamp_occurs_when_received():
    received = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)
    message = track()
    del message["timestamp"]
    (demo,) = parse(batch_of(message, writeKey=KEY), at=received)
    assert demo.occurred_at == received


# ------------------------------------------------------------------ ids


def test_the_same_batch_posted_twice_gives_the_same_event_ids():
    # Arrange
    body = sample("batch_analytics_python.json")

    # Act: the second delivery arrives a minute later
    first = parse(body, "batch", python_headers())
    second = parse(body, "batch", python_headers(), at=PYTHON_SENT_AT + timedelta(minutes=1))

    # Assert
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == 7


def test_a_message_without_message_id_keeps_the_same_id_when_resent():
    # Arrange: the same message, resent with a new sentAt and retry metadata; and a different one
    message = track()
    del message["messageId"]
    first = batch_of(message, sentAt="2026-10-14T08:00:01Z", writeKey=KEY)
    retry = batch_of({**message, "_metadata": {"retryCount": 1}}, sentAt="2026-10-14T08:00:09Z", writeKey=KEY)
    other = batch_of({**message, "properties": {"plan": "team"}}, writeKey=KEY)

    # Act
    (a,), (b,), (c,) = parse(first), parse(retry), parse(other)

    # Assert
    assert a.event_id == b.event_id != c.event_id


# ------------------------------------------------------------------ malformed


@pytest.mark.parametrize(("kind", "body", "problem"), [
    ("batch", b"{not json", "not valid JSON"),
    ("batch", b"[1, 2]", "JSON object"),
    ("batch", b'{"batch": [], "sentAt": NaN}', "not valid JSON"),
    ("batch", b"\xff\xfe\x00garbage", "not valid JSON"),
    ("batch", b"[" * 100_000, "not valid JSON"),
    ("batch", dumps({"batch": {"type": "track"}, "writeKey": KEY}), "batch must be a list"),
    ("batch", batch_of("track", writeKey=KEY), "message 0: must be a JSON object"),
    ("batch", batch_of(track(), {**track(), "type": "purchase"}, writeKey=KEY), "message 1: type must be one of"),
    ("batch", batch_of({k: v for k, v in track().items() if k != "type"}, writeKey=KEY), "message 0: type"),
    ("batch", batch_of(track(), track(anonymousId=None), writeKey=KEY),
     "message 1: userId or anonymousId is required"),
    ("track", dumps({"event": "Signed Up", "userId": "", "anonymousId": None, "writeKey": KEY}),
     "message 0: userId or anonymousId is required"),
    ("batch", batch_of({**track(), "event": None}, writeKey=KEY), "message 0: event"),
    ("batch", batch_of(track(event="!!!"), writeKey=KEY), "message 0: event name"),
    ("batch", batch_of(track(event="2026 Kickoff"), writeKey=KEY), "message 0: event name"),
    ("batch", batch_of(track(event="x" * 65), writeKey=KEY), "message 0: event name"),
    ("batch", batch_of(track(timestamp="2015-2-02T00:30:08.276Z"), writeKey=KEY), "message 0: timestamp"),
    ("batch", batch_of(track(), sentAt="yesterday", writeKey=KEY), "message 0: sentAt"),
    ("batch", batch_of(track(userId=True), writeKey=KEY), "message 0: userId"),
    ("batch", batch_of(track(messageId="m" * 257), writeKey=KEY), "message 0: messageId"),
    ("batch", batch_of(track(context=["ip"]), writeKey=KEY), "message 0: context"),
    ("batch", batch_of(track(properties="plan=team"), writeKey=KEY), "message 0: properties"),
    ("alias", dumps({"userId": "u-1", "writeKey": KEY}), "message 0: previousId"),
    ("group", dumps({"userId": "u-1", "traits": {}, "writeKey": KEY}), "message 0: groupId"),
    ("batch", batch_of(track(timestamp="0001-01-01T00:00:00Z", sentAt="9999-12-31T00:00:00Z"), writeKey=KEY),
     "message 0: timestamp: a time outside 2000-01-01..9000-01-01"),
    ("v2", batch_of(track(), writeKey=KEY), "unknown call type"),
])
def test_a_malformed_request_is_a_bad_request_naming_the_problem(kind, body, problem):
    with pytest.raises(BadRequest) as raised:
        parse(body, kind)
    assert problem in raised.value.message


# ------------------------------------------------------------------ no values in errors


SECRET_EMAIL = "dana.whitfield@northwind-freight.example"


@pytest.mark.parametrize("body", [
    batch_of(track(timestamp=SECRET_EMAIL), writeKey=KEY),
    batch_of(track(userId={"email": SECRET_EMAIL}), writeKey=KEY),
    batch_of(track(anonymousId=None, context={"traits": {"email": SECRET_EMAIL}}), writeKey=KEY),
    batch_of(track(event=[SECRET_EMAIL]), writeKey=KEY),
    batch_of(track(event=f"!!! {SECRET_EMAIL.replace('.', ' ')} " * 3), writeKey=KEY),
    batch_of(track(messageId=SECRET_EMAIL * 10), writeKey=KEY),
    batch_of(track(type=SECRET_EMAIL), writeKey=KEY),
    batch_of(track(properties={"email": SECRET_EMAIL, "pad": "x" * 40_000}), writeKey=KEY),
    batch_of(SECRET_EMAIL, writeKey=KEY),
    dumps({"batch": SECRET_EMAIL, "writeKey": KEY}),
    SECRET_EMAIL.encode(),
    dumps({"batch": [track()], "writeKey": SECRET_EMAIL}),
    dumps({"groupId": {"owner": SECRET_EMAIL}, "userId": "u", "writeKey": KEY}),
])
def test_no_email_appears_in_any_error_message(body):
    # Act
    with pytest.raises((BadRequest, Unauthorized)) as raised:
        kind = "group" if b"groupId" in body else "batch"
        parse(body, kind)

    # Assert
    for text in (str(raised.value), raised.value.message, repr(raised.value.args)):
        assert "@" not in text
        assert "dana" not in text and "northwind" not in text
