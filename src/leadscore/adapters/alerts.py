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
