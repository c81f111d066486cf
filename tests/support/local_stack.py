"""The local stack (`leadscore dev`) for tests: started on a free port, the process put back afterwards."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from leadscore.dev.http import INTEGRATION_TIMEOUT_S


@contextmanager
def running_stack(unset: Iterable[str] = (), **kwargs: Any) -> Iterator[Any]:
    """A started DevStack whose printed lines are in `.lines`, started without the settings named in
    `unset`; the environment and settings restored after. Never on port 3000, `leadscore dev`'s
    default, which a developer may be running."""
    from leadscore import settings
    from leadscore.dev import stack as dev

    saved = dict(os.environ)
    for name in unset:
        os.environ.pop(name, None)
    port = dev.free_port()
    while port == 3000:
        port = dev.free_port()
    lines: list[str] = []
    s = dev.DevStack(port=port, out=lines.append, **kwargs)
    s.lines = lines
    try:
        s.start()
        yield s
    finally:
        s.stop()
        os.environ.clear()
        os.environ.update(saved)
        settings.reset()


def http_call(s: Any, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request to the stack, errors included."""
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}{path}", data=body, method=method, headers=headers or {})
    try:  # API Gateway's integration timeout: the local gateway answers 503 by then (leadscore.dev.http)
        with urllib.request.urlopen(request, timeout=INTEGRATION_TIMEOUT_S + 5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except TimeoutError as e:  # say what the stack was doing instead of answering
        raise TimeoutError(f"{method} {path}: no answer in {INTEGRATION_TIMEOUT_S + 5:.0f} s; "
                           f"the process's threads:\n{thread_stacks()}") from e


def thread_stacks() -> str:
    """Where every thread of this process is, innermost frames last (what a hang is waiting on)."""
    import sys
    import threading
    import traceback

    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(f"--- {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame)[-8:])
                     for ident, frame in sys._current_frames().items())
