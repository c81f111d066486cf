"""testbed.fast_moto: moto's DynamoDB gives the same answers and tables with the speed-ups, and is itself again after."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from testbed.fast_moto import exact_moto, faster_moto

TABLE = "t"


@pytest.fixture
def moto_env(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield
    exact_moto()  # whatever a test did, the next one gets moto as installed


def answer(call, **kwargs):
    """A call's response without its metadata (request ids, dates), or the error code it raised."""
    try:
        response = call(**kwargs)
    except ClientError as exc:
        return ("error", exc.response["Error"]["Code"])
    response.pop("ResponseMetadata", None)
    return response


def scenario() -> tuple[list, list]:
    """Writes of every kind the worker makes, on a fresh moto: (every answer, the table at the end)."""
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(TableName=TABLE, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        out = []
        for i in range(60):  # past the 50 responses per operation checked against moto's serializer
            key = {"pk": {"S": f"lead-{i % 7}"}}
            out.append(answer(ddb.update_item, TableName=TABLE, Key=key,
                              UpdateExpression="SET #e = if_not_exists(#e, :z) + :p, #f = :f ADD #n :one, #s :h REMOVE #gone",
                              ExpressionAttributeNames={"#e": "e", "#f": f"f.{i % 3}", "#n": "n", "#s": f"s.{i % 2}", "#gone": "tmp"},
                              ExpressionAttributeValues={":z": {"N": "0"}, ":p": {"N": str(i)}, ":f": {"M": {"v": {"S": "x" * i}}},
                                                         ":one": {"N": "1"}, ":h": {"SS": [f"h{i}"]}},
                              ReturnValues="ALL_NEW"))
            out.append(answer(ddb.put_item, TableName=TABLE, Item={"pk": {"S": f"alias-{i}"}, "merged_into": key["pk"]},
                              ConditionExpression="attribute_not_exists(pk)"))
            out.append(answer(ddb.get_item, TableName=TABLE, Key=key, ConsistentRead=True))
        # a failed condition returns the item as it is
        out.append(answer(ddb.put_item, TableName=TABLE, Item={"pk": {"S": "alias-1"}}, ConditionExpression="attribute_not_exists(pk)",
                          ReturnValuesOnConditionCheckFailure="ALL_OLD"))
        # a transaction whose second condition fails leaves the first item as it was
        out.append(answer(ddb.transact_write_items, TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "lead-0"}}, "UpdateExpression": "SET merged = :t",
                        "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "alias-2"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        ]))
        out.append(answer(ddb.transact_write_items, TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "lead-1"}}, "UpdateExpression": "SET merged = :t",
                        "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "lead-2"}}}},
        ]))
        table = sorted(ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"], key=lambda item: item["pk"]["S"])
        return out, table


def test_the_speed_ups_give_the_same_answers_and_the_same_table(moto_env):
    exact = scenario()
    faster_moto()

    fast = scenario()

    assert fast == exact
    answers, table = fast
    assert ("error", "TransactionCanceledException") in answers
    assert not any("merged" in item for item in table if item["pk"]["S"] == "lead-0")  # rolled back
    assert "lead-2" not in {item["pk"]["S"] for item in table}


def test_exact_moto_puts_back_the_checks_the_speed_ups_skip(moto_env):
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    installed = UpdateExpressionParser.__dict__["make"]
    faster_moto()
    faster_moto()  # a second call changes nothing

    exact_moto()

    assert UpdateExpressionParser.__dict__["make"] is installed
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(TableName=TABLE, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        with pytest.raises(ClientError, match="part of the key"):  # UpdateHashRangeKeyValidator, skipped while faster
            ddb.update_item(TableName=TABLE, Key={"pk": {"S": "a"}}, UpdateExpression="SET pk = :v",
                            ExpressionAttributeValues={":v": {"S": "b"}})
