"""Load a function's handler the way Lambda does: `<CodeUri>/<module>.py`, attribute `<function>`."""

from __future__ import annotations

import importlib.util
import sys
import threading
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Callable


def load_module(code_uri: Path, module: str = "app") -> ModuleType:
    name = f"lambda_{code_uri.name}_{module}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, code_uri / f"{module}.py")
    assert spec and spec.loader, code_uri
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def container_lock(handler: Callable[..., Any]) -> threading.Lock:
    """The lock to hold while invoking `handler`. A Lambda container runs one invocation at a
    time, and handlers rely on it (powertools' resolvers keep the current event in a class
    attribute, shared by every resolver in the process: http.py serializes HTTP invocations
    across functions too). Locally each handler module is loaded once and shared by every thread, so
    invocations of the same module are serialized, as in one container."""
    key = getattr(handler, "__module__", None) or repr(handler)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def load_handler(code_uri: Path, handler: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, func = handler.rpartition(".")
    return getattr(load_module(code_uri, module), func)


class LambdaContext:
    """The parts of Lambda's context object handlers and powertools read."""

    def __init__(self, function_name: str, memory_mb: int = 512, timeout_s: float = 10):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_ms = int(timeout_s * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms
