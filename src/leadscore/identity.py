"""Lead keys, derived from the event itself so the hot path needs no lookup.

- an email: `e:` + a keyed hash (HMAC-SHA256) of the normalized address, so the
  table holds no address in its keys and the key cannot be guessed from one;
- a lead id: `u:` + the sender's user id (Segment `userId`), unless it already is
  one of our keys (an email pixel's `lid=e:...`);
- an anonymous visitor: `v:` + the visitor id.

The email key is the lead; `u:` and `v:` keys seen on the same event as an email
are aliases, merged into it (their history with it) once, then pointers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core.events import Event

LOCAL_KEY_SECRET = "leadscore-local-lead-key"  # local stack and tests only; AWS reads LEAD_KEY_SECRET
EMAIL_PREFIX = "e:"
OUR_PREFIXES = (EMAIL_PREFIX, "u:", "v:")


def email_key(email: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), email.encode(), hashlib.sha256).digest()[:20]
    return "e:" + base64.b32encode(digest).decode("ascii").lower()


def keys_of(event: Event, secret: str) -> list[str]:
    """Every lead key the event names, the lead's own first (email, then lead id, then visitor)."""
    keys = []
    if event.email:
        keys.append(email_key(event.email, secret))
    if event.lead_id:
        keys.append(event.lead_id if event.lead_id.startswith(OUR_PREFIXES) else f"u:{event.lead_id}")
    if event.anonymous_id:
        keys.append(f"v:{event.anonymous_id}")
    return list(dict.fromkeys(keys))


def event_hash(event_id: str) -> str:
    """A short stable id for dedupe sets: 48 bits of SHA-256, base64url (8 characters).

    A lead holds at most a few hundred in its dedupe window, so a new event is mistaken for a
    seen one with odds of about n / 2^48 (1 in 10^12 for n = 300); every character saved is a
    byte per event in the lead's item, which DynamoDB bills by the kilobyte."""
    return base64.urlsafe_b64encode(hashlib.sha256(event_id.encode()).digest()[:6]).decode("ascii")


ERASED_PREFIX = "t:"


def erased_marker(key: str, secret: str) -> str:
    """The key of an erased lead key's tombstone: `t:` + a keyed hash, so the tombstone names
    neither the email, nor its key, nor the visitor id (docs/data-model.md, Erasure)."""
    digest = hmac.new(secret.encode(), f"erased|{key}".encode(), hashlib.sha256).digest()[:20]
    return ERASED_PREFIX + base64.b32encode(digest).decode("ascii").lower()


def domain_key(domain: str, secret: str) -> str:
    """The key of a company domain's owner item (docs/routing.md): `dom#` + a keyed hash of the
    lowercased domain, so the table names no domain in clear."""
    digest = hmac.new(secret.encode(), f"domain|{domain.lower()}".encode(), hashlib.sha256).digest()[:20]
    return "dom#" + base64.b32encode(digest).decode("ascii").lower()


def key_digest(key: str) -> str:
    """A short unkeyed digest of a lead key for logs (never the key in clear)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
