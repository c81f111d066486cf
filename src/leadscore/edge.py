"""The HTTP edge every route shares: what a request is refused with, and how that is answered.

- `Rejected` and its kinds (`BadRequest` 400, `Unauthorized` 401, `NotFound` 404,
  `UnknownSource` 404, `Conflict` 409, `UnsupportedMediaType` 415): raised by parsers,
  signature checks and the leads API;
- `rejection(exc)`: the one mapping of a `Rejected` to its HTTP answer, `{"error": ...}`
  (a 401 says no more than "unauthorized");
- `json_response`, `not_queued` (503: senders retry), `raw_body` (the body as sent);
- `describe_validation_error`: a pydantic error as text that names fields, never values;
  `describe_request_validation_error`: the same for powertools' request validation
  (the routes with `enable_validation`), answered 400 like every other bad input.

Standard library only at import: the parsers, the worker and the CLI import the
errors and the validation text without powertools' event handler, which only the
answers need (and only the HTTP functions, which have it loaded already, build them).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from aws_lambda_powertools.event_handler import Response


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
    """A missing, wrong or stale signature, write key or bearer token: 401 with no detail."""

    status = 401

    def __init__(self, reason: str = "unauthorized"):
        # `reason` is for our metrics and tests only; the sender sees no detail
        super().__init__(reason)


class NotFound(Rejected):
    """Nothing at this address (a lead that does not exist): 404."""

    status = 404


class UnknownSource(NotFound):
    """A webhook source or SDK call we do not know: 404."""


class UnsupportedMediaType(Rejected):
    """A body in a content type the route does not read (a validated JSON body sent as text): 415."""

    status = 415


class Conflict(Rejected):
    """A request at odds with what was recorded before (an idempotency key reused for
    something else): 409. Sending it again as it is will not succeed."""

    status = 409


#: Segment's `code` for each status (its SDKs read `code` and `message`)
SEGMENT_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found"}


def json_response(status: int, body: dict[str, Any]) -> Response:
    from aws_lambda_powertools.event_handler import Response, content_types

    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def rejection(exc: Rejected, *, segment: bool = False) -> Response:
    """`{"error": ...}` with the rejection's message; a 401 says no more than "unauthorized".

    `segment`: also `code` and `message`, as Segment's tracking API answers (for the SDK routes)."""
    message = "unauthorized" if exc.status == 401 else exc.message
    body: dict[str, Any] = {"error": message}
    if segment:
        body.update(code=SEGMENT_CODES.get(exc.status, "error"), message=message)
    return json_response(exc.status, body)


def not_queued() -> Response:
    # 503: SDKs and webhook senders retry 5xx, so nothing is lost
    return json_response(503, {"error": "could not queue events, retry"})


def raw_body(event: Any) -> bytes:
    """The request body exactly as sent (API Gateway base64-encodes binary bodies such as gzip).

    A text body holding a lone surrogate (which no UTF-8 encoder writes) keeps it as the
    bytes it stands for, so the body is invalid UTF-8 and its parser answers 400; a
    body flagged as base64 that is not is a `BadRequest` too, never an exception."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            raise BadRequest("body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


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


def describe_request_validation_error(exc: Any) -> str:
    """powertools' `RequestValidationError` (a route with `enable_validation`) as text:
    `query.limit: Input should be ...`, naming the parameter or field, never its value."""
    problems = list(exc.errors())
    if not problems:
        return "invalid"
    first = problems[0]
    if first.get("type") == "json_invalid":
        return "body is not valid JSON"
    where, *rest = [str(part) for part in first.get("loc", ())] or ["request"]
    path = where + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in rest)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{path}: {first.get('msg', 'invalid')}{more}"
