"""The scoring engine: events in, lead state and explained scores out.

Pure: no I/O, no clock (`now` is always passed in), no AWS. Every Lambda, the
CLI and the backtests call this one engine, so a score means the same thing
everywhere. What it works on lives beside it: `state` (LeadState, Effects,
merge), `score` (Score, Reason, Transition), `compile` (the model's rules,
ready to apply), `index` (which rules an event can match), `openers`
(machine-opened email), `stages` (where a lead stands) and `decay`.

Two halves:
- writing: `Engine.effects(event)` says what an event changes (integer
  accumulator increments, fact updates, sticky flags), each change a
  commutative merge, so a store can apply it with atomic adds and no read;
  `Engine.apply(state, event)` merges those effects into an in-memory
  `LeadState`.
- reading: `Engine.evaluate(state, now)` turns a state into a `Score` (fit,
  engagement, grade, band, reasons); `Engine.advance(state, now)` also moves
  the stage (with hysteresis) and returns the `Transition`, if any;
  `Engine.interests(state, now)` the lead's top content categories (`interests`),
  which count in no score; `compact(engine, state, now)` drops what has decayed to nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING

from .compile import Combination, CompiledRule, compile_model
from .decay import SCALE
from .index import Index
from .interests import TOP, CompiledInterests, Interest
from .openers import MachineOpeners
from .score import ENGAGEMENT, FIT, Reason, Score, Transition
from .stages import StagePolicy
from .state import RECENT_LIMIT, Effects, LeadState, kept_facts, merge_facts

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from .events import Event
    from .model import ScoringModel

# Hot-path spellings with the very same results: `_round(x)` is `round(x)` for
# a float x (round() calls type(x).__round__, at twice the cost), and a float
# times SCALE_F is the float times SCALE (10^12 converts to 1e12 exactly).
_round = float.__round__
SCALE_F = float(SCALE)
_CACHE_LIMIT = 4096  # combinations and event types remembered; far more than a model's buckets produce


def epoch(value: datetime | float) -> float:
    """Epoch seconds of a datetime (naive means UTC) or a number."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


