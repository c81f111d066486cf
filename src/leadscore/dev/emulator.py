"""moto's memory, bounded for a long `leadscore dev` run.

moto keeps, for as long as the process lives, things AWS lets go of:

- a table's stream keeps every record (old and new image of every write) in
  one list: AWS trims it after 24 hours. Here the stack trims what every
  consumer of the stream has read (`trim_stream`), so the trim horizon
  (TRIM_HORIZON, the shard's starting sequence number) moves up to it;
  sequence numbers go on from where they were.
- every GetRecords issues a new shard iterator and keeps it for ever (the
  pump reads 20 times a second: about 1.5 KB each): AWS expires them after
  15 minutes. Here an iterator is good for the one GetRecords it was issued
  for (the pump always goes on with the NextShardIterator it was given).
- a queue keeps the receipt handle of every message ever deleted (so that a
  second delete of one is not an error): here the latest
  `RECENT_RECEIPTS` of them.
- a queue's receive lists every visible message before taking the first
  ten, and a delete scans the queue twice and rebuilds it (replacing the
  list: a message sent meanwhile by another thread could be lost): with a
  backlog both are O(queue) per message. Here receive walks the queue lazily
  and a delete removes the one message in place.
- a send reads the queue's attributes, whose three approximate message
  counts each walk the whole queue: with a backlog, O(queue) per message
  sent. Here the counts are taken in one walk and kept for
  `COUNTS_MAX_AGE_S` (they are approximate in AWS too, and lag).

- every model object moto creates (each item version a write leaves, each
  stream record, each shard iterator, each queue message) is also appended to
  its class's `instances_tracked` list, for moto's dashboard, and kept until
  the emulator is reset: about 150 KB for each event the worker applied. Here
  those lists keep nothing while the stack runs (`_NotTracked`).

- not moto's but glibc's: by default malloc gives each thread that allocates
  an arena of its own (up to 8 per core), and each keeps its high-water mark,
  so a process of many threads holds far more than it uses after a burst.
  `leadscore dev` caps them at MALLOC_ARENAS before it starts a thread
  (`limit_malloc_arenas`, glibc's `mallopt(M_ARENA_MAX)`).

These are narrow patches of moto's internals for the emulator harness only:
`bound(...)` applies them to the stack's own queues and tables while it runs
and `unbound()` takes them back (the in-process moto of the tests is not
touched otherwise).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

RECENT_RECEIPTS = 10_000
COUNTS_MAX_AGE_S = 1.0  # a queue's approximate message counts are this old at most (AWS: about a minute)

_stream_lock = threading.RLock()  # a shard's record list and its starting sequence number change together
_saved: dict[str, Any] = {}


def _locked_add(self: Any, old: Any, new: Any) -> None:
    with _stream_lock:
        _saved["StreamShard.add"](self, old, new)


def _locked_get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
    with _stream_lock:
        return _saved["StreamShard.get"](self, start, quantity)


def _get_records_once(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
    try:
        return _saved["DynamoDBStreamsBackend.get_records"](self, iterator_arn, limit)
    finally:
        self.shard_iterators.pop(iterator_arn, None)


class _RecentReceipts:
    """What moto's `Queue.deleted_messages` set is used for (`in`, `update`), keeping the latest `limit`."""

    def __init__(self, limit: int | None = None):
        self.limit = RECENT_RECEIPTS if limit is None else limit
        self._handles: dict[str, None] = {}

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def __len__(self) -> int:
        return len(self._handles)

    def update(self, handles: Iterable[str]) -> None:
        for handle in handles:
            self._handles[handle] = None
        while len(self._handles) > self.limit:
            del self._handles[next(iter(self._handles))]


