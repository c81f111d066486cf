"""The CRM webhook: the transition JSON POSTed to a configured URL, signed with the generic scheme.

Headers: `Content-Type: application/json`, `X-Leadscore-Signature: t=<unix>,v1=<hex
HMAC-SHA256 of "<t>.<body>">` (docs/signatures.md, "Outgoing"), `X-Leadscore-Event:
LeadStageChanged` and `X-Leadscore-Delivery: <transition_id>` so the receiver can
dedupe too. A 2xx is delivered. 5xx, 429 (after its `Retry-After`) and timeouts
are retried with exponential backoff; any other 4xx is not retried (`Permanent`).
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ..contracts import DETAIL_TYPE
from ..signing import sign_timestamped
from .errors import Permanent, Transient

ATTEMPTS = 4
TIMEOUT_S = 5.0
BACKOFF_S = 0.5  # 0.5, 1, 2 s (+ up to 25 % jitter) between attempts
MAX_RETRY_AFTER_S = 10.0
USER_AGENT = "leadscore-webhook/1"


def body_of(detail: dict[str, Any]) -> bytes:
    return json.dumps(detail, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


def post(url: str, detail: dict[str, Any], secret: str, *, clock: Callable[[], float] = time.time,
         sleep: Callable[[float], None] = time.sleep, timeout: float | None = None) -> int:
    """Deliver one transition; returns the receiver's status. Raises `Transient` or `Permanent`."""
    body = body_of(detail)
    last = "no attempt"
    for attempt in range(ATTEMPTS):
        wait: float | None = None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Leadscore-Event": DETAIL_TYPE,
            "X-Leadscore-Delivery": str(detail.get("transition_id", "")),
            # signed at each attempt: a retry late in the backoff still has a fresh timestamp
            "X-Leadscore-Signature": sign_timestamped(body, secret, int(clock())),
        }
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S if timeout is None else timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status == 429:
                wait = _retry_after(exc.headers)
            elif status < 500:
                raise Permanent(f"CRM webhook refused the delivery: {status}") from None
            last = f"CRM webhook answered {status}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = f"CRM webhook unreachable: {exc.__class__.__name__}"
        if attempt + 1 < ATTEMPTS:
            sleep(wait if wait is not None else BACKOFF_S * 2**attempt * (1 + random.random() / 4))
    raise Transient(last)
