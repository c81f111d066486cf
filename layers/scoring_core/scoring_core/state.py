"""What is stored about a lead, and how an event's effects merge into it.

`LeadState` is everything kept per lead; `Effects` is what one event changes
(`Engine.effects` makes it). Every merge here is commutative and associative
(integer adds, set unions, min/max, newest-fact-wins), so events applied in
any order, in any batches, end in the same `LeadState.accumulated()`. The
stage fields are the exception: they are path-dependent, moved by
`Engine.advance` and sales feedback (`scoring_core.stages`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .events import MAX_FACT_BYTES, MAX_FACT_CHARS
from .stages import Stage

#: How many of a lead's latest activities are kept (for alerts and the leads API).
RECENT_LIMIT = 10


@dataclass(frozen=True)
class Fact:
    """A fact about a lead and when it was learnt; the latest (at, event_id) wins."""

    at: float
    event_id: str
    value: Any


class Activity(NamedTuple):
    """One applied event, for alerts and the leads API; ordered by (at, event_id)."""

    at: float
    event_id: str
    type: str
    rules: tuple[str, ...] = ()


@dataclass
class Effects:
    """What one event changes; every part merges commutatively."""

    at: float
    event_id: str
    type: str
    increments: dict[tuple[str, int], int]  # (rule id, era) -> units to ADD
    occurrences: dict[str, int]  # repeat rule id -> epoch milliseconds to add to a set
    flags: dict[str, float]  # "disqualified:<rule>" / "customer:<rule>" -> earliest time
    facts: dict[str, Any]  # fact -> value, set if this event is newer than the stored fact
    email: str | None  # the lead's address, if the event names it (the newest address wins)
    rules: tuple[str, ...]  # ids of every rule the event matched
    #: trigger id -> the entry the event adds to that trigger's matches (`Triggers.hits_for`; the
    #: worker sets it: the engine itself knows nothing of triggers)
    hits: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class LeadState:
    """Everything stored about a lead. All but the stage fields are order-independent."""

    acc: dict[tuple[str, int], int] = field(default_factory=dict)
    occurrences: dict[str, set[int]] = field(default_factory=dict)
    facts: dict[str, Fact] = field(default_factory=dict)
    flags: dict[str, float] = field(default_factory=dict)
    email: str | None = None  # the newest address seen on the lead's events
    email_seen: tuple[float, str] = (0.0, "")  # (at, event_id) of the newest event naming it
    first_seen: float | None = None
    last_seen: float | None = None
    event_count: int = 0
    recent: list[tuple[float, str, str, tuple[str, ...]]] = field(default_factory=list)  # latest few, unordered: see recent_activity
    # path-dependent: where the lead stands, moved by Engine.advance and feedback
    stage: Stage = "lead"
    stage_changed_at: float | None = None
    transitions: int = 0
    pinned: Stage | None = None
    recycled: bool = False

    def accumulated(self) -> tuple[Any, ...]:
        """The order-independent part, comparable between two states."""
        return (
            {k: v for k, v in self.acc.items() if v},
            {k: frozenset(v) for k, v in self.occurrences.items()},
            {k: (f.value, f.at, f.event_id) for k, f in self.facts.items()},
            dict(self.flags),
            self.email,
            self.email_seen,
            self.first_seen,
            self.last_seen,
            self.event_count,
            recent_activity(self),
        )


def recent_activity(state: LeadState, limit: int = RECENT_LIMIT) -> list[Activity]:
    """The lead's latest activities, newest first."""
    return [Activity(*a) for a in sorted(state.recent, reverse=True)[:limit]]


def merge(state: LeadState, fx: Effects) -> None:
    """Merge an event's effects into a state; commutative and associative."""
    acc = state.acc
    for key, units in fx.increments.items():
        acc[key] = acc.get(key, 0) + units
    for rule_id, ms in fx.occurrences.items():
        state.occurrences.setdefault(rule_id, set()).add(ms)
    for flag, t in fx.flags.items():
        merge_flag(state, flag, t)
    if fx.facts:
        merge_facts(state, fx.facts, fx.at, fx.event_id)
    merge_seen(state, fx.at, fx.event_id, fx.type, fx.email, fx.rules)


def merge_flag(state: LeadState, flag: str, t: float) -> None:
    """A sticky mark keeps the earliest time it was set."""
    prev = state.flags.get(flag)
    if prev is None or t < prev:
        state.flags[flag] = t


def kept_facts(traits: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """The traits a lead stores as facts: those named in `names`, text cut to MAX_FACT_CHARS,
    other values dropped when their JSON exceeds MAX_FACT_BYTES (docs/data-model.md, Bounds)."""
    kept = {}
    for name, value in traits.items():
        if name not in names:
            continue
        if value.__class__ is str:
            kept[name] = value[:MAX_FACT_CHARS]
        elif (value is None or value.__class__ in (int, float, bool)
              or len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) <= MAX_FACT_BYTES):
            kept[name] = value
    return kept


def merge_facts(state: LeadState, values: dict[str, Any], t: float, event_id: str) -> None:
    """Each fact takes the value of the newest event, by (at, event_id), that sets it."""
    facts = state.facts
    for name, value in values.items():
        old = facts.get(name)
        if old is None or (t, event_id) > (old.at, old.event_id):
            facts[name] = Fact(t, event_id, value)


def merge_seen(state: LeadState, t: float, event_id: str, type_: str, email: str | None, rules: tuple[str, ...]) -> None:
    """What every event updates: the address, first and last seen, the count, recent activity.
    (`Engine.apply` inlines this; tests/unit/test_engine_reference.py holds them equal.)"""
    if email is not None and email != state.email:
        # the newest address wins; the same address seen again needs no bookkeeping
        # because `email_seen` only orders *different* addresses
        seen = (t, event_id)
        if state.email is None or seen > state.email_seen:
            state.email, state.email_seen = email, seen
    elif email is not None:
        state.email_seen = max(state.email_seen, (t, event_id))
    first = state.first_seen
    if first is None or t < first:
        state.first_seen = t
    last = state.last_seen
    if last is None or t > last:
        state.last_seen = t
    state.event_count += 1
    # keep at least the latest RECENT_LIMIT activities: trimming to the largest
    # (at, event_id) never drops one of the overall latest, so any order ends the same
    recent = state.recent
    recent.append((t, event_id, type_, rules))
    if len(recent) > 2 * RECENT_LIMIT:
        recent.sort(reverse=True)
        del recent[RECENT_LIMIT:]
