"""The HTTP API's OpenAPI document (leadscore.openapi): valid 3.1, the template's routes exactly, served."""

import json
import subprocess
import sys
from typing import get_args

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from scoring_core.stages import QUALIFIED

from leadscore import openapi
from leadscore.dev.functions import load_module
from leadscore.dev.template import ROOT, http_routes
from leadscore.leads_api import ListedStage
from tests.support.handlers import invoke
from tests.support.template import ROUTES, TEMPLATE

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document():
    leads = ROUTES["LeadsFunction"]
    return openapi.document(load_module(leads.code_uri, "app").app)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()  # raises on the first problem


def test_every_route_of_the_template_is_in_the_document_and_nothing_else(document):
    in_template = {(r.method.lower(), r.path) for r in http_routes(TEMPLATE)}
    in_document = {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}

    assert in_document - in_template == set(), "documented, but no route in template.yaml"
    assert in_template - in_document == set(), "a route of template.yaml the document does not describe"


def test_every_operation_says_how_it_refuses(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)  # our validation failures are 400s
            assert "429" in responses, (method, path)  # API Gateway's throttling, on every route
            for status, answer in responses.items():
                if status.startswith("4") and "application/json" in answer.get("content", {}):
                    schema = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                    assert schema in ("Error", "SegmentError", "GatewayError"), (method, path, status)


def test_the_leads_api_and_the_ingest_routes_name_their_credentials(document):
    paths = document["paths"]
    schemes = document["components"]["securitySchemes"]

    assert paths["/leads/{id}"]["get"]["security"] == [{"bearerToken": []}]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert {"writeKeyBasic": []} in paths["/v1/{kind}"]["post"]["security"]
    assert schemes["stripeSignature"]["name"] == "Stripe-Signature"
    sources = document["components"]["schemas"]["Source"]["enum"]
    assert paths["/hooks/{source}"]["post"]["security"] == [{f"{source}Signature": []} for source in sources]


def test_the_listed_stages_are_the_engine_s():
    assert get_args(ListedStage) == QUALIFIED


def test_the_leads_function_serves_the_document_and_swagger_ui(document):
    served = invoke("LeadsFunction", "/openapi.json")
    ui = invoke("LeadsFunction", "/docs")

    assert served["statusCode"] == 200
    assert served["headers"]["Content-Type"] == "application/json"
    assert json.loads(served["body"]) == document
    assert ui["statusCode"] == 200
    assert ui["headers"]["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in ui["body"] and '"/leads/{id}"' in ui["body"]


def test_the_ingest_functions_never_load_the_contract():
    # cold start: the document is built by the leads function only, on request
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; import app; "
            "print(sorted(m for m in sys.modules if m in ('leadscore.openapi', 'leadscore.ingest.contract')))")
    for function in ("collect", "hooks", "pixel"):
        out = subprocess.run([sys.executable, "-c", code, str(ROOT / "functions" / function)],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]", function


@pytest.mark.parametrize("function, method, path, status, content_type", [
    ("CollectFunction", "POST", "/v1/\U0001eb98", 404, "application/json"),
    ("HooksFunction", "POST", "/hooks/\U0001eb98", 404, "application/json"),
    ("LeadsFunction", "GET", "/leads/\U0001eb98", 404, "application/json"),
    ("LeadsFunction", "GET", "/leads/\U0001eb98/page", 403, "text/html"),  # the bad-link page, as for any id no link names
    ("SalesFunction", "GET", "/sales/leads/\U0001eb98/accept", 404, "text/html"),
])
def test_a_path_the_router_does_not_match_still_gets_the_documented_answer(function, method, path, status, content_type):
    # API Gateway hands any segment to {kind}, {source}, {id}; powertools' pattern refuses non-ASCII ones
    answer = invoke(function, path, method=method, headers={"Authorization": "Bearer t"})

    assert answer["statusCode"] == status
    assert answer["headers"]["Content-Type"].startswith(content_type)
    if content_type == "application/json":
        assert set(json.loads(answer["body"])) >= {"error"}
