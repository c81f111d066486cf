"""The canonical event refuses what DynamoDB cannot store or a UTF-8 encoder cannot write (issue 15)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from scoring_core.events import MAX_DEPTH, Event

BASE = {"event_id": "e1", "type": "page_view", "occurred_at": "2026-11-01T10:00:00Z",
        "received_at": "2026-11-01T10:00:00Z", "source": "test", "anonymous_id": "v1"}


def event(**changes) -> Event:
    return Event.model_validate({**BASE, **changes})


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_sane_range_is_a_validation_error_not_an_overflow(when):
    with pytest.raises(ValidationError) as caught:
        event(occurred_at=when, received_at=when)

    assert "2000-01-01..9000-01-01" in str(caught.value)


@pytest.mark.parametrize("field", ["event_id", "anonymous_id", "lead_id"])
def test_a_lone_surrogate_in_an_id_is_refused(field):
    with pytest.raises(ValidationError):
        event(**{field: "abc\ud800"})


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e126, -1e200, 1e-131, 10**38, -(10**40), b"bytes", {1, 2}])
def test_a_property_no_dynamodb_number_or_json_value_holds_is_refused_without_echoing_it(value):
    with pytest.raises(ValidationError) as caught:
        event(properties={"amount": value})

    message = str(caught.value)
    assert "properties.amount" in message
    assert repr(value) not in message.split("input_value=")[0]


def test_nesting_is_accepted_up_to_the_documented_depth_and_refused_beyond():
    inside = json.loads('{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1))
    beyond = json.loads('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH)

    assert event(traits={"t": inside}).traits == {"t": inside}
    with pytest.raises(ValidationError, match="nested deeper than 8"):
        event(traits={"t": beyond})


def test_ordinary_values_are_kept_as_they_are():
    properties = {"url": "https://acme.example/pricing", "total": 129.5, "items": [{"sku": "A-1", "qty": 2}],
                  "big": 10**38 - 1, "zero": 0.0, "tiny": 1e-130, "emoji": "🚀", "none": None, "flag": True}

    assert {k: v for k, v in event(properties=properties).properties.items() if k != "path"} == properties
