"""AWS calls per event of the scoring worker on moto, against a naive worker, same stream, same scores.

A realistic stream of canonical events is generated around leads drawn (fixed
seed) from ../shared/data/leads_xeducation.csv: each lead's visits become
sessions of page views (bursts within minutes, pricing and course pages, time
on site from the row), anonymous browsing with a visitor id before an
`identify` with email + visitor id, a form submission with traits from the row
(country, occupation as job_title, specialization as industry, city), email
opens and clicks hinted by "Last Activity" (a click starts a session), bounces,
unsubscribes, chat, call bookings, demo requests and purchases for converted
leads, and a few sender retries (the same event_id delivered twice). Events of
all leads are interleaved in order of receipt, as the queue delivers them, and
cut into SQS batches of 10.

The stream goes through the real handler (functions/score/app.py) on moto with
the table and bus from template.yaml and, in the same run (a forked process
with its own moto, one core each; --serial runs it afterwards here), through a
naive worker written here: powertools idempotency per event on its own table,
GetItem the lead's JSON blob (following an anonymous visitor's pointer to its
lead), the same engine, PutItem, one PutEvents per transition.
Our worker publishes nothing itself: the stream publisher (functions/publish)
runs on the table's stream as its event source mapping would (see `Publisher`:
its batching window on a clock modelled at --rate events per second).
Every AWS API call is counted through botocore's event system
(`provide-client-params` / `after-call` registered on boto3's default session
and runtime's botocore session before the workers' clients exist). Final scores of every lead, evaluated at
one instant from each worker's table, must be identical.

Write request units follow DynamoDB's rules (1 WRU per started KB of the larger
of the item before and after; failed conditional writes are billed on the
existing item; transactions 2x; item size = attribute names + values, numbers
1 byte per 2 significant digits + 1, lists/maps 3 bytes + 1 per element). The
sizes are read from moto's backend before and after each write (not through
the API, so not counted). GSI writes (the sparse ByStage index) are counted
apart: a changed index key is a delete plus a put.

The handler's clock is the batch's receipt time (a queue delivers within
seconds); batches go to one of --containers warm workers at random, each with
its own alias-redirect cache, as Lambda spreads batches over containers.
Wall time per batch is split into time inside AWS calls (botocore + moto) and
our own compute. Moto here is in-process and single-threaded: fine for
counting, not for latency; a few of its slowest checks are skipped to fit the
time budget (see `faster_moto`; --exact-moto keeps them, same results).

Last line: {"events": N, "ddb_writes_per_event": .., "ddb_reads_per_event": ..,
"eb_calls_per_transition": .., "transitions": .., "ddb_write_wru_per_event": ..,
"lambda_ms_per_batch": .., ..., "naive": {same keys}}
Targets (issue 5): <= 1.0 DynamoDB write requests and 0 reads per event for
known visitors (amortized over batches), <= 0.2 EventBridge calls per
transition, final scores identical to the naive worker's.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import re
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "leads_xeducation.csv"

for _name, _value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                      "AWS_SESSION_TOKEN": "bench", "POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_SERVICE_NAME": "score",
                      "POWERTOOLS_METRICS_NAMESPACE": "leadscore"}.items():
    os.environ[_name] = _value  # as deployed (template Globals), against moto
for _name in ("AWS_ENDPOINT_URL", "SECRETS_ARN", "LEAD_KEY_SECRET", "AWS_PROFILE"):
    os.environ.pop(_name, None)

import boto3  # noqa: E402
from leadscore import dependencies, settings  # noqa: E402
from leadscore.aws_clients import botocore_session  # noqa: E402
from leadscore.adapters.leads import deserialize, state_of  # noqa: E402
from leadscore.dev.functions import LambdaContext, load_module  # noqa: E402
from leadscore.dev.sqs import sqs_event, sqs_record  # noqa: E402
from leadscore.dev.streams import StreamPump, streams_client  # noqa: E402
from leadscore.dev.template import create_buses, create_tables, load_template, resources, stream_sources  # noqa: E402
from leadscore.identity import LOCAL_KEY_SECRET, keys_of  # noqa: E402
from leadscore.worker import transition_detail  # noqa: E402
from moto import mock_aws  # noqa: E402
from scoring_core import Engine, Event, Fact, LeadState, load_model  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=timezone.utc)  # the stream ends here; scores are compared a day later
SITE = "https://xeducation.example"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"
ACCOUNT = "123456789012"
TARGETS = {"ddb_writes_per_event": 1.0, "ddb_reads_per_event_outside_merges": 0, "eb_calls_per_transition": 0.2}

# -- the stream ----------------------------------------------------------------

COUNTRIES = {
    "India": "IN", "United States": "US", "United Arab Emirates": "AE", "Singapore": "SG", "Saudi Arabia": "SA",
    "United Kingdom": "GB", "Australia": "AU", "Qatar": "QA", "Bahrain": "BH", "Hong Kong": "HK", "Oman": "OM",
    "France": "FR", "Kuwait": "KW", "Canada": "CA", "Nigeria": "NG", "Germany": "DE", "South Africa": "ZA",
    "Sweden": "SE", "Ghana": "GH", "Belgium": "BE", "China": "CN", "Netherlands": "NL", "Italy": "IT",
    "Philippines": "PH", "Uganda": "UG", "Bangladesh": "BD", "Asia/Pacific Region": None, "Sri Lanka": "LK",
    "Kenya": "KE", "Switzerland": "CH", "Denmark": "DK", "Russia": "RU", "Malaysia": "MY", "Vietnam": "VN",
    "Indonesia": "ID", "Tanzania": "TZ", "Liberia": "LR", "Netherlands Antilles": None, "unknown": None,
}
FREE_DOMAINS = ["gmail.com"] * 10 + ["yahoo.com"] * 2 + ["outlook.com", "hotmail.com", "rediffmail.com"]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
]
MAIL_AGENTS = (["Mozilla/5.0"] * 3  # Apple Mail Privacy Protection: a machine open
               + ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36"] * 5
               + ["Mozilla/5.0 (compatible; GoogleImageProxy)", "Mozilla/5.0 (compatible; Mimecast LinkScanner)"])
COMPANIES = ["acme", "globex", "initech", "tata-demo", "infy-demo", "wipro-demo"]
REFERRERS = {"Google": "https://www.google.com/", "google": "https://www.google.com/", "Organic Search": "https://www.google.com/",
             "bing": "https://www.bing.com/", "Facebook": "https://m.facebook.com/", "Referral Sites": "https://www.shiksha.example/",
             "Welingak Website": "https://welingak.example/", "Reference": None, "Direct Traffic": None, "Olark Chat": None}
PAGES = [("/courses", 14), ("/courses/{spec}", 20), ("/pricing", 7), ("/pricing/emi", 2), ("/blog/{post}", 12),
         ("/about", 3), ("/contact", 3), ("/webinars", 3), ("/apply", 4), ("/careers", 1), ("/alumni", 3), ("/faq", 4), ("/", 6)]
POSTS = ["why-an-mba", "finance-careers", "hr-analytics", "digital-marketing-101", "supply-chain-jobs", "pgp-vs-mba",
         "emi-options", "placement-report-2026", "working-professionals", "data-driven-marketing"]


def _num(text: str, default: float = 0.0) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "general"


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class LeadBehaviour:
    """One lead's events, generated around its row; times in seconds from its first activity."""

    def __init__(self, row: dict[str, str], n: int, rng: random.Random):
        self.rng = rng
        self.row = row
        self.n = n
        self.out: list[tuple[float, float, dict[str, Any]]] = []  # (occurred, received, fields)
        number = row["Lead Number"]
        domain = rng.choice(FREE_DOMAINS) if rng.random() < 0.8 else f"{rng.choice(COMPANIES)}{rng.randrange(40)}.example"
        self.email = f"lead{number}@{domain}"
        self.vid = _id(rng)
        self.ua = rng.choice(BROWSERS)
        self.ip = f"198.51.100.{rng.randrange(1, 255)}"
        spec = row["Specialization"]
        self.spec = spec if spec not in ("", "Select") else None
        self.converted = row["Converted"] == "1"
        traits: dict[str, Any] = {}
        if row["What is your current occupation"]:
            traits["job_title"] = row["What is your current occupation"]
        if self.spec:
            traits["industry"] = self.spec
        code = COUNTRIES.get(row["Country"], None)
        if code:
            traits["country"] = code
        if row["City"] not in ("", "Select"):
            traits["city"] = row["City"]
        if row["Lead Source"]:
            traits["lead_source"] = row["Lead Source"]
        self.traits = traits

    # -- emitting

    def emit(self, at: float, type_: str, source: str, *, anon: bool = False, email: bool = False, delay: tuple[float, float] = (0.2, 2.0),
             retry: float = 0.0, **fields: Any) -> None:
        rng = self.rng
        event_id = _id(rng) if source == "pixel" else f"{source}-{rng.getrandbits(64):016x}"
        body = {"event_id": event_id, "type": type_, "source": source, **fields}
        if anon:
            body["anonymous_id"] = self.vid
        if email:
            body["email"] = self.email
        received = at + rng.uniform(*delay)
        self.out.append((at, received, body))
        if retry and rng.random() < retry:  # the sender did not see our 2xx in time: same delivery id again
            self.out.append((at, received + rng.uniform(5, 300), body))

    def page(self, at: float, path: str, referrer: str | None = None, campaign: str | None = None) -> None:
        url = SITE + path + (f"?utm_source=email&utm_campaign={campaign}" if campaign else "")
        props = {"url": url}
        if referrer:
            props["referrer"] = referrer
        self.emit(at, "page_view", "pixel", anon=True, properties=props, context={"ip": self.ip, "user_agent": self.ua})

    def path(self) -> str:
        rng = self.rng
        weights = [w * (2.5 if p.startswith("/pricing") and (self.converted or _num(self.row["Total Time Spent on Website"]) > 800) else 1)
                   * (3 if p == "/apply" and self.converted else 1) for p, w in PAGES]
        p = rng.choices([p for p, _ in PAGES], weights)[0]
        return p.format(spec=_slug(self.spec or rng.choice(["mba", "data-science", "digital-marketing"])), post=rng.choice(POSTS))

    def session(self, start: float, pages: int, duration: float, first: str | None = None, referrer: str | None = None,
                campaign: str | None = None) -> list[float]:
        """Page views from `start` over `duration` seconds; returns their times."""
        times = sorted(start + self.rng.uniform(0, duration) for _ in range(pages - 1))
        times = [start] + times
        for i, t in enumerate(times):
            self.page(t, first if i == 0 and first else self.path(), referrer if i == 0 else None, campaign if i == 0 else None)
        return times

    # -- the lead's story

    def generate(self) -> list[tuple[float, float, dict[str, Any]]]:
        rng, row = self.rng, self.row
        visits = int(min(_num(row["TotalVisits"]), 25))
        ppv = max(1.0, _num(row["Page Views Per Visit"], 1.0))
        tos = _num(row["Total Time Spent on Website"])
        origin = row["Lead Origin"]
        last = row["Last Activity"]
        source = row["Lead Source"]
        web_identified = origin in ("Landing Page Submission", "API")
        if web_identified:
            visits = max(visits, 1)
        per_visit = max(20.0, tos / visits) if visits else 60.0

        t = 0.0
        id_at = None
        if not web_identified:  # an ad lead form or an import: known from the start, by email only
            if origin == "Lead Add Form":
                self.emit(t, "form_submitted", "hooks", email=True, delay=(1, 20), retry=0.04,
                          properties={"form_id": f"lead-ad-{_slug(source or 'facebook')}"}, traits=dict(self.traits))
            else:
                self.emit(t, "identify", "import", email=True, delay=(30, 600), traits=dict(self.traits))
            id_at = t
            t += rng.expovariate(1 / (2 * 86400)) + 600
        id_visit = rng.randrange(min(visits, 3)) if web_identified else None
        linked = web_identified  # known by email only: the first visit identifies the device (login, email link with identify)
        for v in range(visits):
            pages = max(1, min(15, round(rng.gauss(ppv, max(0.5, ppv / 3)))))
            duration = per_visit * rng.uniform(0.5, 1.5)
            first = ("/lp/" + _slug(source) if source in ("Welingak Website", "Facebook", "Google") and v == 0 and rng.random() < 0.5
                     else f"/courses/{_slug(self.spec or 'mba')}" if source in ("Google", "Organic Search") and rng.random() < 0.5 else "/")
            times = self.session(t, pages, duration, first, REFERRERS.get(source) if v == 0 or rng.random() < 0.3 else None)
            if v == id_visit or (not linked and v == 0):
                at = times[min(len(times) - 1, rng.randrange(1, 3))] + rng.uniform(5, 60)
                if origin == "API" and source == "Olark Chat":
                    self.emit(at - 30, "chat_conversation", "collect", anon=True, delay=(0.1, 3))
                self.emit(at, "identify", "collect", anon=True, email=True, delay=(0.1, 3), retry=0.01, traits=dict(self.traits))
                if origin == "Landing Page Submission" or rng.random() < 0.3:
                    self.emit(at + 1, "form_submitted", "collect", anon=True, email=True, delay=(0.1, 3), retry=0.01,
                              properties={"form_id": "enquiry", "url": SITE + "/apply"}, traits=dict(self.traits))
                if id_at is None:
                    id_at = at
                linked = True
            t = times[-1] + 60 + rng.expovariate(1 / (1.5 * 86400))
        if id_at is None:  # a web lead with no recorded visit: the chat or form was the visit
            self.session(t, 1, 30, "/")
            self.emit(t + 20, "identify", "collect", anon=True, email=True, traits=dict(self.traits))
            id_at = t + 20
        self.after_identify(id_at, last, ppv)
        return self.out

    def after_identify(self, t0: float, last: str, ppv: float) -> None:
        rng, row = self.rng, self.row
        t = t0
        no_email = row["Do Not Email"] == "Yes"
        sends = 0 if no_email else rng.randint(1, 4)
        opened_hint = last in ("Email Opened", "Email Link Clicked", "View in browser link Clicked", "Unsubscribed")
        clicked_hint = last in ("Email Link Clicked", "View in browser link Clicked")
        if no_email:
            self.emit(t + 3600, "unsubscribed", "sendgrid", email=True, delay=(5, 120), retry=0.04)
        for k in range(sends):
            t += rng.uniform(2, 6) * 86400
            campaign = f"cmp-2026-{rng.randrange(1, 30):02d}"
            if last == "Email Bounced" and k == 0:
                self.emit(t + 60, "email_bounced", "sendgrid", email=True, delay=(5, 300), retry=0.04, properties={"campaign": campaign})
                break
            if rng.random() < (0.9 if opened_hint else 0.35):
                opened = t + rng.expovariate(1 / 7200)
                for _ in range(rng.choice([1, 1, 1, 2])):
                    self.emit(opened, "email_opened", "sendgrid", email=True, delay=(5, 120), retry=0.04,
                              properties={"campaign": campaign}, context={"user_agent": rng.choice(MAIL_AGENTS)})
                    opened += rng.expovariate(1 / 3600)
                if rng.random() < (0.7 if clicked_hint else 0.15):
                    clicked = opened + rng.uniform(3, 90)
                    self.emit(clicked, "email_clicked", "sendgrid", email=True, delay=(5, 120), retry=0.04,
                              properties={"campaign": campaign, "url": SITE + "/courses"}, context={"user_agent": self.ua})
                    pages = max(1, min(8, round(rng.gauss(ppv, 1))))
                    self.session(clicked + 2, pages, 60 * pages * rng.uniform(0.5, 2), f"/courses/{_slug(self.spec or 'mba')}", campaign=campaign)
            if last == "Unsubscribed" and k >= 1:
                self.emit(t + 7200, "unsubscribed", "sendgrid", email=True, delay=(5, 120), retry=0.04)
                break
        t = t0 + rng.uniform(1, 10) * 86400
        if last == "Form Submitted on Website" or (self.converted and rng.random() < 0.3):
            times = self.session(t, max(1, round(ppv)), 300, "/apply")
            self.emit(times[-1] + 30, "form_submitted", "collect", anon=True, email=True, delay=(0.1, 3), retry=0.01,
                      properties={"form_id": "application", "url": SITE + "/apply"}, traits=dict(self.traits))
        if last == "Olark Chat Conversation":
            self.page(t + 7200, "/contact")
            self.emit(t + 7260, "chat_conversation", "collect", anon=True, delay=(0.1, 3))
        if last == "Had a Phone Conversation" or (self.converted and rng.random() < 0.25):
            self.emit(t + 86400, "meeting_booked", "calendly", email=True, delay=(1, 30), retry=0.04)
        if self.converted and rng.random() < 0.5:
            times = self.session(t + 3 * 86400, max(2, round(ppv)), 400, "/pricing")
            self.emit(times[-1] + 20, "demo_requested", "collect", anon=True, email=True, delay=(0.1, 3), retry=0.01,
                      properties={"form_id": "counselling-call"})
        if self.converted and rng.random() < 0.35:
            self.emit(t + rng.uniform(5, 15) * 86400, "purchase", "stripe", email=True, delay=(1, 30), retry=0.04,
                      properties={"sku": f"course-{_slug(self.spec or 'mba')}", "amount": rng.choice([45000, 75000, 120000, 180000]),
                                  "currency": "INR", "order_id": f"ord-{rng.getrandbits(40):010x}"})


