"""Headless Chromium as this machine runs it: Debian's /usr/bin/chromium driven by Playwright.

Browsers cannot be downloaded here, so Playwright always gets the system's executable,
with the flags that keep it from stalling on the closed network, and a fresh profile."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# A real visitor's browser: desktop Chrome on Windows. The pixel drops bot user agents
# (crawler-user-agents), and headless Chromium's own user agent says "HeadlessChrome",
# which is on that list: with it, every page view would be dropped as a bot's.
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_chromium() -> None:
    """Skip without Chromium outside CI; under CI a missing browser is a failure (.ci/run installs it)."""
    if CHROMIUM.exists():
        return
    if in_ci():
        pytest.fail(f"{CHROMIUM} is missing under CI: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium package); CI is not set, so the "
                "browser end-to-end test is skipped")


@contextmanager
def browser_context(prefix: str, viewport: dict[str, int]) -> Iterator[Any]:
    """A persistent Playwright context on a new, empty profile, removed afterwards."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix=prefix)
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                user_data_dir=profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                user_agent=USER_AGENT, viewport=viewport)
            context.set_default_timeout(15_000)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
