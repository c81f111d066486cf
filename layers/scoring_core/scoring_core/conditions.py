"""Conditions compiled into plain Python predicates.

Semantics (documented in docs/model.md):
- string comparisons (eq, ne, in, not_in, contains, starts_with, ends_with)
  ignore case; `matches` is a regular expression used as written (start it
  with `(?i)` to ignore case);
- a list-valued field (e.g. `tech_stack`) satisfies an operator when any element does,
  and `ne` / `not_in` hold only when no element matches;
- a missing field satisfies nothing except `exists: false` and `eq: null`;
- numeric operators accept numbers and numeric strings ("1200").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Getter = Callable[[Any], Any]
Test = Callable[[Any], bool]


def fold(value: Any) -> Any:
    """The form a value is compared (and indexed) in: strings case-folded."""
    return value.casefold() if isinstance(value, str) else value


def as_number(value: Any) -> float | None:
    """A value read as a finite number, or None (booleans, text that is no number, and
    numbers no float holds finitely, such as "1e999", "inf", "nan" or 10**400, are not numbers)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            n = float(value)
        elif isinstance(value, str):
            n = float(value.replace(",", "").strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return n if math.isfinite(n) else None


_LISTS = (list, tuple, set, frozenset)


def _any_element(scalar_test: Test) -> Test:
    def test(value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, _LISTS):
            return any(scalar_test(v) for v in value if v is not None)
        return scalar_test(value)

    return test


def _numeric(compare: Callable[[float], bool]) -> Test:
    def scalar(v: Any) -> bool:
        n = as_number(v)
        return n is not None and compare(n)

    slow = _any_element(scalar)

    def test(value: Any) -> bool:
        cls = value.__class__
        if cls is int or cls is float:  # the common case (not bool: its class is bool), as as_number reads it
            return compare(float(value))
        return slow(value)

    return test


def _string(check: Callable[[str], bool]) -> Test:
    # the common case, a plain string, without the list-handling wrapper (hot path)
    slow = _any_element(lambda v: isinstance(v, str) and check(v.casefold()))

    def test(value: Any) -> bool:
        if value.__class__ is str:
            return check(value.casefold())
        return slow(value)

    return test


def operator_test(op: str, arg: Any) -> Test:
    """A predicate on a field's raw value for one operator of a condition."""
    if op == "exists":
        return (lambda v: v is not None) if arg else (lambda v: v is None)
    if op in ("eq", "ne"):
        if arg is None:
            return (lambda v: v is None) if op == "eq" else (lambda v: v is not None)
        target = fold(arg)
        slow_eq = _any_element(lambda v: fold(v) == target)

        def positive(v: Any) -> bool:
            if v.__class__ is str:
                return v.casefold() == target
            return slow_eq(v)

    elif op in ("in", "not_in"):
        targets = frozenset(fold(a) for a in arg)
        slow_in = _any_element(lambda v: fold(v) in targets)

        def positive(v: Any) -> bool:
            if v.__class__ is str:
                return v.casefold() in targets
            return slow_in(v)

    elif op == "contains":
        target = fold(arg)

        def positive(v: Any) -> bool:
            if isinstance(v, str):
                return isinstance(target, str) and target in v.casefold()
            if isinstance(v, _LISTS):
                return any(fold(e) == target for e in v)
            return False

        return positive
    elif op == "starts_with":
        return _string(_prefix(arg.casefold()))
    elif op == "ends_with":
        suffix = arg.casefold()
        return _string(lambda s: s.endswith(suffix))
    elif op == "matches":
        search = re.compile(arg).search
        slow_rx = _any_element(lambda v: isinstance(v, str) and search(v) is not None)

        def matches(v: Any) -> bool:
            if v.__class__ is str:
                return search(v) is not None
            return slow_rx(v)

        return matches
    elif op == "gt":
        return _numeric(lambda n: n > arg)
    elif op == "gte":
        return _numeric(lambda n: n >= arg)
    elif op == "lt":
        return _numeric(lambda n: n < arg)
    elif op == "lte":
        return _numeric(lambda n: n <= arg)
    else:  # pragma: no cover - the model schema admits no other operator
        raise ValueError(f"unknown operator {op}")
    if op in ("ne", "not_in"):
        return lambda v: v is not None and not positive(v)
    return positive  # None fails it: the list-aware fallback answers False


def _prefix(prefix: str) -> Callable[[str], bool]:
    return lambda s: s.startswith(prefix)


def event_getter(field: str) -> Getter:
    """Read a field of an Event: a bare name is a property; dotted paths reach
    `properties.*`, `traits.*`, `context.*` and top-level fields such as `source`."""
    parts = field.split(".")
    if len(parts) == 1:
        name = parts[0]
        if name in ("source", "type", "email", "anonymous_id", "lead_id"):
            return lambda ev: getattr(ev, name)

        def prop(ev: Any) -> Any:
            return ev.properties.get(name)

        prop.property = name  # type: ignore[attr-defined]  # lets the index read it inline
        return prop
    head, rest = parts[0], parts[1:]
    if head in ("properties", "traits"):
        return _walk_dict(lambda ev: getattr(ev, head), rest)
    if head == "context":

        def get(ev: Any) -> Any:
            obj: Any = ev.context
            for p in rest:
                obj = getattr(obj, p, None)
                if obj is None:
                    return None
            return obj

        return get
    return _walk_dict(lambda ev: ev.properties, parts)


def fact_getter(field: str) -> Getter:
    """Read a lead fact (a plain dict of current facts); dotted paths walk nested dicts."""
    parts = field.split(".")
    if len(parts) == 1:
        name = parts[0]
        return lambda facts: facts.get(name)
    return _walk_dict(lambda facts: facts, parts)


def _walk_dict(root: Getter, parts: list[str]) -> Getter:
    def get(subject: Any) -> Any:
        obj = root(subject)
        for p in parts:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(p)
        return obj

    return get
