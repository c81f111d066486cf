"""What ingest rejects, as typed errors the handlers turn into HTTP answers."""

from __future__ import annotations

from typing import Any


class Rejected(Exception):
    """A request that will never succeed as sent. `status` is the HTTP answer."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(Rejected):
    """Malformed, oversize or invalid input: 400 with `{"error": message}`.

    The message names what is wrong (a field, a limit) and never echoes the
    sender's values, which may hold emails or names."""

    status = 400


class Unauthorized(Rejected):
    """A missing, wrong or stale signature or write key: 401 with no detail."""

    status = 401

    def __init__(self, reason: str = "unauthorized"):
        # `reason` is for our metrics and tests only; the sender sees no detail
        super().__init__(reason)


class UnknownSource(Rejected):
    """A webhook source we do not know: 404."""

    status = 404


def describe_validation_error(exc: Any) -> str:
    """A pydantic ValidationError as `field: problem; ...`, without the offending
    values (they may hold emails or names): safe for logs and error answers."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
