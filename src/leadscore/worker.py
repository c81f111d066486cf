"""The scoring worker: a batch of queued events → lead state → stage transitions.

Per batch: events are grouped by lead; each lead gets one UpdateItem that
applies its events once each and returns the new state (`LeadStore.apply`);
the engine evaluates it; transitions are published to EventBridge (PutEvents
in chunks of 10) and then recorded on the lead with a condition on the
transition counter. Publish-then-record makes a crash anywhere safe: the
messages are redelivered, their events are recognised as applied, the state
is evaluated again and the same transition (same deterministic
`transition_id`) is published; it is recorded only once. See docs/data-model.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from scoring_core import Engine, Event, LeadState, Score, Transition, recent_activity

from .adapters.bus import TransitionBus
from .adapters.leads import LeadStore, Pending, heat_increment, state_of
from .identity import keys_of

MAX_REDIRECTS = 5
ALERT_FACTS = ("name", "first_name", "last_name", "job_title", "company", "company_size", "industry", "country")


@dataclass
class BatchResult:
    failed: set[str] = field(default_factory=set)  # message ids to report as batch item failures
    applied: int = 0
    duplicates: int = 0
    transitions: list[dict[str, Any]] = field(default_factory=list)
    merges: int = 0


@dataclass
class _Group:
    key: str
    messages: list[str] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def transition_detail(key: str, state: LeadState, score: Score, tr: Transition) -> dict[str, Any]:
    """The `LeadStageChanged` detail (DESIGN.md), plus what an alert shows: facts and recent activity."""
    facts = {k: f.value for k, f in state.facts.items() if k in ALERT_FACTS and f.value is not None}
    return {
        "lead_id": key,
        "email": state.email,
        "from_stage": tr.from_stage,
        "to_stage": tr.to_stage,
        "fit": score.fit,
        "engagement": score.engagement,
        "score": score.total,
        "grade": score.grade,
        "band": score.band,
        "reasons": [{"rule": r.rule, "points": r.points} for r in score.reasons],
        "disqualified_by": list(score.disqualified_by),
        "changed_at": iso(tr.at),
        "transition_id": tr.transition_id(key),
        "facts": facts,
        "recent": [{"type": a.type, "at": iso(a.at)} for a in recent_activity(state, 5)],
    }


class Worker:
    """Applies batches of events. Build once per container; it caches alias redirects."""

    def __init__(self, engine: Engine, store: LeadStore, bus: TransitionBus, key_secret: str,
                 log: Callable[..., None] | None = None):
        self.engine = engine
        self.store = store
        self.bus = bus
        self.key_secret = key_secret
        self.redirects: dict[str, str] = {}  # alias -> lead, learnt from merges and failed conditions
        self._log = log or (lambda *a, **k: None)

    def _resolve(self, key: str) -> str:
        for _ in range(MAX_REDIRECTS):
            nxt = self.redirects.get(key)
            if nxt is None or nxt == key:
                return key
            key = nxt
        return key

    def _heat(self, effects: Any) -> float:
        points = 0.0
        for (rule_id, era), units in effects.increments.items():
            rule = self.engine.rules.get(rule_id)
            if rule is not None:
                points += rule.decay.value(era, units, effects.at)
        return heat_increment(points, effects.at) if points else 0.0

    def process(self, messages: Sequence[tuple[str, Event]], now: float) -> BatchResult:
        result = BatchResult()
        groups: dict[str, _Group] = {}
        for message_id, event in messages:
            keys = keys_of(event, self.key_secret)
            key = self._resolve(keys[0])
            group = groups.setdefault(key, _Group(key))
            fx = self.engine.effects(event)
            group.messages.append(message_id)
            group.pending.append(Pending(fx, self._heat(fx)))
            group.aliases += [k for k in keys[1:] if k not in group.aliases]

        outgoing: list[tuple[_Group, str, LeadState, dict[str, Any], int]] = []
        for group in groups.values():
            try:
                evaluated = self._apply_group(group, now, result)
            except Exception as exc:  # DynamoDB failing after retries: redeliver these messages
                self._log("lead update failed", error=exc.__class__.__name__, messages=len(group.messages))
                result.failed |= set(group.messages)
                continue
            if evaluated is not None:
                outgoing.append((group, *evaluated))

        not_published = self.bus.publish([detail for _, _, _, detail, _ in outgoing]) if outgoing else set()
        for group, key, state, detail, expected in outgoing:
            if detail["transition_id"] in not_published:
                result.failed |= set(group.messages)  # redelivered: evaluated and published again
                continue
            score = {"score": detail["score"], "fit": detail["fit"], "engagement": detail["engagement"], "grade": detail["grade"]}
            try:
                self.store.record_stage(key, state, expected, score, now)
            except Exception as exc:
                self._log("stage not recorded", error=exc.__class__.__name__)
                result.failed |= set(group.messages)
                continue
            result.transitions.append(detail)
        return result

    def _apply_group(self, group: _Group, now: float, result: BatchResult):
        key = group.key
        for _ in range(MAX_REDIRECTS):
            applied = self.store.apply(key, group.pending, now)
            if applied.redirect is None:
                break
            self.redirects[key] = applied.redirect
            key = applied.redirect
        else:
            raise RuntimeError("alias chain too long")
        result.applied += len(applied.applied)
        result.duplicates += len(applied.duplicates)
        item = applied.item

        merged = False
        for alias in group.aliases:
            if alias == key or self.redirects.get(alias) == key:
                continue
            points_to, moved = self._link(alias, key, state_of(item), now)
            merged |= moved
            self.redirects[alias] = points_to
        if merged:
            result.merges += 1
            item = self.store.get(key)  # the merge path only: read the combined lead once

        state = state_of(item)
        before = (state.transitions, state.recycled)
        score, tr = self.engine.advance(state, now)
        if tr is None:
            if state.recycled != before[1]:
                self.store.record_stage(key, state, before[0], {"score": score.total}, now)
            return None
        return key, state, transition_detail(key, state, score, tr), before[0]

    def _link(self, alias: str, key: str, target_state: LeadState, now: float) -> tuple[str, bool]:
        """Point `alias` at `key`, merging its history once: (where it points, whether history moved)."""
        for _ in range(4):
            points_to, history = self.store.link(alias, key, now)
            if history is None:
                if points_to != key:
                    self._log("alias already belongs to another lead", alias_kind=alias[:2])
                return points_to, False
            if self.store.merge(history, key, target_state, now):
                return key, True
        raise RuntimeError("alias kept changing during merge")
