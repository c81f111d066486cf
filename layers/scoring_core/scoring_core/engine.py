"""The scoring engine: events in, lead state and explained scores out.

Pure: no I/O, no clock (`now` is always passed in), no AWS. Every Lambda, the
CLI and the backtests call this one engine, so a score means the same thing
everywhere.

Two halves:
- writing: `Engine.effects(event)` says what an event changes (integer
  accumulator increments, fact updates, sticky flags), each change a
  commutative merge, so a store can apply it with atomic adds and no read;
  `Engine.apply(state, event)` merges those effects into an in-memory
  `LeadState`.
- reading: `Engine.evaluate(state, now)` turns a state into a `Score` (fit,
  engagement, grade, band, reasons); `Engine.advance(state, now)` also moves
  the stage (with hysteresis) and returns the `Transition`, if any.
"""

from __future__ import annotations

import hashlib
import json
import math
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from .conditions import as_number, event_getter, fact_getter, operator_test
from .decay import SCALE, Decay
from .events import MAX_FACT_BYTES, MAX_FACT_CHARS, PROFILE_FACTS, Event
from .index import WILDCARD, FieldTest, Index, Matcher
from .model import Conditions, ScoringModel
from .stages import Stage, StagePolicy

FIT = "fit"
ENGAGEMENT = "engagement"
RECENT_LIMIT = 10
# Hot-path spellings with the very same results: `_round(x)` is `round(x)` for
# a float x (round() calls type(x).__round__, at twice the cost), and a float
# times SCALE_F is the float times SCALE (10^12 converts to 1e12 exactly).
_round = float.__round__
SCALE_F = float(SCALE)
#: The most points one event may bring through `points_per` (a €10^30 order is not worth
#: 10^28 points; beyond this the value is treated as unreadable, not as a huge score).
MAX_POINTS = 1e9


