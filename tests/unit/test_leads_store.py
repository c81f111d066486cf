"""The leads table's pieces without a table: the codec against boto3's, and the store's
retries against botocore's Stubber (a throttle is sent again, a failed condition never)."""

from __future__ import annotations

from decimal import Decimal

import botocore.session
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.stub import Stubber
from scoring_core import LeadState

from leadscore.adapters.leads import LeadStore, deserialize, pack_detail
from leadscore.adapters.leads.codec import to_attribute
from leadscore.adapters.leads.store import THROTTLE_RETRIES, throttled

ITEM = {"pk": "e:x", "n": 3, "heat": Decimal("95708.81"), "email": "ann@acme.example", "recycled": False,
        "pinned": None, "s.2960": {"abc", "def"}, "o.repeat": {1, 2, 3}, "recent": ["1|h|page_view"],
        "f.job_title": {"v": "CTO", "t": Decimal("1761998400.5"), "e": "h"}, "ob": pack_detail({"a": 1}),
        "score": {"score": Decimal("71.99"), "grade": "A1"}}


def client():
    return botocore.session.get_session().create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def test_the_codec_writes_what_boto3_writes_and_reads_it_back():
    ser, de = TypeSerializer(), TypeDeserializer()

    for name, value in ITEM.items():
        ours = to_attribute(value)
        assert ours == ser.serialize(value) or ("SS" in ours or "NS" in ours), name  # sets: any order
        assert deserialize({name: ours})[name] == (de.deserialize(ours) if name != "ob" else value)


def test_floats_are_written_as_their_shortest_decimal_and_non_finite_ones_as_null():
    assert to_attribute(0.1) == {"N": "0.1"}
    assert to_attribute({"t": 1.5, "x": float("nan")}) == {"M": {"t": {"N": "1.5"}, "x": {"NULL": True}}}


def test_a_number_dynamodb_would_round_is_refused():
    with pytest.raises(ArithmeticError):
        to_attribute(Decimal("1." + "1" * 40))


def error(code: str, **extra) -> dict:
    return {"Error": {"Code": code, "Message": ""}, **extra}


@pytest.mark.parametrize("response, retried", [
    (error("ProvisionedThroughputExceededException"), True),
    (error("ThrottlingException"), True),
    (error("RequestLimitExceeded"), True),
    (error("TransactionConflictException"), True),
    (error("TransactionCanceledException", CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}]), True),
    (error("TransactionCanceledException", CancellationReasons=[{"Code": "ThrottlingError"}, {"Code": "ConditionalCheckFailed"}]), False),
    (error("ConditionalCheckFailedException"), False),
    (error("ValidationException"), False),
])
def test_only_throttles_and_conflicts_are_sent_again(response, retried):
    exc = client().exceptions.ClientError(response, "UpdateItem")

    assert throttled(exc) is retried


def test_a_throttled_write_is_sent_again_after_a_short_jittered_wait():
    ddb, sleeps = client(), []
    store = LeadStore(ddb, "leads", sleep=sleeps.append)
    with Stubber(ddb) as stub:
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException")
        stub.add_client_error("update_item", "ThrottlingException")
        stub.add_response("update_item", {"Attributes": {"pk": {"S": "e:x"}, "recycled": {"BOOL": True}}})

        store.record_recycled("e:x", True, 0)

        stub.assert_no_pending_responses()
    assert len(sleeps) == 2 and all(0 <= s <= 0.4 for s in sleeps)


def test_a_write_still_throttled_after_the_retries_raises():
    ddb, sleeps = client(), []
    store = LeadStore(ddb, "leads", sleep=sleeps.append)
    with Stubber(ddb) as stub:
        for _ in range(THROTTLE_RETRIES + 1):
            stub.add_client_error("update_item", "ProvisionedThroughputExceededException")

        with pytest.raises(ddb.exceptions.ProvisionedThroughputExceededException):
            store.record_recycled("e:x", True, 0)
    assert len(sleeps) == THROTTLE_RETRIES


def test_a_failed_condition_is_an_answer_not_retried():
    ddb, sleeps = client(), []
    store = LeadStore(ddb, "leads", sleep=sleeps.append)
    with Stubber(ddb) as stub:
        stub.add_client_error("update_item", "ConditionalCheckFailedException")

        recorded, item = store.record_transition("e:x", LeadState(stage="mql", transitions=1), 0,
                                                 {"score": 60, "fit": 30, "engagement": 30, "grade": "B1"}, 0.0)

        stub.assert_no_pending_responses()
    assert (recorded, item, sleeps) == (False, {}, [])


def test_a_merge_cancelled_by_a_failed_condition_is_not_retried():
    ddb, sleeps = client(), []
    store = LeadStore(ddb, "leads", sleep=sleeps.append)
    with Stubber(ddb) as stub:
        stub.add_client_error("transact_write_items", "TransactionCanceledException",
                              response_meta={}, modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}]})

        merged = store.merge({"pk": "v:1", "n": Decimal(1)}, "e:x", LeadState(), 0.0)

        stub.assert_no_pending_responses()
    assert (merged, sleeps) == (False, [])
