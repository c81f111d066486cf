"""Offline scoring of an event file with the engine, as `leadscore score` does it.

Leads are stitched the way the worker stitches them: identities (email,
lead id, anonymous id) seen together on one event belong to one lead.
Events are deduplicated by `event_id`, replayed in time order (so stage
hysteresis sees the history as it happened) and scored as of `at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .edge import describe_validation_error
from scoring_core import Engine, Event, LeadState, ScoringModel, epoch, recent_activity


def read_events(path: Path) -> tuple[list[Event], list[tuple[int, str]]]:
    """Events of a JSONL file, and (line number, problem) for each line that is not one."""
    events: list[Event] = []
    bad: list[tuple[int, str]] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                events.append(Event.model_validate_json(line))
            except ValidationError as exc:
                if any(e["type"] == "json_invalid" for e in exc.errors()):
                    bad.append((line_no, "not valid JSON"))
                else:
                    bad.append((line_no, describe_validation_error(exc)))
    return events, bad


class _Identities:
    """Union-find over identities: 'email:…', 'lead:…', 'anon:…'."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, keys: list[str]) -> None:
        roots = sorted({self.find(k) for k in keys})
        for r in roots[1:]:
            self.parent[r] = roots[0]


def _keys(ev: Event) -> list[str]:
    keys = []
    if ev.email:
        keys.append(f"email:{ev.email}")
    if ev.lead_id:
        keys.append(f"lead:{ev.lead_id}")
    if ev.anonymous_id:
        keys.append(f"anon:{ev.anonymous_id}")
    return keys


def score_leads(model: ScoringModel, events: Iterable[Event], at: datetime) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One result dict per lead, hottest first, and counts of what was applied or skipped."""
    engine = Engine(model)
    cutoff = epoch(at)
    ids = _Identities()
    unique: dict[str, Event] = {}
    stats = {"applied": 0, "duplicates": 0, "future": 0}
    for ev in events:
        if ev.event_id in unique:
            stats["duplicates"] += 1
            continue
        if ev.occurred_at.timestamp() > cutoff:
            stats["future"] += 1
            continue
        unique[ev.event_id] = ev
        ids.union(_keys(ev))

    by_lead: dict[str, list[Event]] = {}
    for ev in unique.values():
        by_lead.setdefault(ids.find(_keys(ev)[0]), []).append(ev)
    members: dict[str, set[str]] = {}
    for key in ids.parent:
        members.setdefault(ids.find(key), set()).add(key)

    results = []
    for root, lead_events in by_lead.items():
        lead_events.sort(key=lambda e: (e.occurred_at, e.event_id))
        state = LeadState()
        transitions = []
        for ev in lead_events:
            engine.apply(state, ev)
            _, tr = engine.advance(state, ev.occurred_at)
            if tr:
                transitions.append(tr)
        score, tr = engine.advance(state, at)
        if tr:
            transitions.append(tr)
        stats["applied"] += len(lead_events)
        identities = sorted(members[root])
        emails = [k[6:] for k in identities if k.startswith("email:")]
        results.append(
            {
                "lead": emails[0] if emails else identities[0].split(":", 1)[1],
                "identities": identities,
                **score.as_dict(),
                "stage": state.stage,
                "events": state.event_count,
                "transitions": [
                    {"from": t.from_stage, "to": t.to_stage, "at": datetime.fromtimestamp(t.at, at.tzinfo).isoformat()}
                    for t in transitions
                ],
                "recent": [a.type for a in recent_activity(state, 5)],
                # the top content categories (docs/model.md, Interests); [] for a model without them
                "interests": [i._asdict() for i in engine.interests(state, at)],
            }
        )
    results.sort(key=lambda r: (-r["score"], r["lead"]))
    return results, stats
