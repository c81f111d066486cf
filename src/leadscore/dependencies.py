"""What one Lambda container builds from its settings, in one place: `Dependencies`.

Every handler gets its AWS clients, the events queue, the engine, the worker and
the publisher from `current()`, the container's `Dependencies`: made on first use
(a handler's `init()` at cold start, or its first request), never at import, so
importing a handler needs no environment and no AWS. Each member is built on its
own first use too, so a function builds only what it uses (the pixel never loads
the engine; no function imports boto3: clients come from botocore, see
`aws_clients`).

Tests and the local stack replace the container's dependencies with `use(deps)`,
for example `use(Dependencies(settings(), clock=lambda: later))`, or with fakes
passed to the constructor (`Dependencies(settings(), publisher=fake_bus)`);
`settings.reset()` (a new container) forgets them, injected or built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import settings as _settings
from .aws_clients import make_client
from .settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core import Engine
    from scoring_core.restrictions import Restrictions
    from scoring_core.routing import RoutingFile

    from .adapters.bus import TransitionBus
    from .adapters.leads import LeadStore
    from .adapters.queue import EventQueue
    from .owners import Router
    from .sweep import Sweep
    from .worker import Worker

__all__ = ["Dependencies", "current", "use"]

#: what a test may give `Dependencies` instead of having it built
INJECTABLE = ("queue", "restrictions", "engine", "leads_store", "worker", "publisher", "sweep", "routing")


class Dependencies:
    """The container's dependencies, built from `settings` on first use, each once.

    Any of `queue`, `restrictions`, `engine`, `leads_store`, `worker`, `publisher` given to the
    constructor is used as it is (a test's fake, an in-memory store); the others are built from
    the settings, and may use the given ones (a given `leads_store` is the worker's). `clock` is
    the time the handlers score and sign at."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, **given: Any):
        unknown = set(given) - set(INJECTABLE)
        if unknown:
            raise TypeError(f"Dependencies() got unexpected dependencies: {', '.join(sorted(unknown))}")
        self.settings = settings
        self.clock = clock
        self._clients: dict[tuple[str, bool], Any] = {}
        self._built: dict[Any, Any] = {}
        self._lock = threading.RLock()
        self.__dict__.update(given)  # what each cached_property would have built

    def aws_client(self, service: str, validate: bool = True) -> Any:
        """The container's client for `service` (pointed at `AWS_ENDPOINT_URL` when set)."""
        key = (service, validate)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = make_client(service, self.settings.aws_endpoint_url, validate)
            return self._clients[key]

    def once(self, key: Any, build: Callable[[], Any]) -> Any:
        """`build()`'s result, made on the first call with `key` in this container and kept."""
        with self._lock:
            if key not in self._built:
                self._built[key] = build()
            return self._built[key]

    @cached_property
    def queue(self) -> EventQueue:
        """The events queue the ingest functions send to (`QUEUE_URL`).

        Its SQS client has botocore's parameter validation off: its only caller is
        `EventQueue.send`, which builds the one request it makes by construction: `QueueUrl`
        is the configured `QUEUE_URL` (a non-empty string, `Settings.required`), `Entries` a
        list of at most 10 `{"Id": str, "MessageBody": str}` of at most 256 KiB in all
        (`_chunks`), each body the JSON of an `Event` pydantic has validated at the edge.
        Types and required members are all botocore's validator checks for SendMessageBatch
        (the model has no length constraints), so here it cannot fail; it cost ~8-10 µs of
        the pixel's ~100 µs per hit (bench/pixel.py). SQS still validates every entry
        server-side, and its errors still raise (QueueError). Other SQS uses (the alerts
        DLQ) keep the validating `aws_client("sqs")`."""
        from .adapters.queue import EventQueue

        return EventQueue(self.aws_client("sqs", validate=False), self.settings.required("queue_url"))

    @cached_property
    def restrictions(self) -> Restrictions:
        """What low-trust sources may not send, from the model `MODEL_FILE` names (scoring_core.restrictions):
        read on first use, without the engine or pydantic's model schema (the pixel's cold start)."""
        from scoring_core.restrictions import load_restrictions

        return load_restrictions(self.settings.model_file)

    def pixel_key(self) -> bytes:
        """The key of signed pixel URLs, from `LEAD_KEY_SECRET` (read through the secrets' cache: only a
        `lid` hit asks for it, so only such a hit costs the pixel a Secrets Manager call on a miss)."""
        from .ingest.signed_pixel import pixel_key as derive

        return derive(self.settings.lead_key_secret())

    @cached_property
    def engine(self) -> Engine:
        """The engine of the model `MODEL_FILE` names (resolved by the settings), else the default model:
        the one engine the worker and the leads API score with."""
        from scoring_core import Engine, load_model

        return Engine(load_model(self.settings.model_file))

    @cached_property
    def routing(self) -> RoutingFile | None:
        """The routing file `ROUTING_FILE` names (docs/routing.md), or None: alerts go to the default
        destinations and no owner is assigned. Checked against the engine's facts where the engine is
        loaded anyway (worker, sweep, leads API); the notifiers read only its destinations."""
        path = self.settings.routing_file
        if path is None:
            return None
        from scoring_core.routing import load_routing

        return load_routing(path)

    @cached_property
    def router(self) -> Router | None:
        """Each stage change's route and its lead's owner (`leadscore.owners`); None without a routing file.
        Assigning owners (the worker) needs `LEAD_KEY_SECRET`, which keys the domain items: see `worker`."""
        path = self.settings.routing_file
        if path is None:
            return None
        from scoring_core.routing import load_routing

        from .owners import Router

        # with the facts check: a `when` on a fact this model never keeps fails the cold start (ModelFileError)
        model = self.engine.model
        return Router(load_routing(path, frozenset(self.engine.fact_names), frozenset(t.id for t in model.triggers)),
                      model.free_email_domains)

    @cached_property
    def leads_store(self) -> LeadStore:
        """The leads table (`LEADS_TABLE`)."""
        from .adapters.leads import LeadStore

        return LeadStore(self.aws_client("dynamodb"), self.settings.required("leads_table"),
                         self.settings.retention_days)

    @cached_property
    def worker(self) -> Worker:
        """The scoring worker: the engine, the leads table and the key of lead keys."""
        from .worker import Worker

        # the key of the email hash (never rotated, so read once); in AWS a missing one is a
        # ConfigError (Settings.lead_key_secret), never a fall back to the local key
        secret = self.settings.lead_key_secret()
        router = self.router
        if router is not None:
            from .owners import Router

            router = Router(router.routing, router.free_domains, secret)  # the worker alone assigns owners
        return Worker(self.engine, self.leads_store, secret, router=router)

    @cached_property
    def sweep(self) -> Sweep:
        """The downgrade sweep (functions/sweep): the engine and the leads table."""
        from .sweep import Sweep

        return Sweep(self.engine, self.leads_store, router=self.router)

    @cached_property
    def publisher(self) -> TransitionBus:
        """The stream publisher's EventBridge adapter (`BUS_NAME`)."""
        from .adapters.bus import TransitionBus

        return TransitionBus(self.aws_client("events"), self.settings.required("bus_name"))


_current: Dependencies | None = None
_generation = -1
_lock = threading.Lock()


def current() -> Dependencies:
    """This container's dependencies: those given to `use()`, else built from `settings()` on first use.
    A `settings.reset()` since then forgets them."""
    global _current, _generation
    with _lock:
        if _current is None or _generation != _settings.generation():
            _current, _generation = Dependencies(_settings.settings()), _settings.generation()
        return _current


def use(deps: Dependencies | None) -> None:
    """Make `deps` this container's dependencies (tests, benchmarks); None: build them again on next use."""
    global _current, _generation
    with _lock:
        _current, _generation = deps, _settings.generation()
