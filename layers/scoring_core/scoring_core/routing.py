"""Routing rules: which team, Slack webhook and email list a lead's alert goes to, and who owns it.

A routing file (YAML, docs/routing.md) is validated here, with the model file's machinery
(`scoring_core.loader.parse_document`: every error names file, line and column), into a
`RoutingFile`. `RoutingFile.route_for(facts, stage, band)` is the routing decision: the
first route whose `stages`, `bands` and `when` (the model's condition syntax, evaluated by
`scoring_core.conditions` on the lead's facts) all hold, else None (the defaults). It is a
pure function of its arguments: the worker calls it for a stage change, and anything else
that alerts on a lead (a trigger) can call it the same way.

Who the owner is (round-robin within the route's team, sticky per lead and per company
domain) is decided by the leads store, atomically (`adapters/leads`); `owner_domain` says
which domain is sticky. Nothing here does I/O beyond reading the file in `load_routing`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .conditions import Test, fact_getter, operator_test
from .model import MAX_TRIGGERS, Conditions, Path, RuleId, _shaped
from .stages import Stage

#: the stages at which a route with a team assigns an owner (once per lead: the owner is kept)
ASSIGNING_STAGES: tuple[str, ...] = ("mql", "sql")
Band = Literal["hot", "warm", "cold"]
TeamId = Annotated[str, _shaped(r"^[a-z][a-z0-9_-]{0,39}\Z", "a team id (lowercase letters, digits, _ and -, e.g. enterprise)")]
MemberId = Annotated[str, _shaped(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z",
                                  "a member id (letters, digits, _ . @ -, e.g. ana or U024BE7LH)")]
# the NAME of a key in the Secrets secret, never a URL: a routing file is no place for a secret, and the
# prefix keeps a route from naming another secret (API_TOKEN, CRM_WEBHOOK_SECRET) as its "webhook"
_SLACK_KEY = re.compile(r"^SLACK_WEBHOOK_URL(_[A-Z0-9_]{1,60})?\Z")


def _slack_key(value: str) -> str:
    if not _SLACK_KEY.match(value):  # the value is not quoted: it may be the webhook URL itself, a secret
        raise ValueError("not the name of a Slack webhook key in the Secrets secret: write a key starting "
                         "SLACK_WEBHOOK_URL (e.g. SLACK_WEBHOOK_URL_ENTERPRISE), never the URL")
    return value


SlackKey = Annotated[str, AfterValidator(_slack_key)]
Address = Annotated[str, _shaped(r"^[^@\s,]{1,64}@[^@\s,]{1,190}\.[^@\s,]{1,60}\Z", "an email address")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Strict):
    """A salesperson who can own leads. `email` and `name` appear in alerts, the API and the CRM body."""

    id: MemberId
    name: str = Field(min_length=1, max_length=100)
    email: Address | None = None


class Team(_Strict):
    """Members in round-robin order: the n-th owner the team assigns is `members[n % len(members)]`."""

    members: list[Member] = Field(min_length=1, max_length=100)


class Route(_Strict):
    """Where alerts for matching leads go. Every test given must hold; none given matches every lead."""

    id: RuleId
    when: Conditions = Field(default_factory=dict)
    stages: list[Stage] | None = Field(default=None, min_length=1)  # the stage moved to
    bands: list[Band] | None = Field(default=None, min_length=1)  # the band after the change
    team: TeamId | None = None  # assigns an owner from this team at MQL or SQL
    slack: SlackKey | None = None  # else the default webhook (SLACK_WEBHOOK_URL[_<STAGE>])
    email: list[Address] | None = Field(default=None, min_length=1, max_length=50)  # else ALERT_EMAIL_TO[_<STAGE>]
    # the model's triggers whose firings this route alerts (with ALERT_TRIGGERS); absent: all of them
    triggers: list[RuleId] | None = Field(default=None, min_length=1, max_length=MAX_TRIGGERS)

    @cached_property
    def _tests(self) -> tuple[tuple[Any, Test], ...]:
        return tuple((fact_getter(name), operator_test(op, arg))
                     for name, cond in self.when.items() for op, arg in cond.operators().items())

    def matches(self, facts: Mapping[str, Any], stage: str, band: str | None) -> bool:
        """Whether a lead with these facts, at `stage` with `band`, takes this route."""
        if self.stages is not None and stage not in self.stages:
            return False
        if self.bands is not None and band not in self.bands:
            return False
        return all(test(get(facts)) for get, test in self._tests)


class Sticky(_Strict):
    """`lead`: a lead keeps its owner (always: an owner is assigned once per lead). `domain`: leads
    of one corporate email domain share the first one's owner (free-mail domains never do)."""

    lead: Literal[True] = True
    domain: bool = True


