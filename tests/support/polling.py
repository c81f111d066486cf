"""Waiting for something asynchronous (a poller, a stream, a browser) to happen, bounded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 15.0, every: float = 0.1) -> T:
    """`check()`'s first truthy value within `timeout` seconds; AssertionError after that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")