def epoch(value: datetime | float | int) -> float:
    """Epoch seconds of a datetime (naive means UTC) or a number."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


class _Keys(dict):
    """A rule's accumulator keys `(rule id, era)` by era, made once and shared
    by every lead: no tuple is built per event, and a state's dict finds its
    key by identity."""

    def __init__(self, rule_id: str):
        super().__init__()
        self.rule_id = rule_id

    def __missing__(self, era: int) -> tuple[str, int]:
        if len(self) >= 64:  # a rule opens a new era every 32 half-lives; bound it anyway
            self.clear()
        key = self[era] = (self.rule_id, era)
        return key


class CompiledRule:
    """A rule of the model, ready to apply."""

    __slots__ = ("id", "section", "points", "per_get", "per_unit", "decay", "inv_h", "era_s", "cap", "window_s", "flag", "email", "plain", "keys")

    def __init__(self, rule_id: str, section: str, points: float = 0.0):
        self.id = rule_id
        self.section = section
        self.points = points
        self.per_get: Any = None
        self.per_unit = 1.0
        self.decay = Decay(None)
        self.inv_h: float | None = None  # copies of decay's, read on the hot path
        self.era_s: float | None = None
        self.plain = True  # fixed points: no flag, no repeat window, no points_per (machine weighting allowed)
        self.cap: float | None = None
        self.window_s: float | None = None  # repeat rules: counted when a previous match lies within
        self.flag: str | None = None  # "disqualified" or "customer": a sticky mark set by a matching event
        self.email = False  # machine-opener weighting applies
        self.keys = _Keys(rule_id)

    def points_for(self, event: Event) -> float | None:
        if self.per_get is None:
            return self.points
        n = as_number(self.per_get(event))
        if n is None:
            return None
        points = self.points * n / self.per_unit
        return points if -MAX_POINTS <= points <= MAX_POINTS else None  # finite, and far from overflowing an accumulator


def _tests(when: Conditions, getter: Any) -> tuple[FieldTest, ...]:
    out = []
    for name, cond in when.items():
        get = getter(name)
        for op, arg in cond.operators().items():
            out.append(FieldTest(name, op, arg, get, operator_test(op, arg)))
    return tuple(out)


def _types(types: list[str]) -> tuple[str, ...]:
    return (WILDCARD,) if WILDCARD in types else tuple(dict.fromkeys(types))


class _Applied:
    """What one combination of matched rules does to a state, worked out once.

    A stream's events match few distinct combinations of rules (every view of
    /pricing matches the same ones), so the engine prepares each combination
    the first time it sees it, and an event then does only what depends on it:
    - `ids`: the matched rules' ids in model order, recorded with the activity
      (the same order whichever way, indexed or naive, they were found);
    - `decaying`: plain rules (fixed points: no flag, window or points_per)
      grouped by decay, `(era_s, inv_h, ((rule.keys, points), ...))`, so an event
      computes its era and 2^((t − T0)/h) once per half-life, not per rule;
    - `flat`: plain rules that never decay, with their constant
      `((rule id, 0), units)`;
    - `special`: every other rule, applied one by one;
    - `machine`: when some plain rule is weighted for machine openers, the
      same combination with those rules' points times the weight, for an
      email event from a machine (None otherwise)."""

    __slots__ = ("ids", "decaying", "flat", "special", "machine")

    def __init__(self, rules: list[CompiledRule], weight: float | None = None):
        self.ids = tuple([r.id for r in rules])
        groups: dict[tuple[float, float], list[tuple[_Keys, float]]] = {}
        flat = []
        special = []
        for r in rules:
            if not r.plain:
                special.append(r)
                continue
            points = r.points * weight if weight is not None and r.email else r.points
            if r.inv_h is None:
                flat.append(((r.id, 0), round(points * SCALE)))
            else:
                groups.setdefault((r.era_s, r.inv_h), []).append((r.keys, points))
        self.decaying = tuple((era_s, inv_h, tuple(members)) for (era_s, inv_h), members in groups.items())
        self.flat = tuple(flat)
        self.special = tuple(special)
        self.machine: _Applied | None = None


_APPLIED_LIMIT = 4096  # distinct combinations remembered; far more than a model's buckets produce


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


class Reason(NamedTuple):
    """One rule's contribution to a score, after decay and caps."""

    rule: str
    cents: int  # points × 100, exact
    kind: str  # "fit" or "engagement"

    @property
    def points(self) -> float:
        return self.cents / 100


@dataclass(frozen=True)
class Score:
    """A lead's score at one instant. `reasons` sum exactly to `total_cents`."""

    fit_cents: int
    engagement_cents: int
    grade: str
    band: str
    reasons: tuple[Reason, ...]
    disqualified_by: tuple[str, ...]
    customer: bool
    at: float

    @property
    def fit(self) -> float:
        return self.fit_cents / 100

    @property
    def engagement(self) -> float:
        return self.engagement_cents / 100

    @property
    def total_cents(self) -> int:
        return self.fit_cents + self.engagement_cents

    @property
    def total(self) -> float:
        return self.total_cents / 100

    def as_dict(self) -> dict[str, Any]:
        return {
            "fit": self.fit,
            "engagement": self.engagement,
            "score": self.total,
            "grade": self.grade,
            "band": self.band,
            "reasons": [{"rule": r.rule, "points": r.points} for r in self.reasons],
            "disqualified_by": list(self.disqualified_by),
        }


@dataclass(frozen=True)
class Transition:
    from_stage: Stage
    to_stage: Stage
    at: float
    score: Score
    seq: int  # the lead's transition counter before this one: makes the id deterministic

    def transition_id(self, lead_key: str) -> str:
        return transition_id(lead_key, self.seq, self.from_stage, self.to_stage)


def _reason(rule_id: str, cents: int, kind: str) -> Reason:
    return tuple.__new__(Reason, (rule_id, cents, kind))  # skips NamedTuple's Python-level __new__


def _row(rule: CompiledRule, value: float) -> tuple[int, str, Reason] | None:
    """An engagement rule's reason row, capped and rounded to cents; zero is no reason."""
    cap = rule.cap
    if cap is not None:
        if value > cap:
            value = cap
        elif value < -cap:
            value = -cap
    cents = _round(value * 100)  # value: a float, always
    if not cents:
        return None
    return (-abs(cents), rule.id, _reason(rule.id, cents, ENGAGEMENT))


