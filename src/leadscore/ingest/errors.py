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


def describe_validation_error(exc: Any, where: str = "") -> str:
    """`field.path: what is wrong` for the first problem (and how many more), without
    the offending values (they may hold emails or names): safe for logs and answers."""
    problems = exc.errors(include_url=False, include_input=False, include_context=False)
    if not problems:
        return "invalid"
    first = problems[0]
    if first["type"] == "json_invalid":
        return "body is not valid JSON"
    path = where
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = first["msg"]
    if first["type"] in ("model_type", "dict_type") and not first["loc"] and not where:
        message = "body must be a JSON object"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{path}: {message}{more}" if path else f"{message}{more}"
