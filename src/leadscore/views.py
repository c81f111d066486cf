"""What the leads API answers: a lead's score now, with its reasons and history.

A score is computed, not stored (DESIGN.md): each answer evaluates the stored
state with the engine at the time of the request, so decay shows immediately.
The items come from the leads table through `LeadReader` (adapters/leads).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scoring_core import Engine

from .adapters.leads import LeadReader, state_of
from .identity import OUR_PREFIXES


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def lead_view(engine: Engine, item: dict[str, Any], now: float, *, full: bool = True) -> dict[str, Any]:
    """The lead as the API shows it: scores, grade, stage, reasons (and, in full, facts, identities, recent,
    and its top content categories, `interests`: `[]` for a model without them)."""
    state = state_of(item)
    score = engine.evaluate(state, now)
    view: dict[str, Any] = {
        "lead_id": str(item["pk"]),
        "email": state.email,
        "stage": state.stage,
        "stage_changed_at": iso(state.stage_changed_at),
        "fit": score.fit,
        "engagement": score.engagement,
        "score": score.total,
        "grade": score.grade,
        "band": score.band,
        "reasons": [{"rule": r.rule, "points": r.points} for r in score.reasons],
        "disqualified_by": list(score.disqualified_by),
        "last_seen": iso(state.last_seen),
        # with a routing file, the salesperson who owns the lead (docs/routing.md); null when none
        "owner": dict(item["owner"]) if item.get("owner") else None,
    }
    if full:
        view.update({
            "facts": {k: f.value for k, f in sorted(state.facts.items()) if f.value is not None},
            "identities": sorted({str(item["pk"]), *(str(a) for a in item.get("merged_from", ()))}),
            "first_seen": iso(state.first_seen),
            "events": state.event_count,
            "recent": [{"type": type_, "at": iso(at)} for at, _, type_, _ in sorted(state.recent, reverse=True)],
            "interests": [i._asdict() for i in engine.interests(state, now)],
        })
    return view


def lead_at(leads: LeadReader, engine: Engine, key: str, now: float) -> dict[str, Any] | None:
    """The full view of the lead a key names (an alias leads to its lead); None when there is none."""
    item = leads.find(key)
    # only a lead has events (`n`) and one of our key prefixes: a team's counter or a domain's owner item is none
    if item is None or "n" not in item or not str(item["pk"]).startswith(OUR_PREFIXES):
        return None
    return lead_view(engine, item, now)


def leads_at_stage(leads: LeadReader, engine: Engine, stage: str, limit: int, now: float) -> list[dict[str, Any]]:
    """The short views of up to `limit` leads at `stage` (mql, sql, customer), hottest first."""
    return [lead_view(engine, item, now, full=False) for item in leads.qualified(stage, limit)]
