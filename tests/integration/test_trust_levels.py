"""Trust levels (docs/ingest.md, Trust levels): what the pixel and a public write key may not do, and
that a server key, a signed webhook and a signed email pixel still can.

Issue 15, item 3: `GET /t.gif?lid=<lead key>&e=demo_requested`, then `webinar_attended` and
`meeting_booked` took a lead to SQL; `e=purchase` made it a customer; `lid=u:<id>&e=opt_out`
disqualified it. Lead keys sit in email pixel URLs and the write key in every page: both public.
"""

import base64
import json
import time

import pytest
from leadscore.ingest.pixel import GIF

from tests.support.handlers import invoke
from tests.support.queues import queued
from testbed.signing import sign_pixel_hit, sign_stripe

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
LEAD_KEY_SECRET = "trust-test-lead-key-secret"
VICTIM = "e:ch6fld2nt3b5a4xq7pzkm2wrv4gjd3sy"  # an email lead key, as it appears in email pixel URLs
PUBLIC_KEY = "wk_public_site"
SERVER_KEY = "wk_server_backend"


@pytest.fixture
def keys(aws, monkeypatch):
    monkeypatch.setenv("LEAD_KEY_SECRET", LEAD_KEY_SECRET)
    monkeypatch.setenv("WRITE_KEYS", f"{PUBLIC_KEY}, server:{SERVER_KEY}")
    monkeypatch.setenv("WEBHOOK_SECRET_STRIPE", "whsec_trust_test")


def hit(query, **headers):
    return invoke("PixelFunction", "/t.gif", query=query, headers={"User-Agent": BROWSER, **headers})


def signed(lid, event, campaign="", expires=""):
    query = {"lid": lid, "e": event, "sig": sign_pixel_hit(LEAD_KEY_SECRET, lid, event, campaign, expires)}
    if campaign:
        query["cid"] = campaign
    if expires:
        query["exp"] = expires
    return query


def assert_gif(response):
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "image/gif"
    assert base64.b64decode(response["body"]) == GIF


def sdk(path, message, key):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    body = json.dumps({"messageId": f"m-{time.monotonic_ns()}", **message}).encode()
    return invoke("CollectFunction", path, headers={"Content-Type": "application/json", "Authorization": auth},
                  body=body, path_parameters={"kind": path.rsplit("/", 1)[-1]})


# -- the pixel ------------------------------------------------------------------------------------

def test_unsigned_pixel_hits_for_a_lead_key_cannot_take_someone_elses_lead_to_sql(keys, aws):
    for event in ("demo_requested", "webinar_attended", "meeting_booked"):
        assert_gif(hit({"lid": VICTIM, "e": event}))

    assert queued(aws) == []


def test_a_purchase_through_the_pixel_is_answered_but_never_queued(keys, aws):
    assert_gif(hit({"vid": "v-attacker", "e": "purchase"}))
    assert_gif(hit(signed(VICTIM, "purchase")))

    assert queued(aws) == []


def test_an_opt_out_through_the_pixel_is_answered_but_never_queued(keys, aws):
    assert_gif(hit({"lid": "u:4711", "e": "opt_out"}))
    assert_gif(hit({"vid": "v-attacker", "e": "opt_out"}))
    assert_gif(hit(signed("u:4711", "opt_out")))

    assert queued(aws) == []


def test_a_signed_email_pixel_open_counts_for_its_lead(keys, aws):
    assert_gif(hit(signed(VICTIM, "email_opened", "nov-webinar")))

    [event] = queued(aws)
    assert (event["type"], event["lead_id"], event["properties"]["campaign"]) == ("email_opened", VICTIM, "nov-webinar")


def test_a_signed_pixel_url_that_has_not_expired_counts_and_an_expired_one_does_not(keys, aws):
    hit(signed(VICTIM, "email_clicked", "nov", str(int(time.time()) + 3600)))
    hit(signed(VICTIM, "email_clicked", "nov", str(int(time.time()) - 1)))

    assert [e["type"] for e in queued(aws)] == ["email_clicked"]


