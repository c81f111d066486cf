import base64

from leadscore.ingest.pixel import GIF

from tests.support.handlers import invoke
from tests.support.queues import queued
from testbed.signing import sign_pixel_hit

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"


def hit(query, **headers):
    return invoke("PixelFunction", "/t.gif", query=query, headers={"User-Agent": BROWSER, **headers})


def assert_gif(response):
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "image/gif"
    assert "no-store" in response["headers"]["Cache-Control"]
    assert base64.b64decode(response["body"]) == GIF
    assert len(GIF) == 43


def test_a_page_view_hit_answers_the_gif_and_queues_one_event(aws):
    response = hit({"vid": "v-123", "url": "https://acme.example/pricing?plan=pro", "ref": "https://www.google.com/"})

    assert_gif(response)
    [event] = queued(aws)
    assert event["type"] == "page_view"
    assert event["source"] == "pixel"
    assert event["anonymous_id"] == "v-123"
    assert event["properties"] == {"url": "https://acme.example/pricing?plan=pro", "referrer": "https://www.google.com/",
                                   "path": "/pricing"}
    assert event["context"]["ip"] == "203.0.113.7"
    assert event["context"]["user_agent"] == BROWSER


def signed(monkeypatch, lid, event, campaign=""):
    monkeypatch.setenv("LEAD_KEY_SECRET", "pixel-test-secret")
    query = {"lid": lid, "e": event, "sig": sign_pixel_hit("pixel-test-secret", lid, event, campaign)}
    return {**query, "cid": campaign} if campaign else query


def test_an_email_open_pixel_carries_the_lead_and_campaign(aws, monkeypatch):
    hit(signed(monkeypatch, "lead_8f3a", "email_opened", "nov-webinar"))

    [event] = queued(aws)
    assert (event["type"], event["lead_id"], event["properties"]["campaign"]) == ("email_opened", "lead_8f3a", "nov-webinar")


def test_the_page_url_defaults_to_the_referer_header(aws):
    hit({"vid": "v-1"}, Referer="https://acme.example/features")

    [event] = queued(aws)
    assert event["properties"]["path"] == "/features"


def test_a_client_made_hit_id_makes_a_double_fired_pixel_the_same_event(aws):
    hit({"vid": "v-1", "eid": "pv-42"})
    hit({"vid": "v-1", "eid": "pv-42"})

    ids = [e["event_id"] for e in queued(aws)]
    assert ids == ["px-pv-42", "px-pv-42"]  # the worker dedupes on it


def test_crawlers_get_the_gif_but_nothing_is_queued(aws):
    response = hit({"vid": "v-1"}, **{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})

    assert_gif(response)
    assert queued(aws) == []


def test_do_not_track_from_an_unknown_visitor_is_not_queued(aws):
    assert_gif(hit({"vid": "v-1"}, DNT="1"))
    assert_gif(hit({"vid": "v-2"}, **{"Sec-GPC": "1"}))

    assert queued(aws) == []


def test_do_not_track_from_a_known_lead_is_queued_with_the_signal(aws, monkeypatch):
    hit(signed(monkeypatch, "lead_1", "email_opened"), DNT="1")

    [event] = queued(aws)
    assert event["context"]["consent"]["do_not_track"] is True


def test_garbage_still_answers_the_gif_and_queues_nothing(aws):
    for query in ({}, {"vid": ""}, {"vid": "v 1<script>"}, {"vid": "v-1", "e": "DROP TABLE"}, {"lid": "x" * 500}):
        assert_gif(hit(query))

    assert queued(aws) == []


def test_a_queue_outage_still_answers_the_gif(aws, monkeypatch):
    aws.sqs.delete_queue(QueueUrl=aws.queue_url)

    assert_gif(hit({"vid": "v-1"}))


def test_an_engaged_time_report_carries_its_seconds_and_earns_the_pricing_read_rule(aws, engine):
    from scoring_core import Event, LeadState

    hit({"vid": "v-1", "e": "page_engaged", "sec": "130", "url": "https://acme.example/pricing", "eid": "pg-1-1"})

    [event] = queued(aws)
    assert (event["type"], event["properties"]["engaged_seconds"], event["properties"]["path"]) == ("page_engaged", 130, "/pricing")
    state = LeadState()
    engine.apply(state, Event.model_validate(event))
    assert [r.rule for r in engine.evaluate(state, state.last_seen).reasons] == ["pricing_read"]


def test_under_two_minutes_on_pricing_or_two_minutes_elsewhere_earns_no_engaged_time_points(engine):
    from datetime import UTC, datetime

    from scoring_core import Event, LeadState

    now = datetime(2026, 12, 1, tzinfo=UTC)
    for i, (seconds, url) in enumerate([(119, "https://acme.example/pricing"), (600, "https://acme.example/blog/x")]):
        state = LeadState()
        engine.apply(state, Event(event_id=f"e{i}", type="page_engaged", occurred_at=now, received_at=now, source="pixel",
                                  anonymous_id="v-1", properties={"url": url, "engaged_seconds": seconds}))
        assert engine.evaluate(state, now.timestamp()).reasons == ()


def test_an_engaged_time_that_is_not_whole_seconds_of_at_most_a_day_is_dropped(aws):
    for sec in ("abc", "-5", "1.5", "86401", "999999"):
        assert_gif(hit({"vid": "v-1", "e": "page_engaged", "sec": sec}))

    assert queued(aws) == []
