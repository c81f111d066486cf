"""Webhook signatures, both directions: the HMAC-SHA256 shapes senders use to sign what
they post to `/hooks/{source}` (checked in constant time), and the one leadscore signs
its own CRM webhook with (docs/signatures.md).

Inbound, two shapes:

- a bare digest of the raw body, base64-encoded (Typeform with a `sha256=`
  prefix, Tally without one);
- a timestamped header `t=<unix seconds>,v1=<hex>[,v1=<hex>...]` over
  `"{t}.{raw body}"` (Stripe, Calendly and our own generic scheme), where any
  one `v1` may match (secret rotation) and other schemes (`v0`) are ignored.

Every failure raises `Unauthorized` with a reason for metrics and tests; the
sender is told nothing more than 401.

Outbound: `sign_timestamped` makes the `t=…,v1=…` header of the generic scheme, so
a receiver checks our CRM webhook exactly as we check a generic sender.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from .edge import Unauthorized

#: Signed timestamps older than this are rejected (Stripe's default tolerance).
TOLERANCE_S = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)


def hmac_sha256(secret: str, message: bytes) -> bytes:
    """HMAC-SHA256 keyed with the secret's UTF-8 bytes, exactly as configured
    (a Stripe `whsec_…` secret is used whole, prefix included)."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _same(expected: bytes, received: str) -> bool:
    # compare bytes: hmac.compare_digest raises TypeError on non-ASCII str input
    return hmac.compare_digest(expected, received.encode("utf-8", "replace"))


def _require_secret(secret: str) -> None:
    if not secret:
        # an empty key would let anyone sign; refuse rather than accept everything
        raise Unauthorized("no signing secret configured")


def verify_base64(body: bytes, header: str | None, secret: str, *, prefix: str = "") -> None:
    """`header` must be `prefix` + base64(HMAC-SHA256(secret, body))."""
    _require_secret(secret)
    if not header:
        raise Unauthorized("missing signature header")
    header = header.strip()
    if not header.startswith(prefix):
        raise Unauthorized("malformed signature header")
    expected = base64.b64encode(hmac_sha256(secret, body))
    if not _same(expected, header[len(prefix):]):
        raise Unauthorized("signature mismatch")


@dataclass(frozen=True)
class TimestampedSignature:
    """A parsed `t=…,v1=…` header."""

    timestamp: int
    v1: tuple[str, ...]


def parse_timestamped(header: str | None) -> TimestampedSignature:
    """Read `t` and every `v1` from a `t=<unix>,v1=<hex>[,v1=<hex>][,v0=…]` header."""
    if not header:
        raise Unauthorized("missing signature header")
    timestamp: int | None = None
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not _UNIX_SECONDS.fullmatch(value):
                raise Unauthorized("malformed signature timestamp")
            timestamp = int(value)
        elif key == "v1" and value:
            v1.append(value)
    if timestamp is None or not v1:
        raise Unauthorized("malformed signature header")
    return TimestampedSignature(timestamp, tuple(v1))


def verify_timestamped(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    now: datetime,
    tolerance_s: int = TOLERANCE_S,
    reject_future: bool = False,
) -> TimestampedSignature:
    """Any `v1` must be hex(HMAC-SHA256(secret, "{t}.{body}")), and `t` no older than
    `tolerance_s` before `now` (and, with `reject_future`, no later than `tolerance_s`
    after it). Returns the parsed header."""
    _require_secret(secret)
    signature = parse_timestamped(header)
    age = now.timestamp() - signature.timestamp
    if age > tolerance_s or (reject_future and -age > tolerance_s):
        raise Unauthorized("stale signature timestamp")
    signed = str(signature.timestamp).encode("ascii") + b"." + body
    expected = hmac_sha256(secret, signed).hex().encode("ascii")
    # check every candidate so the time taken does not say which one matched
    matches = [_same(expected, candidate.lower()) for candidate in signature.v1]
    if not any(matches):
        raise Unauthorized("signature mismatch")
    return signature


def sign_timestamped(body: bytes, secret: str, timestamp: int) -> str:
    """The header value `t=<unix>,v1=<hex>` that `verify_timestamped` accepts: how
    leadscore signs what it sends (the CRM webhook) in its generic scheme."""
    _require_secret(secret)
    signed = str(timestamp).encode("ascii") + b"." + body
    return f"t={timestamp},v1={hmac_sha256(secret, signed).hex()}"
