"""The downgrade sweep: qualified leads whose decayed score has crossed their stage's exit threshold move down.

A qualified lead carries `due_at`, the second at which time alone moves its stage
(`scoring_core.timing`, written with every recorded transition; docs/data-model.md,
Due times), and `due_bucket`, the key of the sparse ByDue index. Each run
(functions/sweep, every SWEEP_INTERVAL_S by EventBridge; `leadscore dev` fires it
on the same schedule) queries the buckets of the last `lookback_s`, reads only the
leads already due, and for each one:

- evaluates it at `now` (`Engine.advance`, with `trusted=False`: time is no sender)
  and records the downgrade with the store's conditional `record_transition`, the
  same write and the same transition counter as the worker's, so of a concurrent
  event and the sweep only one records a change and the other evaluates again; the
  stream publisher then publishes `LeadStageChanged` with `cause: "decay"`;
- or, when events since kept the lead warm (they never write the due time: it stays
  a safe lower bound), moves the due time to the new crossing (`reschedule`,
  conditioned on the lead's event count, so a concurrent event wins).

With the model's triggers (`scoring_core.triggers`), a lead's due time is the earliest
of its downgrade and its triggers' times (an inactivity, a wait not followed, the end of
a score_above episode), on any stage; the sweep reviews the due lead's triggers too and
records what fires with the downgrade's write, or alone (`record_triggers`, conditioned
on the marks' version, the stage and the event count), with the next due time.

No Scan: reads are the bucket Queries (one per DUE_BUCKET_S of the lookback: 5 for
the hour; 2,881 for 30 days on the day's first sweep) plus one consistent item read
per due lead (BatchGetItem).
"""

from __future__ import annotations

import logging
import math
from functools import partial
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scoring_core import Engine
from scoring_core.triggers import Triggers

from .adapters.leads import LeadTable, state_of
from .adapters.leads.protocol import DUE_BUCKET_S, due_bucket
from .worker import TIMED_STAGES, earliest, review_triggers, transition_detail

if TYPE_CHECKING:  # pragma: no cover
    from .owners import Router

SWEEP_INTERVAL_S = 300  # the template's schedule, rate(5 minutes); the local stack fires it as often
LOOKBACK_S = 3600  # buckets this far back are queried again (a sweep that failed, and its retries, is caught up)
DEEP_LOOKBACK_S = 30 * 86400  # the first sweep of each UTC day looks this far back (an outage of up to 30 days)
MAX_ATTEMPTS = 4  # conflicting updates of one lead before leaving it for the next sweep
CAUSE = "decay"  # the `cause` of a transition the sweep records (`LeadStageChanged.cause`)


@dataclass
class SweepResult:
    due: int = 0  # leads found due
    transitions: list[dict[str, Any]] = field(default_factory=list)  # recorded now (the stream publishes them)
    firings: list[dict[str, Any]] = field(default_factory=list)  # LeadTriggered details recorded now
    rescheduled: int = 0  # leads found warmer than their due time: moved
    skipped: int = 0  # found due in the index but changed meanwhile (the next sweep sees them again if due)
    failed: int = 0  # leads left for the next sweep after repeated conflicts or an error
    queries: int = 0  # bucket Queries sent


def _warn(message: str, **fields: Any) -> None:
    logging.getLogger("leadscore.sweep").warning(message, extra={"detail": fields})


class Sweep:
    """One container's sweeper of due leads. `run(now)` is one scheduled invocation."""

    def __init__(self, engine: Engine, store: LeadTable, lookback_s: int = LOOKBACK_S,
                 deep_lookback_s: int = DEEP_LOOKBACK_S, log: Callable[..., None] | None = None,
                 router: Router | None = None):
        self.engine = engine
        self.triggers = Triggers(engine)
        self.router = router  # a routing file: downgrades carry their route and the owner the lead has
        self.store = store
        self.lookback_s = lookback_s
        self.deep_lookback_s = deep_lookback_s
        self._log = log or _warn

    def buckets(self, now: float) -> range:
        """The ByDue buckets a sweep at `now` queries, oldest first: those of the last `lookback_s`,
        and of the last `deep_lookback_s` on the first sweep of a UTC day (no state is kept between
        sweeps: a lead is in its bucket until a sweep has moved it, so a later query finds it)."""
        first_of_day = now // 86400 != (now - SWEEP_INTERVAL_S) // 86400
        back = self.deep_lookback_s if first_of_day else self.lookback_s
        return range(due_bucket(now - back), due_bucket(now) + 1, DUE_BUCKET_S)

    def run(self, now: float) -> SweepResult:
        t = math.floor(now)  # whole seconds, as due times are
        result = SweepResult()
        keys: list[str] = []
        for bucket in self.buckets(t):
            keys += self.store.due_leads(bucket, t)
            result.queries += 1
        keys = list(dict.fromkeys(keys))
        result.due = len(keys)
        items = self.store.read_many(keys) if keys else {}
        for key in keys:
            try:
                self._sweep_one(key, items.get(key) or {}, t, result)
            except Exception as exc:  # noqa: BLE001 (one lead failing is retried by the next sweep; the others go on)
                self._log("lead not swept", error=exc.__class__.__name__, lead_kind=key[:2])
                result.failed += 1
        return result

    def _sweep_one(self, key: str, item: dict[str, Any], now: int, result: SweepResult) -> None:
        for _ in range(MAX_ATTEMPTS):
            due = item.get("due_at")
            if not item or due is None or int(due) > now:
                result.skipped += 1  # erased, or moved since the index was written
                return
            state = state_of(item)
            expected, events = state.transitions, int(item.get("n", 0))
            if item.get("merged_into"):
                if self.store.reschedule(key, None, expected, events):  # nothing time moves: leave the index
                    result.skipped += 1
                    return
                item = self.store.get(key)
                continue
            timed = state.stage in TIMED_STAGES and state.pinned is None
            if timed:
                score, tr = self.engine.advance(state, now, trusted=False)
            else:
                score, tr = self.engine.evaluate(state, now), None
            route_fields = (partial(self.router.fields, self.store, key, item, state, state.stage, score.band, now)
                            if self.router else None)
            review, record = (review_triggers(self.triggers, key, item, state, score, now, routed=route_fields)
                              if self.triggers else (None, None))
            later = earliest(self._due_at(state, now), review.due_at if review is not None else None)
            if tr is None and record is None:
                if self.store.reschedule(key, later, expected, events):
                    if later is None and not timed:
                        result.skipped += 1
                    else:
                        result.rescheduled += 1
                    return
                item = self.store.get(key)  # an event or a change came meanwhile: look again
                continue
            if tr is None:
                assert record is not None
                recorded, item = self.store.record_triggers(key, record, expected, events, later)
                if recorded:
                    result.firings += record.details
                    return
                continue
            routed = self.router.fields(self.store, key, item, state, tr.to_stage, score.band, now) if self.router else None
            detail = transition_detail(key, state, score, tr, routed=routed, interests=self.engine.interests(state, tr.at))
            detail["cause"] = CAUSE
            recorded, item = self.store.record_transition(key, state, expected, detail, now, later, record)
            if recorded:
                result.transitions.append(detail)
                if record is not None:
                    result.firings += record.details
                return
        result.failed += 1
        self._log("lead kept changing during the sweep", lead_kind=key[:2])

    def _due_at(self, state: Any, now: int) -> int | None:
        from scoring_core.timing import stage_change_at

        if state.stage not in TIMED_STAGES or state.pinned is not None:
            return None
        return stage_change_at(self.engine, state, now)
