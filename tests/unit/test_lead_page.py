"""The lead page as HTML: what it shows, that nothing a lead typed becomes markup, and what a browser may do with it."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

from leadscore import lead_page

NOW = 1_790_000_000.0
VIEW = {
    "lead_id": "e:66hk3f3xwp7syvrqdr6b34ivefi4jjw3",
    "email": "priya.raman@harbor-analytics.example",
    "stage": "sql",
    "stage_changed_at": "2026-09-21T14:13:20Z",
    "fit": 37.0,
    "engagement": 45.51,
    "score": 82.51,
    "grade": "A1",
    "band": "hot",
    "reasons": [{"rule": "demo_request", "points": 25.0}, {"rule": "job_title.director", "points": 15.0},
                {"rule": "unsubscribed", "points": -5.0}],
    "disqualified_by": [],
    "facts": {"first_name": "Priya", "last_name": "Raman", "job_title": "VP Data", "company": "Harbor Analytics"},
    "recent": [{"type": "demo_requested", "at": "2026-09-21T14:03:20Z"}, {"type": "page_view", "at": "2026-09-20T14:13:20Z"}],
}
HOSTILE = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>'


class _Text(HTMLParser):
    """The text a browser shows and the elements it builds."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def shown(markup: str) -> tuple[str, list[str]]:
    parser = _Text()
    parser.feed(markup)
    return " ".join(" ".join(parser.text).split()), parser.tags


def test_the_page_shows_what_the_lead_reads_most_and_escapes_the_categories():
    view = {**VIEW, "interests": [{"category": "book_a_demo", "weight": 3.2, "share": 70},
                                  {"category": HOSTILE, "weight": 1.4, "share": 30}]}

    markup = lead_page.render(view, now=NOW, expires_at=int(NOW) + 86400)

    text, tags = shown(markup)
    assert "Reads most 70% book a demo 30%" in text
    assert "script" not in tags and "img" not in tags
    assert "Reads most" not in shown(lead_page.render({**VIEW, "interests": []}, now=NOW, expires_at=int(NOW) + 86400))[0]


def test_the_page_shows_who_the_score_and_why():
    text, _ = shown(lead_page.render(VIEW, now=NOW, expires_at=int(NOW) + 86400))

    for expected in ("Priya Raman", "VP Data at Harbor Analytics", "SQL", "Score 82.51", "Fit 37", "Engagement 45.51",
                     "Fit grade A1", "+25 demo request", "+15 job title director", "-5 unsubscribed",
                     "demo requested", "page view", "Recent activity"):
        assert expected in text, expected


def test_the_page_shows_the_owner_when_the_lead_has_one():
    owner = {"id": "ana", "name": "Ana <Ruiz>", "email": "ana@example.com", "team": "enterprise"}

    with_owner, _ = shown(lead_page.render({**VIEW, "owner": owner}, now=NOW, expires_at=int(NOW) + 86400))
    without, _ = shown(lead_page.render(VIEW, now=NOW, expires_at=int(NOW) + 86400))

    assert "Owner: Ana <Ruiz> (enterprise)" in with_owner
    assert "Owner" not in without


def test_the_page_does_not_show_the_email_address():
    markup = lead_page.render(VIEW, now=NOW, expires_at=int(NOW) + 86400)

    assert "priya.raman" not in markup


def test_what_a_lead_typed_is_shown_as_text_never_as_markup():
    view = {**VIEW, "facts": {"name": HOSTILE, "job_title": HOSTILE, "company": "Acme & <marquee>Sons</marquee>"},
            "recent": [{"type": HOSTILE, "at": "2026-09-21T14:03:20Z"}], "stage": '"><script>x</script>'}

    markup = lead_page.render(view, now=NOW, expires_at=int(NOW) + 86400)

    text, tags = shown(markup)
    assert "script" not in tags and "img" not in tags and "marquee" not in tags
    assert "<script>alert(1)</script>" in text and "Acme & <marquee>Sons</marquee>" in text


def test_the_pages_headers_forbid_caching_indexing_referrers_scripts_and_framing():
    headers = lead_page.HEADERS

    assert headers["Cache-Control"] == "no-store"
    assert "noindex" in headers["X-Robots-Tag"]
    assert headers["Referrer-Policy"] == "no-referrer"
    csp = dict(d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert "script-src" not in csp and "unsafe-inline" not in headers["Content-Security-Policy"]


def test_the_one_stylesheet_the_policy_allows_is_the_pages_own():
    markup = lead_page.render(VIEW, now=NOW, expires_at=int(NOW) + 86400)

    (style,) = re.findall(r"<style>(.*?)</style>", markup, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in lead_page.HEADERS["Content-Security-Policy"]
    assert " style=" not in markup  # inline style attributes would be blocked by the policy


def test_the_invalid_link_page_says_so_and_no_more():
    text, _ = shown(lead_page.invalid_link())

    assert "This link is invalid or has expired" in text
    assert "30 days" in text
