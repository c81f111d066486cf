"""How sales answers an alert: POST /slack/interactions (Slack's Accept/Reject buttons) and
GET/POST /sales/leads/{id}/{answer} (the email's signed one-click links).

What each route checks and does: leadscore.sales (verification, payloads, the feedback
path); the pages: leadscore.answer_page. slack_sdk loads with the first Slack request.
"""

from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from leadscore import dependencies, sales
from leadscore.edge import Rejected, raw_body, rejection

logger = Logger(service="sales")
app = APIGatewayHttpResolver()


def init() -> None:
    dependencies.current().engine  # noqa: B018 (MODEL_FILE's model, built once per container at cold start)


@app.post("/slack/interactions")
def slack_interaction() -> Response:
    event = app.current_event
    result = sales.slack_interaction(dependencies.current(), raw_body(event), event.headers or {})
    logger.info(f"slack {result['status']}", extra={k: v for k, v in result.items() if k != "status"})
    # Slack wants a 200 within 3 s; the message itself is updated through response_url
    return Response(status_code=200, content_type="text/plain", body="")


@app.get("/sales/leads/<id>/<answer>")
def answer_page(id: str, answer: str) -> Response:  # noqa: A002 (the route's name)
    from leadscore.answer_page import response

    event = app.current_event
    return response(*sales.answer_page(dependencies.current(), unquote(id), answer, event.query_string_parameters))


@app.post("/sales/leads/<id>/<answer>")
def answer(id: str, answer: str) -> Response:  # noqa: A002 (the route's name)
    from leadscore.answer_page import bad_form, response

    try:
        body = raw_body(app.current_event)
    except Rejected:
        return response(400, bad_form())
    return response(*sales.answer(dependencies.current(), unquote(id), answer, body))


@app.exception_handler(Rejected)
def rejected(exc: Rejected) -> Response:
    if exc.status >= 400:
        logger.info("slack interaction refused", extra={"status": exc.status, "reason": exc.message})
    return rejection(exc)


@app.not_found
def no_route(exc: NotFoundError) -> Response:
    # an {id} or {answer} with characters outside powertools' path pattern (non-ASCII) matches no
    # route: the page a link to no such lead gets, as the routes answer (docs/api.md)
    from leadscore.answer_page import no_such_lead, response

    return response(404, no_such_lead())


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
