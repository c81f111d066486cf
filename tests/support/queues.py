"""What the moto queues of the integration fixtures hold: each message received once, then deleted."""

from __future__ import annotations

import json
from typing import Any


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def queued(aws: Any) -> list[dict[str, Any]]:
    """Every event body on the events queue."""
    return _drain(aws.sqs, aws.queue_url)


def parked(aws: Any) -> list[dict[str, Any]]:
    """Every message on the alerts dead-letter queue."""
    return _drain(aws.sqs, aws.alerts_dlq)


def captured(stack: Any) -> list[dict[str, Any]]:
    """The LeadStageChanged events the bus delivered, whole (as a rule hands them to a target),
    once the stream publisher has run over the table's new stream records."""
    stack.publish()
    return _drain(stack.sqs, stack.capture)


def published(stack: Any) -> list[dict[str, Any]]:
    """What reached EventBridge, each event's detail: the stream publisher is run first over the table's new stream records."""
    return [event["detail"] for event in captured(stack)]
