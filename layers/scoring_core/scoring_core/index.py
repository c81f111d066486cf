"""Rules compiled into an index, so an event only touches rules that can match it.

Rules are bucketed by event type; inside a bucket, a rule with an exact-match
condition (`eq` or `in`) is filed under each value it accepts, on the field
most rules of that bucket share; failing that, a `starts_with` rule is filed
under its prefix, looked up by the prefix lengths in use. A lookup is then a
few dict accesses plus the rules with no key, and only the candidates' other
conditions are tested. `Index(..., indexed=False)` checks
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
Entries = list[tuple[Any, Residual]]


def _emit(entries: Entries, subject: Any, out: list[Any]) -> None:
    for payload, residual in entries:
        for get, test in residual:
            if not test(get(subject)):
                break
        else:
            out.append(payload)


@dataclass
class _Probe:
    """The index of one field in one bucket: exact values and prefixes, read once."""

    get: Getter
    exact: dict[Any, Entries] = field(default_factory=dict)
    prefixes: dict[str, Entries] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()


@dataclass
class _Bucket:
    always: list[Any] = field(default_factory=list)  # rules with no condition: every event of the type
    scan: Entries = field(default_factory=list)  # rules with no indexable condition
    probes: list[_Probe] = field(default_factory=list)

    def collect(self, subject: Any, out: list[Any]) -> None:
        if self.always:
            out += self.always
        if self.scan:
            _emit(self.scan, subject, out)
        for probe in self.probes:
            value = probe.get(subject)
            cls = value.__class__
            if cls is str:
                folded = value.casefold()
                entries = probe.exact.get(folded)
                if entries:
                    for payload, residual in entries:  # _emit, inlined on the hot path
                        for get_, test in residual:
                            if not test(get_(subject)):
                                break
                        else:
                            out.append(payload)
                if probe.lengths:
                    n = len(folded)
                    for length in probe.lengths:
                        if length > n:
                            break
                        entries = probe.prefixes.get(folded[:length])
                        if entries:
                            _emit(entries, subject, out)
            elif value is None:
                continue
            elif cls is int or cls is float or cls is bool:
                entries = probe.exact.get(value)
                if entries:
                    _emit(entries, subject, out)
            elif isinstance(value, (list, tuple, set, frozenset)):
                found: list[Entries | None] = []
                for v in value:
                    if isinstance(v, (str, int, float, bool)):
                        f = fold(v)
                        found.append(probe.exact.get(f))
                        if isinstance(f, str):
                            found += [probe.prefixes.get(f[:length]) for length in probe.lengths if length <= len(f)]
                entries = _unique(found)
                if entries:
                    _emit(entries, subject, out)


def _unique(groups: Iterable[Entries | None]) -> Entries:
    seen: dict[int, tuple[Any, Residual]] = {}
    for group in groups:
        for entry in group or ():
            seen.setdefault(id(entry[0]), entry)
    return list(seen.values())


def _key_values(t: FieldTest) -> list[Any] | None:
    if t.op == "eq" and t.arg is not None:
        return [fold(t.arg)]
    if t.op == "in":
        return [fold(a) for a in t.arg]
    return None


def _prefix(t: FieldTest) -> str | None:
    return t.arg.casefold() if t.op == "starts_with" else None


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
            probes: dict[str, _Probe] = {}
            for m in matchers:
                keyable = [t for t in m.tests if _key_values(t) is not None]
                by_prefix = [t for t in m.tests if _prefix(t) is not None]
                if keyable:
                    key_test = max(keyable, key=lambda t: (counts[t.field], -m.tests.index(t)))
                    table = probes.setdefault(key_test.field, _Probe(key_test.get)).exact
                    keys = dict.fromkeys(_key_values(key_test) or ())
                elif by_prefix:
                    key_test = by_prefix[0]
                    table = probes.setdefault(key_test.field, _Probe(key_test.get)).prefixes
                    keys = dict.fromkeys([_prefix(key_test)])
                elif not m.tests:
                    bucket.always.append(m.payload)
                    continue
                else:
                    bucket.scan.append((m.payload, tuple((t.get, t.test) for t in m.tests)))
                    continue
                residual = tuple((t.get, t.test) for t in m.tests if t is not key_test)
                for value in keys:
                    table.setdefault(value, []).append((m.payload, residual))
            for probe in probes.values():
                probe.lengths = tuple(sorted({len(k) for k in probe.prefixes}))
            bucket.probes = list(probes.values())
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