_NO_ROW = (0, "", None)  # a row replaced by its rule's sum over several eras


def transition_id(lead_key: str, seq: int, from_stage: str, to_stage: str) -> str:
    """Deterministic id of a lead's `seq`-th stage change: the same change always gets the same id."""
    return hashlib.sha256(f"{lead_key}|{seq}|{from_stage}|{to_stage}".encode()).hexdigest()[:32]


class Engine:
    """A compiled scoring model. Build once per process; every method is pure."""

    def __init__(self, model: ScoringModel, indexed: bool = True):
        self.model = model
        self.rules: dict[str, CompiledRule] = {}
        self.stage_policy = StagePolicy(model.stages)
        self._free_domains = frozenset(d.casefold() for d in model.free_email_domains)
        event_matchers: list[Matcher] = []
        fact_matchers: list[Matcher] = []
        email_types = set(model.email_confidence.events) if model.email_confidence else set()
        self._email_types = frozenset(email_types)

        for r in model.fit:
            rule = self._add(CompiledRule(r.id, FIT, float(r.points)))
            fact_matchers.append(Matcher((FIT,), _tests(r.when, fact_getter), rule))
        for r in model.engagement:
            rule = self._add(CompiledRule(r.id, ENGAGEMENT, float(r.points)))
            if r.points_per is not None:
                rule.per_get, rule.per_unit = event_getter(r.points_per.field), r.points_per.unit
            rule.decay = Decay(None if r.half_life_days is None else r.half_life_days * 86400.0)
            rule.inv_h, rule.era_s = rule.decay.inv_h, rule.decay.era_s
            rule.cap = None if r.cap is None else float(r.cap)  # floats (as validated): the hot paths round with float.__round__
            rule.window_s = None if r.repeat_within_days is None else r.repeat_within_days * 86400.0
            rule.flag = "customer" if r.stage == "customer" else None
            rule.email = bool(email_types.intersection(r.event_types())) or (WILDCARD in r.event_types() and bool(email_types))
            rule.plain = rule.flag is None and rule.window_s is None and rule.per_get is None
            event_matchers.append(Matcher(_types(r.event_types()), _tests(r.when, event_getter), rule))
        for r in model.disqualifiers:
            rule = self._add(CompiledRule(r.id, "disqualifiers"))
            rule.flag = "disqualified"
            rule.plain = False
            if r.on is not None:
                event_matchers.append(Matcher(_types(r.event_types()), _tests(r.when, event_getter), rule))
            else:
                fact_matchers.append(Matcher((FIT,), _tests(r.when, fact_getter), rule))

        self._events = Index(event_matchers, indexed=indexed)
        self._facts = Index(fact_matchers, indexed=indexed)
        #: the facts a lead keeps: the profile, and every fact the model reads (bounded state)
        self.fact_names = PROFILE_FACTS | {name.split(".", 1)[0] for r in (*model.fit, *model.disqualifiers)
                                           if getattr(r, "on", None) is None for name in r.when}
        self._position = {rule_id: i for i, rule_id in enumerate(self.rules)}
        self._applied: dict[tuple[CompiledRule, ...], _Applied] = {}
        self._matchers: dict[str, Any] = {}  # event type -> the index's match function for it
        ec = model.email_confidence
        self._machine_weight = ec.machine_weight if ec else 1.0
        self._machine_ua = tuple(re.compile(p) for p in ec.user_agents) if ec else ()
        self._machine_cache: dict[tuple[str | None, str | None], bool] = {}
        self._machine_nets = tuple(ipaddress.ip_network(n, strict=False) for n in ec.ip_ranges) if ec else ()

    def _add(self, rule: CompiledRule) -> CompiledRule:
        self.rules[rule.id] = rule
        return rule

    # -- writing ---------------------------------------------------------

    def is_machine_open(self, event: Event) -> bool:
        """True when an email event comes from a machine opener the model lists."""
        ctx = event.context
        key = (ctx.user_agent, ctx.ip)
        known = self._machine_cache.get(key)
        if known is None:
            known = self._machine_cache[key] = self._classify_opener(*key)
            if len(self._machine_cache) > 50_000:  # a few agents and proxies recur; bound the rest
                self._machine_cache.clear()
        return known

    def _classify_opener(self, ua: str | None, ip_text: str | None) -> bool:
        if ua and any(rx.search(ua) for rx in self._machine_ua):
            return True
        if self._machine_nets and ip_text:
            try:
                ip = ipaddress.ip_address(ip_text)
            except ValueError:
                return False
            return any(ip in net for net in self._machine_nets)
        return False

    def apply(self, state: LeadState, event: Event) -> None:
        """Merge one event into a state. Every change is a commutative merge
        (integer ADDs, set unions, min/max, newest-fact-wins), so applying the
        same events in any order, in any batches, gives the same
        `state.accumulated()`. The caller dedupes by `event_id` (the store
        does; `apply` counts what it is given). This is the per-event hot path:
        its steps are inlined on purpose, and what depends only on which rules
        matched is prepared once per combination (`_Applied`), which the index
        hands back directly."""
        t = event.occurred_ts
        type_ = event.type
        match = self._matchers.get(type_)
        if match is None:
            if len(self._matchers) >= _APPLIED_LIMIT:  # custom event types are unbounded
                self._matchers.clear()
            match = self._matchers[type_] = self._events.matcher(type_, self._prepared)
        applied = match(event)  # the matched rules, prepared
        if applied.machine is not None and type_ in self._email_types and self.is_machine_open(event):
            applied = applied.machine
        acc = state.acc
        for era_s, inv_h, rules in applied.decaying:
            # Decay.increment, inlined: one era and factor per half-life; the
            # units are computed exactly as `increment` does, to the last bit
            era = int(t // era_s)
            factor = 2.0 ** ((t - era * era_s) * inv_h)
            for keys, points in rules:
                key = keys[era]
                acc[key] = acc.get(key, 0) + _round(points * factor * SCALE_F)
        for key, units in applied.flat:
            acc[key] = acc.get(key, 0) + units
        if applied.special:
            self._apply_special(state, event, t, applied.special)
        event_id = event.event_id
        if event.traits:
            _merge_facts(state, kept_facts(event.traits, self.fact_names), t, event_id)
        # _merge_seen, inlined
        email = event.email
        if email is not None:
            if email == state.email:  # the usual case: the same address again
                # (t, event_id) > email_seen, without building the tuple
                at, by = state.email_seen
                if t > at or (t == at and event_id > by):
                    state.email_seen = (t, event_id)
            else:
                seen = (t, event_id)
                if state.email is None or seen > state.email_seen:
                    state.email, state.email_seen = email, seen
        first = state.first_seen
        if first is None or t < first:
            state.first_seen = t
        last = state.last_seen
        if last is None or t > last:
            state.last_seen = t
        state.event_count += 1
        recent = state.recent
        recent.append((t, event_id, type_, applied.ids))
        if len(recent) > 2 * RECENT_LIMIT:
            recent.sort(reverse=True)
            del recent[RECENT_LIMIT:]

    def _prepared(self, hits: tuple[CompiledRule, ...]) -> _Applied:
        applied = self._applied.get(hits)
        if applied is not None:
            return applied
        if len(self._applied) >= _APPLIED_LIMIT:
            self._applied.clear()
        position = self._position
        rules = sorted(hits, key=lambda r: position[r.id])
        applied = self._applied[hits] = _Applied(rules)
        if any(r.plain and r.email for r in rules):
            applied.machine = _Applied(rules, self._machine_weight)
        return applied

    def _apply_special(self, state: LeadState, event: Event, t: float, rules: tuple[CompiledRule, ...]) -> None:
        """The rules that set flags, record repeat occurrences, earn points per
        a field or are weighted for machine openers."""
        acc = state.acc
        machine: bool | None = None
        for rule in rules:  # the steps of `apply` before combinations were prepared
            if rule.flag is not None:
                flag = f"{rule.flag}:{rule.id}"
                prev = state.flags.get(flag)
                if prev is None or t < prev:
                    state.flags[flag] = t
                if rule.section != ENGAGEMENT:
                    continue
            if rule.window_s is not None:
                state.occurrences.setdefault(rule.id, set()).add(round(t * 1000))
                continue
            points = rule.points if rule.per_get is None else rule.points_for(event)
            if points is None:
                continue
            if rule.email and event.type in self._email_types:
                if machine is None:
                    machine = self.is_machine_open(event)
                if machine:
                    points *= self._machine_weight
            era, units = rule.decay.increment(t, points)
            key = (rule.id, era)
            acc[key] = acc.get(key, 0) + units

    def effects(self, event: Event) -> Effects:
        """What `event` changes, for a store to apply with atomic adds and no read:
        exactly what `apply` merges into a state, taken from a fresh one."""
        scratch = LeadState()
        self.apply(scratch, event)
        (_, _, _, rules) = scratch.recent[0]
        return Effects(
            at=event.occurred_ts,
            event_id=event.event_id,
            type=event.type,
            increments=scratch.acc,
            occurrences={rule_id: next(iter(times)) for rule_id, times in scratch.occurrences.items()},
            flags=scratch.flags,
            facts={name: fact.value for name, fact in scratch.facts.items()},
            email=event.email,
            rules=rules,
        )

    # -- reading ---------------------------------------------------------

    def current_facts(self, state: LeadState) -> dict[str, Any]:
        """The lead's facts now: the latest value of each, plus what its email implies
        (`email_domain`, and `email_type` free or corporate by the model's list)."""
        facts = {k: f.value for k, f in state.facts.items()}
        email = state.email or facts.get("email")
        if isinstance(email, str) and "@" in email:
            email = email.strip().lower()
            domain = email.rsplit("@", 1)[1]
            facts["email"] = email
            facts["email_domain"] = domain
            facts["email_type"] = "free" if domain in self._free_domains else "corporate"
        return facts

    def evaluate(self, state: LeadState, now: datetime | float) -> Score:
        """The score at `now`: fit from current facts, engagement decayed and capped.

        Deterministic in the state and `now`; reasons are rounded to 0.01 points
        first, so they sum exactly to the total, and come largest (by size) first."""
        t = epoch(now)
        rows: list[tuple[int, str, Reason]] = []  # (-|cents|, rule, reason): sorts largest first, ties by rule id
        fit_cents = eng_cents = 0
        disqualified: list[str] = []
        for rule in self._facts.hits(self.current_facts(state), FIT):
            if rule.flag == "disqualified":
                disqualified.append(rule.id)
            else:
                cents = _round(rule.points * 100)  # points: a float (the model's numbers are)
                if cents:
                    fit_cents += cents
                    rows.append((-abs(cents), rule.id, _reason(rule.id, cents, FIT)))
        # Each rule's value is the sum over its eras. Almost always a rule has
        # one era, and its value is that era's: the row is made at once. A rule
        # with several eras is summed again below in era order, so every float
        # sum runs in one fixed order whatever order the state was built in
        # (and the whole state is never sorted).
        rules = self.rules
        acc = state.acc
        made: dict[CompiledRule, int] = {}  # rule -> its row's index in `rows`, -1 for no row
        several: list[CompiledRule] | None = None
        for key, units in acc.items():
            rule = rules.get(key[0])
            if rule is None or rule.window_s is not None:
                continue  # a rule the model no longer has; repeat rules are valued from occurrences below
            if rule in made:
                if several is None:
                    several = []
                if rule not in several:
                    several.append(rule)
                continue
            inv_h = rule.inv_h  # Decay.value, inlined: evaluated for every lead on every batch
            if not units:
                value = 0.0
            elif inv_h is None:
                value = units / SCALE
            else:
                exponent = (key[1] * rule.era_s - t) * inv_h
                # > 0: the era starts after `now`, nothing in it has happened yet
                value = units * 2.0 ** exponent / SCALE_F if exponent <= 0 else 0.0
            # _row, inlined
            cap = rule.cap
            if cap is not None:
                if value > cap:
                    value = cap
                elif value < -cap:
                    value = -cap
            cents = _round(value * 100)  # value: a float, always
            if cents:
                made[rule] = len(rows)
                eng_cents += cents
                rows.append((-abs(cents), rule.id, tuple.__new__(Reason, (rule.id, cents, ENGAGEMENT))))
            else:
                made[rule] = -1
        if several is not None:
            for rule in several:
                i = made[rule]
                if i >= 0:
                    eng_cents -= rows[i][2].cents
                    rows[i] = _NO_ROW
                row = _row(rule, self._value_over_eras(rule, acc, t))
                if row is not None:
                    eng_cents += row[2].cents
                    rows.append(row)
        occurrences = state.occurrences
        if occurrences:
            for rule_id, times in occurrences.items():
                rule = rules.get(rule_id)
                if rule is not None and rule.window_s is not None:
                    row = _row(rule, self._repeat_value(rule, times, t))
                    if row is not None:
                        eng_cents += row[2].cents
                        rows.append(row)
        customer = False
        for key in state.flags:
            # sticky marks outlive their rule: renaming an opt-out rule must not
            # quietly re-qualify everyone who opted out
            kind, _, rule_id = key.partition(":")
            if kind == "disqualified":
                disqualified.append(rule_id)
            elif kind == "customer":
                customer = True
        if several is not None:
            rows = [row for row in rows if row is not _NO_ROW]
        rows.sort()
        return Score(
            fit_cents=fit_cents,
            engagement_cents=eng_cents,
            grade=self._grade(fit_cents, eng_cents),
            band=self._band(fit_cents + eng_cents),
            reasons=tuple([row[2] for row in rows]),
            disqualified_by=tuple(sorted(set(disqualified))),
            customer=customer,
            at=t,
        )

    @staticmethod
    def _value_over_eras(rule: CompiledRule, acc: dict[tuple[str, int], int], t: float) -> float:
        """A rule's value summed over its eras in era order (a fixed float order)."""
        total = 0.0
        for (_, era), units in sorted(item for item in acc.items() if item[0][0] == rule.id):
            if not units:
                continue
            if rule.inv_h is None:
                total += units / SCALE
            else:
                exponent = (era * rule.era_s - t) * rule.inv_h
                if exponent <= 0:
                    total += units * 2.0 ** exponent / SCALE_F
        return total

    def _repeat_value(self, rule: CompiledRule, times: set[int], t: float) -> float:
        """Points for each occurrence that follows another within the rule's window."""
        window_ms = rule.window_s * 1000
        ordered = sorted(times)
        total = 0.0
        now_ms = t * 1000
        for prev, cur in zip(ordered, ordered[1:]):
            if cur > now_ms:
                break  # not happened yet as of `t`
            if cur - prev <= window_ms:
                total += rule.points * rule.decay.factor(t - cur / 1000)
        return total

    def _grade(self, fit_cents: int, eng_cents: int) -> str:
        g = self.model.grades
        fit, eng = fit_cents / 100, eng_cents / 100
        letter = "A" if fit >= g.fit.A else "B" if fit >= g.fit.B else "C" if fit >= g.fit.C else "D"
        e = g.engagement
        digit = "1" if eng >= e.one else "2" if eng >= e.two else "3" if eng >= e.three else "4"
        return letter + digit

    def _band(self, total_cents: int) -> str:
        b = self.model.bands
        total = total_cents / 100
        return "hot" if total >= b.hot else "warm" if total >= b.warm else "cold"

    def advance(self, state: LeadState, now: datetime | float, trusted: bool = True) -> tuple[Score, Transition | None]:
        """Evaluate at `now` and move the stage; returns the score and the transition made, if any.
        `trusted=False` when only events from low-trust senders (`Event.trusted`) led here: the
        lead then rises no higher than the model's `stages.low_trust_max`."""
        score = self.evaluate(state, now)
        new_stage, recycled = self.stage_policy.next_stage(state.stage, score, state.pinned, state.recycled, trusted)
        state.recycled = recycled
        if new_stage == state.stage:
            return score, None
        tr = Transition(state.stage, new_stage, score.at, score, state.transitions)
        state.stage, state.stage_changed_at = new_stage, score.at
        state.transitions += 1
        return score, tr


def merge(state: LeadState, fx: Effects) -> None:
    """Merge an event's effects into a state; commutative and associative."""
    acc = state.acc
    for key, units in fx.increments.items():
        acc[key] = acc.get(key, 0) + units
    for rule_id, ms in fx.occurrences.items():
        state.occurrences.setdefault(rule_id, set()).add(ms)
    for flag, t in fx.flags.items():
        _merge_flag(state, flag, t)
    if fx.facts:
        _merge_facts(state, fx.facts, fx.at, fx.event_id)
    _merge_seen(state, fx.at, fx.event_id, fx.type, fx.email, fx.rules)


def _merge_flag(state: LeadState, flag: str, t: float) -> None:
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
        elif value is None or value.__class__ in (int, float, bool):
            kept[name] = value
        elif len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) <= MAX_FACT_BYTES:
            kept[name] = value
    return kept


