"""GET /leads/{id}, GET /leads?email=, GET /leads?stage=mql&limit=N: the leads read API;
GET /leads/{id}/page: the lead page an alert links to.

`Authorization: Bearer <API_TOKEN>` on every API call (401 otherwise). The page
takes a signed link instead (`leadscore.links`), so a browser opens it; a bad or
expired link is a 403 page. Answers are scored at the time of the request.
Feedback and erasure come with a later issue.
"""

import hmac
import time
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from leadscore import runtime
from leadscore.cors import ConsoleCORS
from leadscore.ingest.answers import json_response
from leadscore.ingest.errors import BadRequest, Rejected, Unauthorized

logger = Logger(service="leads")
app = APIGatewayHttpResolver(cors=ConsoleCORS())  # cross-origin reads only from CONSOLE_ORIGINS
STAGES = ("mql", "sql", "customer")
MAX_LIMIT = 100
clock = time.time  # tests move time forward to open a link after it expired


class NotFound(Rejected):
    status = 404


def engine():
    return runtime.engine()  # MODEL_FILE's model, once per container


def init() -> None:
    engine()


def _authorize() -> None:
    token = runtime.settings().api_token() or ""
    header = (app.current_event.headers or {}).get("authorization") or ""
    scheme, _, given = header.partition(" ")
    # an unset token refuses everything rather than letting everyone in
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("bad or missing bearer token")


def leads():
    """The leads table's reads (adapters/leads), over the container's DynamoDB client."""
    from leadscore.adapters.leads import LeadStore

    return LeadStore(runtime.aws_client("dynamodb"), runtime.settings().required("leads_table"))


@app.get("/leads/<id>")
def get_lead(id: str) -> dict:  # noqa: A002 (the route's name)
    from leadscore.views import lead_at

    _authorize()
    view = lead_at(leads(), engine(), id, clock())
    if view is None:
        raise NotFound("no such lead")
    return view


@app.get("/leads/<id>/page", cors=False)
def open_lead_page(id: str) -> Response:  # noqa: A002 (the route's name)
    from leadscore import lead_page, links
    from leadscore.views import lead_at

    query = app.current_event.query_string_parameters or {}
    lead_id, token, now = unquote(id), runtime.settings().api_token(), clock()
    # an unset token signs nothing and opens nothing
    if not token or not links.valid_page_link(lead_id, query.get("exp"), query.get("sig"), links.page_key(token), now=now):
        return lead_page.response(403, lead_page.invalid_link())
    view = lead_at(leads(), engine(), lead_id, now)
    if view is None:
        return lead_page.response(404, lead_page.no_such_lead())
    return lead_page.response(200, lead_page.render(view, now=now, expires_at=int(query["exp"])))


@app.get("/leads")
def list_leads() -> dict:
    from leadscore.identity import email_key
    from leadscore.views import lead_at, leads_at_stage
    from scoring_core.events import normalize_email

    _authorize()
    query = app.current_event.query_string_parameters or {}
    now = clock()
    if "email" in query:
        try:
            email = normalize_email(query["email"])
        except ValueError:
            raise BadRequest("email is not an email address") from None
        key_secret = runtime.settings().lead_key_secret()
        view = lead_at(leads(), engine(), email_key(email, key_secret), now)
        if view is None:
            raise NotFound("no lead with this email")
        return view
    stage = query.get("stage")
    if stage not in STAGES:
        raise BadRequest("give ?email= or ?stage= (one of mql, sql, customer)")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise BadRequest("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return {"leads": leads_at_stage(leads(), engine(), stage, limit, now)}


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    message = "unauthorized" if exc.status == 401 else exc.message
    return json_response(exc.status, {"error": message})


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
