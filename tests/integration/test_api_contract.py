"""Schemathesis against the running local stack: every route of the document, driven from the document.

The stack serves its own contract at /openapi.json (leadscore.openapi); Schemathesis
generates requests from it (valid ones and, for the parameters and bodies, invalid
ones) with the stack's API token and write key, and checks each answer: no 5xx, a
status the document lists, the content type it names, and a body its schema accepts.
The signed /hooks routes get unsigned deliveries: their 401 must conform too.
How to run it and what it covers: docs/api.md.
"""

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.local_stack import running_stack
from tests.support.polling import wait_until

#: examples per operation: the whole run stays under ~40 s on a loaded machine
EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def stack():
    with running_stack() as s:
        yield s


@pytest.fixture(scope="module")
def contract(stack):
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {
        "bearerToken": {"bearer": os.environ["API_TOKEN"]},
        "writeKeyBasic": {"username": stack.write_key, "password": ""},
        "writeKeyQuery": {"api_key": stack.write_key},
    }}})
    return schemathesis.openapi.from_url(f"http://127.0.0.1:{stack.port}/openapi.json", config=config)


def test_every_answer_conforms_to_the_contract(contract):
    # one test over every operation rather than `schema.parametrize()`: Schemathesis' lazy pytest
    # loader (the schema comes from a stack a fixture starts) does not run under pytest 9
    failures = []
    for operation in (result.ok() for result in contract.get_all_operations()):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            def conforms(case):
                case.call_and_validate(checks=CHECKS)

            try:
                conforms()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, or strings only)
                assert mode is GenerationMode.NEGATIVE
            except Exception as failure:  # noqa: BLE001 (every operation is tried; all failures reported)
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)


def test_a_method_the_document_does_not_list_gets_the_gateways_404(stack, contract):
    # as API Gateway: a method no route has matches no route (not http.server's 501 for methods it lacks)
    base = f"http://127.0.0.1:{stack.port}"
    for path in ("/t.gif", "/v1/batch", "/hooks/generic", "/leads/v:1", "/openapi.json"):
        for method in ("TRACE", "PUT"):
            answer = requests.request(method, base + path, timeout=10)
            assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"}), (method, path)


def test_a_scored_lead_conforms_to_the_contract(stack, contract):
    # generated ids name no lead: one that exists, in full, by email, in the stage list, exported and erased
    base = f"http://127.0.0.1:{stack.port}"
    identify = {"type": "identify", "userId": "u-contract", "messageId": "m-contract-1",
                "traits": {"email": "ada@contract.example", "title": "VP Marketing", "company": "Contract Inc"}}
    assert requests.post(f"{base}/v1/identify", json=identify, auth=(stack.write_key, ""), timeout=10).status_code == 200
    token = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"}

    def by_email():
        answer = requests.get(f"{base}/leads", params={"email": "ada@contract.example"}, headers=token, timeout=10)
        return answer if answer.status_code == 200 else None

    lead = wait_until(by_email, timeout=20)
    by_id = requests.get(f"{base}/leads/{lead.json()['lead_id']}", headers=token, timeout=10)
    listed = requests.get(f"{base}/leads", params={"stage": "mql"}, headers=token, timeout=10)

    assert by_id.status_code == listed.status_code == 200
    assert contract["/leads/{id}"]["GET"].validate_response(by_id) is not False
    assert contract["/leads"]["GET"].validate_response(lead) is not False
    assert contract["/leads"]["GET"].validate_response(listed) is not False

    export = requests.get(f"{base}/leads/{lead.json()['lead_id']}/export", headers=token, timeout=10)
    erased = requests.delete(f"{base}/leads/{lead.json()['lead_id']}", headers=token, timeout=10)

    assert export.status_code == erased.status_code == 200
    assert contract["/leads/{id}/export"]["GET"].validate_response(export) is not False
    assert contract["/leads/{id}"]["DELETE"].validate_response(erased) is not False
    assert erased.json()["erased"] is True
