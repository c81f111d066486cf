"""What one Lambda container builds once: AWS clients, the engine, the worker, from
the settings (`leadscore.settings`), created on first use (not at import), so
importing a handler needs no environment and no AWS. `settings.reset()` forgets
them all."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from .adapters.queue import EventQueue
from .settings import ConfigError, per_container, settings

__all__ = ["ConfigError", "aws_client", "engine", "event_queue", "pixel_key", "publisher", "queue_client", "raw_body",
           "restrictions", "settings", "worker"]


@per_container
def aws_client(service: str, validate: bool = True) -> Any:
    """The container's client for `service`; `validate=False` turns off botocore's client-side
    parameter validation, only for a client whose every request shape our own code guarantees
    (see `queue_client`)."""
    from botocore.config import Config

    config = None if validate else Config(parameter_validation=False)
    client = _session().create_client(service, endpoint_url=settings().aws_endpoint_url, config=config)
    return cache_user_agent(client)


@lru_cache(maxsize=1)
def _session() -> Any:
    """One botocore session per container, as boto3's default session was.

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
    if build is None:
        return client
    try:
        from botocore.context import get_context
    except ImportError:  # botocore < 1.38: no request features, one header per client

        def get_context() -> None:
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


def queue_client() -> Any:
    """The SQS client of the events queue, with botocore's parameter validation off.

    Its only caller is `EventQueue.send`, which builds the one request it makes by
    construction: `QueueUrl` is the configured `QUEUE_URL` (a non-empty string, `Settings.required`),
    `Entries` a list of at most 10 `{"Id": str, "MessageBody": str}` of at most 256 KiB in
    all (`_chunks`), each body the JSON of an `Event` pydantic has validated at the edge.
    Types and required members are all botocore's validator checks for SendMessageBatch
    (the model has no length constraints), so here it cannot fail; it cost ~8-10 µs of the
    pixel's ~100 µs per hit (bench/pixel.py). SQS still validates every entry server-side,
    and its errors still raise (QueueError). Other SQS uses (the alerts DLQ) keep the
    validating `aws_client("sqs")`."""
    return aws_client("sqs", validate=False)


@per_container
def event_queue() -> EventQueue:
    return EventQueue(queue_client(), settings().required("queue_url"))


def raw_body(event: Any) -> bytes:
    """The request body exactly as sent (API Gateway base64-encodes binary bodies such as gzip).

    A text body holding a lone surrogate (which no UTF-8 encoder writes) keeps it as the
    bytes it stands for, so the body is invalid UTF-8 and its parser answers 400; a
    body flagged as base64 that is not is a `BadRequest` too, never an exception."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            from .ingest.errors import BadRequest

            raise BadRequest("body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


@per_container
def restrictions() -> Any:
    """What low-trust sources may not send, from the model `MODEL_FILE` names (scoring_core.restrictions):
    read on first use, without the engine or pydantic's model schema (the pixel's cold start)."""
    from scoring_core.restrictions import load_restrictions

    return load_restrictions(settings().model_file)


def pixel_key() -> bytes:
    """The key of signed pixel URLs, from `LEAD_KEY_SECRET` (read through the secrets' cache: only a
    `lid` hit asks for it, so only such a hit costs the pixel a Secrets Manager call on a miss)."""
    from .ingest.signed_pixel import pixel_key as derive

    return derive(settings().lead_key_secret())


@per_container
def engine() -> Any:
    """The engine of the model `MODEL_FILE` names (resolved by the settings), else the default model."""
    from scoring_core import Engine, load_model

    return Engine(load_model(settings().model_file))


@per_container
def worker() -> Any:
    """The scoring worker with the engine and the leads table."""
    from .adapters.leads import LeadStore
    from .worker import Worker

    s = settings()
    store = LeadStore(aws_client("dynamodb"), s.required("leads_table"), s.retention_days)
    # the key of the email hash (never rotated, so read once); without one, keys are hashes
    # anyone could recompute from an address
    return Worker(engine(), store, s.lead_key_secret())


@per_container
def publisher() -> Any:
    """The stream publisher's EventBridge adapter (BUS_NAME)."""
    from .adapters.bus import TransitionBus

    return TransitionBus(aws_client("events"), settings().required("bus_name"))
