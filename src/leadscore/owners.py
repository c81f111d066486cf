"""Routing a stage change: its route (`scoring_core.routing`) and the lead's owner.

`Router.fields` gives what a `LeadStageChanged` detail carries of routing: `route` (the id
of the route the change takes) and `owner` (id, name, email, team). The owner is the lead's
own, else, when `assign` is set and the route has a team at this stage (MQL or SQL), one
assigned now by the store (`LeadTable.assign_owner`: round-robin, sticky per company domain,
atomic). Only the scoring worker assigns (it holds LEAD_KEY_SECRET, which keys the domain
items); the sweep and sales' feedback carry the owner a lead already has. No routing file:
no `Router`, and details carry neither field (docs/routing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scoring_core.routing import Route, RoutingFile, owner_domain

from .identity import domain_key

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core import LeadState

    from .adapters.leads import LeadTable


class Router:
    """The routing file with what routing needs of the model (free-mail domains) and the domain key's secret."""

    def __init__(self, routing: RoutingFile, free_domains: Sequence[str], key_secret: str | None = None):
        self.routing = routing
        self.free_domains = tuple(d.lower() for d in free_domains)
        self.key_secret = key_secret

    def route_for(self, state: LeadState, stage: str, band: str | None) -> Route | None:
        """The route a lead takes at `stage` with `band`, from its current facts (first match wins)."""
        facts = {name: fact.value for name, fact in state.facts.items() if fact.value is not None}
        return self.routing.route_for(facts, stage, band)

    def fields(self, store: LeadTable, key: str, item: dict[str, Any], state: LeadState, stage: str,
               band: str | None, now: float, *, assign: bool = False) -> dict[str, Any]:
        """`route` and `owner` for the detail of a change to `stage` (each absent when there is none)."""
        route = self.route_for(state, stage, band)
        owner = item.get("owner")
        team = self.routing.team_of(route, stage)
        if owner is None and team is not None and assign and self.key_secret is not None:
            domain = owner_domain(state.email, self.free_domains, self.routing.sticky)
            members = [m.model_dump() for m in team[1].members]
            owner = store.assign_owner(key, team[0], members, domain_key(domain, self.key_secret) if domain else None, now)
        out: dict[str, Any] = {}
        if route is not None:
            out["route"] = route.id
        if owner:
            out["owner"] = dict(owner)
        return out
