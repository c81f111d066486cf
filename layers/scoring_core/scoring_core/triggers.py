"""The model's triggers: when a lead's condition fires `LeadTriggered`, once per episode.

Pure, like the rest of the engine: a store keeps, per trigger, the matching events
(`hits_for`: what an event adds, with no read) and a small mark of what was fired
(`Mark`); `review` reads them with the lead's state at `now` and says what fires,
which marks change and when time alone next needs a look (`Review.due_at`).

Episodes (docs/model.md, Triggers), each fired once and identified by a key that
does not depend on when it is looked at, so two looks at one episode agree:
- `score_above`: the score reaches the threshold from below; the episode ends when
  the score is below it again (seen by the worker after an event, or by the sweep
  at the second decay alone takes it there: `Mark.clear_at`). Key: the n-th firing.
- `inactive`: no event for `days` while in `stages` (now) and `bands` (the band at
  the last event). Key: the last event's second; a new event is a new episode.
- `repeated`: `count` matching events (with one value of `same`) within the window.
  The episode starts at the event that makes the window hold `count` and lasts while
  it holds them. Key: that event's millisecond.
- `not_followed`: an `on` event with no `by` event within the wait. Key: the start's
  millisecond; only the latest start counts, and a new start is a new episode.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .compile import _tests
from .conditions import event_getter
from .index import WILDCARD
from .timing import score_below_at

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine
    from .events import Event
    from .index import FieldTest
    from .model import Trigger
    from .score import Score
    from .state import LeadState

#: A lead keeps each trigger's latest matching events: past TRIM_AT, the oldest beyond KEEP go.
TRIGGER_HITS_KEEP, TRIGGER_HITS_TRIM_AT = 25, 50
#: A `same:` value is kept (and shown in `matched`) cut to this many bytes of UTF-8 (whole characters).
SAME_BYTES = 64
START, FOLLOW = "s", "b"  # a not_followed hit's tag: its start, or its follow-up
REPEATED_FIRED_KEPT = 10  # a repeated trigger's fired episodes remembered (those within its window)


def _value_hash(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()[:8]


def firing_id(lead_key: str, trigger_id: str, episode: int) -> str:
    """Deterministic id of one episode of a lead's trigger: consumers dedupe on it."""
    return hashlib.sha256(f"{lead_key}|trigger|{trigger_id}|{episode}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Mark:
    """What a lead keeps per trigger: episodes fired, the last one's key, and for
    `score_above` whether it is in an episode and when decay alone ends it (computed
    when the lead held `events` events)."""

    fired: int = 0
    episode: int | None = None
    up: bool = False
    clear_at: int | None = None
    events: int = 0
    #: `repeated`: the episodes fired within the window, `"<start ms>|<value hash>"`, newest
    #: REPEATED_FIRED_KEPT (what tells a trimmed episode's middle from a new one)
    recent: tuple[str, ...] = ()

    def as_item(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": self.fired}
        if self.episode is not None:
            out["e"] = self.episode
        if self.up:
            out.update(up=True, n=self.events)
            if self.clear_at is not None:
                out["c"] = self.clear_at
        if self.recent:
            out["f"] = list(self.recent)
        return out

    @classmethod
    def of_item(cls, value: Any) -> Mark:
        if not isinstance(value, dict):
            return cls()
        c, e = value.get("c"), value.get("e")
        return cls(int(value.get("k", 0)), None if e is None else int(e), bool(value.get("up", False)),
                   None if c is None else int(c), int(value.get("n", 0)), tuple(str(f) for f in value.get("f") or ()))


@dataclass(frozen=True)
class Firing:
    """One episode fired: the trigger, its kind, the episode's key and what matched."""

    trigger: str
    kind: str
    episode: int
    matched: dict[str, Any]

    def firing_id(self, lead_key: str) -> str:
        return firing_id(lead_key, self.trigger, self.episode)


@dataclass
class Review:
    """What `review` found: the firings, the marks to write (all of them, when any changed),
    and the earliest second a time-based trigger needs looking at (None: none)."""

    firings: list[Firing] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)
    changed: bool = False
    due_at: int | None = None


class _Compiled:
    def __init__(self, trigger: Trigger):
        self.trigger = trigger
        self.id = trigger.id
        self.kind = trigger.kind
        on = getattr(trigger, "on", None)
        self.types = frozenset(on or ())
        self.tests: tuple[FieldTest, ...] = _tests(getattr(trigger, "when", {}), event_getter)
        by = getattr(trigger, "by", None)
        self.by_types = frozenset(by or ())
        self.by_tests: tuple[FieldTest, ...] = _tests(getattr(trigger, "by_when", {}), event_getter)
        same = getattr(trigger, "same", None)
        self.same = None if same is None else event_getter(same)


def _matches(types: frozenset[str], tests: tuple[FieldTest, ...], event: Event) -> bool:
    return (event.type in types or WILDCARD in types) and all(t.test(t.get(event)) for t in tests)


def _same_text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text.encode("utf-8", "replace")[:SAME_BYTES].decode("utf-8", "ignore")  # bounded bytes: the item's size


class Triggers:
    """A model's triggers, compiled. Build once per process (with its `Engine`); every method is pure."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.compiled = [_Compiled(t) for t in engine.model.triggers]
        self._bands = {"warm": engine.model.bands.warm, "hot": engine.model.bands.hot}
        self._event_based = [c for c in self.compiled if c.kind in ("repeated", "not_followed")]
        #: the triggers that keep matches (`g.<id>` on an item)
        self.event_based_ids = tuple(c.id for c in self._event_based)

    def __bool__(self) -> bool:
        return bool(self.compiled)

    def threshold_cents(self, c: _Compiled) -> int:
        t = c.trigger
        score = getattr(t, "score", None)
        return round((score if score is not None else self._bands[getattr(t, "band", "hot")]) * 100)

    # -- writing: what an event adds -------------------------------------------

    def hits_for(self, event: Event) -> dict[str, str]:
        """Per `repeated` or `not_followed` trigger the event matches, the entry a store ADDs to the
        trigger's set: `<epoch ms>|<tag>` (tag: the `same` value, or s:/b: and the event type)."""
        out: dict[str, str] = {}
        if not self._event_based:
            return out
        ms = round(event.occurred_ts * 1000)
        for c in self._event_based:
            if c.kind == "repeated":
                if _matches(c.types, c.tests, event):
                    tag = "" if c.same is None else _same_text(c.same(event))
                    if tag is not None:  # an event without the `same` field does not count
                        out[c.id] = f"{ms}|{tag}"
            elif _matches(c.types, c.tests, event):
                out[c.id] = f"{ms}|{START}:{event.type}"
            elif _matches(c.by_types, c.by_tests, event):
                out[c.id] = f"{ms}|{FOLLOW}:{event.type}"
        return out

    # -- reading: what fires ---------------------------------------------------

    def review(self, state: LeadState, score: Score, hits: dict[str, set[str]], marks: dict[str, Mark],
               now: float, new_events: int = 0, since: float | None = None,
               touched: set[str] | None = None) -> Review:
        """Every trigger of the model at `now`, for a lead in `state` (its stage as it now is) with
        `score` (its score at `now`), the stored `hits` and `marks`. `new_events`: how many events the
        caller has just applied, the earliest at `since` (the sweep: none). `touched`: the triggers the
        caller's events matched (applied now or before: a redelivery's too); a `repeated` trigger can
        only fire after an event that matched it, so the others are not looked at (None: all are).
        Deterministic in its inputs."""
        out = Review(marks=dict(marks))
        if not self.compiled or state.stage == "disqualified":
            return out
        t = math.floor(now)
        dues: list[int] = []
        for c in self.compiled:
            mark = marks.get(c.id, Mark())
            if c.kind == "score_above":
                new, due = self._score_above(c, state, score, mark, now, new_events, since)
            elif c.kind == "inactive":
                new, due = self._inactive(c, state, mark, t)
            elif c.kind == "repeated":
                if touched is not None and c.id not in touched:
                    continue
                new, due = self._repeated(c, hits.get(c.id, set()), mark)
            else:
                new, due = self._not_followed(c, hits.get(c.id, set()), mark, t)
            if isinstance(new, Firing):
                out.firings.append(new)
                out.marks[c.id] = replace(out.marks.get(c.id, Mark()), fired=mark.fired + 1, episode=new.episode)
                if c.kind == "repeated":
                    out.marks[c.id] = replace(out.marks[c.id], recent=self._fired_recent(c, mark, new))
                if c.kind == "score_above":
                    clear = score_below_at(self.engine, state, now, self.threshold_cents(c))
                    out.marks[c.id] = replace(out.marks[c.id], up=True, clear_at=clear, events=state.event_count)
                    due = clear
                out.changed = True
            elif isinstance(new, Mark):
                out.marks[c.id] = new
                out.changed = True
            if due is not None:
                dues.append(due)
        out.due_at = min(dues) if dues else None
        return out

    def _score_above(self, c: _Compiled, state: LeadState, score: Score, mark: Mark, now: float,
                     new_events: int, since: float | None) -> tuple[Firing | Mark | None, int | None]:
        cents = self.threshold_cents(c)
        above = score.total_cents >= cents
        fire = above and not mark.up
        if mark.up and above:
            # decay had already ended the episode before these events, with no event since it was computed
            before = state.event_count - new_events
            fire = (mark.clear_at is not None and mark.events == before
                    and mark.clear_at <= (now if since is None else since))
        if fire:
            return Firing(c.id, c.kind, mark.fired + 1, {"threshold": cents / 100, "score": score.total,
                                                         "band": score.band}), None
        if mark.up and not above:
            return replace(mark, up=False, clear_at=None, events=0), None  # re-armed
        if mark.up and mark.events != state.event_count and new_events == 0:
            # the sweep looking at a stale end time: events since may have kept the score up
            clear = score_below_at(self.engine, state, now, cents)
            return replace(mark, clear_at=clear, events=state.event_count), clear
        return None, mark.clear_at if mark.up else None

    def _inactive(self, c: _Compiled, state: LeadState, mark: Mark, t: int) -> tuple[Firing | None, int | None]:
        trigger = c.trigger
        last = state.last_seen
        if last is None:
            return None, None
        episode = int(last)
        if mark.episode is not None and mark.episode >= episode:
            return None, None  # fired for this quiet spell
        stages, bands = getattr(trigger, "stages", None), getattr(trigger, "bands", None)
        if stages is not None and state.stage not in stages:
            return None, None
        if bands is not None:
            band = self.engine.evaluate(state, last).band
            if band not in bands:
                return None, None
        days = float(getattr(trigger, "days", 0))
        due = math.ceil(last + days * 86400)
        if t < due:
            return None, due
        return Firing(c.id, c.kind, episode, {"last_event_at": episode, "days_inactive": round((t - last) / 86400, 2)}), None

    @staticmethod
    def _fired_recent(c: _Compiled, mark: Mark, firing: Firing) -> tuple[str, ...]:
        """The repeated trigger's fired episodes still within its window of the new one, with it."""
        window_ms = float(getattr(c.trigger, "within_days", 1)) * 86400_000
        value = (firing.matched.get("same") or {}).get("value", "")
        kept = [f for f in mark.recent if firing.episode - int(f.partition("|")[0]) < window_ms]
        kept.append(f"{firing.episode}|{_value_hash(str(value))}")
        return tuple(sorted(kept, key=lambda f: int(f.partition("|")[0]))[-REPEATED_FIRED_KEPT:])

    def _repeated(self, c: _Compiled, entries: set[str], mark: Mark) -> tuple[Firing | None, None]:
        trigger = c.trigger
        count = int(getattr(trigger, "count", 2))
        window_ms = float(getattr(trigger, "within_days", 1)) * 86400_000
        by_tag: dict[str, list[int]] = {}
        for entry in entries:
            ms_text, _, tag = entry.partition("|")
            by_tag.setdefault(tag, []).append(int(ms_text))
        oldest = min((ms for times in by_tag.values() for ms in times), default=0)
        trimmed = len(entries) >= TRIGGER_HITS_KEEP  # older matches may have been dropped
        fired: dict[str, list[int]] = {}  # value hash -> starts of its episodes fired within the window
        for f in mark.recent:
            ms_text, _, value_hash = f.partition("|")
            fired.setdefault(value_hash, []).append(int(ms_text))
        best: tuple[int, str, list[int]] | None = None
        for tag, times in by_tag.items():
            times.sort()
            for i, ms in enumerate(times):
                # the window (ms − W, ms] holds `count` matches, and did not just before `ms`
                held = [x for x in times[: i + 1] if x > ms - window_ms]
                before = [x for x in times[:i] if x >= ms - window_ms]
                if len(held) < count or len(before) >= count:
                    continue
                if trimmed and ms - window_ms < oldest and any(
                        0 <= ms - f < window_ms for f in fired.get(_value_hash(tag), ())):
                    continue  # its window reaches past what is kept and one of its value fired within it: a trimmed episode's middle
                if (mark.episode is None or ms > mark.episode) and (best is None or (ms, tag) > best[:2]):
                    best = (ms, tag, held)
        if best is None:
            return None, None
        ms, tag, held = best
        matched: dict[str, Any] = {"count": len(held), "within_days": getattr(trigger, "within_days", None),
                                   "times": [x / 1000 for x in held]}
        same = getattr(trigger, "same", None)
        if same is not None:
            matched["same"] = {"field": same, "value": tag}
        return Firing(c.id, c.kind, ms, matched), None

    def _not_followed(self, c: _Compiled, entries: set[str], mark: Mark, t: int) -> tuple[Firing | None, int | None]:
        wait_ms = float(getattr(c.trigger, "within_hours", 1)) * 3600_000
        starts: list[tuple[int, str]] = []
        follows: list[int] = []
        for entry in entries:
            ms_text, _, tag = entry.partition("|")
            kind, _, type_ = tag.partition(":")
            if kind == START:
                starts.append((int(ms_text), type_))
            elif kind == FOLLOW:
                follows.append(int(ms_text))
        if not starts:
            return None, None
        start, type_ = max(starts)
        if mark.episode is not None and mark.episode >= start:
            return None, None  # fired for this start
        if any(start <= b <= start + wait_ms for b in follows):
            return None, None  # followed: the episode is over
        due = math.ceil((start + wait_ms) / 1000)
        if t < due:
            return None, due
        return Firing(c.id, c.kind, start, {"start": {"type": type_, "at": start / 1000},
                                             "by": sorted(c.by_types),
                                             "waited_hours": round((t - start / 1000) / 3600, 2)}), None


def trimmed_hits(entries: set[str]) -> set[str] | None:
    """The entries to delete from a trigger's set past TRIGGER_HITS_TRIM_AT (the oldest beyond
    TRIGGER_HITS_KEEP), or None when it is short enough."""
    if len(entries) <= TRIGGER_HITS_TRIM_AT:
        return None
    ordered = sorted(entries, key=lambda e: int(e.partition("|")[0]))
    return set(ordered[: len(ordered) - TRIGGER_HITS_KEEP])


__all__ = ["SAME_BYTES", "TRIGGER_HITS_KEEP", "TRIGGER_HITS_TRIM_AT", "Firing", "Mark", "Review", "Triggers",
           "firing_id", "trimmed_hits"]
