"""Interest by content category: which of a model's categories a page belongs to, and how much
a lead has read of each, decayed.

A category's interest is kept exactly like an engagement signal (`scoring_core.decay`): one
integer accumulator per era, under the key `("i:<category>", era)` in `LeadState.acc`, added to
with no read and in any order. The `i:` prefix keeps these keys apart from rule ids (which
start with a letter), so the engine's score never reads them: interest changes no score, band
or stage. `Engine.interests` reads them back.

Path patterns are globs matched against the whole of the event's `path` (no query string, no
trailing slash; `scoring_core.events.path_of`), ignoring case: `*` is any run of characters
within one path segment, `**` any run of characters across segments, and a trailing `/**`
also matches the directory itself (`/docs/**` matches `/docs`). docs/model.md, Interests.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from .compile import CompiledRule
from .conditions import as_number
from .decay import SCALE, Decay
from .score import INTEREST

if TYPE_CHECKING:  # pragma: no cover
    from .events import Event
    from .model import Interests

#: the accumulator key prefix of a category (rule ids start with a letter, so never with this)
KEY_PREFIX = "i:"
#: the event types that carry interest, and what each weighs
VIEW, ENGAGED = "page_view", "page_engaged"
#: the most engaged time one `page_engaged` report counts (its `engaged_seconds` are cumulative
#: per page view, so a page left and revisited reports again; docs/model.md, Interests)
MAX_ENGAGED_S = 600.0
#: how many categories `Engine.interests` reports by default (the alerts and the API show these)
TOP = 5


class Interest(NamedTuple):
    """A lead's interest in one category now: the decayed weight, and its share (0–100, whole
    percent) of the lead's interest in all categories."""

    category: str
    weight: float  # rounded to 0.01
    share: int


def glob_regex(pattern: str) -> str:
    """The regular expression (to `fullmatch` a case-folded path) of one path glob."""
    out = []
    rest = pattern.casefold()
    while rest:
        if rest == "/**":
            out.append("(?:/.*)?")
            break
        if rest.startswith("**"):
            out.append(".*")
            rest = rest[2:]
        elif rest.startswith("*"):
            out.append("[^/]*")
            rest = rest[1:]
        else:
            out.append(re.escape(rest[0]))
            rest = rest[1:]
    return "".join(out)


def _engaged_seconds(event: Event) -> Any:
    # a report's seconds, counted up to MAX_ENGAGED_S (an unreadable value counts nothing)
    n = as_number(event.properties.get("engaged_seconds"))
    return None if n is None or n <= 0 else min(n, MAX_ENGAGED_S)


class CompiledInterests:
    """A model's `interests:` section, ready for the engine.

    `rules(event_type, path)` gives the pseudo-rules (`CompiledRule`, section `interest`, id
    `i:<category>`) an event adds to, which the engine applies with the same prepared
    combinations as its engagement rules (`Engine._interest_matcher`)."""

    def __init__(self, section: Interests):
        self.categories = tuple(c.id for c in section.categories)
        self.decay = Decay(section.half_life_days * 86400.0)
        self._patterns = [(c.id, re.compile("|".join(f"(?:{glob_regex(p)})" for p in c.paths))) for c in section.categories]
        self.keys = {KEY_PREFIX + c: c for c in self.categories}  # accumulator id -> category
        self._by_type: dict[str, dict[str, CompiledRule]] = {VIEW: {}, ENGAGED: {}}
        for category in self.categories:
            view = self._by_type[VIEW][category] = CompiledRule(KEY_PREFIX + category, INTEREST, float(section.view))
            if section.engaged_minute:
                engaged = self._by_type[ENGAGED][category] = CompiledRule(KEY_PREFIX + category, INTEREST, float(section.engaged_minute))
                engaged.per_get, engaged.per_unit = _engaged_seconds, 60.0
                engaged.plain = False
            for r in (view, *([engaged] if section.engaged_minute else [])):
                r.decay = self.decay
                r.inv_h = self.decay.inv_h
                r.era_s = self.decay.era_s or 0.0
        self.types = frozenset(t for t, rules in self._by_type.items() if rules)

    def matching(self, path: str) -> tuple[str, ...]:
        """The categories (in model order) whose patterns match a path."""
        folded = path.casefold()
        return tuple(c for c, rx in self._patterns if rx.fullmatch(folded))

    def rules(self, event_type: str, path: str) -> tuple[CompiledRule, ...]:
        """The interest pseudo-rules an event of this type on this path adds to (often none).
        Not memoized here: the engine prepares each path's answer once."""
        by_category = self._by_type.get(event_type)
        if not by_category:
            return ()
        return tuple(by_category[c] for c in self.matching(path) if c in by_category)

    def value(self, acc: dict[tuple[str, int], int], t: float) -> dict[str, float]:
        """Each category's decayed weight at `t`, summed over its eras in era order (a fixed float order)."""
        keys = self.keys
        eras: dict[str, list[tuple[int, int]]] = {}
        for (key_id, era), units in acc.items():
            category = keys.get(key_id)
            if category is not None and units:
                eras.setdefault(category, []).append((era, units))
        decay = self.decay
        return {c: sum(decay.value(era, units, t) for era, units in sorted(items)) for c, items in eras.items()}

    def top(self, acc: dict[tuple[str, int], int], t: float, limit: int = TOP) -> tuple[Interest, ...]:
        """The `limit` categories with the largest weight at `t` (ties by model order), each with its
        share of the weight of all categories. Categories worth under 0.01 are left out."""
        values = {c: v for c, v in self.value(acc, t).items() if round(v, 2) > 0}
        total = sum(values.values())
        if not values or total <= 0:
            return ()
        order = {c: i for i, c in enumerate(self.categories)}
        # by the weight as shown (to the cent), so equal weights are listed in model order
        ranked = sorted(values.items(), key=lambda cv: (-round(cv[1], 2), order[cv[0]]))[:limit]
        return tuple(Interest(c, round(v, 2), round(100 * v / total)) for c, v in ranked)

    def compactable(self, era: int, units: int, t: float) -> bool:
        """Whether an era of a category has decayed below half a unit (and is two eras old)."""
        era_s = self.decay.era_s or 0.0
        return era < int(t // era_s) - 1 and abs(self.decay.value(era, units, t)) * SCALE < 0.5

__all__ = ["INTEREST", "KEY_PREFIX", "MAX_ENGAGED_S", "TOP", "CompiledInterests", "Interest", "glob_regex"]
