"""Machine openers: email events that a privacy proxy or a link scanner made, not a person.

The model's `email_confidence` lists them by user agent (regular expressions)
and by IP range; an email event from one counts `machine_weight` of its
points. A handful of agents and proxies make most such events, so each
(user agent, IP) pair is classified once and remembered.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .events import Event
    from .model import EmailConfidence

_KNOWN_LIMIT = 50_000  # (user agent, IP) pairs remembered; a few recur, the rest are bounded


class MachineOpeners:
    """The classifier of one model's `email_confidence` (none: every event is a person's)."""

    __slots__ = ("_agents", "_known", "_nets", "events", "weight")

    def __init__(self, config: EmailConfidence | None):
        #: the event types judged (email opens and clicks by default)
        self.events: frozenset[str] = frozenset(config.events) if config else frozenset()
        #: the share of its points a machine's email event counts
        self.weight: float = config.machine_weight if config else 1.0
        self._agents = tuple(re.compile(p) for p in config.user_agents) if config else ()
        self._nets = tuple(ipaddress.ip_network(n, strict=False) for n in config.ip_ranges) if config else ()
        self._known: dict[tuple[str | None, str | None], bool] = {}

    def is_machine_open(self, event: Event) -> bool:
        """True when the event's user agent or IP is a machine opener's (whatever its type)."""
        ctx = event.context
        key = (ctx.user_agent, ctx.ip)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self.classify(*key)
            if len(self._known) > _KNOWN_LIMIT:
                self._known.clear()
        return known

    def classify(self, user_agent: str | None, ip: str | None) -> bool:
        """A user agent matching a listed pattern, or an IP in a listed range (an unreadable IP is a person's)."""
        if user_agent and any(rx.search(user_agent) for rx in self._agents):
            return True
        if self._nets and ip:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            return any(address in net for net in self._nets)
        return False