class RoutingFile(_Strict):
    """A whole routing file. Routes are tried in order: the first match wins."""

    version: str | int | None = None
    teams: dict[TeamId, Team] = Field(default_factory=dict, max_length=50)
    routes: list[Route] = Field(min_length=1, max_length=200)
    sticky: Sticky = Field(default_factory=Sticky)

    def route_for(self, facts: Mapping[str, Any], stage: str, band: str | None) -> Route | None:
        """The routing decision: the first route the lead takes, or None (the default destinations,
        no owner). Pure: the same facts, stage and band always give the same route."""
        return next((r for r in self.routes if r.matches(facts, stage, band)), None)

    def route(self, route_id: str | None) -> Route | None:
        """The route of this id (a notifier resolving the `route` of a detail), or None."""
        return next((r for r in self.routes if r.id == route_id), None) if route_id else None

    def team_of(self, route: Route | None, stage: str) -> tuple[str, Team] | None:
        """The team `route` assigns owners from at `stage` (MQL and SQL only), or None."""
        if route is None or route.team is None or stage not in ASSIGNING_STAGES:
            return None
        return route.team, self.teams[route.team]


def owner_domain(email: str | None, free_domains: Sequence[str], sticky: Sticky) -> str | None:
    """The company domain leads share an owner by: the email's domain, lowercased, unless domain
    stickiness is off or it is a free-mail domain (the model's `free_email_domains`)."""
    if not sticky.domain or not email or "@" not in email:
        return None
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain or domain in {d.lower() for d in free_domains}:
        return None
    return domain


def routing_errors(data: Any, facts: frozenset[str] | None = None,
                   triggers: frozenset[str] | None = None) -> list[tuple[Path, str]]:
    """Checks that span fields: duplicate route or member ids, a team no `teams` entry defines,
    a route that can never match because an earlier one matches every lead, (given the
    facts a model keeps on a lead, `Engine.fact_names`) a `when` on a fact that is never kept,
    and (given the model's trigger ids) a route's `triggers` naming a trigger the model has not."""
    errors: list[tuple[Path, str]] = []
    if not isinstance(data, dict):
        return errors
    raw_teams = data.get("teams")
    teams: dict[Any, Any] = raw_teams if isinstance(raw_teams, dict) else {}
    for team_id, team in teams.items():
        members = team.get("members") if isinstance(team, dict) else None
        seen: dict[str, int] = {}
        for i, member in enumerate(members if isinstance(members, list) else []):
            member_id = member.get("id") if isinstance(member, dict) else None
            if isinstance(member_id, str):
                if member_id in seen:
                    errors.append((("teams", team_id, "members", i, "id"),
                                   f"duplicate member id '{member_id}' (first at members[{seen[member_id]}])"))
                seen.setdefault(member_id, i)
    routes = data.get("routes")
    ids: dict[str, int] = {}
    catch_all: int | None = None
    for i, route in enumerate(routes if isinstance(routes, list) else []):
        if not isinstance(route, dict):
            continue
        route_id = route.get("id")
        if isinstance(route_id, str):
            if route_id in ids:
                errors.append((("routes", i, "id"), f"duplicate route id '{route_id}' (first at routes[{ids[route_id]}])"))
            ids.setdefault(route_id, i)
        team = route.get("team")
        if isinstance(team, str) and team not in teams:
            known = ", ".join(sorted(map(str, teams))) or "none"
            errors.append((("routes", i, "team"), f"no team '{team}' in teams (defined: {known})"))
        when = route.get("when")
        for name in (when if isinstance(when, dict) else ()):
            if facts is not None and isinstance(name, str) and name.split(".", 1)[0] not in facts:
                errors.append((("routes", i, "when", name),
                               f"the model keeps no fact '{name.split('.', 1)[0]}' on a lead: this test never holds "
                               "(facts kept: the profile facts and those the model's fit rules read)"))
        named = route.get("triggers")
        for j, trigger in enumerate(named if isinstance(named, list) else ()):
            if triggers is not None and isinstance(trigger, str) and trigger not in triggers:
                known = ", ".join(sorted(triggers)) or "none"
                errors.append((("routes", i, "triggers", j), f"the model has no trigger '{trigger}' (its triggers: {known})"))
        if catch_all is not None:
            errors.append((("routes", i), f"never matches: routes[{catch_all}] before it matches every lead"))
        elif not route.get("when") and route.get("stages") is None and route.get("bands") is None:
            catch_all = i
    return errors


def parse_routing(text: str, file: str = "<routing>", facts: frozenset[str] | None = None,
                  triggers: frozenset[str] | None = None) -> RoutingFile:
    """Validate routing text; raise `ModelFileError` listing every problem with its line.
    `facts`: the facts the model keeps (`Engine.fact_names`), to refuse a `when` that never holds;
    `triggers`: the model's trigger ids, to refuse a route's `triggers` naming another."""
    from .loader import parse_document

    return parse_document(text, file, RoutingFile, lambda data: routing_errors(data, facts, triggers),
                          "a routing file must be a mapping (teams, routes, sticky)")


def load_routing(path: str | FsPath, facts: frozenset[str] | None = None,
                 triggers: frozenset[str] | None = None) -> RoutingFile:
    """Load a routing file; `ModelFileError` (file:line:col: message) when it is not valid."""
    from .loader import read_text

    return parse_routing(read_text(path, "routing file"), str(path), facts, triggers)
