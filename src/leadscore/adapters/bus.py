"""Publish stage transitions and trigger firings to EventBridge: PutEvents in chunks of 10, failed entries retried.

A detail with a `firing_id` is a trigger's firing (`LeadTriggered`); any other, a stage change
(`LeadStageChanged`), as `leadscore.contracts` defines them."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

SOURCE = "leadscore"
DETAIL_TYPE = "LeadStageChanged"
TRIGGERED_DETAIL_TYPE = "LeadTriggered"
MAX_ENTRIES = 10
ATTEMPTS = 3


class TransitionBus:
    def __init__(self, client: Any, bus_name: str, sleep: Callable[[float], None] = time.sleep, log: Callable[..., None] | None = None):
        self._client = client
        self.bus_name = bus_name
        self._sleep = sleep
        self._log = log or (lambda msg, **fields: logging.getLogger("leadscore.bus").warning(msg, extra=fields))

    def publish(self, details: Sequence[dict[str, Any]]) -> set[str]:
        """Publish each transition or firing detail; returns the ids (`transition_id`, `firing_id`) not published."""
        failed: set[str] = set()
        for start in range(0, len(details), MAX_ENTRIES):
            pending = list(details[start : start + MAX_ENTRIES])
            for attempt in range(ATTEMPTS):
                if attempt:
                    self._sleep(0.1 * 2**attempt)
                entries = [{"Source": SOURCE, "DetailType": detail_type(d), "Detail": json.dumps(d), "EventBusName": self.bus_name}
                           for d in pending]
                try:
                    response = self._client.put_events(Entries=entries)
                except (BotoCoreError, ClientError) as exc:
                    self._log("put_events failed", error=exc.__class__.__name__)  # the message may quote the detail: no email
                    continue
                results = response.get("Entries", [])
                retry = [d for d, r in zip(pending, results) if r.get("ErrorCode")]
                for r in results:
                    if r.get("ErrorCode"):
                        self._log("entry not published", error_code=r.get("ErrorCode"), error_message=r.get("ErrorMessage"))
                pending = retry
                if not pending:
                    break
            failed |= {d.get("transition_id") or d["firing_id"] for d in pending}
        return failed


def detail_type(detail: dict[str, Any]) -> str:
    """`LeadTriggered` for a trigger's firing, `LeadStageChanged` for a stage change."""
    return TRIGGERED_DETAIL_TYPE if "firing_id" in detail else DETAIL_TYPE