class Delivery:
    """One SQS message: the event, its JSON body, when the queue received it, whose it is."""

    __slots__ = ("event", "body", "received", "lead")

    def __init__(self, event: Event, received: float, lead: int):
        self.event = event
        self.body = event.model_dump_json()
        self.received = received
        self.lead = lead


def stream(n_events: int, span_days: float, seed: int = 2026) -> tuple[list[Delivery], int]:
    """About `n_events` deliveries of leads drawn from the CSV, in order of receipt; (deliveries, leads)."""
    with DATA.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(seed)
    order = rng.sample(range(len(rows)), len(rows))
    span = span_days * 86400
    start = END.timestamp() - span
    out: list[tuple[float, int, dict[str, Any], float]] = []
    leads = 0
    for n, i in enumerate(order):
        if len(out) >= n_events:
            break
        events = LeadBehaviour(rows[i], n, random.Random(rng.getrandbits(64))).generate()
        extent = max(r for _, r, _ in events)
        offset = start + rng.uniform(0, max(0.0, span - extent))
        events = [(o + offset, r + offset, b) for o, r, b in events if r + offset <= END.timestamp()]
        events.sort(key=lambda e: e[1])
        events = events[: n_events - len(out)]
        leads += bool(events)
        out += [(r, n, b, o) for o, r, b in events]
    out.sort(key=lambda e: e[0])
    deliveries = []
    for received, lead, body, occurred in out:
        event = Event.model_validate({**body, "occurred_at": datetime.fromtimestamp(occurred, timezone.utc),
                                      "received_at": datetime.fromtimestamp(received, timezone.utc)})
        deliveries.append(Delivery(event, received, lead))
    return deliveries, leads


