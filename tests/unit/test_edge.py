"""The HTTP edge every route shares: one answer for a refused request, and who may read the leads API."""

from __future__ import annotations

import json

import pytest
from leadscore.edge import BadRequest, NotFound, Unauthorized, UnknownSource, rejection
from leadscore.leads_api import authorize


def answer(exc, **kwargs):
    response = rejection(exc, **kwargs)
    return response.status_code, json.loads(response.body)


def test_a_rejection_answers_its_status_with_its_message_as_the_error():
    assert answer(BadRequest("limit must be a whole number")) == (400, {"error": "limit must be a whole number"})
    assert answer(NotFound("no such lead")) == (404, {"error": "no such lead"})
    assert answer(UnknownSource("unknown source")) == (404, {"error": "unknown source"})


def test_an_unauthorized_request_is_told_nothing_but_unauthorized():
    assert answer(Unauthorized("signature mismatch")) == (401, {"error": "unauthorized"})


def test_the_sdk_routes_also_answer_segments_code_and_message():
    assert answer(BadRequest("batch: too many"), segment=True) == (
        400, {"error": "batch: too many", "code": "invalid_request", "message": "batch: too many"})
    assert answer(Unauthorized("no such key"), segment=True) == (
        401, {"error": "unauthorized", "code": "unauthorized", "message": "unauthorized"})


def test_the_leads_api_takes_only_its_bearer_token():
    authorize({"authorization": "Bearer s3cret"}, "s3cret")
    authorize({"authorization": "bearer  s3cret "}, "s3cret")  # the scheme in any case, spaces around the token

    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret"}, {"authorization": "s3cret"}):
        with pytest.raises(Unauthorized):
            authorize(headers, "s3cret")


def test_an_unset_api_token_refuses_everyone_rather_than_letting_everyone_in():
    for token in (None, ""):
        with pytest.raises(Unauthorized):
            authorize({"authorization": "Bearer "}, token)