class _VisibleMessages:
    """`Queue.messages` (the visible, undelayed messages), walked lazily rather than listed."""

    def __init__(self, messages: list[Any]):
        self._messages = messages

    def __iter__(self) -> Iterator[Any]:
        return (m for m in list(self._messages) if m.visible and not m.delayed)

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _lean_queue_class(queue_class: type) -> type:
    class LeanQueue(queue_class):  # type: ignore[misc, valid-type]
        @property
        def messages(self) -> Any:
            return _VisibleMessages(self._messages)

        def _counts(self) -> tuple[int, int, int]:
            now = time.monotonic()
            taken, counts = getattr(self, "_lean_counts", (0.0, (0, 0, 0)))
            if now - taken > COUNTS_MAX_AGE_S:
                visible = delayed = hidden = 0
                for m in list(self._messages):
                    is_delayed, is_visible = m.delayed, m.visible
                    delayed += is_delayed
                    hidden += not is_visible
                    visible += is_visible and not is_delayed
                counts = (visible, delayed, hidden)
                self._lean_counts = (now, counts)
            return counts

        @property
        def approximate_number_of_messages(self) -> int:
            return self._counts()[0]

        @property
        def approximate_number_of_messages_delayed(self) -> int:
            return self._counts()[1]

        @property
        def approximate_number_of_messages_not_visible(self) -> int:
            return self._counts()[2]

        def delete_message(self, receipt_handle: str) -> None:
            if receipt_handle in self.deleted_messages:
                return
            for i, message in enumerate(self._messages):
                if message.had_receipt_handle(receipt_handle):
                    del self._messages[i]
                    self.pending_messages.discard(message)
                    self.deleted_messages.update(message.all_receipt_handles)
                    return
            super().delete_message(receipt_handle)  # moto's own error for a handle it never gave

    LeanQueue.__name__ = LeanQueue.__qualname__ = "Queue"
    return LeanQueue


class _NotTracked(list):  # type: ignore[type-arg]
    """A model class's `instances_tracked` that forgets what moto appends to it."""

    def append(self, instance: object) -> None:
        pass


def _stop_tracking_instances() -> None:
    """moto's BaseModel keeps every instance of every model class it has defined (moto.core.model_instances)."""
    from moto.core.model_instances import model_data

    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = _NotTracked()  # type: ignore[attr-defined]


def bound(account: str, region: str, queue_names: Iterable[str]) -> None:
    """Apply the bounds: to every table stream (locking, single-use iterators), to these queues, and to
    moto's instance tracking (of every model class defined by now: the stack has used each service)."""
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend
    from moto.sqs.models import Queue, sqs_backends

    _stop_tracking_instances()
    if not _saved:
        _saved["StreamShard.add"], _saved["StreamShard.get"] = StreamShard.add, StreamShard.get
        _saved["DynamoDBStreamsBackend.get_records"] = DynamoDBStreamsBackend.get_records
        StreamShard.add, StreamShard.get = _locked_add, _locked_get  # type: ignore[method-assign]
        DynamoDBStreamsBackend.get_records = _get_records_once  # type: ignore[method-assign]
    lean = _lean_queue_class(Queue)
    queues = sqs_backends[account][region].queues
    for name in queue_names:
        queue = queues[name]
        queue.__class__ = lean
        queue.deleted_messages = _RecentReceipts()


def unbound() -> None:
    """Take the class patches back (the queues they were applied to go with the emulator's reset)."""
    from moto.core.model_instances import reset_model_data

    reset_model_data()  # tracking as moto does it again, from nothing
    if not _saved:
        return
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    StreamShard.add, StreamShard.get = _saved.pop("StreamShard.add"), _saved.pop("StreamShard.get")  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _saved.pop("DynamoDBStreamsBackend.get_records")  # type: ignore[method-assign]


def trim_stream(account: str, region: str, table_name: str, read_through: int) -> int:
    """Drop the table's stream records up to sequence number `read_through` (read by every consumer):
    the trim horizon moves past them. Returns how many records are left."""
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[account][region].get_table(table_name).stream_shard
    if shard is None:
        return 0
    with _stream_lock:
        count = min(max(read_through - shard.starting_sequence_number + 1, 0), len(shard.items))
        if count:
            del shard.items[:count]
            shard.starting_sequence_number += count
        return len(shard.items)


def stream_records_kept(account: str, region: str, table_name: str) -> int:
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[account][region].get_table(table_name).stream_shard
    return len(shard.items) if shard is not None else 0


#: glibc's malloc arenas for the whole process (M_ARENA_MAX): its default, 8 per core, gives each
#: of the stack's threads (the HTTP server's, moto's, the pollers') a heap of its own, each keeping
#: its high-water mark; two keeps a long run's RSS nearer what it holds (bench/dev_memory.py)
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas before the stack starts its threads. False where the C library
    is not glibc (musl, macOS) or refuses: that changes nothing but the memory a long run keeps."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