# -- counting AWS calls ------------------------------------------------------------


def _num_size(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "").strip("0")
    return (max(len(mantissa), 1) + 1) // 2 + 1


def _size_tv(t: str, v: Any) -> int:
    if t == "S":
        return len(v.encode())
    if t == "N":
        return _num_size(str(v))
    if t == "B":
        return len(v)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "SS":
        return sum(len(x.encode()) for x in v)
    if t == "NS":
        return sum(_num_size(str(x)) for x in v)
    if t == "BS":
        return sum(len(x) for x in v)
    if t == "L":
        return 3 + sum(1 + _size_any(x) for x in v)
    if t == "M":
        return 3 + sum(1 + len(k.encode()) + _size_any(x) for k, x in v.items())
    raise ValueError(t)


def _size_any(x: Any) -> int:
    if hasattr(x, "type"):  # moto's DynamoType
        return _size_tv(x.type, x.value)
    (t, v), = x.items()
    return _size_tv(t, v)


def item_size(attrs: dict[str, Any]) -> int:
    """DynamoDB's item size: UTF-8 attribute names plus values (see the module docstring)."""
    return sum(len(k.encode()) + _size_any(v) for k, v in attrs.items())


def _kb(size: int, unit: int = 1024) -> int:
    return max(1, math.ceil(size / unit))