def test_a_signed_open_cannot_be_turned_into_another_event_campaign_or_lead(keys, aws):
    good = signed(VICTIM, "email_opened", "nov")

    hit({**good, "e": "demo_requested"})
    hit({**good, "cid": "dec"})
    hit({**good, "lid": "e:someoneelse"})
    hit({**good, "sig": good["sig"].upper()})

    assert queued(aws) == []


def test_a_page_view_from_the_visitors_own_browser_still_counts(keys, aws):
    assert_gif(hit({"vid": "v-own", "url": "https://acme.example/pricing"}))
    hit({"vid": "v-own", "e": "demo_requested"})

    assert [e["type"] for e in queued(aws)] == ["page_view", "demo_requested"]


# -- write keys -----------------------------------------------------------------------------------

def test_a_purchase_with_an_amount_from_a_public_write_key_is_answered_200_but_not_queued(keys, aws):
    response = sdk("/v1/track", {"anonymousId": "v-attacker", "userId": "4711", "event": "Order Completed",
                                 "properties": {"total": 999, "currency": "EUR"}}, PUBLIC_KEY)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"success": True}
    assert queued(aws) == []


def test_an_opt_out_from_a_public_write_key_is_answered_200_but_not_queued(keys, aws):
    response = sdk("/v1/track", {"userId": "4711", "event": "Opt Out"}, PUBLIC_KEY)

    assert response["statusCode"] == 200
    assert queued(aws) == []


def test_money_on_other_events_from_a_public_write_key_is_stripped(keys, aws):
    sdk("/v1/track", {"anonymousId": "v-1", "event": "Cart Abandoned",
                      "properties": {"amount": 5000, "revenue": 5000, "total": 1, "value": 2, "sku": "pro"}}, PUBLIC_KEY)

    [event] = queued(aws)
    assert event["type"] == "cart_abandoned"
    assert event["properties"] == {"sku": "pro"}


def test_a_public_write_key_cannot_address_a_lead_by_its_key(keys, aws):
    response = sdk("/v1/track", {"userId": VICTIM, "event": "Demo Requested"}, PUBLIC_KEY)

    assert response["statusCode"] == 200
    assert queued(aws) == []


def test_the_demo_forms_identify_and_demo_request_from_a_public_key_still_count(keys, aws):
    sdk("/v1/identify", {"anonymousId": "v-own", "traits": {"email": "jane@acme.example", "title": "CTO"}}, PUBLIC_KEY)
    sdk("/v1/track", {"anonymousId": "v-own", "event": "Demo Requested", "properties": {"form": "book-a-demo"},
                      "context": {"traits": {"email": "jane@acme.example"}}}, PUBLIC_KEY)

    assert [e["type"] for e in queued(aws)] == ["identify", "demo_requested"]


def test_a_server_write_key_still_sends_purchases_with_their_amount_and_opt_outs(keys, aws):
    sdk("/v1/track", {"userId": "4711", "event": "Order Completed", "properties": {"total": 149, "currency": "eur"}},
        SERVER_KEY)
    sdk("/v1/track", {"userId": "4711", "event": "Opt Out"}, SERVER_KEY)

    purchase, opt_out = queued(aws)
    assert (purchase["type"], purchase["properties"]["amount"], purchase["properties"]["currency"]) == ("purchase", 149, "EUR")
    assert opt_out["type"] == "opt_out"


def test_a_signed_stripe_checkout_still_makes_a_purchase(keys, aws):
    body = json.dumps({"id": "evt_trust_1", "object": "event", "type": "checkout.session.completed",
                       "created": int(time.time()),
                       "data": {"object": {"id": "cs_1", "object": "checkout.session", "amount_total": 14900,
                                           "currency": "eur", "customer_details": {"email": "lena@fairbrook.example"}}}}).encode()

    response = invoke("HooksFunction", "/hooks/stripe", body=body, headers=sign_stripe(body, "whsec_trust_test"),
                      path_parameters={"source": "stripe"})

    assert response["statusCode"] == 202
    [event] = queued(aws)
    assert (event["type"], event["properties"]["amount"]) == ("purchase", 149)


