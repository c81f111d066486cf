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
from collections.abc import Callable, Iterable, Sequence
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


# Distinct values a probe remembers what they select. Paths and ids recur, but a
# stream can carry unboundedly many distinct ones, so the memo is cleared when full.
_MEMO_LIMIT = 4096
# The value classes a memo stores: hashable, and selecting by value alone
_MEMO_CLASSES = frozenset((str, int, float, bool, type(None)))

Found = tuple[tuple[Any, ...], tuple[tuple[Any, Residual], ...]]
_NOTHING: Found = ((), ())


class _Probe:
    """The index of one field in one bucket: exact values and prefixes, read once.

    `find` answers, for one value of the field, which rules it selects: those
    that need no further test, and those whose other conditions remain to be
    checked. That answer depends on the value alone (exact and prefix tables
    are fixed once built), so it is memoized per value: an event whose value
    was seen before costs one dict lookup, with no case folding or slicing."""

    __slots__ = ("exact", "get", "lengths", "memo", "prefixes")

    def __init__(self, get: Getter):
        self.get = get
        self.exact: dict[Any, Entries] = {}
        self.prefixes: dict[str, Entries] = {}
        self.lengths: tuple[int, ...] = ()
        self.memo: dict[Any, Found] = {}

    def find(self, value: Any) -> Found:
        entries = self._entries(value)
        found = (tuple(p for p, res in entries if not res), tuple((p, res) for p, res in entries if res)) if entries else _NOTHING
        if value.__class__ in _MEMO_CLASSES:
            if len(self.memo) >= _MEMO_LIMIT:
                self.memo.clear()
            self.memo[value] = found
        return found

    def _entries(self, value: Any) -> Entries:
        # (isinstance, as the conditions do: a str or int subclass is filed like its base)
        if isinstance(value, str):
            folded = value.casefold()
            found: list[Entries | None] = [self.exact.get(folded)]
            n = len(folded)
            for length in self.lengths:
                if length > n:
                    break
                found.append(self.prefixes.get(folded[:length]))
            return [e for group in found if group for e in group]
        if value is None:
            return []
        if isinstance(value, (int, float)):  # bool included
            return list(self.exact.get(value) or ())
        if isinstance(value, (list, tuple, set, frozenset)):
            groups: list[Entries | None] = []
            for v in value:
                if isinstance(v, (str, int, float, bool)):
                    f = fold(v)
                    groups.append(self.exact.get(f))
                    if isinstance(f, str):
                        groups += [self.prefixes.get(f[:length]) for length in self.lengths if length <= len(f)]
            return _unique(groups)
        return []


@dataclass
class _Bucket:
    always: list[Any] = field(default_factory=list)  # rules with no condition: every event of the type
    scan: Entries = field(default_factory=list)  # rules with no indexable condition
    probes: list[_Probe] = field(default_factory=list)


def _identity(hits: tuple[Any, ...]) -> Any:
    return hits


def _plan(buckets: Sequence[_Bucket], finish: Callable[[tuple[Any, ...]], Any] = _identity) -> Callable[[Any], Any]:
    """The match function for a subject of one type: its type's bucket and the
    "*" bucket, merged, compiled into a closure specialised to the shape of
    what it checks. It returns `finish(hits)`, where `hits` holds every
    matching rule, each once, in no meaningful order (the engine puts matched
    rules in model order).

    Most types have one probed field and nothing to scan. Then what matches
    is a function of that field's value alone, unless a candidate has other
    conditions, so the finished answer is remembered per value: an event
    whose value was seen before costs one read and one dict lookup."""
    always = tuple(p for b in buckets for p in b.always)
    scan = tuple(e for b in buckets for e in b.scan)
    probes = tuple((p.get, p.memo, p.find) for b in buckets for p in b.probes)

    if not scan and not probes:
        finished = finish(always)
        return lambda subject: finished

    if not scan and len(probes) == 1:
        ((get, memo, find),) = probes
        answers: dict[Any, Any] = {}  # value -> finish(hits), for values that select no rule with further conditions

        def answer(subject: Any, value: Any) -> Any:
            found = memo.get(value) if value.__class__ in _MEMO_CLASSES else None
            if found is None:
                found = find(value)
            plain, checked = found
            hits = always + plain
            for payload, residual in checked:
                for get_, test in residual:
                    if not test(get_(subject)):
                        break
                else:
                    hits += (payload,)
            finished = finish(hits)
            if not checked and value.__class__ in _MEMO_CLASSES:
                if len(answers) >= _MEMO_LIMIT:
                    answers.clear()
                answers[value] = finished
            return finished

        def match_one(subject: Any) -> Any:
            value = get(subject)
            try:
                finished = answers.get(value)
            except TypeError:  # unhashable: a list-valued field
                finished = None
            return answer(subject, value) if finished is None else finished

        name = getattr(get, "property", None)
        if name is None:
            return match_one

        def match_property(event: Any) -> Any:
            # match_one with the getter of an event property inlined
            value = event.properties.get(name)
            try:
                finished = answers.get(value)
            except TypeError:  # unhashable: a list-valued field
                finished = None
            return answer(event, value) if finished is None else finished

        return match_property

    def match(subject: Any) -> Any:
        hits = always
        for payload, residual in scan:
            for get_, test in residual:
                if not test(get_(subject)):
                    break
            else:
                hits += (payload,)
        for get, memo, find in probes:
            value = get(subject)
            try:
                found = memo.get(value)
            except TypeError:  # unhashable: a list-valued field
                found = None
            if found is None:
                found = find(value)
            plain, checked = found
            hits += plain
            for payload, residual in checked:
                for get_, test in residual:
                    if not test(get_(subject)):
                        break
                else:
                    hits += (payload,)
        return finish(hits)

    return match


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
        self._plans: dict[str, Callable[[Any], tuple[Any, ...]]] = {}
        self._wild = _plan(())  # for types no rule names: the "*" rules only
        self._merged: dict[str, tuple[_Bucket, ...]] = {}
        self._extra: tuple[_Bucket, ...] = ()
        if indexed:
            self._build()

    def _build(self) -> None:
        by_type: dict[str, list[Matcher]] = {}
        for m in self._all:
            for t in m.types:
                by_type.setdefault(t, []).append(m)
        buckets: dict[str, _Bucket] = {}
        for etype, matchers in by_type.items():
            bucket = buckets[etype] = _Bucket()
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
        wild = buckets.pop(WILDCARD, None)
        extra = (wild,) if wild is not None else ()
        self._merged = {etype: (bucket, *extra) for etype, bucket in buckets.items()}
        self._merged[WILDCARD] = ()  # a subject typed "*" is no event of any type
        self._extra = extra
        self._plans = {etype: _plan(merged) for etype, merged in self._merged.items()}
        self._wild = _plan(extra)

    def matcher(self, subject_type: str, finish: Callable[[tuple[Any, ...]], Any] = _identity) -> Callable[[Any], Any]:
        """`finish(hits(subject, subject_type))`, as a function of the subject alone."""
        if not self.indexed:
            return lambda subject: finish(self.hits(subject, subject_type))
        return _plan(self._merged.get(subject_type, self._extra), finish)

    def hits(self, subject: Any, subject_type: str) -> tuple[Any, ...]:
        """Payloads of every rule matching the subject, each once."""
        if not self.indexed:
            out: list[Any] = []
            for m in self._all:
                if m.matches(subject, subject_type):
                    out.append(m.payload)
            return tuple(out)
        return self._plans.get(subject_type, self._wild)(subject)
