"""Rules compiled into an index, so an event only touches rules that can match it.

Rules are bucketed by event type; inside a bucket, a rule with an exact-match
condition (`eq` or `in`) is filed under each value it accepts, on the field
most rules of that bucket share. A lookup is then one dict access per indexed
field plus the rules with no exact key. `Index(..., indexed=False)` checks
every rule against every subject: the naive baseline the benchmark compares.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .conditions import Getter, Test, fold

WILDCARD = "*"


@dataclass(frozen=True)
class FieldTest:
    field: str
    op: str
    arg: Any
    get: Getter
    test: Test


@dataclass(eq=False)
class Matcher:
    """What the index needs of a rule: its event types and its field tests."""

    types: tuple[str, ...]
    tests: tuple[FieldTest, ...]
    payload: Any = None  # the compiled rule the match stands for

    def matches(self, subject: Any, subject_type: str | None) -> bool:
        if subject_type is not None and subject_type not in self.types and WILDCARD not in self.types:
            return False
        return all(t.test(t.get(subject)) for t in self.tests)


Residual = tuple[tuple[Getter, Test], ...]


@dataclass
class _Bucket:
    scan: list[tuple[Any, Residual]] = field(default_factory=list)
    keyed: list[tuple[Getter, dict[Any, list[tuple[Any, Residual]]]]] = field(default_factory=list)

    def collect(self, subject: Any, out: list[Any]) -> None:
        for payload, residual in self.scan:
            for get, test in residual:
                if not test(get(subject)):
                    break
            else:
                out.append(payload)
        for get, table in self.keyed:
            value = get(subject)
            if value is None:
                continue
            if isinstance(value, str):
                entries = table.get(value.casefold())
            elif isinstance(value, (int, float)):
                entries = table.get(value)
            elif isinstance(value, (list, tuple)):
                entries = _entries_for_elements(table, value)
            else:
                continue
            if entries:
                for payload, residual in entries:
                    for get_, test in residual:
                        if not test(get_(subject)):
                            break
                    else:
                        out.append(payload)


def _entries_for_elements(table: dict[Any, list[tuple[Any, Residual]]], values: Iterable[Any]) -> list[tuple[Any, Residual]]:
    seen: dict[int, tuple[Any, Residual]] = {}
    for v in values:
        if isinstance(v, (str, int, float)):
            for entry in table.get(fold(v), ()):
                seen.setdefault(id(entry[0]), entry)
    return list(seen.values())


def _key_values(t: FieldTest) -> list[Any] | None:
    if t.op == "eq" and t.arg is not None:
        return [fold(t.arg)]
    if t.op == "in":
        return [fold(a) for a in t.arg]
    return None


class Index:
    """Finds the rules whose type and conditions match a subject (an event or a facts dict)."""

    def __init__(self, matchers: Sequence[Matcher], indexed: bool = True):
        self._all = list(matchers)
        self.indexed = indexed
        self._buckets: dict[str, _Bucket] = {}
        self._wild: _Bucket | None = None
        if indexed:
            self._build()

    def _build(self) -> None:
        by_type: dict[str, list[Matcher]] = {}
        for m in self._all:
            for t in m.types:
                by_type.setdefault(t, []).append(m)
        for etype, matchers in by_type.items():
            bucket = _Bucket()
            # prefer the exact-match field most rules in this bucket share: fewer lookups
            counts = Counter(t.field for m in matchers for t in m.tests if _key_values(t) is not None)
            tables: dict[str, tuple[Getter, dict[Any, list[tuple[Any, Residual]]]]] = {}
            for m in matchers:
                keyable = [t for t in m.tests if _key_values(t) is not None]
                if not keyable:
                    bucket.scan.append((m.payload, tuple((t.get, t.test) for t in m.tests)))
                    continue
                key_test = max(keyable, key=lambda t: (counts[t.field], -m.tests.index(t)))
                residual = tuple((t.get, t.test) for t in m.tests if t is not key_test)
                getter, table = tables.setdefault(key_test.field, (key_test.get, {}))
                for value in dict.fromkeys(_key_values(key_test) or ()):
                    table.setdefault(value, []).append((m.payload, residual))
            bucket.keyed = list(tables.values())
            if etype == WILDCARD:
                self._wild = bucket
            else:
                self._buckets[etype] = bucket

    def hits(self, subject: Any, subject_type: str) -> list[Any]:
        """Payloads of every rule matching the subject, each once."""
        out: list[Any] = []
        if not self.indexed:
            for m in self._all:
                if m.matches(subject, subject_type):
                    out.append(m.payload)
            return out
        bucket = self._buckets.get(subject_type)
        if bucket is not None:
            bucket.collect(subject, out)
        if self._wild is not None and subject_type != WILDCARD:
            self._wild.collect(subject, out)
        return out
