"""A scoring model compiled into rules ready to apply, and the index's matchers for them.

`compile_model` turns each rule of a `ScoringModel` into a `CompiledRule`
(points, decay, cap, repeat window, sticky flag, machine weighting) and a
`Matcher` (its event types and field tests) for `scoring_core.index`.
`Combination` is what one set of matched rules does to a state, worked out
once so that `Engine.apply` only does what depends on the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .conditions import as_number, event_getter, fact_getter, operator_test
from .decay import SCALE, Decay
from .events import PROFILE_FACTS
from .index import WILDCARD, FieldTest, Matcher
from .score import ENGAGEMENT, FIT, INTEREST

if TYPE_CHECKING:  # pragma: no cover
    from .conditions import Getter
    from .events import Event
    from .model import Conditions, ScoringModel

#: The most points one event may bring through `points_per` (a €10^30 order is not worth
#: 10^28 points; beyond this the value is treated as unreadable, not as a huge score).
MAX_POINTS = 1e9


class _Keys(dict[int, tuple[str, int]]):
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

    __slots__ = ("cap", "decay", "email", "era_s", "flag", "id", "inv_h", "keys", "per_get", "per_unit", "plain", "points", "section", "window_s")

    def __init__(self, rule_id: str, section: str, points: float = 0.0):
        self.id = rule_id
        self.section = section
        self.points = points
        self.per_get: Getter | None = None
        self.per_unit = 1.0
        self.decay = Decay(None)
        # copies of decay's, read on the hot path; `era_s` is typed a float because
        # every reader first checks `inv_h`, and the two are None together
        self.inv_h: float | None = None
        self.era_s: float = 0.0
        self.plain = True  # fixed points: no flag, no repeat window, no points_per (machine weighting allowed)
        self.cap: float | None = None
        self.window_s: float | None = None  # repeat rules: counted when a previous match lies within
        self.flag: str | None = None  # "disqualified" or "customer": a sticky mark set by a matching event
        self.email = False  # machine-opener weighting applies
        self.keys = _Keys(rule_id)

    def points_for(self, event: Event) -> float | None:
        """The points the event earns: fixed, or per the `points_per` field (None: unreadable)."""
        if self.per_get is None:
            return self.points
        n = as_number(self.per_get(event))
        if n is None:
            return None
        points = self.points * n / self.per_unit
        return points if -MAX_POINTS <= points <= MAX_POINTS else None  # finite, and far from overflowing an accumulator


@dataclass(frozen=True)
class CompiledModel:
    """The rules of a model by id (in model order) and the matchers the engine indexes."""

    rules: dict[str, CompiledRule]
    event_matchers: list[Matcher]  # engagement rules and event disqualifiers
    fact_matchers: list[Matcher]  # fit rules and fact disqualifiers, tested against a lead's current facts
    #: the facts a lead keeps: the profile, and every fact the model reads (bounded state)
    fact_names: frozenset[str]


def compile_model(model: ScoringModel) -> CompiledModel:
    """Compile every rule of `model`; rule ids are unique (the model's validation sees to it)."""
    rules: dict[str, CompiledRule] = {}
    event_matchers: list[Matcher] = []
    fact_matchers: list[Matcher] = []
    email_types = set(model.email_confidence.events) if model.email_confidence else set()

    for f in model.fit:
        rule = rules[f.id] = CompiledRule(f.id, FIT, float(f.points))
        fact_matchers.append(Matcher((FIT,), _tests(f.when, fact_getter), rule))
    for e in model.engagement:
        rule = rules[e.id] = CompiledRule(e.id, ENGAGEMENT, float(e.points))
        if e.points_per is not None:
            rule.per_get, rule.per_unit = event_getter(e.points_per.field), e.points_per.unit
        rule.decay = Decay(None if e.half_life_days is None else e.half_life_days * 86400.0)
        rule.inv_h = rule.decay.inv_h
        rule.era_s = rule.decay.era_s or 0.0
        rule.cap = None if e.cap is None else float(e.cap)  # floats (as validated): the hot paths round with float.__round__
        rule.window_s = None if e.repeat_within_days is None else e.repeat_within_days * 86400.0
        rule.flag = "customer" if e.stage == "customer" else None
        rule.email = bool(email_types.intersection(e.event_types())) or (WILDCARD in e.event_types() and bool(email_types))
        rule.plain = rule.flag is None and rule.window_s is None and rule.per_get is None
        event_matchers.append(Matcher(_types(e.event_types()), _tests(e.when, event_getter), rule))
    for d in model.disqualifiers:
        rule = rules[d.id] = CompiledRule(d.id, "disqualifiers")
        rule.flag = "disqualified"
        rule.plain = False
        if d.on is not None:
            event_matchers.append(Matcher(_types(d.event_types()), _tests(d.when, event_getter), rule))
        else:
            fact_matchers.append(Matcher((FIT,), _tests(d.when, fact_getter), rule))

    read = {name.split(".", 1)[0] for f in model.fit for name in f.when}
    read |= {name.split(".", 1)[0] for d in model.disqualifiers if d.on is None for name in d.when}
    return CompiledModel(rules, event_matchers, fact_matchers, PROFILE_FACTS | read)


def _tests(when: Conditions, getter: Callable[[str], Getter]) -> tuple[FieldTest, ...]:
    out = []
    for name, cond in when.items():
        get = getter(name)
        for op, arg in cond.operators().items():
            out.append(FieldTest(name, op, arg, get, operator_test(op, arg)))
    return tuple(out)


def _types(types: list[str]) -> tuple[str, ...]:
    return (WILDCARD,) if WILDCARD in types else tuple(dict.fromkeys(types))


class Combination:
    """What one combination of matched rules does to a state, worked out once.

    A stream's events match few distinct combinations of rules (every view of
    /pricing matches the same ones), so the engine prepares each combination
    the first time it sees it, and an event then does only what depends on it:
    - `ids`: the matched rules' ids in model order, recorded with the activity
      (the same order whichever way, indexed or naive, they were found); interest
      categories' pseudo-rules (`scoring_core.interests`) are no rules and not listed;
    - `rules`: the matched rules themselves, in that order (interest pseudo-rules last);
    - `decaying`: plain rules (fixed points: no flag, window or points_per)
      grouped by decay, `(era_s, inv_h, ((rule.keys, points), ...))`, so an event
      computes its era and 2^((t − T0)/h) once per half-life, not per rule;
    - `flat`: plain rules that never decay, with their constant
      `((rule id, 0), units)`;
    - `special`: every other rule, applied one by one;
    - `machine`: when some plain rule is weighted for machine openers, the
      same combination with those rules' points times the weight, for an
      email event from a machine (None otherwise)."""

    __slots__ = ("decaying", "flat", "ids", "machine", "rules", "special")

    def __init__(self, rules: list[CompiledRule], weight: float | None = None):
        self.rules = tuple(rules)
        self.ids = tuple([r.id for r in rules if r.section != INTEREST])
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
        self.machine: Combination | None = None


__all__ = ["MAX_POINTS", "Combination", "CompiledModel", "CompiledRule", "compile_model"]
