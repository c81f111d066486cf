"""Canonical events built the way ingest builds them, at a fixed `NOW`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any

from scoring_core import Event

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)

_ids = count(1)


def make_event(type: str, *, at: datetime = NOW, ago_days: float = 0, email: str | None = "ann@acme.io",
               anonymous_id: str | None = None, **fields: Any) -> Event:
    """A canonical event; `ago_days` before `at`."""
    occurred = at - timedelta(days=ago_days)
    return Event(
        event_id=fields.pop("event_id", f"evt-{next(_ids)}"),
        type=type,
        occurred_at=occurred,
        received_at=occurred,
        source=fields.pop("source", "test"),
        email=email,
        anonymous_id=anonymous_id,
        **fields,
    )
