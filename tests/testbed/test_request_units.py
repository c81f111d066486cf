"""testbed.request_units: DynamoDB's item size rules, and the meter's units for each kind of write."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from testbed.request_units import Meter, attribute_size, item_size

TABLE = "metered"


def test_item_size_counts_names_and_values_as_dynamodb_documents():
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"N": "123"}}) == 1 + 3  # 3 significant digits: (3 + 1) // 2 + 1 bytes
    assert item_size({"n": {"N": "-1.50e10"}}) == 1 + 2  # sign, point, exponent and trailing zeros are free
    assert item_size({"é": {"S": "ü"}}) == 2 + 2  # UTF-8 bytes, names too
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size({"m": {"M": {"a": {"S": "x"}}}}) == 1 + 3 + (1 + 1 + 1)  # 3 bytes per map, 1 per element
    assert item_size({"l": {"L": [{"N": "1"}, {"S": "ab"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"ss": {"SS": ["ab", "c"]}}) == 2 + 3


def test_a_moto_value_has_the_size_of_its_wire_form():
    from moto.dynamodb.models.dynamo_type import DynamoType

    wire = {"M": {"tags": {"SS": ["a", "bc"]}, "n": {"N": "42"}}}

    assert attribute_size(DynamoType(wire)) == attribute_size(wire)


@pytest.fixture
def metered(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.Session()
        ddb = session.client("dynamodb")
        ddb.create_table(TableName=TABLE, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        meter = Meter({"Resources": {}}, {})
        ddb.meta.events.register("provide-client-params", meter.before)
        ddb.meta.events.register("after-call", meter.after)
        meter.active = True
        yield ddb, meter


def test_a_write_costs_one_unit_per_started_kilobyte_of_the_larger_item(metered):
    ddb, meter = metered

    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "body": {"S": "x" * 1500}})  # 2 KB started
    ddb.update_item(TableName=TABLE, Key={"pk": {"S": "a"}}, UpdateExpression="REMOVE body")  # billed on the item before

    assert meter.writes == 2
    assert meter.wru == 2 + 2
    assert meter.calls == {"dynamodb.PutItem[link-alias]": 1, "dynamodb.UpdateItem[update]": 1}


def test_a_failed_condition_is_billed_on_the_existing_item_and_counted_as_failed(metered):
    ddb, meter = metered
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "body": {"S": "x" * 3000}})
    meter.reset()

    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")

    assert meter.wru == 3
    assert meter.failed == {"dynamodb.PutItem[link-alias]:ConditionalCheckFailedException": 1}


def test_a_transaction_costs_twice_per_item(metered):
    ddb, meter = metered

    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": {"pk": {"S": k}}}} for k in ("a", "b")])

    assert meter.writes == 2
    assert meter.wru == 2 * 2


def test_a_read_costs_half_a_unit_per_started_4_kb_unless_consistent(metered):
    ddb, meter = metered
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "body": {"S": "x" * 5000}})
    meter.reset()

    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}}, ConsistentRead=True)

    assert meter.reads == 2
    assert meter.rru == 2 * 0.5 + 2 * 1.0


def test_nothing_is_counted_while_the_meter_is_off(metered):
    ddb, meter = metered
    meter.active = False

    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}})

    assert (meter.calls, meter.writes, meter.wru) == ({}, 0, 0.0)
