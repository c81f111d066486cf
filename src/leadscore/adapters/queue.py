"""Queue canonical events on SQS with SendMessageBatch, never silently dropping one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core.events import Event

MAX_ENTRIES = 10  # SQS SendMessageBatch: at most 10 entries
MAX_BATCH_BYTES = 256 * 1024  # and at most 256 KiB in all
ATTEMPTS = 4


class QueueError(Exception):
    """Some events could not be queued after retries: the sender must retry (answer 5xx)."""

    def __init__(self, failed: int, codes: Sequence[str]):
        super().__init__(f"{failed} event(s) not queued ({', '.join(sorted(set(codes))) or 'error'})")
        self.failed = failed


def _chunks(bodies: list[str]) -> list[list[tuple[str, str]]]:
    """(entry id, body) groups within SendMessageBatch's count and size limits."""
    chunks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for i, body in enumerate(bodies):
        n = len(body.encode())
        if current and (len(current) == MAX_ENTRIES or size + n > MAX_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append((str(i), body))
        size += n
    if current:
        chunks.append(current)
    return chunks


class EventQueue:
    """Sends events to one queue. Entries SQS reports as failed are retried with
    backoff; a throttled or failing call is retried by botocore's own retries."""

    def __init__(self, client: Any, queue_url: str, sleep: Callable[[float], None] = time.sleep):
        self._client = client
        self._url = queue_url
        self._sleep = sleep

    def send(self, events: Sequence[Event]) -> None:
        """Queue every event or raise QueueError naming how many could not be queued."""
        bodies = [ev.model_dump_json() for ev in events]
        failed_codes: list[str] = []
        failed = 0
        chunks = _chunks(bodies)
        for index, chunk in enumerate(chunks):
            pending = chunk
            for attempt in range(ATTEMPTS):
                if attempt:
                    self._sleep(0.05 * 2**attempt)
                try:
                    response = self._client.send_message_batch(
                        QueueUrl=self._url, Entries=[{"Id": i, "MessageBody": body} for i, body in pending]
                    )
                except (BotoCoreError, ClientError) as exc:
                    # botocore already retried throttling and 5xx; the whole call failed
                    raise QueueError(failed + sum(len(c) for c in chunks[index:]), [exc.__class__.__name__]) from None
                errors = response.get("Failed", [])
                # sender faults (a malformed entry) will never succeed: do not retry them
                retry_ids = {e["Id"] for e in errors if not e.get("SenderFault")}
                failed_codes += [e.get("Code", "") for e in errors if e.get("SenderFault")]
                failed += sum(1 for e in errors if e.get("SenderFault"))
                pending = [(i, b) for i, b in pending if i in retry_ids]
                if not pending:
                    break
            if pending:
                failed += len(pending)
                failed_codes.append("retries exhausted")
        if failed:
            raise QueueError(failed, failed_codes)
