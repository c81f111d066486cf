"""The notifiers' AWS calls: email through SES, parking on the alerts dead-letter queue,
and the alerts table that remembers which alerts were sent (powertools idempotency).

A failure is classified for `notify.deliver`: `Transient` (the invocation fails and
Lambda retries it) or `Permanent` (the alert is parked at once).
"""

from __future__ import annotations

from typing import Any

from ..notify.errors import Permanent, Transient

# SES error codes worth another try; anything else (MessageRejected, an unverified
# sender, a bad address) will fail the same way again
SES_RETRYABLE = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException",
                 "ServiceUnavailable", "InternalFailure", "SendingPausedException"}


class AlertMailer:
    """Raw MIME messages through SES (v2 API). `client` is a botocore `sesv2` client."""

    def __init__(self, client: Any):
        self._client = client

    def send(self, sender: str, recipients: list[str], message: bytes) -> str:
        """Send one message to every recipient; returns SES's message id."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.send_email(FromEmailAddress=sender, Destination={"ToAddresses": recipients},
                                               Content={"Raw": {"Data": message}})
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in SES_RETRYABLE or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) >= 500:
                raise Transient(f"SES {code}") from None
            raise Permanent(f"SES refused the message: {code}") from None
        except BotoCoreError as exc:
            raise Transient(f"SES unreachable: {exc.__class__.__name__}") from None
        message_id: str = response["MessageId"]
        return message_id


class ParkedAlerts:
    """The alerts dead-letter queue (SQS), where an alert that cannot be delivered waits for a person."""

    def __init__(self, client: Any, queue_url: str):
        self._client = client
        self.queue_url = queue_url

    def park(self, body: str) -> None:
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=body)


def sent_alerts(client: Any, table: str) -> Any:
    """The alerts table as powertools idempotency's persistence layer (a DynamoDB client)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table, boto3_client=client)


#: the channels that keep a record per alert sent (notify.deliver's key prefixes `alert#<channel>`)
ALERT_CHANNELS = ("slack", "email", "crm")


class SentAlerts:
    """The alerts table's records of one lead's alerts, for access and erasure requests.

    A record's id is powertools idempotency's key, `alert#<channel>#<md5 of the transition_id>`, and a
    transition id is a hash of (lead key, seq, from, to): a lead's records are found by computing the
    ids of every transition it can have had (each seq below its counter, every pair of stages), with
    powertools' own key function, and reading those (no Scan). `client` is a botocore DynamoDB client."""

    def __init__(self, client: Any, table: str):
        self._client = client
        self.table = table

    def record_ids(self, transition_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Record id -> (channel, transition id), for every channel."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

        ids: dict[str, tuple[str, str]] = {}
        for channel in ALERT_CHANNELS:
            layer = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self._client)
            layer.configure(IdempotencyConfig(event_key_jmespath="transition_id"), key_prefix=f"alert#{channel}")
            for tid in transition_ids:
                record = layer._get_hashed_idempotency_key({"transition_id": tid})  # noqa: SLF001 (the key notify writes)
                if record:
                    ids[record] = (channel, tid)
        return ids

    def find(self, transition_ids: list[str]) -> list[dict[str, Any]]:
        """The records of alerts sent for these transitions: id, channel, transition_id, status, expiration."""
        ids = self.record_ids(transition_ids)
        keys = list(ids)
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": [{"id": {"S": k}} for k in keys[start:start + 100]],
                                                    "ConsistentRead": True}}
            for _ in range(5):
                if not pending:
                    break
                answer = self._client.batch_get_item(RequestItems=pending)
                for item in answer["Responses"].get(self.table, []):
                    channel, tid = ids[item["id"]["S"]]
                    found.append({"id": item["id"]["S"], "channel": channel, "transition_id": tid,
                                  "status": item.get("status", {}).get("S"),
                                  "expiration": int(item["expiration"]["N"]) if "expiration" in item else None})
                pending = answer.get("UnprocessedKeys") or {}
            if pending:
                raise RuntimeError("BatchGetItem kept leaving keys unprocessed")
        return sorted(found, key=lambda r: (r["transition_id"], r["channel"]))

    def delete(self, record_ids: list[str]) -> int:
        """Delete these records (BatchWriteItem, 25 a call); how many were asked for."""
        for start in range(0, len(record_ids), 25):
            pending: dict[str, Any] = {self.table: [{"DeleteRequest": {"Key": {"id": {"S": k}}}}
                                                    for k in record_ids[start:start + 25]]}
            for _ in range(5):
                if not pending:
                    break
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                raise RuntimeError("BatchWriteItem kept leaving deletes unprocessed")
        return len(record_ids)
