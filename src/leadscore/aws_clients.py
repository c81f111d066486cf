"""How this container's AWS clients are made: botocore clients, one session per process.

Only `leadscore.dependencies` calls this (it keeps one client per service per
container); the adapters receive the clients it made.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


def make_client(service: str, endpoint_url: str | None = None, validate: bool = True) -> Any:
    """A client for `service`; `validate=False` turns off botocore's client-side parameter
    validation, only for a client whose every request shape our own code guarantees
    (`Dependencies.queue`)."""
    from botocore.config import Config

    config = None if validate else Config(parameter_validation=False)
    client = botocore_session().create_client(service, endpoint_url=endpoint_url, config=config)
    return cache_user_agent(client)


@lru_cache(maxsize=1)
def botocore_session() -> Any:
    """One botocore session per process, as boto3's default session was.

    Clients come from botocore directly: `boto3.client` is this same call behind
    boto3's own session, and importing boto3 also imports s3transfer and its
    concurrency machinery (boto3.compat), ~13 ms of every cold start for nothing a
    low-level client uses. Credentials, region, retries and endpoints resolve in
    botocore either way."""
    import botocore.session

    return botocore.session.get_session()


def cache_user_agent(client: Any) -> Any:
    """Build the client's User-Agent header once per set of SDK features, not on every call.

    botocore rebuilds the header from ~30 sanitized components for each request (and again when
    the request is created): about half of its own CPU time per SendMessage here (bench/pixel.py).
    The string depends only on the client's fixed settings and the features in the request
    context, so it is cached on those. A botocore without the per-request features (before
    1.38, which added `botocore.context`; a Lambda runtime may still bundle one) builds the
    same string for every request, so it is cached once; a botocore without this internal is
    left as it is."""
    creator = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if creator is None or build is None:
        return client
    try:
        from botocore.context import get_context
    except ImportError:  # botocore < 1.38: no request features, one header per client

        def get_context() -> Any:  # type: ignore[misc]  # the same call, never a context
            return None

    cache: dict[frozenset[str], str] = {}

    def to_string() -> str:
        ctx = get_context()
        key = frozenset(ctx.features) if ctx is not None else frozenset()
        value = cache.get(key)
        if value is None:
            value = cache[key] = build()
        return value

    creator.to_string = to_string  # the instance's, which botocore's request-created handler calls too
    return client