class Meter:
    """AWS API calls by operation (and purpose), DynamoDB request units, time spent inside calls."""

    def __init__(self, template: dict[str, Any], table_names: dict[str, str]):
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[ACCOUNT]["us-east-1"]
        self.indexes: dict[str, list[tuple[tuple[str, ...], tuple[str, ...] | None]]] = {}  # table -> [(key attrs, projected or None=ALL)]
        for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
            name = table_names.get(logical_id)
            for gsi in table["Properties"].get("GlobalSecondaryIndexes") or []:
                keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
                proj = gsi.get("Projection", {})
                projected = None if proj.get("ProjectionType") == "ALL" else tuple(proj.get("NonKeyAttributes", []))
                self.indexes.setdefault(name, []).append((keys, projected))
        self.active = False
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.writes = self.reads = 0
        self.wru = self.gsi_wru = self.rru = 0.0
        self.eb_entries = 0
        self.call_s = 0.0
        self.wru_by: Counter[str] = Counter()
        self.redirects = 0  # failed applies whose old item was an alias pointer (ALL_OLD has merged_into)
        self.merged_in_batch = False  # a merge transaction succeeded earlier in this batch

    # botocore handlers -------------------------------------------------------

    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return None
        t0 = time.perf_counter()
        snapshot = None
        if model.service_model.service_name == "dynamodb":
            snapshot = [(table, key, self._state(table, key)) for table, key, write in self._targets(model.name, params) if write]
        context["bench"] = (t0, params, snapshot)
        return None

    def after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        info = context.pop("bench", None)
        if info is None:
            return
        t0, params, snapshot = info
        op, service = model.name, model.service_model.service_name
        label = f"{service}.{op}[{self.purpose(op, params)}]"
        self.calls[label] += 1
        error = (parsed.get("Error") or {}).get("Code") if http_response.status_code >= 300 else None
        if error:
            self.failed[f"{label}:{error}"] += 1
        if op == "TransactWriteItems" and not error:
            self.merged_in_batch = True
        if service == "dynamodb":
            before = self.wru + self.gsi_wru
            self._units(op, params, parsed, snapshot, error)
            self.wru_by[label] += self.wru + self.gsi_wru - before
            if error and label.endswith("[apply]") and "merged_into" in (parsed.get("Item") or {}):
                self.redirects += 1
        elif service == "eventbridge" or op == "PutEvents":
            self.eb_entries += len(params.get("Entries", []))
        self.call_s += time.perf_counter() - t0

    # what a call is for -------------------------------------------------------

    def purpose(self, op: str, params: dict[str, Any]) -> str:
        table = params.get("TableName", "")
        if "idempotency" in table:
            return "idempotency"
        if "naive" in table:
            return "naive-lead" if op != "PutItem" or "state" in params.get("Item", {}) else "naive-alias"
        if op == "UpdateItem":
            names = set(params.get("ExpressionAttributeNames", {}).values())
            expression = params.get("UpdateExpression", "")
            if expression == "SET #r = :keep":
                return "trim-recent"
            if "n" in names and "last_at" in names:
                return "apply"
            if "stage_at" in names:
                return "record-transition"
            if names and all(n.startswith("f.") or n in ("t", "e") for n in names):
                return "facts-only"
            if "recycled" in names:
                return "record-recycled"
            return "update"
        if op == "PutItem":
            return "link-alias"
        if op == "TransactWriteItems":
            return "merge"
        if op == "GetItem":
            return "read-after-merge" if self.merged_in_batch else "read"
        if op == "PutEvents":
            return f"{len(params.get('Entries', []))} entries"
        return "-"

    # request units ----------------------------------------------------------------

    def _targets(self, op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key, is a write) of every item the call touches."""
        if op in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], True)]
        if op == "PutItem":
            return [(params["TableName"], self._key_of(params["TableName"], params["Item"]), True)]
        if op == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                key = body["Key"] if "Key" in body else self._key_of(body["TableName"], body["Item"])
                out.append((body["TableName"], key, True))
            return out
        if op == "BatchWriteItem":
            out = []
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    if "PutRequest" in r:
                        out.append((table, self._key_of(table, r["PutRequest"]["Item"]), True))
                    else:
                        out.append((table, r["DeleteRequest"]["Key"], True))
            return out
        if op == "GetItem":
            return [(params["TableName"], params["Key"], False)]
        return []

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        t = self._backend.get_table(table)
        names = [t.hash_key_attr] + ([t.range_key_attr] if t.range_key_attr else [])
        return {n: item[n] for n in names}

    def _state(self, table: str, key: dict[str, Any]) -> tuple[int, list[Any]]:
        """(size, index entries) of the stored item, read from moto's backend (not an API call)."""
        item = self._backend.get_item(table, key)
        if item is None:
            return 0, [None] * len(self.indexes.get(table, []))
        attrs = item.attrs
        entries = []
        for keys, projected in self.indexes.get(table, []):
            if not all(k in attrs for k in keys):
                entries.append(None)
                continue
            names = list(key) + list(keys) + (list(projected) if projected is not None else [k for k in attrs if k not in key and k not in keys])
            entry = {n: attrs[n] for n in dict.fromkeys(names) if n in attrs}
            entries.append((tuple(json.dumps(attrs[k].to_regular_json(), sort_keys=True) for k in keys),
                            json.dumps({n: v.to_regular_json() for n, v in entry.items()}, sort_keys=True), item_size(entry)))
        return item_size(attrs), entries

    def _units(self, op: str, params: dict[str, Any], parsed: dict[str, Any], snapshot: list[Any], error: str | None) -> None:
        if op in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"):
            if op == "GetItem":
                self.reads += 1
                size = item_size(parsed.get("Item") or {})
                self.rru += _kb(size, 4096) * (1.0 if params.get("ConsistentRead") else 0.5)
            elif op in ("Query", "Scan"):
                self.reads += 1
                size = sum(item_size(i) for i in parsed.get("Items", []))
                self.rru += _kb(size, 4096) * (1.0 if params.get("ConsistentRead") else 0.5)
            else:
                items = params.get("TransactItems") or [k for t in params.get("RequestItems", {}).values() for k in t["Keys"]]
                self.reads += len(items)
                self.rru += 2 * len(items) if op == "TransactGetItems" else len(items)  # small items: one unit each
            return
        if not snapshot:
            return
        factor = 2 if op == "TransactWriteItems" else 1
        for table, key, (before, before_idx) in snapshot:
            self.writes += 1
            after, after_idx = self._state(table, key)
            if error:  # a failed condition is billed on the existing item
                self.wru += factor * _kb(before)
                continue
            self.wru += factor * _kb(max(before, after))
            for b, a in zip(before_idx, after_idx, strict=True):
                if b is None and a is None:
                    continue
                if b is None:
                    self.gsi_wru += _kb(a[2])
                elif a is None:
                    self.gsi_wru += _kb(b[2])
                elif a[0] != b[0]:  # the index key moved: delete the old entry, put the new one
                    self.gsi_wru += _kb(b[2]) + _kb(a[2])
                elif a[1] != b[1]:
                    self.gsi_wru += _kb(a[2])


_FASTER = False


def faster_moto() -> None:
    """Speed up moto's DynamoDB emulation without changing any result for a valid request, so the
    bench fits its time budget (the counts do not depend on these; timings inside calls are moto's anyway):
    - an UpdateExpression string is parsed once for moto's own checks, and a validator gets a fresh
      parse instead of a deep copy of the tree (cheaper, the same tree);
    - checks that only reject invalid requests are skipped (one SET/ADD/REMOVE clause, overlapping
      paths, key attributes, type mismatches, empty key values: `--exact-moto` keeps them, and a
      run with them gives the identical tables), and each traverser's processing map is built once;
    - a response class's method names are listed once, not on every request;
    - a GetItem/PutItem/UpdateItem result is sent as its JSON (what the protocol's serializer
      produces from it, checked against it for the first 50 responses of each operation);
    - a transaction backs up the items it touches instead of deep-copying every table it names
      (which grows with the table: tens of ms per merge by the end of the run)."""
    global _FASTER  # noqa: PLW0603
    if _FASTER:
        return
    _FASTER = True
    from functools import lru_cache

    from moto.dynamodb import models
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from moto.core import responses as core_responses

    core_responses.method_names_from_class = lru_cache(maxsize=None)(core_responses.method_names_from_class)  # per request, per class
    parse = UpdateExpressionParser.make.__func__

    @lru_cache(maxsize=8192)
    def make(cls: Any, text: str) -> Any:
        tree = parse(cls, text)
        tree.bench_text = text  # a cached tree is only ever read: validators work on copies
        return tree

    UpdateExpressionParser.make = classmethod(make)
    real_deepcopy = validators.deepcopy
    # a validator works on its own copy of the tree: parsing the text again is cheaper than deep-copying
    validators.deepcopy = lambda x, memo=None: (parse(UpdateExpressionParser, x.bench_text) if hasattr(x, "bench_text")
                                                else real_deepcopy(x, memo))

    checks_only = (validators.ActionCountValidator, validators.OverlappingPathsValidator, validators.UpdateHashRangeKeyValidator,
                   validators.TypeMismatchValidator, validators.EmptyStringKeyValueValidator)
    processors = validators.UpdateExpressionValidator.get_ast_processors
    validators.UpdateExpressionValidator.get_ast_processors = (
        lambda self: [p for p in processors(self) if not isinstance(p, checks_only)])

    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    def processing_map(self: Any) -> dict[Any, Any]:  # built once per traverser, not once per node
        cached = self.__dict__.get("_bench_map")
        if cached is None:
            cached = self.__dict__["_bench_map"] = type(self)._processing_map(self)
        return cached

    DepthFirstTraverser.nodes_to_be_processed = lambda self: tuple(processing_map(self))
    DepthFirstTraverser.process = lambda self, node: next(f(node) for cls, f in processing_map(self).items() if isinstance(node, cls))

    from moto.dynamodb.responses import DynamoResult

    serialize = DynamoResult.execute_result
    checked: Counter[str] = Counter()
    headers_of: dict[str, dict[str, str]] = {}

    def execute_result(self: Any, context: Any) -> Any:
        """DynamoDB's JSON protocol: a plain result dict is its own response body. Checked against
        moto's serializer for the first responses of each operation."""
        op = context.operation_model.name
        if op not in ("GetItem", "PutItem", "UpdateItem") or not isinstance(self.result, dict):
            return serialize(self, context)
        try:
            body = json.dumps(self.result)
        except TypeError:  # binary values: base64 is the serializer's job
            return serialize(self, context)
        if checked[op] < 50:
            checked[op] += 1
            status, headers, expected = serialize(self, context)
            if status != 200 or json.loads(expected) != json.loads(body):
                raise AssertionError(f"fast {op} response differs from moto's")
            headers_of[op] = dict(headers)
            return status, headers, body
        return 200, dict(headers_of[op]), body

    DynamoResult.execute_result = execute_result

    original = models.DynamoDBBackend.transact_write_items
    real_copy = models.copy

    class _Copy:  # moto's module-level `copy`, minus deep copies of whole tables
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, models.Table) else real_copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            (_, op), = entry.items()
            table = self.get_table(op["TableName"])
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            hash_key, range_key = self.get_keys_value(table, key)
            saved.append((table, hash_key, range_key, real_copy.deepcopy(table.get_item(hash_key, range_key))))
        models.copy = _Copy
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):  # roll back what the transaction touched
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items.setdefault(hash_key, {})[range_key] = item
            raise
        finally:
            models.copy = real_copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


# -- the naive worker ---------------------------------------------------------------------


def dump_state(st: LeadState) -> str:
    return json.dumps({
        "acc": [[r, e, u] for (r, e), u in st.acc.items()], "occ": {k: sorted(v) for k, v in st.occurrences.items()},
        "facts": {k: [f.at, f.event_id, f.value] for k, f in st.facts.items()}, "flags": st.flags, "email": st.email,
        "email_seen": list(st.email_seen), "first": st.first_seen, "last": st.last_seen, "n": st.event_count,
        "recent": [[a, b, c, list(d)] for a, b, c, d in st.recent], "stage": st.stage, "stage_at": st.stage_changed_at,
        "tr": st.transitions, "pinned": st.pinned, "recycled": st.recycled,
    }, separators=(",", ":"))


def load_state(blob: str | None) -> LeadState:
    st = LeadState()
    if not blob:
        return st
    d = json.loads(blob)
    st.acc = {(r, e): u for r, e, u in d["acc"]}
    st.occurrences = {k: set(v) for k, v in d["occ"].items()}
    st.facts = {k: Fact(at, eid, v) for k, (at, eid, v) in d["facts"].items()}
    st.flags = d["flags"]
    st.email, st.email_seen = d["email"], tuple(d["email_seen"])
    st.first_seen, st.last_seen, st.event_count = d["first"], d["last"], d["n"]
    st.recent = [(a, b, c, tuple(r)) for a, b, c, r in d["recent"]]
    st.stage, st.stage_changed_at, st.transitions, st.pinned, st.recycled = d["stage"], d["stage_at"], d["tr"], d["pinned"], d["recycled"]
    return st


def merge_states(into: LeadState, other: LeadState) -> None:
    """An anonymous visitor's history joins its lead: sums, unions, earliest flags, newest facts."""
    for k, u in other.acc.items():
        into.acc[k] = into.acc.get(k, 0) + u
    for k, times in other.occurrences.items():
        into.occurrences.setdefault(k, set()).update(times)
    for k, t in other.flags.items():
        if k not in into.flags or t < into.flags[k]:
            into.flags[k] = t
    for k, f in other.facts.items():
        old = into.facts.get(k)
        if old is None or (f.at, f.event_id) > (old.at, old.event_id):
            into.facts[k] = f
    if other.email and (into.email is None or other.email_seen > into.email_seen):
        into.email, into.email_seen = other.email, other.email_seen
    into.first_seen = min(x for x in (into.first_seen, other.first_seen) if x is not None) if (into.first_seen or other.first_seen) else None
    into.last_seen = max(x for x in (into.last_seen, other.last_seen) if x is not None) if (into.last_seen or other.last_seen) else None
    into.event_count += other.event_count
    into.recent = sorted(into.recent + other.recent, reverse=True)[:20]


def naive_handler(engine: Engine, ddb: Any, events: Any, table: str, idempotency_table: str, bus: str, clock: list[float]):
    """The obvious worker: per event, powertools idempotency, read the lead, apply, write it back, publish."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=ddb)
    config = IdempotencyConfig(event_key_jmespath="event_id", raise_on_no_idempotency_key=True)

    def get(key: str) -> dict[str, Any] | None:
        item = ddb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return deserialize(item) if item else None

    @idempotent_function(data_keyword_argument="event", config=config, persistence_store=persistence)
    def apply_event(event: dict[str, Any]) -> dict[str, Any]:
        ev = Event.model_validate(event)
        now = clock[0]
        keys = keys_of(ev, LOCAL_KEY_SECRET)
        key = keys[0]
        item = get(key)
        if item and item.get("merged_into"):  # a known visitor's device: follow the pointer
            key = str(item["merged_into"])
            item = get(key)
        version = int(item["v"]) if item else 0
        state = load_state(item["state"] if item else None)
        for alias in keys[1:]:
            if alias == key:
                continue
            other = get(alias)
            if other and other.get("merged_into"):
                continue  # first merge wins
            if other:
                merge_states(state, load_state(other.get("state")))
            ddb.put_item(TableName=table, Item={"pk": {"S": alias}, "merged_into": {"S": key}})
        engine.apply(state, ev)
        before = (state.stage, state.stage_changed_at, state.transitions, state.recycled)
        score, tr = engine.advance(state, now)
        if tr is not None and tr.to_stage in ("mql", "sql") and not state.email:
            # as the worker does: nobody to contact yet, it qualifies once identified
            state.stage, state.stage_changed_at, state.transitions, state.recycled = before
            tr = None
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "state": {"S": dump_state(state)}, "v": {"N": str(version + 1)}},
                     ConditionExpression="attribute_not_exists(pk) OR v = :v", ExpressionAttributeValues={":v": {"N": str(version)}})
        if tr is not None:
            detail = transition_detail(key, state, score, tr)
            events.put_events(Entries=[{"Source": "leadscore", "DetailType": "LeadStageChanged", "Detail": json.dumps(detail), "EventBusName": bus}])
        return {"lead": key}

    def record_handler(record: Any) -> None:
        apply_event(event=json.loads(record.body))

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        config.register_lambda_context(context)
        processor = BatchProcessor(event_type=EventType.SQS)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

    return handler


# -- running ----------------------------------------------------------------------------------


class _Sink:
    """Where the handlers' logs and EMF metrics go: counted, not printed."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, s: str) -> int:
        self.bytes += len(s.encode())
        return len(s)

    def flush(self) -> None:
        pass


def deliver(handler: Any, batches: list[list[Delivery]], meter: Meter, clock: list[float], before_batch: Any = None,
            after_batch: Any = None) -> dict[str, Any]:
    sink = _Sink()
    wall = 0.0
    failures = 0
    ctx = LambdaContext("score", memory_mb=512, timeout_s=30)
    with contextlib.redirect_stdout(sink):  # type: ignore[type-var]
        for b, batch in enumerate(batches):
            records = [sqs_record(f"m-{b}-{i}", d.body, QUEUE_ARN) for i, d in enumerate(batch)]
            event = sqs_event(records)
            clock[0] = max(d.received for d in batch) + 1.0  # the batch is delivered about a second after its last message
            if before_batch:
                before_batch()
            meter.merged_in_batch = False
            meter.active = True
            t0 = time.perf_counter()
            response = handler(event, ctx)
            took = time.perf_counter() - t0
            wall += took
            meter.active = False
            failures += len(response.get("batchItemFailures", []))
            if after_batch:
                after_batch(took)
    return {"wall_s": wall, "failures": failures, "log_bytes": sink.bytes}


class Publisher:
    """The stream publisher (functions/publish) on the leads table's stream, as the template's
    event source mapping runs it: its filter, its batch size and its batching window, on a
    modelled clock. PutEvents calls per transition depend on how many transitions one window
    collects, so on the event rate: the stream's batches arrive at `rate` events per second
    (default: a backlog drained by 4 containers at about 40 ms per batch of 10), and the stream
    is read once per window. The figure at other rates is computed from the same stream
    (`by_rate`: one invocation per window with transitions, up to BatchSize records each, a
    PutEvents call per 10). Reading the stream is Lambda's (not billed, not counted); the
    publisher's own calls are counted."""

    def __init__(self, aws: Any, template: dict[str, Any], batch_size: int, rate: float, meter: Meter):
        self.source = next(s for s in stream_sources(template) if s.function == "PublishFunction")
        self.app = load_module(self.source.code_uri)
        self.app.init()  # warm
        self.meter, self.batch_size, self.rate = meter, batch_size, rate
        self.window_s = self.source.window_s or 1.0
        self.batches = 0
        self.next_read = self.window_s
        self.wall_s = self.call_s = 0.0
        self.per_batch: list[int] = []  # transitions recorded by each worker batch (filtered stream records)
        self.pump = StreamPump(aws.ddb, streams_client(), aws.tables[self.source.table], self.source, self._invoke,
                               LambdaContext("publish", memory_mb=256, timeout_s=30))
        self._seen = 0

    def _invoke(self, event: dict[str, Any], context: Any) -> Any:
        calls0 = self.meter.call_s
        self.meter.active = True
        t0 = time.perf_counter()
        try:
            return self.app.lambda_handler(event, context)
        finally:
            self.wall_s += time.perf_counter() - t0
            self.meter.active = False
            self.call_s += self.meter.call_s - calls0

    def after_batch(self, took_s: float) -> None:
        self.batches += 1
        self.pump.read()
        pending = self.pump.pending  # what this batch added to the stream, filtered
        self.per_batch.append(pending - self._seen)
        self._seen = pending
        clock = self.batches * self.batch_size / self.rate
        if clock >= self.next_read:
            self.drain()
            self.next_read = clock + self.window_s

    def drain(self) -> None:
        if self.pump.pump():
            raise SystemExit("the stream publisher reported a failure on moto")
        self._seen = 0

    def calls_per_transition_at(self, rate: float) -> float | None:
        """PutEvents calls per transition if the same batches arrived at `rate` events per second."""
        per_window: Counter[int] = Counter()
        for b, n in enumerate(self.per_batch):
            per_window[int((b + 1) * self.batch_size / rate / self.window_s)] += n
        calls = 0
        for k in per_window.values():
            while k > 0:
                take = min(k, self.source.batch_size)
                calls += math.ceil(take / 10)
                k -= take
        total = sum(self.per_batch)
        return round(calls / total, 4) if total else None

    def figures(self, n_events: int, transitions: int) -> dict[str, Any]:
        n = self.pump.invocations or 1
        eb_calls = sum(v for k, v in self.meter.calls.items() if ".PutEvents" in k)
        return {
            "rate_events_per_s": self.rate,
            "window_s": self.window_s,
            "invocations": self.pump.invocations,
            "invocations_per_event": round(self.pump.invocations / n_events, 6),
            "transitions_per_invocation": round(transitions / n, 3),
            "put_events_calls_per_invocation": round(eb_calls / n, 3),
            "ms_per_invocation": round(self.wall_s * 1000 / n, 3),
            "compute_ms_per_invocation": round((self.wall_s - self.call_s) * 1000 / n, 3),
            "stream_records_read": self.pump.records_read,
            "eb_calls_per_transition_by_rate": {str(r): self.calls_per_transition_at(r) for r in (1, 10, 100, 1000, 10000)},
        }


def scores(ddb: Any, table: str, engine: Engine, at: float, naive: bool) -> dict[str, tuple]:
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            item = deserialize(raw)
            if item.get("merged_into"):
                continue
            st = load_state(item.get("state")) if naive else state_of(item)
            s = engine.evaluate(st, at)
            out[str(item["pk"])] = (s.fit_cents, s.engagement_cents, s.reasons, s.disqualified_by)
    return out


