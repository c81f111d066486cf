"""The ingest routes as the OpenAPI document declares them (leadscore.openapi).

The pixel, `/v1`, the beacon and `/hooks` keep their own parsers on the hot path (gzip,
size limits, a write key in the body, signatures over the raw bytes), so powertools does
not validate them and cannot see their shapes: they are declared here once, for the
document only, with what those parsers use: `segment.KINDS` and `Message`, the webhook
registry and each sender's payload models, and the error bodies of `leadscore.edge`.
tests/unit/test_openapi.py checks every route of the template is in the document.

Imported only when a document is built (the leads function, on `GET /openapi.json`);
the ingest functions never import it. No `from __future__ import annotations`: powertools
reads these signatures' types at run time.
"""

from enum import Enum
from typing import Annotated, Any, Optional, Union

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, ConfigDict

from ..openapi import SegmentError, answer, errors
from .segment import KINDS, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, Message
from .webhooks import _REGISTRY
from .webhooks.calendly import Envelope as CalendlyWebhook
from .webhooks.generic import GenericBatch, GenericEvent
from .webhooks.stripe import StripeEvent
from .webhooks.tally import TallyPayload
from .webhooks.typeform import TypeformPayload
from ..openapi import Queued, Success

Kind = Enum("Kind", {k: k for k in KINDS}, type=str)  # type: ignore[misc]
Source = Enum("Source", {k: k for k in _REGISTRY}, type=str)  # type: ignore[misc]


class Batch(BaseModel):
    """`/v1/batch` (`/v1/b`, `/v1/import`) and the beacon: many calls; each message's `type` says which."""

    model_config = ConfigDict(extra="allow")
    batch: list[Message]
    context: dict[str, Any] = {}
    sentAt: Optional[str] = None  # noqa: N815 (Segment's name)
    writeKey: Optional[str] = None  # noqa: N815


#: what a declared route would do if resolved: they are never (the ingest functions serve them)
_DECLARED = AssertionError("declared for the OpenAPI document only")


def ingest_routes() -> APIGatewayHttpResolver:
    """The ingest routes as their functions serve them, declared for the document (never resolved)."""
    docs = APIGatewayHttpResolver(enable_validation=True)
    sdk_security: list[dict[str, list[str]]] = [{"writeKeyBasic": []}, {}]
    gif = {200: {"description": "Always the 1×1 transparent GIF, `Cache-Control: no-store`, even for bad input "
                                "(bad hits are counted, not queued)",
                 "content": {"image/gif": {"schema": {"type": "string", "contentMediaType": "image/gif"}}}}}

    @docs.get("/t.gif", summary="Tracking pixel", tags=["ingest"], responses=gif)  # type: ignore[arg-type]
    def pixel(
        vid: Annotated[Optional[str], Query(description="anonymous visitor id")] = None,
        e: Annotated[Optional[str], Query(description="event type (default page_view)")] = None,
        url: Annotated[Optional[str], Query(description="the page (else the Referer)")] = None,
        ref: Annotated[Optional[str], Query(description="the page's referrer")] = None,
        lid: Annotated[Optional[str], Query(description="a known lead's key (email pixels); needs exp and sig")] = None,
        cid: Annotated[Optional[str], Query(description="campaign id")] = None,
        exp: Annotated[Optional[str], Query(description="expiry of a signed lid hit (`leadscore pixel-url`)")] = None,
        sig: Annotated[Optional[str], Query(description="signature of a lid hit")] = None,
        eid: Annotated[Optional[str], Query(description="the hit's own id (dedupe)")] = None,
    ):
        raise _DECLARED

    sdk_body = (f"One Segment HTTP Tracking API call, or a batch of them; JSON, also sent as text/plain and "
                f"gzip-encoded. At most {MAX_REQUEST_BYTES // 1024} KB a request, {MAX_MESSAGE_BYTES // 1024} KB a message.")

    @docs.post("/v1/<kind>", summary="Segment-compatible SDK call", tags=["ingest"], security=sdk_security,
               responses={**answer("Queued (events a public write key may not send are dropped, still 200)"),
                          **errors(400, 401, 404, model=SegmentError), **errors(503)})
    def collect(kind: Annotated[Kind, Path(description="batch, track, identify, page, screen, group, alias "
                                                       "or analytics.js's one-letter forms")],
                call: Annotated[Union[Batch, Message], Body(description=sdk_body)]) -> Success:
        raise _DECLARED

    @docs.post("/beacon/v1/batch", summary="RudderStack's beacon (navigator.sendBeacon)", tags=["ingest"],
               security=[{"writeKeyQuery": []}, {"writeKeyBasic": []}, {}],
               responses={**answer("Queued"), **errors(400, 401, model=SegmentError), **errors(503)})
    def beacon(call: Annotated[Batch, Body(description="a batch, sent as text/plain")]) -> Success:
        raise _DECLARED

    hook_body = ("The sender's own delivery, signed over its raw bytes: the generic scheme's event or batch, "
                 "or Typeform's, Tally's, Calendly's or Stripe's webhook payload (docs/signatures.md).")

    @docs.post("/hooks/<source>", summary="Signed webhook", tags=["ingest"],
               security=[{f"{name}Signature": []} for name in _REGISTRY],
               responses={202: {"description": "Queued"}, **errors(400, 401, 404, 503)})
    def hook(source: Annotated[Source, Path(description="the sender: its signature scheme and payload format")],
             delivery: Annotated[Union[GenericEvent, GenericBatch, TypeformPayload, TallyPayload,
                                       CalendlyWebhook, StripeEvent], Body(description=hook_body)]) -> Queued:
        raise _DECLARED

    return docs
