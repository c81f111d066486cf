"""Webhook sources: each sender's signature scheme and payload mapping.

    source = get_source("typeform")          # UnknownSource (404) otherwise
    source.verify(delivery, secret)          # Unauthorized (401)
    events = source.to_events(delivery, field_map)   # BadRequest (400)

Schemes, replay windows and dedupe ids: docs/signatures.md.
"""

from __future__ import annotations

from ..errors import UnknownSource
from .base import TOLERANCE_S, Delivery, WebhookSource
from .calendly import CalendlySource
from .generic import GenericSource
from .stripe import StripeSource
from .tally import TallySource
from .typeform import TypeformSource

SOURCES: dict[str, WebhookSource] = {
    source.name: source
    for source in (GenericSource(), TypeformSource(), TallySource(), CalendlySource(), StripeSource())
}


def get_source(name: str) -> WebhookSource:
    """The source served at `POST /hooks/{name}`."""
    try:
        return SOURCES[name]
    except KeyError:
        # the path segment is not echoed: known names only
        raise UnknownSource(f"unknown webhook source; known: {', '.join(sorted(SOURCES))}") from None


__all__ = [
    "SOURCES",
    "TOLERANCE_S",
    "CalendlySource",
    "Delivery",
    "GenericSource",
    "StripeSource",
    "TallySource",
    "TypeformSource",
    "WebhookSource",
    "get_source",
]
