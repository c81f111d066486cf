"""The environment a deployed function sees, for runs on moto in this process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

#: as the template's Globals set it, with credentials for moto
AS_DEPLOYED = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_SESSION_TOKEN": "bench", "POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_SERVICE_NAME": "score",
               "POWERTOOLS_METRICS_NAMESPACE": "leadscore"}
#: what would point a run elsewhere than moto or give it another lead-key secret
NOT_DEPLOYED = ("AWS_ENDPOINT_URL", "SECRETS_ARN", "LEAD_KEY_SECRET", "AWS_PROFILE")


def as_deployed() -> None:
    """Set `AS_DEPLOYED` and unset `NOT_DEPLOYED` for the rest of the process (a benchmark's run)."""
    os.environ.update(AS_DEPLOYED)
    for name in NOT_DEPLOYED:
        os.environ.pop(name, None)


@contextlib.contextmanager
def environment(values: dict[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """`values` set and `unset` removed inside the block; every variable they name as it was after."""
    unset = tuple(unset)
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    os.environ.update(values)
    for name in unset:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