def item_stats(ddb: Any, table: str, retention_days: int = 400) -> dict[str, Any]:
    """Sizes of the lead items at the end (pointers left out): mean, max, mean bytes by attribute
    family, and dedupe buckets (s.<day>) older than the window the worker's last write removes."""
    sizes: list[int] = []
    parts: Counter[str] = Counter()
    stale = stale_bytes = 0
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if "merged_into" in item:
                continue
            sizes.append(item_size(item))
            for name, value in item.items():
                family = name.split(".", 1)[0] + "." if "." in name else name
                parts[family] += len(name.encode()) + _size_any(value)
            if "expires_at" in item:
                week = (int(item["expires_at"]["N"]) - retention_days * 86400) // (7 * 86400)  # the last apply's week
                for name, value in item.items():
                    if name.startswith("s.") and int(name[2:]) < week - 1:  # older than the two weeks checked
                        stale += 1
                        stale_bytes += len(name.encode()) + _size_any(value)
    n = len(sizes) or 1
    return {"mean": round(sum(sizes) / n, 1), "max": max(sizes, default=0),
            "by_part": {k: round(v / n, 1) for k, v in parts.most_common(8)},
            "stale_dedupe_buckets": stale, "stale_dedupe_bytes": stale_bytes}


def figures(meter: Meter, run: dict[str, Any], n_events: int, n_batches: int, transitions: int, items: dict[str, Any]) -> dict[str, Any]:
    calls = dict(sorted(meter.calls.items()))
    eb_calls = sum(n for k, n in calls.items() if ".PutEvents" in k)
    ddb_calls = {k: n for k, n in calls.items() if k.startswith("dynamodb.")}
    return {
        "events": n_events,
        "ddb_writes_per_event": round(meter.writes / n_events, 4),
        "ddb_reads_per_event": round(meter.reads / n_events, 4),
        "ddb_reads_per_event_outside_merges": round(
            sum(n for k, n in calls.items() if k.startswith("dynamodb.") and "[read-after-merge]" not in k
                and any(op in k for op in (".GetItem", ".Query", ".BatchGetItem", ".Scan"))) / n_events, 4),
        "eb_calls_per_transition": round(eb_calls / transitions, 4) if transitions else None,
        "transitions": transitions,
        "ddb_write_wru_per_event": round(meter.wru / n_events, 4),
        "lambda_ms_per_batch": round(run["wall_s"] * 1000 / n_batches, 3),
        "gsi_wru_per_event": round(meter.gsi_wru / n_events, 4),
        "ddb_read_rru_per_event": round(meter.rru / n_events, 4),
        "eb_entries_per_event": round(meter.eb_entries / n_events, 5),
        "eb_calls_per_event": round(eb_calls / n_events, 5),
        "aws_call_ms_per_batch": round(meter.call_s * 1000 / n_batches, 3),
        "compute_ms_per_batch": round((run["wall_s"] - meter.call_s) * 1000 / n_batches, 3),
        "ddb_calls_per_batch": round(sum(n for k, n in ddb_calls.items() if "TransactWriteItems" not in k) / n_batches, 4),
        "ddb_transactions_per_batch": round(sum(n for k, n in ddb_calls.items() if "TransactWriteItems" in k) / n_batches, 4),
        "eb_calls_per_batch": round(eb_calls / n_batches, 4),
        "log_bytes_per_batch": round(run["log_bytes"] / n_batches, 1),
        "lead_item_bytes_mean": items["mean"],
        "lead_item_bytes_max": items["max"],
        "lead_item_bytes_by_part": items["by_part"],
        "stale_dedupe_buckets": items["stale_dedupe_buckets"],
        "wru_by_call": {k: round(v, 1) for k, v in sorted(meter.wru_by.items())},
        "failed_applies_redirected": meter.redirects,
        "batch_item_failures": run["failures"],
        "calls": calls,
        "failed_calls": dict(sorted(meter.failed.items())),
    }


@contextlib.contextmanager
def stack(template: dict[str, Any]):
    """Tables and bus from the template on moto, a Meter hooked into boto3's default session and
    the handlers' botocore session before any client exists (a client copies its session's handlers
    when created)."""
    settings.reset()
    with mock_aws():
        # boto3.client() uses boto3's default session (the naive worker's clients); our handlers'
        # clients come from leadscore.aws_clients' botocore session: hook both
        sessions = [boto3._get_default_session()._session, botocore_session()]  # botocore sessions  # noqa: SLF001
        setup_ddb, setup_events = boto3.client("dynamodb"), boto3.client("events")
        tables, buses = create_tables(setup_ddb, template), create_buses(setup_events, template)
        meter = Meter(template, tables)
        for session in sessions:
            session.register("provide-client-params", meter.before)
            session.register("after-call", meter.after)
        yield SimpleNamespace(ddb=setup_ddb, tables=tables, buses=buses, meter=meter)
        for session in sessions:
            session.unregister("provide-client-params", meter.before)
            session.unregister("after-call", meter.after)
    settings.reset()


def run_ours(batches: list[list[Delivery]], n_events: int, containers: int, seed: int,
             rate: float = 1000.0) -> tuple[dict[str, Any], dict[str, tuple]]:
    """The real handler, batches spread over warm containers; (figures, scores)."""
    template = load_template()
    clock = [0.0]
    with stack(template) as aws:
        os.environ["LEADS_TABLE"], os.environ["BUS_NAME"] = aws.tables["LeadsTable"], aws.buses["LeadsBus"]
        settings.reset()  # read again, with this run's table and bus
        app = load_module(ROOT / "functions" / "score")
        # warm containers, each its own worker, built (init) before counting starts; their clock: when
        # the batch is delivered
        warm = [dependencies.Dependencies(settings.settings(), clock=lambda: clock[0]) for _ in range(containers)]
        for container in warm:
            container.worker  # noqa: B018 (built now)
        dependencies.use(warm[0])
        pick = random.Random(seed + 1)

        def choose() -> None:
            dependencies.use(warm[pick.randrange(len(warm))])

        publisher = Publisher(aws, template, len(batches[0]), rate, aws.meter)
        sink = _Sink()
        app.logger.registered_handler.setStream(sink)
        publisher.app.logger.registered_handler.setStream(sink)
        try:
            result = deliver(app.lambda_handler, batches, aws.meter, clock, choose, publisher.after_batch)
            with contextlib.redirect_stdout(sink):  # type: ignore[type-var]
                publisher.drain()  # what is left when the last window closes
        finally:
            dependencies.use(None)
        result["log_bytes"] += sink.bytes
        if not aws.meter.calls:
            raise SystemExit("no AWS call of the worker was counted: the hook missed its clients")
        table = aws.tables["LeadsTable"]
        transitions = aws.meter.eb_entries
        out = figures(aws.meter, result, n_events, len(batches), transitions, item_stats(aws.ddb, table))
        # the worker calls no EventBridge now: its batches' PutEvents are the publisher's
        out["eb_calls_per_batch"] = 0.0
        out["publisher"] = publisher.figures(n_events, transitions)
        return out, scores(aws.ddb, table, Engine(load_model()), END.timestamp() + 86400, naive=False)


