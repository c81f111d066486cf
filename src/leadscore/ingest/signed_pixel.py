"""Signed email pixel URLs: a hit that names a known lead (`lid`) counts only with our signature.

    <API_URL>/t.gif?lid=<lead key>&e=<event>&cid=<campaign>[&exp=<unix seconds>]&sig=<hex>

`sig` is HMAC-SHA256, hex, over `v1\\n<exp>\\n<e>\\n<lid>\\n<cid>` (`exp` and `cid` empty when
absent; only `cid` may hold a newline, and it comes last, so the message splits one way), keyed
by the *pixel key*: HMAC-SHA256 of the fixed label `leadscore pixel v1` keyed by
`LEAD_KEY_SECRET`. Derived, so a URL says nothing about the secret and the pixel needs no new
secret; from `LEAD_KEY_SECRET` because that one is never rotated, so a URL in an email sent a
year ago still counts (give it `exp` to make it stop). Without a valid `sig` (or past `exp`) a
`lid` hit is dropped, counted, and answered with the GIF like any other.

Pure standard library: the pixel imports this on its first `lid` hit, not at cold start.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import urlencode

LABEL = b"leadscore pixel v1"
_EXP = re.compile(r"[0-9]{1,12}")
_SIG = re.compile(r"[0-9a-f]{64}")


def pixel_key(lead_key_secret: str) -> bytes:
    """The key pixel URLs are signed with, derived from `LEAD_KEY_SECRET`."""
    return hmac.new(lead_key_secret.encode("utf-8"), LABEL, hashlib.sha256).digest()


def hit_signature(key: bytes, lid: str, event: str, campaign: str | None = None, expires: int | None = None) -> str:
    message = "\n".join(["v1", "" if expires is None else str(expires), event, lid, campaign or ""])
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def pixel_url(api_url: str, key: bytes, lid: str, event: str = "email_opened", campaign: str | None = None,
              expires: int | None = None) -> str:
    """A signed pixel URL for `lid` (one `<img src>` in an email)."""
    query = {"lid": lid, "e": event}
    if campaign:
        query["cid"] = campaign
    if expires is not None:
        query["exp"] = str(expires)
    query["sig"] = hit_signature(key, lid, event, campaign, expires)
    return f"{api_url.rstrip('/')}/t.gif?{urlencode(query)}"


def valid_hit(lid: str, event: str, campaign: str | None, exp: str | None, sig: str | None, key: bytes, *,
              now: float) -> bool:
    """Whether `sig` (and `exp`, as the query gives them: maybe absent or garbage) sign this hit
    and it has not expired. Never raises on bad input."""
    if not sig or not _SIG.fullmatch(sig) or (exp is not None and not _EXP.fullmatch(exp)):
        return False
    expires = None if exp is None else int(exp)
    # compared even when expired, so an expired URL and a forged one take the same time
    signed = hmac.compare_digest(hit_signature(key, lid, event, campaign, expires), sig)
    return signed and (expires is None or now < expires)
