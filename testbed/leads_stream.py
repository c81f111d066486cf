"""A realistic stream of canonical events around leads drawn (fixed seed) from ../shared/data/leads_xeducation.csv.

Each lead's visits become sessions of page views (bursts within minutes, pricing and course
pages, time on site from the row), anonymous browsing with a visitor id before an `identify`
with email + visitor id, a form submission with traits from the row (country, occupation as
job_title, specialization as industry, city), email opens and clicks hinted by "Last Activity"
(a click starts a session), bounces, unsubscribes, chat, call bookings, demo requests and
purchases for converted leads, and a few sender retries (the same event_id delivered twice).
Events of all leads are interleaved in order of receipt, as the queue delivers them.

bench/aws_calls.py and bench/faults.py run it; the same seed gives the same stream.
"""

from __future__ import annotations

import csv
import random
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scoring_core import Event

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "leads_xeducation.csv"

END = datetime(2026, 11, 1, tzinfo=timezone.utc)  # the stream ends here; scores are compared a day later
SITE = "https://xeducation.example"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:leadscore-EventsQueue"  # the events queue the deliveries come from

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
