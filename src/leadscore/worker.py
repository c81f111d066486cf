"""The scoring worker: a batch of queued events → lead state → stage transitions.

Per batch: events are grouped by lead; each lead gets one UpdateItem that
applies its events once each and returns the new state (`LeadTable.apply`;
`adapters/leads`: DynamoDB in Lambda, in memory in unit tests);
the engine evaluates it; a transition is recorded on the lead, with its
`LeadStageChanged` detail, conditioned on the lead's transition counter (so
of two concurrent evaluations only one records, the other evaluates again).
The worker publishes nothing: the record's write is in the table's stream,
and the stream publisher (functions/publish) sends it to EventBridge, batched
across many workers' writes. A crash before the record is redelivered: the
events are recognised as applied, the returned lead is evaluated again and
the same transition recorded. See docs/data-model.md.

The model's triggers ride on the same writes: an event's matches go in the apply's
UpdateItem (`Effects.hits`), the returned lead's triggers are reviewed after its stage
(`review_triggers`), and a firing is recorded with the transition or alone
(`record_triggers`), its `LeadTriggered` detail in the item's `ot` for the publisher.
"""

from __future__ import annotations

import logging
from functools import partial
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scoring_core import Engine, Event, LeadState, Score, Transition, recent_activity
from scoring_core.heat import heat_increment
from scoring_core.timing import stage_change_at
from scoring_core.triggers import Firing, Mark, Review, Triggers

from .adapters.leads import LeadTable, Pending, TriggerRecord, state_of
from .adapters.leads.codec import TRIGGER_VERSION, trigger_hits, trigger_marks
from .contracts import Activity, FeedbackGiven, Interest, LeadStageChanged, LeadTriggered, Owner, Reason
from .identity import erased_marker, keys_of

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core.interests import Interest as LeadInterest

    from .owners import Router

MAX_REDIRECTS = 5
MAX_RECORD_ATTEMPTS = 4
#: the stages time alone moves (downgrades): a lead in one carries the due time of that move
TIMED_STAGES = ("mql", "sql")
ALERT_FACTS = ("name", "first_name", "last_name", "job_title", "company", "company_size", "industry", "country")


@dataclass
class BatchResult:
    failed: set[str] = field(default_factory=set)  # message ids to report as batch item failures
    applied: int = 0
    duplicates: int = 0
    transitions: list[dict[str, Any]] = field(default_factory=list)  # recorded now (the stream publishes them)
    firings: list[dict[str, Any]] = field(default_factory=list)  # LeadTriggered details recorded now (likewise)
    merges: int = 0
    # for readable logs: (lead key, event type, points the event brought when it happened)
    events: list[tuple[str, str, float]] = field(default_factory=list)
    scores: dict[str, tuple[float, str]] = field(default_factory=dict)  # lead key -> (score, stage) after the batch
    events_failed: int = 0  # events the engine could not apply (reported alone)
    leads_failed: int = 0  # leads whose update failed (their messages reported, the others applied)
    flooded: int = 0  # events dropped because their lead had MAX_EVENTS_PER_WEEK applied this week
    erased: int = 0  # events from before their lead's erasure, dropped (docs/data-model.md, Erasure)


@dataclass
class _Group:
    key: str
    messages: list[str] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    trusted: bool = False  # any of its events from a trusted sender: the stage may rise past low_trust_max
    redirected: bool = False  # grouped under a lead this container learnt an alias points at


def _warn(message: str, **fields: Any) -> None:
    """The default log: a warning with the fields (kinds and counts, never keys, emails or values)."""
    logging.getLogger("leadscore.worker").warning(message, extra={"detail": fields})


