"""A DynamoDB stream → a function, as Lambda's DynamoDB event source mapping delivers it.

Used by the local stack (a thread pumps every stream source of the template),
by the integration tests and by bench/aws_calls.py, against moto. What it
does as the mapping does:

- reads every shard of the table's stream from TRIM_HORIZON, in order;
- keeps the records that match the template's FilterCriteria (EventBridge
  pattern syntax, matched with moto's EventBridge matcher) and drops the rest;
- invokes the handler with `{"Records": [...]}` of up to BatchSize records,
  shaped as Lambda shapes them (DynamoDB JSON, binary values base64,
  `ApproximateCreationDateTime` in epoch seconds);
- with ReportBatchItemFailures, a returned `itemIdentifier` (a sequence
  number) makes the next pump start again at that record; a handler that
  raises gets the whole batch again.

What it does not: the batching window (it delivers what is there when it is
pumped), bisecting, retry limits and record age (it retries until the
handler succeeds), parallelization.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .template import StreamSource


def _lambda_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record from GetRecords (boto3's decoded form) as Lambda delivers it."""
    shaped = {k: record[k] for k in ("eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb") if k in record}
    shaped["eventSourceARN"] = stream_arn
    return json.loads(json.dumps(shaped, default=_lambda_json))


def streams_client(**kwargs: Any) -> Any:
    """A DynamoDB Streams client for the emulator. botocore sends calls that name a stream ARN to
    the account's endpoint (`<account>.streams-ddb.<region>...`), which moto 5.2 does not serve:
    the regional endpoint is asked instead (what `account_id_endpoint_mode` is for)."""
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"), **kwargs)


class StreamPump:
    """One stream source: the table's stream, its filter, its batch size and its handler."""

    def __init__(self, ddb: Any, streams: Any, table_name: str, source: StreamSource,
                 handler: Callable[[dict[str, Any], Any], Any], context: Any = None):
        from moto.events.models import EventPattern

        self.source = source
        self.handler = handler
        self.context = context
        self._streams = streams
        self.stream_arn = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._patterns = [EventPattern.load(p) for p in source.patterns]
        self._iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: shard closed)
        self._pending: list[dict[str, Any]] = []  # filtered records not yet delivered, in order
        self.read_through: dict[str, int] = {}  # shard id -> the last sequence number read (what may be trimmed)
        self.invocations = 0
        self.records_read = 0

    @property
    def pending(self) -> int:
        """Records read and kept by the filter, not yet delivered."""
        return len(self._pending)

    def _passes(self, record: dict[str, Any]) -> bool:
        return not self._patterns or any(p.matches_event(record) for p in self._patterns)

    def read(self) -> None:
        """Read what the stream has added since the last read (every shard) into the pending list."""
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"].get("Shards", [])
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self._iterators:
                self._iterators[sid] = self._streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while self._iterators[sid]:
                response = self._streams.get_records(ShardIterator=self._iterators[sid], Limit=1000)
                self._iterators[sid] = response.get("NextShardIterator")
                records = response.get("Records", [])
                self.records_read += len(records)
                if records:
                    self.read_through[sid] = max(int(r["dynamodb"]["SequenceNumber"]) for r in records)
                self._pending += [r for r in (lambda_record(x, self.stream_arn) for x in records) if self._passes(r)]
                if not records:
                    break

    def deliver(self) -> int:
        """Invoke the handler on the pending records, a batch at a time, until they are all
        delivered or one batch reports a failure (it is retried from that record at the next
        call). Returns the number of records still pending."""
        while self._pending:
            batch = self._pending[: self.source.batch_size]
            self.invocations += 1
            try:
                response = self.handler({"Records": batch}, self.context) or {}
            except Exception:
                return len(self._pending)  # the same batch again next time
            failures = (response.get("batchItemFailures") or []) if self.source.partial else []
            if failures:
                failed = {f.get("itemIdentifier") for f in failures}
                at = next((i for i, r in enumerate(batch) if r["dynamodb"].get("SequenceNumber") in failed), 0)
                self._pending = self._pending[at:]
                return len(self._pending)
            self._pending = self._pending[len(batch):]
        return 0

    def pump(self) -> int:
        """Read, then deliver; the number of records left pending (after a reported failure)."""
        self.read()
        return self.deliver()
