"""The "View lead" link of an alert, and the signature that lets a browser open the lead page.

With a CRM configured (`LEAD_URL_BASE`, parameter `LeadUrlBase`) the link is
`<LEAD_URL_BASE>/<lead id>`: the lead in the CRM. Without one it is this API's
lead page, which a salesperson opens from Slack or an email with no token:

    <API_URL>/leads/<lead id>/page?exp=<unix seconds>&sig=<hex>

`sig` is HMAC-SHA256 over `v1.<exp>.<lead id>` (`exp` is digits only, so the
message splits one way), keyed by the *page key*, HMAC-SHA256 of the fixed
label `leadscore lead page v1` keyed by `API_TOKEN`. A link is good for
`VALID_S` (30 days) from the alert. The key is derived rather than the token
itself so that a link, however widely forwarded, says nothing about the
token; and it is derived from the token (which the notifiers and the leads
function already read) so that rotating `API_TOKEN` revokes every link.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal
from urllib.parse import quote, urlencode

VALID_S = 30 * 86400
LABEL = b"leadscore lead page v1"
_EXP = re.compile(r"[0-9]{1,12}")
_SIG = re.compile(r"[0-9a-f]{64}")


def page_key(api_token: str) -> bytes:
    """The key lead-page links are signed with, derived from the API token."""
    return hmac.new(api_token.encode("utf-8"), LABEL, hashlib.sha256).digest()


def _signature(key: bytes, lead_id: str, expires: int) -> str:
    return hmac.new(key, f"v1.{expires}.{lead_id}".encode("utf-8"), hashlib.sha256).hexdigest()


def _path_id(lead_id: str) -> str:
    return quote(lead_id, safe=":")


def page_link(api_url: str, lead_id: str, key: bytes, *, now: float, valid_s: int = VALID_S) -> str:
    """A link to the lead page of `lead_id`, valid for `valid_s` from `now`."""
    expires = int(now) + valid_s
    query = urlencode({"exp": expires, "sig": _signature(key, lead_id, expires)})
    return f"{api_url.rstrip('/')}/leads/{_path_id(lead_id)}/page?{query}"


def valid_page_link(lead_id: str, exp: str | None, sig: str | None, key: bytes, *, now: float) -> bool:
    """Whether `exp` and `sig` (as a query string gives them, possibly absent or garbage) are a
    signature of ours for this lead that has not expired. Never raises on bad input."""
    if not exp or not sig or not _EXP.fullmatch(exp) or not _SIG.fullmatch(sig):
        return False
    expires = int(exp)
    # checked even when expired, so an expired link and a forged one take the same time
    signed = hmac.compare_digest(_signature(key, lead_id, expires), sig)
    return signed and now < expires


def alert_link(lead_id: str, *, lead_url_base: str | None, api_url: str | None, api_token: str | None,
               now: float) -> str | None:
    """The alert's "View lead" link: the CRM's page when one is configured, else the signed lead
    page; None when neither can be made (no API URL or no token to sign with)."""
    if lead_url_base:
        return f"{lead_url_base.rstrip('/')}/{_path_id(lead_id)}"
    if not api_url or not api_token:
        return None
    return page_link(api_url, lead_id, page_key(api_token), now=now)


# -- one-click answers in email alerts ----------------------------------------------------------
#
# An MQL email carries an Accept and a Reject link (`notify/mail.py`), answered by SalesFunction:
#
#     <API_URL>/sales/leads/<lead id>/<accept|reject>?exp=<unix seconds>&sig=<hex>
#
# `sig` is HMAC-SHA256 over `v1.<outcome>.<exp>.<lead id>` (`outcome` is `accepted` or
# `rejected`, `exp` digits only, so the message splits one way), keyed by the *answer key*,
# HMAC-SHA256 of `leadscore feedback link v1` keyed by `API_TOKEN`: another key than the
# lead page's, so a page link can never be turned into an answer. Good for `ANSWER_VALID_S`
# (14 days) from the alert: an MQL not answered in two weeks is answered in the CRM or the API.

ANSWER_VALID_S = 14 * 86400
ANSWER_LABEL = b"leadscore feedback link v1"
Answer = Literal["accepted", "rejected"]
#: the path word of each outcome an email link may give, and back
ANSWER_VERBS: dict[Answer, str] = {"accepted": "accept", "rejected": "reject"}
ANSWER_OUTCOMES: dict[str, Answer] = {verb: outcome for outcome, verb in ANSWER_VERBS.items()}


def answer_key(api_token: str) -> bytes:
    """The key the email alerts' Accept/Reject links are signed with, derived from the API token."""
    return hmac.new(api_token.encode("utf-8"), ANSWER_LABEL, hashlib.sha256).digest()


def _answer_signature(key: bytes, lead_id: str, outcome: str, expires: int) -> str:
    return hmac.new(key, f"v1.{outcome}.{expires}.{lead_id}".encode("utf-8"), hashlib.sha256).hexdigest()


def answer_path(lead_id: str, outcome: Answer) -> str:
    """`/sales/leads/<lead id>/<accept|reject>`: where an answer link points (and its form posts)."""
    return f"/sales/leads/{_path_id(lead_id)}/{ANSWER_VERBS[outcome]}"


def answer_link(api_url: str, lead_id: str, outcome: Answer, key: bytes, *, now: float,
                valid_s: int = ANSWER_VALID_S) -> str:
    """A link that answers the alert about `lead_id` with `outcome` (`accepted`, `rejected`)."""
    expires = int(now) + valid_s
    query = urlencode({"exp": expires, "sig": _answer_signature(key, lead_id, outcome, expires)})
    return f"{api_url.rstrip('/')}{answer_path(lead_id, outcome)}?{query}"


def valid_answer_link(lead_id: str, outcome: str, exp: str | None, sig: str | None, key: bytes, *,
                      now: float) -> bool:
    """Whether `exp` and `sig` sign this outcome for this lead and have not expired. Never raises."""
    if outcome not in ANSWER_OUTCOMES.values() or not exp or not sig or not _EXP.fullmatch(exp) or not _SIG.fullmatch(sig):
        return False
    expires = int(exp)
    signed = hmac.compare_digest(_answer_signature(key, lead_id, outcome, expires), sig)
    return signed and now < expires


def answer_links(lead_id: str, *, api_url: str | None, api_token: str | None, now: float) -> dict[str, str] | None:
    """The alert's `{"accepted": url, "rejected": url}`; None without an API URL or a token to sign with."""
    if not api_url or not api_token:
        return None
    key = answer_key(api_token)
    return {outcome: answer_link(api_url, lead_id, outcome, key, now=now) for outcome in ANSWER_VERBS}
