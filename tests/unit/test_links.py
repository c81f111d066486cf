"""The alert's "View lead" link: the CRM's page, or the signed lead page, as docs/notifications.md describes it.

Signatures are checked against the scheme written out here (HMAC-SHA256 over
`v1.<exp>.<lead id>`, keyed by HMAC-SHA256(API_TOKEN, "leadscore lead page v1")),
not against the production signer."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest
from leadscore import links

TOKEN = "t0k3n-generated-by-the-stack"
API = "https://abc123.execute-api.eu-central-1.amazonaws.com"
LEAD = "e:66hk3f3xwp7syvrqdr6b34ivefi4jjw3"
NOW = 1_790_000_000.0
DAY = 86400


def documented_signature(token: str, lead_id: str, exp: int) -> str:
    key = hmac.new(token.encode(), b"leadscore lead page v1", hashlib.sha256).digest()
    return hmac.new(key, f"v1.{exp}.{lead_id}".encode(), hashlib.sha256).hexdigest()


def link(lead_id: str = LEAD, *, token: str = TOKEN, now: float = NOW) -> str:
    url = links.alert_link(lead_id, lead_url_base=None, api_url=API, api_token=token, now=now)
    assert url is not None
    return url


def opened(url: str, *, token: str = TOKEN, now: float = NOW) -> bool:
    """What the lead page decides about a link, given its path and query as a browser sends them."""
    parts = urlsplit(url)
    lead_id = parts.path.removeprefix("/leads/").removesuffix("/page")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return links.valid_page_link(lead_id, query.get("exp"), query.get("sig"), links.page_key(token), now=now)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


def test_without_a_crm_the_link_is_the_lead_page_on_this_api_signed_with_the_documented_scheme():
    url = link()

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == API
    assert parts.path == f"/leads/{LEAD}/page"
    exp = int(query["exp"][0])
    assert exp == NOW + 30 * DAY
    assert query["sig"] == [documented_signature(TOKEN, LEAD, exp)]


def test_with_a_crm_configured_the_link_is_the_leads_page_in_the_crm():
    url = links.alert_link(LEAD, lead_url_base="https://crm.relaywise.example/leads/", api_url=API, api_token=TOKEN, now=NOW)

    assert url == f"https://crm.relaywise.example/leads/{LEAD}"


def test_without_an_api_url_or_a_token_the_alert_has_no_link():
    assert links.alert_link(LEAD, lead_url_base="", api_url=None, api_token=TOKEN, now=NOW) is None
    assert links.alert_link(LEAD, lead_url_base=None, api_url=API, api_token=None, now=NOW) is None


def test_a_link_opens_its_lead_for_thirty_days_and_not_after():
    url = link()

    assert opened(url, now=NOW)
    assert opened(url, now=NOW + 30 * DAY - 1)
    assert not opened(url, now=NOW + 30 * DAY)


def test_a_link_with_another_lead_id_is_refused():
    url = link()

    assert not opened(url.replace(LEAD, "e:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))


def test_an_expired_link_with_a_later_expiry_written_in_is_refused():
    url = link(now=NOW - 40 * DAY)

    assert not opened(url)
    assert not opened(with_query(url, exp=str(int(NOW) + DAY)))


def test_a_link_signed_with_another_api_token_is_refused_so_rotating_the_token_revokes_links():
    url = link(token="the-old-token")

    assert not opened(url, token=TOKEN)


@pytest.mark.parametrize("exp, sig", [
    (None, None), ("", ""), ("soon", "0" * 64), ("1790000000", "xyz"), ("1790000000", "0" * 63),
    ("١٧٩٠٠٠٠٠٠٠", "0" * 64),  # digits, but not ASCII ones
    ("9" * 400, "0" * 64), ("1790000000", "A" * 64),
])
def test_a_malformed_expiry_or_signature_is_refused_not_raised(exp, sig):
    assert links.valid_page_link(LEAD, exp, sig, links.page_key(TOKEN), now=NOW) is False


def test_a_lead_id_that_is_not_url_safe_is_escaped_in_the_link_and_still_signed_as_itself():
    lead_id = "u:crm/42?x=1#y"

    url = link(lead_id)

    parts = urlsplit(url)
    assert parts.path == "/leads/u:crm%2F42%3Fx%3D1%23y/page"
    sig = parse_qs(parts.query)["sig"][0]
    assert sig == documented_signature(TOKEN, lead_id, int(NOW) + 30 * DAY)