def _error_code(exc: Exception) -> str | None:
    """A botocore error's code (e.g. ValidationException for an item over 400 KB), without its message,
    which may quote the values written."""
    response = getattr(exc, "response", None)
    return (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def transition_detail(key: str, state: LeadState, score: Score, tr: Transition,
                      feedback: FeedbackGiven | None = None, routed: dict[str, Any] | None = None,
                      interests: Sequence[LeadInterest] = ()) -> dict[str, Any]:
    """The `LeadStageChanged` detail (`leadscore.contracts`), as the JSON the outbox stores and the
    publisher sends: the change, the score and its reasons, and what an alert shows (facts, recent activity,
    `interests`: `Engine.interests` at the change, the key absent when there are none);
    with `feedback` when sales' feedback made the change (leadscore.feedback), else without the key;
    with `route` and `owner` as `routed` gives them (`owners.Router.fields`), else without them."""
    routed = routed or {}
    owner = routed.get("owner")
    facts = _alert_facts(state)
    # our own values, not validated again: the notifiers validate at their edge (leadscore.contracts)
    detail = LeadStageChanged.model_construct(
        lead_id=key,
        email=state.email,
        from_stage=tr.from_stage,
        to_stage=tr.to_stage,
        fit=score.fit,
        engagement=score.engagement,
        score=score.total,
        grade=score.grade,
        band=score.band,
        reasons=[Reason.model_construct(rule=r.rule, points=r.points) for r in score.reasons],
        disqualified_by=list(score.disqualified_by),
        changed_at=utc(tr.at),
        transition_id=tr.transition_id(key),
        sequence=tr.seq + 1,  # the lead's n-th stage change: orders its transitions
        facts=facts,
        recent=[Activity.model_construct(type=a.type, at=utc(a.at)) for a in recent_activity(state, 5)],
        feedback=feedback,
        interests=[Interest.model_construct(category=i.category, weight=i.weight, share=i.share) for i in interests],
        route=routed.get("route"),
        owner=Owner.model_construct(**owner) if owner else None,
    )
    return detail.model_dump(mode="json")  # without `feedback`, `route`, `owner` when there is none (contracts)


def _alert_facts(state: LeadState) -> dict[str, Any]:
    return {k: f.value for k, f in state.facts.items() if k in ALERT_FACTS and f.value is not None}


def _times(matched: dict[str, Any]) -> dict[str, Any]:
    """The firing's epoch seconds as ISO times (`at`, `last_event_at`, `times`), recursively."""
    out: dict[str, Any] = {}
    for k, v in matched.items():
        if isinstance(v, dict):
            out[k] = _times(v)
        elif k in ("at", "last_event_at") and isinstance(v, (int, float)):
            out[k] = utc(v).isoformat().replace("+00:00", "Z")
        elif k == "times" and isinstance(v, list):
            out[k] = [utc(x).isoformat().replace("+00:00", "Z") for x in v]
        else:
            out[k] = v
    return out


def trigger_detail(key: str, state: LeadState, score: Score, firing: Firing, now: float,
                   routed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `LeadTriggered` detail (`leadscore.contracts`) of one firing, as the JSON the outbox `ot` stores;
    with a routing file, the route the lead takes at its stage and band and the owner it has (`routed`,
    `owners.Router.fields`: a firing assigns no owner), else without them."""
    routed = routed or {}
    owner = routed.get("owner")
    detail = LeadTriggered.model_construct(
        trigger=firing.trigger,
        kind=firing.kind,
        firing_id=firing.firing_id(key),
        fired_at=utc(now),
        lead_id=key,
        email=state.email,
        stage=state.stage,
        score=score.total,
        fit=score.fit,
        engagement=score.engagement,
        grade=score.grade,
        band=score.band,
        facts=_alert_facts(state),
        matched=_times(firing.matched),
        route=routed.get("route"),
        owner=Owner.model_construct(**owner) if owner else None,
    )
    return detail.model_dump(mode="json")


def review_triggers(triggers: Triggers, key: str, item: dict[str, Any], state: LeadState, score: Score, now: float,
                    new_events: int = 0, since: float | None = None,
                    touched: set[str] | None = None,
                    routed: Callable[[], dict[str, Any]] | None = None) -> tuple[Review, TriggerRecord | None]:
    """The model's triggers for the lead `item` (in `state`, with `score` at `now`): what fires, and
    the record to write when any mark changed (None: nothing to write). `routed` gives the firings'
    route and owner (asked only when something fires)."""
    marks = {k: Mark.of_item(v) for k, v in trigger_marks(item).items()}
    review = triggers.review(state, score, trigger_hits(item, triggers.event_based_ids), marks, now, new_events, since, touched)
    if not review.changed:
        return review, None
    fields = routed() if routed is not None and review.firings else None
    details = [trigger_detail(key, state, score, f, now, fields) for f in review.firings]
    return review, TriggerRecord({k: m.as_item() for k, m in review.marks.items()}, int(item.get(TRIGGER_VERSION, 0)),
                                 details)


def earliest(*times: int | None) -> int | None:
    """The earliest of the due times given (None: none)."""
    known = [t for t in times if t is not None]
    return min(known) if known else None


class Worker:
    """Applies batches of events. Build once per container; it caches alias redirects."""

    def __init__(self, engine: Engine, store: LeadTable, key_secret: str, log: Callable[..., None] | None = None,
                 router: Router | None = None):
        self.engine = engine
        self.triggers = Triggers(engine)  # the model's triggers (none: nothing of them is done)
        self.store = store
        self.key_secret = key_secret
        self.router = router  # with a routing file: each change's route, and owners assigned (leadscore.owners)
        self.redirects: dict[str, str] = {}  # alias -> lead, learnt from merges and failed conditions
        self._log = log or _warn

    def resolve(self, key: str) -> str:
        """Where a key points, as far as this container has learnt (merged aliases)."""
        return self._resolve(key)

    def _resolve(self, key: str) -> str:
        for _ in range(MAX_REDIRECTS):
            nxt = self.redirects.get(key)
            if nxt is None or nxt == key:
                return key
            key = nxt
        return key

    def _points(self, effects: Any) -> float:
        """The engagement points an event brought at the moment it happened (before caps)."""
        points = 0.0
        for (rule_id, era), units in effects.increments.items():
            rule = self.engine.rules.get(rule_id)
            if rule is not None:
                points += rule.decay.value(era, units, effects.at)
        return points

    def process(self, messages: Sequence[tuple[str, Event]], now: float) -> BatchResult:
        result = BatchResult()
        groups: dict[str, _Group] = {}
        for message_id, event in messages:
            try:
                keys = keys_of(event, self.key_secret)
                key = self._resolve(keys[0])
                fx = self.engine.effects(event)
                if self.triggers:
                    fx.hits = self.triggers.hits_for(event)
                points = self._points(fx)
                pending = Pending(fx, heat_increment(points, fx.at) if points else 0.0)
            except Exception as exc:  # noqa: BLE001 (one event the engine cannot apply fails alone, not its batch)
                self._log("event not applied", error=exc.__class__.__name__, event_type=event.type, source=event.source)
                result.failed.add(message_id)
                result.events_failed += 1
                continue
            group = groups.setdefault(key, _Group(key))
            group.messages.append(message_id)
            group.pending.append(pending)
            group.trusted |= event.trusted
            group.redirected |= key != keys[0]
            result.events.append((key, event.type, points))
            group.aliases += [k for k in keys[1:] if k not in group.aliases]

        for group in groups.values():
            try:
                result.transitions += self._apply_group(group, now, result)
            except Exception as exc:  # noqa: BLE001 (DynamoDB refusing or failing after retries: redeliver this lead's messages only)
                self._log("lead update failed", error=exc.__class__.__name__, code=_error_code(exc),
                          lead_kind=group.key[:2], messages=len(group.messages))
                result.failed |= set(group.messages)
                result.leads_failed += 1
        return result

    def _apply_group(self, group: _Group, now: float, result: BatchResult) -> list[dict[str, Any]]:
        key, pending = group.key, group.pending
        while True:
            redirected, pointers = group.redirected, []
            for _ in range(MAX_REDIRECTS):
                applied = self.store.apply(key, pending, now, [a for a in group.aliases if a != key])
                if applied.redirect is None:
                    break
                self.redirects[key] = applied.redirect
                pointers.append(key)
                key, redirected = applied.redirect, True
            else:
                raise RuntimeError("alias chain too long")
            if not applied.applied or int(applied.item.get("n", 0)) != len(applied.applied):
                break  # the lead existed: the hot path, no read
            later = self._created(key, pending, applied.applied, redirected, pointers, now, result)
            if later is None:
                break
            if not later:
                return []
            pending = later
        result.applied += len(applied.applied)
        result.duplicates += len(applied.duplicates)
        if applied.flooded:
            result.flooded += len(applied.flooded)
            self._log("events dropped: the lead's weekly budget is spent", lead_kind=key[:2], events=len(applied.flooded))
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

        new_events = len(applied.applied)
        done = set(applied.applied)
        since = min((p.effects.at for p in group.pending if p.event_id in done), default=None)
        touched = {t for p in group.pending for t in p.effects.hits}  # duplicates' too: a redelivery after a crash
        for _ in range(MAX_RECORD_ATTEMPTS):
            state = state_of(item)
            expected, was_recycled = state.transitions, state.recycled
            score, tr = self.engine.advance(state, now, group.trusted)
            result.scores[key] = (score.total, state.stage)
            if tr is not None and tr.to_stage in ("mql", "sql") and not state.email:
                tr = None  # nobody to contact yet: it qualifies once identified (merged into its email lead)
                state = state_of(item)
                score = self.engine.evaluate(state, now)
            route_fields = (partial(self.router.fields, self.store, key, item, state, state.stage, score.band, now)
                            if self.router else None)
            review, record = (review_triggers(self.triggers, key, item, state, score, now, new_events, since, touched,
                                              route_fields)
                              if self.triggers and not item.get("merged_into") else (Review(), None))
            if tr is None and record is None:
                if state.recycled != was_recycled:
                    self.store.record_recycled(key, state.recycled, expected)
                self._keep_due(key, item, state, group.pending, now, review.due_at)
                return []
            due = earliest(self.due_at(state, now), review.due_at)
            if tr is None:
                assert record is not None
                recorded, item = self.store.record_triggers(key, record, expected, state.event_count, due)
                if recorded:
                    result.firings += record.details
                    if state.recycled != was_recycled:
                        self.store.record_recycled(key, state.recycled, expected)
                    return []
                continue
            # the owner first (its own conditional write, once per lead), so the detail carries it
            routed = (self.router.fields(self.store, key, item, state, tr.to_stage, score.band, now, assign=True)
                      if self.router else None)
            detail = transition_detail(key, state, score, tr, routed=routed, interests=self.engine.interests(state, tr.at))
            recorded, item = self.store.record_transition(key, state, expected, detail, now, due, record)
            if recorded:
                if record is not None:
                    result.firings += record.details
                return [detail]
            # another invocation recorded a change first: evaluate again from the lead as it is now
        raise RuntimeError("the lead's stage kept changing under concurrent updates")  # redeliver

    def _created(self, key: str, pending: list[Pending], applied: list[str], redirected: bool, pointers: list[str],
                 now: float, result: BatchResult) -> list[Pending] | None:
        """This write created the lead `key`: keep it (None), unless it is an erased lead coming back.

        A lead reached through an alias that no longer exists (its lead was erased, or expired) is
        refused: the item and the dangling pointer are removed, the container forgets the redirect
        and the events are redelivered, to land on their own keys. A key erased less than TOMBSTONE_S ago keeps only
        the events that happened after the erasure: the pending ones to apply again (maybe none)."""
        if redirected:
            self.store.discard(key, len(applied))
            if pointers:
                self.store.unlink(pointers[-1], key)
            self.redirects = {a: t for a, t in self.redirects.items() if t != key}
            raise RuntimeError("a redirect led to a lead that is gone")  # redeliver
        erased = self.store.erased_at(erased_marker(key, self.key_secret), now)
        if erased is None:
            return None
        done = set(applied)
        before = [p for p in pending if p.event_id in done and p.effects.at <= erased]
        if not before:
            return None
        if not self.store.discard(key, len(applied)):
            raise RuntimeError("an erased lead changed while its old events were removed")  # redeliver
        result.erased += len(before)
        self._log("events from before an erasure dropped", lead_kind=key[:2], events=len(before))
        return [p for p in pending if p.effects.at > erased]
    def due_at(self, state: LeadState, now: float) -> int | None:
        """When time alone next moves the lead's stage (`scoring_core.timing`); None outside TIMED_STAGES."""
        return stage_change_at(self.engine, state, now) if state.stage in TIMED_STAGES and state.pinned is None else None

    def _keep_due(self, key: str, item: dict[str, Any], state: LeadState, pending: Sequence[Pending], now: float,
                  trigger_due: int | None = None) -> None:
        """Keep the stored due time at or before the moment time alone moves the stage or a trigger
        needs a look (`trigger_due`), with no write for events that can only postpone it
        (docs/data-model.md, Due times): points added can only delay a downgrade, and a later event
        only delays an inactivity, so the stored time stays a safe lower bound and the sweep moves
        it when it comes. Only an event that brings the earliest of them forward writes it,
        conditionally: one that may cool the lead (negative points, a changed fact), or one that
        starts a wait (a `not_followed` trigger's start)."""
        stored = item.get("due_at")
        stage_due = None
        if state.stage in TIMED_STAGES and state.pinned is None and (
                stored is None or any(self._may_cool(p) for p in pending)):
            stage_due = self.due_at(state, now)
        due = earliest(stage_due, trigger_due)
        if due is not None and (stored is None or due < int(stored)):
            self.store.bring_forward(key, due, state.transitions)

    def _may_cool(self, pending: Pending) -> bool:
        fx = pending.effects
        if fx.facts or fx.flags or any(units < 0 for units in fx.increments.values()):
            return True
        return any((rule := self.engine.rules.get(rule_id)) is None or rule.points < 0 for rule_id in fx.occurrences)

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