class Engine:
    """A compiled scoring model. Build once per process; every method is pure."""

    def __init__(self, model: ScoringModel, indexed: bool = True):
        self.model = model
        compiled = compile_model(model)
        #: every rule by id, in model order
        self.rules: dict[str, CompiledRule] = compiled.rules
        #: the facts a lead keeps: the profile, and every fact the model reads (bounded state)
        self.fact_names = compiled.fact_names
        #: the machine-opener classifier of the model's `email_confidence`
        self.openers = MachineOpeners(model.email_confidence)
        s = model.stages
        self.stage_policy = StagePolicy((s.mql.score, s.mql.min_fit), (s.sql.score, s.sql.min_fit),
                                        hysteresis=s.hysteresis, low_trust_max=s.low_trust_max, sql_by=s.sql_by)
        self._free_domains = frozenset(d.casefold() for d in model.free_email_domains)
        self._events = Index(compiled.event_matchers, indexed=indexed)
        self._facts = Index(compiled.fact_matchers, indexed=indexed)
        self._position = {rule_id: i for i, rule_id in enumerate(self.rules)}
        self._combinations: dict[tuple[CompiledRule, ...], Combination] = {}
        self._matchers: dict[str, Callable[[Event], Combination]] = {}  # event type -> the index's match function for it
        #: the model's interest categories (None without an `interests:` section: then nothing below runs)
        self.interest_categories = None if model.interests is None else CompiledInterests(model.interests)

    # -- writing ---------------------------------------------------------

    def is_machine_open(self, event: Event) -> bool:
        """True when an email event comes from a machine opener the model lists."""
        return self.openers.is_machine_open(event)

    def apply(self, state: LeadState, event: Event) -> None:
        """Merge one event into a state. Every change is a commutative merge
        (integer ADDs, set unions, min/max, newest-fact-wins), so applying the
        same events in any order, in any batches, gives the same
        `state.accumulated()`. The caller dedupes by `event_id` (the store
        does; `apply` counts what it is given). This is the per-event hot path:
        its steps are inlined on purpose, and what depends only on which rules
        matched is prepared once per combination (`Combination`), which the
        index hands back directly."""
        t = event.occurred_ts
        type_ = event.type
        match = self._matchers.get(type_)
        if match is None:
            if len(self._matchers) >= _CACHE_LIMIT:  # custom event types are unbounded
                self._matchers.clear()
            match = self._events.matcher(type_, self._combination)
            if self.interest_categories is not None and type_ in self.interest_categories.types:
                match = self._interest_matcher(match, type_)
            self._matchers[type_] = match
        combination = match(event)  # the matched rules, prepared
        if combination.machine is not None and type_ in self.openers.events and self.openers.is_machine_open(event):
            combination = combination.machine
        acc = state.acc
        for era_s, inv_h, rules in combination.decaying:
            # Decay.increment, inlined: one era and factor per half-life; the
            # units are computed exactly as `increment` does, to the last bit
            era = int(t // era_s)
            factor = 2.0 ** ((t - era * era_s) * inv_h)
            for keys, points in rules:
                key = keys[era]
                acc[key] = acc.get(key, 0) + _round(points * factor * SCALE_F)
        for key, units in combination.flat:
            acc[key] = acc.get(key, 0) + units
        if combination.special:
            self._apply_special(state, event, t, combination.special)
        event_id = event.event_id
        if event.traits:
            merge_facts(state, kept_facts(event.traits, self.fact_names), t, event_id)
        # state.merge_seen, inlined
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
        recent.append((t, event_id, type_, combination.ids))
        if len(recent) > 2 * RECENT_LIMIT:
            recent.sort(reverse=True)
            del recent[RECENT_LIMIT:]

    def _combination(self, hits: tuple[CompiledRule, ...]) -> Combination:
        """The matched rules `hits` (in any order), prepared once."""
        combination = self._combinations.get(hits)
        if combination is not None:
            return combination
        if len(self._combinations) >= _CACHE_LIMIT:
            self._combinations.clear()
        position = self._position
        rules = sorted(hits, key=lambda r: position[r.id])
        combination = self._combinations[hits] = Combination(rules)
        if any(r.plain and r.email for r in rules):
            combination.machine = Combination(rules, self.openers.weight)
        return combination

    def _interest_matcher(self, match: Callable[[Event], Combination], type_: str) -> Callable[[Event], Combination]:
        """`match`, with the interest categories of the event's path added to the combination it
        finds: the categories' accumulators are then applied exactly as the engagement rules' are.
        What a path selects, and each combination with it, is prepared once per path (bounded).
        Only types that carry interest are wrapped, so a model without an `interests:` section
        runs exactly the matcher it always did."""
        interests = self.interest_categories
        assert interests is not None  # noqa: S101 (only called with categories)
        rules_for = interests.rules
        weight = self.openers.weight
        # path -> (its categories' pseudo-rules, {combination: the combination with them})
        by_path: dict[str, tuple[tuple[CompiledRule, ...], dict[Combination, Combination]]] = {}

        def match_with_interest(event: Event) -> Combination:
            combination = match(event)
            path = event.properties.get("path")
            if path.__class__ is not str:
                return combination
            entry = by_path.get(path)
            if entry is None:
                if len(by_path) >= _CACHE_LIMIT:  # paths are unbounded
                    by_path.clear()
                entry = by_path[path] = (rules_for(type_, path), {})
            extra, merged = entry
            if not extra:
                return combination
            found = merged.get(combination)
            if found is None:
                rules = [*combination.rules, *extra]
                found = merged[combination] = Combination(rules)
                if combination.machine is not None:
                    found.machine = Combination(rules, weight)
            return found

        return match_with_interest

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
            if rule.email and event.type in self.openers.events:
                if machine is None:
                    machine = self.openers.is_machine_open(event)
                if machine:
                    points *= self.openers.weight
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
        rows: list[_Row] = []  # (-|cents|, rule, reason): sorts largest first, ties by rule id
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
        for flag in state.flags:
            # sticky marks outlive their rule: renaming an opt-out rule must not
            # quietly re-qualify everyone who opted out
            kind, _, rule_id = flag.partition(":")
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

    def interests(self, state: LeadState, now: datetime | float, limit: int = TOP) -> tuple[Interest, ...]:
        """The lead's top `limit` content categories at `now`, largest decayed weight first (ties in
        model order), each with its whole-percent share of the lead's interest in every category.
        Empty for a model without `interests:`. Order-independent, like the accumulators it reads;
        it changes nothing in the score (`evaluate` never reads a category's accumulator)."""
        if self.interest_categories is None:
            return ()
        return self.interest_categories.top(state.acc, epoch(now), limit)

    @staticmethod
    def _value_over_eras(rule: CompiledRule, acc: dict[tuple[str, int], int], t: float) -> float:
        """A rule's value summed over its eras in era order (a fixed float order)."""
        total = 0.0
        inv_h = rule.inv_h
        for (_, era), units in sorted(item for item in acc.items() if item[0][0] == rule.id):
            if not units:
                continue
            if inv_h is None:
                total += units / SCALE
            else:
                exponent = (era * rule.era_s - t) * inv_h
                if exponent <= 0:
                    total += units * 2.0 ** exponent / SCALE_F
        return total

    def _repeat_value(self, rule: CompiledRule, times: set[int], t: float) -> float:
        """Points for each occurrence that follows another within the rule's window."""
        window_ms = (rule.window_s or 0.0) * 1000  # valued only for repeat rules, which have a window
        ordered = sorted(times)
        total = 0.0
        now_ms = t * 1000
        for prev, cur in pairwise(ordered):
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


def _reason(rule_id: str, cents: int, kind: str) -> Reason:
    return tuple.__new__(Reason, (rule_id, cents, kind))  # skips NamedTuple's Python-level __new__


_Row = tuple[int, str, Reason]  # (-|cents|, rule id, reason): sorts largest first, ties by rule id
_NO_ROW: _Row = (0, "", Reason("", 0, ENGAGEMENT))  # a row replaced by its rule's sum over several eras (removed by identity)


def _row(rule: CompiledRule, value: float) -> _Row | None:
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


def compact(engine: Engine, state: LeadState, now: datetime | float) -> None:
    """Drop what has decayed below the accumulators' resolution (and rules and interest
    categories the model no longer has). Call when the item is next written; it changes no score by more
    than 1e-12 points per dropped era or occurrence."""
    t = epoch(now)
    for rule_id in list(state.occurrences):
        rule = engine.rules.get(rule_id)
        if rule is None or rule.window_s is None:
            del state.occurrences[rule_id]
            continue
        half_life_s = rule.decay.half_life_s
        if half_life_s is None or not rule.points:
            continue
        # age beyond which one occurrence is worth under half a unit
        horizon = half_life_s * math.log2(2 * abs(rule.points) * SCALE)
        times = sorted(state.occurrences[rule_id])
        old = [ms for ms in times if t - ms / 1000 > horizon]
        # keep the newest old one: it may be the predecessor that makes the next a repeat
        for ms in old[:-1]:
            state.occurrences[rule_id].discard(ms)
    categories = engine.interest_categories
    for key in list(state.acc):
        rule = engine.rules.get(key[0])
        if rule is None:
            # an interest category the model has: compacted like a rule; anything else is gone
            if categories is None or key[0] not in categories.keys or categories.compactable(key[1], state.acc[key], t):
                del state.acc[key]
            continue
        era_s = rule.decay.era_s  # None: the rule never decays, its one accumulator stays
        if era_s is not None and key[1] < int(t // era_s) - 1 and abs(rule.decay.value(key[1], state.acc[key], t)) * SCALE < 0.5:
            del state.acc[key]


__all__ = ["Engine", "compact", "epoch"]