def test_what_the_pixel_may_not_send_follows_the_model_file(keys, aws, monkeypatch, tmp_path):
    model = tmp_path / "acme.yaml"
    model.write_text("""
version: "1"
engagement:
  - {id: converted, on: trial_converted, points: 30, stage: customer}
stages: {mql: {score: 50}, sql: {score: 80}}
grades: {fit: {A: 40, B: 25, C: 10}, engagement: {"1": 40, "2": 20, "3": 8}}
bands: {hot: 70, warm: 35}
""")
    monkeypatch.setenv("MODEL_FILE", str(model))

    hit({"vid": "v-1", "e": "trial_converted"})
    hit({"vid": "v-1", "e": "purchase"})  # this model makes no customer of a purchase

    assert [e["type"] for e in queued(aws)] == ["purchase"]


# -- a claimed identity: a browser may say who it is, not make someone an SQL --------------------

VICTIM_EMAIL = "dana.victim@bigcorp.example"
FIT_TRAITS = {"email": VICTIM_EMAIL, "title": "CEO", "company_size": 200, "industry": "software", "country": "US"}
INTENT = ["Demo Requested", "Webinar Attended", "Meeting Booked"]  # 25 + 10 + 20 points on a fit of 52


def score_queued(aws):
    """Run the score function over everything the edge queued, as the SQS event source would."""
    from pathlib import Path

    from leadscore.dev.functions import LambdaContext, load_handler
    from leadscore.dev.sqs import sqs_event, sqs_record

    bodies = queued(aws)
    records = [sqs_record(f"m-{i}", json.dumps(body), "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue")
               for i, body in enumerate(bodies)]
    handler = load_handler(Path("functions/score"), "app.lambda_handler")
    assert handler(sqs_event(records), LambdaContext("score"))["batchItemFailures"] == []
    return bodies


def stage_changes(stack):
    from tests.support.queues import published

    return [(d["from_stage"], d["to_stage"], d["score"]) for d in published(stack)]


def claim_and_act(key):
    sdk("/v1/identify", {"anonymousId": "v-stranger", "traits": FIT_TRAITS}, key)
    for name in INTENT:
        sdk("/v1/track", {"anonymousId": "v-stranger", "event": name}, key)


def victim_now():
    """The victim's lead as stored: (stage, score now)."""
    from leadscore import dependencies
    from leadscore.adapters.leads import state_of
    from leadscore.identity import email_key

    worker = dependencies.current().worker
    state = state_of(worker.store.get(worker.resolve(email_key(VICTIM_EMAIL, LEAD_KEY_SECRET))))
    return state.stage, worker.engine.evaluate(state, time.time()).total


def test_a_stranger_who_identifies_as_someone_else_can_make_them_an_mql_but_never_an_sql(stack, keys):
    claim_and_act(PUBLIC_KEY)
    bodies = score_queued(stack)

    assert bodies and all(body["trusted"] is False for body in bodies)
    assert [(f, t) for f, t, _ in stage_changes(stack)] == [("lead", "mql")]
    stage, score = victim_now()
    assert stage == "mql" and score >= 80  # the score alone would make an SQL: the senders' trust held it back


def test_the_same_calls_from_a_server_key_make_an_sql(stack, keys):
    claim_and_act(SERVER_KEY)
    score_queued(stack)

    assert [t for _, t, _ in stage_changes(stack)][-1] == "sql"
    assert victim_now()[0] == "sql"


def test_a_trusted_event_after_browser_activity_takes_the_lead_the_rest_of_the_way(stack, keys):
    claim_and_act(PUBLIC_KEY)
    score_queued(stack)
    sdk("/v1/track", {"userId": "crm-4711", "event": "Form Submitted", "context": {"traits": {"email": VICTIM_EMAIL}}}, SERVER_KEY)
    score_queued(stack)

    assert [(f, t) for f, t, _ in stage_changes(stack)] == [("lead", "mql"), ("mql", "sql")]
