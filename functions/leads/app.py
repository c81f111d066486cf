"""GET /leads/{id}, GET /leads?email=, GET /leads?stage=mql&limit=N: the leads read API;
GET /leads/{id}/page: the lead page an alert links to; POST /leads/{id}/feedback: sales' verdict;
DELETE /leads/{id}, GET /leads/{id}/export: erasure and access;
GET /openapi.json and GET /docs: the whole HTTP API's contract and its Swagger UI
(leadscore.openapi, docs/api.md).

Who may ask and what a query means: leadscore.leads_api (a bearer token on every
API call; a signed link for the page). Answers are scored at the time of the
request. Feedback goes the one feedback path, leadscore.feedback. DELETE /leads/{id}
erases a lead and GET /leads/{id}/export returns all that is held about it (GDPR
articles 17 and 15; docs/data-model.md, Erasure).

The resolver validates (`enable_validation`): each route's typed parameters and its
answer model are checked by powertools and make the OpenAPI document. A request that
fails them is our 400 `{"error"}` (a 415 for a validated body that is not JSON), not powertools'
422, and is refused 401 first when it lacks the token.
"""

from typing import Annotated, Optional
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from leadscore import dependencies, leads_api, openapi
from leadscore.cors import ConsoleCORS
from leadscore.edge import (
    BadRequest,
    NotFound,
    Rejected,
    UnsupportedMediaType,
    describe_request_validation_error,
    rejection,
)
from leadscore.leads_api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Erased,
    FeedbackAnswer,
    Lead,
    LeadExport,
    LeadList,
    ListedStage,
)

logger = Logger(service="leads")
app = APIGatewayHttpResolver(cors=ConsoleCORS(), enable_validation=True)  # cross-origin reads only from CONSOLE_ORIGINS
TOKEN = [{openapi.BEARER: []}]
LeadKey = Annotated[str, Path(description="any key of the lead (`e:…`, `v:…`) or of a lead merged into it")]
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def init() -> None:
    dependencies.current().engine  # noqa: B018 (MODEL_FILE's model, built once per container at cold start)


@app.get("/leads/<id>", summary="A lead, in full", tags=["leads"], security=TOKEN,
         responses={**openapi.answer("The lead, scored at the time of the request"), **openapi.errors(401, 404)})
def get_lead(id: LeadKey) -> Lead:  # noqa: A002 (the route's name)
    return leads_api.get_lead(dependencies.current(), id, app.current_event.headers)


@app.get("/leads/<id>/page", cors=False, summary="The lead page an alert links to (signed link, no token)",
         tags=["leads"], responses={200: {"description": "The page", **HTML},
                                    403: {"description": openapi.MEANINGS[403], **HTML},
                                    404: {"description": "No such lead", **HTML}})
def open_lead_page(id: LeadKey,  # noqa: A002 (the route's name)
                   exp: Annotated[Optional[str], Query(description="expiry, Unix seconds")] = None,
                   sig: Annotated[Optional[str], Query(description="the link's signature")] = None):
    from leadscore.lead_page import response

    status, html = leads_api.lead_page(dependencies.current(), unquote(id), {"exp": exp, "sig": sig})
    return response(status, html)


@app.get("/leads", summary="Qualified leads, hottest first (?stage=), or the lead with an email (?email=)",
         description="Give `email` or `stage` (with `email`, `stage` and `limit` are ignored); neither is a 400.",
         tags=["leads"], security=TOKEN,
         responses={**openapi.answer("`?email=`: that lead in full; `?stage=`: the list"), **openapi.errors(400, 401, 404)})
def list_leads(email: Annotated[Optional[str], Query(description="the lead with this email, in full")] = None,
               stage: Annotated[Optional[ListedStage], Query(description="list the leads at this stage")] = None,
               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many")] = DEFAULT_LIMIT,
               ) -> Lead | LeadList:
    return leads_api.list_leads(dependencies.current(), app.current_event.headers, email=email, stage=stage, limit=limit)


@app.get("/openapi.json", summary="This document: the HTTP API's OpenAPI 3.1 contract", tags=["contract"],
         responses={200: {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi_document():
    return openapi.document_response(app)


@app.get("/docs", cors=False, summary="Swagger UI for this document", tags=["contract"],
         responses={200: {"description": "Swagger UI", **HTML}})
def swagger_ui():
    return openapi.swagger_ui_response(app)


@app.delete("/leads/<id>", summary="Erase a lead and everything held about the person (GDPR article 17)",
            tags=["leads"], security=TOKEN,
            responses={**openapi.answer("Erased: what was removed, counted"), **openapi.errors(401, 404)})
def erase_lead(id: LeadKey) -> Erased:  # noqa: A002 (the route's name)
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from leadscore.identity import key_digest

    answer = leads_api.erase_lead(dependencies.current(), unquote(id), app.current_event.headers)
    # no key in clear: a digest of the key asked for, and counts
    logger.info("lead erased", extra={"key_digest": key_digest(unquote(id)), **answer["removed"]})
    with single_metric(name="LeadsErased", unit=MetricUnit.Count, value=1, namespace="leadscore") as metric:
        metric.add_dimension(name="service", value="leads")
    return answer


@app.get("/leads/<id>/export", summary="Everything held about the person, as JSON (GDPR article 15)",
         tags=["leads"], security=TOKEN,
         responses={**openapi.answer("The lead's data: identities, facts, activity, stage, feedback, alerts, "
                                     "and the stored items as they are"), **openapi.errors(401, 404)})
def export_lead(id: LeadKey) -> LeadExport:  # noqa: A002 (the route's name)
    answer = leads_api.export_lead(dependencies.current(), unquote(id), app.current_event.headers)
    from leadscore.identity import key_digest

    logger.info("lead exported", extra={"key_digest": key_digest(unquote(id))})
    return answer


@app.post("/leads/<id>/feedback", summary="Sales' verdict on a lead: accepted, rejected, won or lost", tags=["leads"],
          security=TOKEN, openapi_extensions=openapi.body_read_by_handler(
              "leadscore.feedback:FeedbackIn", "the outcome, why, who gave it, and the client's idempotency key"),
          responses={**openapi.answer("Recorded (a feedback id seen before: the first answer again, `duplicate`)"),
                     **openapi.errors(400, 401, 404, 409)})
def post_feedback(id: LeadKey) -> FeedbackAnswer:  # noqa: A002 (the route's name)
    return leads_api.post_feedback(dependencies.current(), unquote(id), app.current_event)


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    return rejection(exc)


@app.not_found
def no_route(exc: NotFoundError) -> Response:
    # an {id} with characters outside powertools' path pattern (non-ASCII) matches no route: our answers still
    return _bad_link_page() if _for_the_page() else rejection(NotFound("no such lead"))


@app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
def invalid(exc: RequestValidationError) -> Response:
    if _for_the_page():
        return _bad_link_page()
    try:  # 401 before 400: a caller without the token learns nothing about its input
        leads_api.authorize(app.current_event.headers, dependencies.current().settings.api_token())
    except Rejected as refused:
        return rejection(refused)
    if isinstance(exc, RequestUnsupportedContentType):
        return rejection(UnsupportedMediaType("send the body as application/json"))
    return rejection(BadRequest(describe_request_validation_error(exc)))


def _for_the_page() -> bool:
    return app.current_event.path.endswith("/page")


def _bad_link_page() -> Response:
    # no link of ours names such an id or carries such a query: what a bad link gets, the 403 page
    from leadscore.lead_page import invalid_link, response

    return response(403, invalid_link())


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
