"""Webhook sources: each sender's signature scheme and payload mapping.

    source = get_source("typeform")          # UnknownSource (404) otherwise
    source.verify(delivery, secret)          # Unauthorized (401)
    events = source.to_events(delivery, field_map)   # BadRequest (400)

Schemes, replay windows and dedupe ids: docs/signatures.md.
"""

from __future__ import annotations

from importlib import import_module

from ...edge import UnknownSource
from ...signing import TOLERANCE_S
from .base import Delivery, WebhookSource

# name -> (module, class). Each request needs one source, so a source's module
# (and its pydantic payload models) loads on its first request, not at cold start.
_REGISTRY = {
    "generic": ("generic", "GenericSource"),
    "typeform": ("typeform", "TypeformSource"),
    "tally": ("tally", "TallySource"),
    "calendly": ("calendly", "CalendlySource"),
    "stripe": ("stripe", "StripeSource"),
}
_loaded: dict[str, WebhookSource] = {}


def get_source(name: str) -> WebhookSource:
    """The source served at `POST /hooks/{name}`."""
    source = _loaded.get(name)
    if source is None:
        entry = _REGISTRY.get(name)
        if entry is None:
            # the path segment is not echoed: known names only
            raise UnknownSource(f"unknown webhook source; known: {', '.join(sorted(_REGISTRY))}")
        module, cls = entry
        source = _loaded[name] = getattr(import_module(f".{module}", __name__), cls)()
    return source


def __getattr__(name: str) -> object:
    if name == "SOURCES":  # every source, loaded (for tests and docs tooling)
        return {n: get_source(n) for n in _REGISTRY}
    raise AttributeError(name)


__all__ = ["SOURCES", "TOLERANCE_S", "Delivery", "WebhookSource", "get_source"]
