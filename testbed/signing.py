"""Sign webhook bodies the way each sender does: an independent signer for the tests and the fuzzing benchmark.

Serialize once, sign those exact bytes, send those same bytes: each function
takes the raw body and returns the headers the sender would add (header names
as the sender writes them; HTTP treats them case-insensitively).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

JSON = {"Content-Type": "application/json"}


def _digest(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _now(timestamp: int | None) -> int:
    return int(time.time()) if timestamp is None else timestamp


def _timestamped(body: bytes, timestamp: int, *signing_secrets: str) -> str:
    signed = f"{timestamp}.".encode("ascii") + body
    return ",".join([f"t={timestamp}"] + [f"v1={_digest(s, signed).hex()}" for s in signing_secrets])


def sign_generic(body: bytes, secret: str, *, timestamp: int | None = None,
                 rotating_from: str | None = None) -> dict[str, str]:
    """`X-Leadscore-Signature: t=<unix>,v1=<hex>`; with `rotating_from`, the old
    secret's `v1` comes first, as a sender signs while a secret rotates."""
    keys = ([rotating_from] if rotating_from else []) + [secret]
    return {**JSON, "X-Leadscore-Signature": _timestamped(body, _now(timestamp), *keys)}


def sign_typeform(body: bytes, secret: str) -> dict[str, str]:
    """`Typeform-Signature: sha256=<base64 HMAC-SHA256(body)>`."""
    return {**JSON, "Typeform-Signature": "sha256=" + base64.b64encode(_digest(secret, body)).decode("ascii")}


def sign_tally(body: bytes, secret: str) -> dict[str, str]:
    """`Tally-Signature: <base64 HMAC-SHA256(body)>`, no prefix."""
    return {**JSON, "Tally-Signature": base64.b64encode(_digest(secret, body)).decode("ascii")}


def sign_calendly(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """`Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256("{t}.{body}")>`."""
    return {**JSON, "Calendly-Webhook-Signature": _timestamped(body, _now(timestamp), secret)}


def sign_stripe(body: bytes, secret: str, *, timestamp: int | None = None,
                rotating_from: str | None = None, with_v0: bool = False) -> dict[str, str]:
    """`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=<hex>]`, keyed with the whole
    `whsec_…` string. `rotating_from` adds the old secret's `v1` first (Stripe signs
    with every active secret while one rolls); `with_v0` adds the legacy test-mode
    `v0` that receivers must ignore."""
    t = _now(timestamp)
    keys = ([rotating_from] if rotating_from else []) + [secret]
    header = _timestamped(body, t, *keys)
    if with_v0:
        header += f",v0={_digest('whsec_' + secrets.token_hex(16), f'{t}.'.encode() + body).hex()}"
    return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header}


def sign_pixel_hit(lead_key_secret: str, lid: str, event: str, campaign: str = "", expires: str = "") -> str:
    """The `sig` of an email pixel hit, written from docs/ingest.md alone: HMAC-SHA256, hex, over
    `v1\\n<exp>\\n<e>\\n<lid>\\n<cid>`, keyed by HMAC-SHA256(LEAD_KEY_SECRET, "leadscore pixel v1")."""
    key = hmac.new(lead_key_secret.encode("utf-8"), b"leadscore pixel v1", hashlib.sha256).digest()
    message = "\n".join(["v1", expires, event, lid, campaign]).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_slack(body: bytes, signing_secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """What Slack adds to a request to an app's Request URL (docs.slack.dev, "Verifying requests from
    Slack"): `X-Slack-Request-Timestamp: <unix>`, `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:<t>:<body>")>`;
    interactivity bodies are form-encoded (`payload=<JSON>`)."""
    t = _now(timestamp)
    signature = "v0=" + _digest(signing_secret, f"v0:{t}:".encode("ascii") + body).hex()
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(t),
            "X-Slack-Signature": signature}


def sign_answer_link(api_token: str, lead_id: str, outcome: str, expires: int) -> str:
    """The `sig` of an email alert's Accept/Reject link, written from docs/notifications.md alone:
    hex HMAC-SHA256 over `v1.<outcome>.<exp>.<lead id>`, keyed by HMAC-SHA256(API_TOKEN, "leadscore feedback link v1")."""
    key = hmac.new(api_token.encode("utf-8"), b"leadscore feedback link v1", hashlib.sha256).digest()
    return hmac.new(key, f"v1.{outcome}.{expires}.{lead_id}".encode("utf-8"), hashlib.sha256).hexdigest()