def run_naive(batches: list[list[Delivery]], n_events: int) -> tuple[dict[str, Any], dict[str, tuple]]:
    """The naive worker on its own tables; (figures, scores)."""
    template = load_template()
    clock = [0.0]
    with stack(template) as aws:
        for name, key in (("naive-leads", "pk"), ("naive-idempotency", "id")):
            aws.ddb.create_table(TableName=name, AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                                 KeySchema=[{"AttributeName": key, "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        ddb, events = boto3.client("dynamodb"), boto3.client("events")
        handler = naive_handler(Engine(load_model()), ddb, events, "naive-leads", "naive-idempotency", aws.buses["LeadsBus"], clock)
        result = deliver(handler, batches, aws.meter, clock)
        return (figures(aws.meter, result, n_events, len(batches), aws.meter.eb_entries, item_stats(aws.ddb, "naive-leads")),
                scores(aws.ddb, "naive-leads", Engine(load_model()), END.timestamp() + 86400, naive=True))


def _child(conn: Any, batches: list[list[Delivery]], n_events: int) -> None:
    try:
        conn.send(("ok", run_naive(batches, n_events)))
    except BaseException as exc:  # noqa: BLE001 (reported by the parent)
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def run(n_events: int = 10_000, batch_size: int = 10, span_days: float = 30.0, containers: int = 4, seed: int = 2026,
        log: Any = None, exact_moto: bool = False, parallel: bool = True, rate: float = 1000.0) -> dict[str, Any]:
    log = log or (lambda *a: None)
    t_start = time.perf_counter()
    if not exact_moto:
        faster_moto()
    deliveries, n_leads = stream(n_events, span_days, seed)
    batches = [deliveries[i : i + batch_size] for i in range(0, len(deliveries), batch_size)]
    unique = len({d.event.event_id for d in deliveries})
    per_batch = sum(len({d.lead for d in b}) for b in batches) / len(batches)
    log(f"stream: {len(deliveries):,} deliveries ({unique:,} distinct events, {len(deliveries) - unique} sender retries) "
        f"of {n_leads} leads over {span_days:g} days; {len(batches)} batches of {batch_size}, {per_batch:.2f} leads per batch "
        f"({time.perf_counter() - t_start:.1f}s)")

    if parallel:  # the naive worker in a forked process (its own moto), ours here: one core each
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(send, batches, len(deliveries)), daemon=True)
        child.start()
        send.close()
    t0 = time.perf_counter()
    ours, ours_scores = run_ours(batches, len(deliveries), containers, seed, rate)
    log(f"ours:  {len(batches)} batches in {time.perf_counter() - t0:.1f}s")
    if parallel:
        status, payload = receive.recv()
        child.join()
        if status != "ok":
            raise SystemExit(f"naive worker failed: {payload}")
        naive, naive_scores = payload
    else:
        t0 = time.perf_counter()
        naive, naive_scores = run_naive(batches, len(deliveries))
    log(f"naive: done after {time.perf_counter() - t0:.1f}s")

    if ours_scores.keys() != naive_scores.keys():
        raise SystemExit(f"different leads: {len(ours_scores.keys() ^ naive_scores.keys())} keys differ")
    differ = [k for k in ours_scores if ours_scores[k] != naive_scores[k]]
    if differ:
        k = differ[0]
        raise SystemExit(f"{len(differ)} of {len(ours_scores)} leads score differently, e.g. {k}: {ours_scores[k][:2]} vs {naive_scores[k][:2]}")
    return {
        **ours,
        "naive": naive,
        "identical_scores": True,
        "leads_scored": len(ours_scores),
        "unique_events": unique,
        "sender_retries": len(deliveries) - unique,
        "leads": n_leads,
        "batches": len(batches),
        "batch_size": batch_size,
        "leads_per_batch": round(per_batch, 3),
        "span_days": span_days,
        "containers": containers,
        "targets": TARGETS,
        "seconds": round(time.perf_counter() - t_start, 1),
    }


def report(r: dict[str, Any]) -> None:
    def line(name: str, key: str, target: str = "", fmt: str = "{:.3f}") -> None:
        ours, naive = r[key], r["naive"][key]
        def show(v: Any) -> str:
            return "-" if v is None else fmt.format(v)

        print(f"  {name:34s} {show(ours):>10s} {show(naive):>10s}   {target}", file=sys.stderr)

    print(f"{r['events']:,} events ({r['sender_retries']} sender retries), {r['leads']} leads, {r['batches']} batches, "
          f"{r['leads_per_batch']:.2f} leads per batch, {r['containers']} containers; scores identical for {r['leads_scored']} leads",
          file=sys.stderr)
    print(f"  {'':34s} {'ours':>10s} {'naive':>10s}   target", file=sys.stderr)
    line("DynamoDB write requests / event", "ddb_writes_per_event", "<= 1.0")
    line("DynamoDB reads / event", "ddb_reads_per_event", "")
    line("  outside the merge path", "ddb_reads_per_event_outside_merges", "0 for known visitors")
    line("EventBridge calls / transition", "eb_calls_per_transition", "<= 0.2")
    line("transitions", "transitions", "", "{:d}")
    pub = r["publisher"]
    print(f"    (ours: the stream publisher, {pub['window_s']:g} s window at {pub['rate_events_per_s']:g} events/s: "
          f"{pub['invocations']} invocations, {pub['transitions_per_invocation']:.2f} transitions each; calls per "
          f"transition at other rates (events/s): {pub['eb_calls_per_transition_by_rate']})", file=sys.stderr)
    line("table WRU / event", "ddb_write_wru_per_event")
    line("GSI WRU / event", "gsi_wru_per_event")
    line("RRU / event", "ddb_read_rru_per_event")
    line("handler ms / batch (on moto)", "lambda_ms_per_batch", "", "{:.2f}")
    line("  of which inside AWS calls", "aws_call_ms_per_batch", "", "{:.2f}")
    line("  our compute", "compute_ms_per_batch", "", "{:.2f}")
    line("lead item bytes (mean)", "lead_item_bytes_mean", "", "{:.0f}")
    line("lead item bytes (max)", "lead_item_bytes_max", "", "{:d}")
    line("log bytes / batch", "log_bytes_per_batch", "", "{:.0f}")
    print(f"  ours: lead item bytes by attribute family (mean) {r['lead_item_bytes_by_part']}; "
          f"{r['stale_dedupe_buckets']} dedupe buckets older than the removal window left in items; "
          f"{r['failed_applies_redirected']} failed applies were alias redirects", file=sys.stderr)
    for who, fig in (("ours", r), ("naive", r["naive"])):
        print(f"  {who} calls: " + ", ".join(f"{k} {v}" for k, v in fig["calls"].items()), file=sys.stderr)
        print(f"  {who} WRU (table + GSI) by call: " + ", ".join(f"{k} {v:g}" for k, v in fig["wru_by_call"].items()), file=sys.stderr)
        if fig["failed_calls"]:
            print(f"  {who} failed (billed) calls: " + ", ".join(f"{k} {v}" for k, v in fig["failed_calls"].items()), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10, help="SQS batch size (the template's BatchSize)")
    parser.add_argument("--span-days", type=float, default=30.0, help="days the stream spans (sets how many sessions overlap)")
    parser.add_argument("--containers", type=int, default=4, help="warm worker containers batches are spread over")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="events per second reaching the worker, for the stream publisher's batching window "
                             "(default: a backlog drained by 4 containers at about 40 ms per batch of 10)")
    parser.add_argument("--exact-moto", action="store_true", help="moto as installed, without the bench's speed-ups (slow)")
    parser.add_argument("--serial", action="store_true", help="run the naive worker after ours, in this process")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    result = run(args.events, args.batch, args.span_days, args.containers, args.seed, log, args.exact_moto, not args.serial, args.rate)
    if not args.json:
        report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
