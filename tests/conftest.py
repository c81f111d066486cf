"""Shared fixtures: events built the way ingest builds them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any

import pytest
from leadscore import settings
from scoring_core import Engine, Event, load_model

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fresh_container():
    """Each test a new container: settings read again from its environment, nothing built before kept."""
    settings.reset()
    yield
    settings.reset()


@pytest.fixture(scope="session")
def default_model():
    return load_model()


@pytest.fixture(scope="session")
def engine(default_model):
    return Engine(default_model)


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
