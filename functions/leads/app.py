"""GET /leads/{id}, GET /leads?email=, GET /leads?stage=mql&limit=N: the leads read API;
GET /leads/{id}/page: the lead page an alert links to; POST /leads/{id}/feedback: sales' verdict;
DELETE /leads/{id}, GET /leads/{id}/export: erasure and access.

Who may ask and what a query means: leadscore.leads_api (a bearer token on every
API call; a signed link for the page). Answers are scored at the time of the
request. Feedback goes the one feedback path, leadscore.feedback. DELETE /leads/{id}
erases a lead and GET /leads/{id}/export returns all that is held about it (GDPR
articles 17 and 15; docs/data-model.md, Erasure).
"""

from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from leadscore import dependencies, leads_api
from leadscore.cors import ConsoleCORS
from leadscore.edge import Rejected, rejection

logger = Logger(service="leads")
app = APIGatewayHttpResolver(cors=ConsoleCORS())  # cross-origin reads only from CONSOLE_ORIGINS


def init() -> None:
    dependencies.current().engine  # noqa: B018 (MODEL_FILE's model, built once per container at cold start)


@app.get("/leads/<id>")
def get_lead(id: str) -> dict:  # noqa: A002 (the route's name)
    return leads_api.get_lead(dependencies.current(), id, app.current_event.headers)


@app.get("/leads/<id>/page", cors=False)
def open_lead_page(id: str) -> Response:  # noqa: A002 (the route's name)
    from leadscore.lead_page import response

    status, html = leads_api.lead_page(dependencies.current(), unquote(id), app.current_event.query_string_parameters)
    return response(status, html)


@app.get("/leads")
def list_leads() -> dict:
    event = app.current_event
    return leads_api.list_leads(dependencies.current(), event.query_string_parameters, event.headers)


@app.delete("/leads/<id>")
def erase_lead(id: str) -> dict:  # noqa: A002 (the route's name)
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from leadscore.identity import key_digest

    answer = leads_api.erase_lead(dependencies.current(), unquote(id), app.current_event.headers)
    # no key in clear: a digest of the key asked for, and counts
    logger.info("lead erased", extra={"key_digest": key_digest(unquote(id)), **answer["removed"]})
    with single_metric(name="LeadsErased", unit=MetricUnit.Count, value=1, namespace="leadscore") as metric:
        metric.add_dimension(name="service", value="leads")
    return answer


@app.get("/leads/<id>/export")
def export_lead(id: str) -> dict:  # noqa: A002 (the route's name)
    answer = leads_api.export_lead(dependencies.current(), unquote(id), app.current_event.headers)
    from leadscore.identity import key_digest

    logger.info("lead exported", extra={"key_digest": key_digest(unquote(id))})
    return answer


@app.post("/leads/<id>/feedback")
def post_feedback(id: str) -> dict:  # noqa: A002 (the route's name)
    return leads_api.post_feedback(dependencies.current(), unquote(id), app.current_event)


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    return rejection(exc)


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
