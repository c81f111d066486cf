"""The sales routes (`functions/sales`) as the OpenAPI document declares them (leadscore.openapi).

Slack's interactions are a signed form post (`payload=` JSON, verified over the raw bytes)
and the email links' pages are HTML: the handler reads both itself (leadscore.sales), so the
routes are declared here for the document only, with the verbs `links.ANSWER_OUTCOMES` takes
and the answers `sales` gives. Imported only when a document is built. No
`from __future__ import annotations`: powertools reads these signatures at run time.
"""

from enum import Enum
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Form, Path, Query

from .links import ANSWER_OUTCOMES
from .openapi import MEANINGS, errors

Verb = Enum("Verb", {v: v for v in ANSWER_OUTCOMES}, type=str)  # type: ignore[misc]
_DECLARED = AssertionError("declared for the OpenAPI document only")
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_LeadKey = Annotated[str, Path(description="the lead the alert was about")]
_PAGES: dict[int, Any] = {200: {"description": "The page", **_HTML}, 400: {"description": "The form is not ours", **_HTML},
          403: {"description": MEANINGS[403], **_HTML}, 404: {"description": "No such lead or answer", **_HTML},
          409: {"description": "The alert was already answered the other way", **_HTML}}

def sales_routes() -> APIGatewayHttpResolver:
    """The sales routes as `functions/sales` serves them, declared for the document (never resolved)."""
    docs = APIGatewayHttpResolver(enable_validation=True)

    @docs.post("/slack/interactions", summary="Slack's Accept/Reject button clicks", tags=["sales"],
               security=[{"slackSignature": []}],
               responses={200: {"description": "Recorded or refused in the Slack message itself (through its "
                                               "response_url); the answer is empty, within Slack's 3 s",
                                "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}}},
                          **errors(400, 401)})
    def slack_interaction(payload: Annotated[str, Form(description="the block_actions payload, JSON")]):
        raise _DECLARED

    @docs.get("/sales/leads/<id>/<answer>", summary="An email's one-click link: the confirmation page",
              tags=["sales"], responses={k: v for k, v in _PAGES.items() if k in (200, 403, 404)})
    def answer_page(id: _LeadKey, answer: Annotated[Verb, Path(description="accept or reject")],  # noqa: A002
                    exp: Annotated[Optional[str], Query(description="the link's expiry")] = None,
                    sig: Annotated[Optional[str], Query(description="the link's signature")] = None):
        raise _DECLARED

    @docs.post("/sales/leads/<id>/<answer>", summary="The confirmation page's form: records the answer",
               tags=["sales"], responses=_PAGES)
    def answer(id: _LeadKey, answer: Annotated[Verb, Path(description="accept or reject")],  # noqa: A002
               exp: Annotated[str, Form()], sig: Annotated[str, Form()],
               reason: Annotated[Optional[str], Form(description="a rejection's reason code")] = None):
        raise _DECLARED

    return docs