def _merge_facts(state: LeadState, values: dict[str, Any], t: float, event_id: str) -> None:
    facts = state.facts
    for name, value in values.items():
        old = facts.get(name)
        if old is None or (t, event_id) > (old.at, old.event_id):
            facts[name] = Fact(t, event_id, value)


def _merge_seen(state: LeadState, t: float, event_id: str, type_: str, email: str | None, rules: tuple[str, ...]) -> None:
    if email is not None and email != state.email:
        # the newest address wins; the same address seen again needs no bookkeeping
        # because `email_seen` only orders *different* addresses
        seen = (t, event_id)
        if state.email is None or seen > state.email_seen:
            state.email, state.email_seen = email, seen
    elif email is not None:
        seen = (t, event_id)
        if seen > state.email_seen:
            state.email_seen = seen
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


def recent_activity(state: LeadState, limit: int = RECENT_LIMIT) -> list[Activity]:
    """The lead's latest activities, newest first."""
    return [Activity(*a) for a in sorted(state.recent, reverse=True)[:limit]]


def compact(engine: Engine, state: LeadState, now: datetime | float) -> None:
    """Drop what has decayed below the accumulators' resolution (and rules the model
    no longer has). Call when the item is next written; it changes no score by more
    than 1e-12 points per dropped era or occurrence."""
    t = epoch(now)
    for rule_id in list(state.occurrences):
        rule = engine.rules.get(rule_id)
        if rule is None or rule.window_s is None:
            del state.occurrences[rule_id]
            continue
        if rule.inv_h is None or not rule.points:
            continue
        # age beyond which one occurrence is worth under half a unit
        horizon = rule.decay.half_life_s * math.log2(2 * abs(rule.points) * SCALE)
        times = sorted(state.occurrences[rule_id])
        old = [ms for ms in times if t - ms / 1000 > horizon]
        # keep the newest old one: it may be the predecessor that makes the next a repeat
        for ms in old[:-1]:
            state.occurrences[rule_id].discard(ms)
    for key in list(state.acc):
        rule = engine.rules.get(key[0])
        if rule is None:
            del state.acc[key]
        elif rule.decay.inv_h is not None and key[1] < int(t // rule.decay.era_s) - 1:
            if abs(rule.decay.value(key[1], state.acc[key], t)) * SCALE < 0.5:
                del state.acc[key]


__all__ = [
    "Activity",
    "Effects",
    "Engine",
    "Fact",
    "LeadState",
    "Reason",
    "Score",
    "Transition",
    "compact",
    "epoch",
    "merge",
    "recent_activity",
    "transition_id",
]
