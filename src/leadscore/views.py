"""What the leads API answers: a lead's score now, with its reasons and history.

A score is computed, not stored (DESIGN.md): each answer evaluates the stored
state with the engine at the time of the request, so decay shows immediately.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scoring_core import Engine

from .adapters.leads import deserialize, state_of

MAX_HOPS = 4  # a merged alias points at its lead; chains are short


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def resolve(client: Any, table: str, key: str) -> dict[str, Any] | None:
    """The lead item for a key, following merged aliases; None when there is no such lead."""
    for _ in range(MAX_HOPS):
        item = deserialize(client.get_item(TableName=table, Key={"pk": {"S": key}}).get("Item"))
        if not item:
            return None
        if not item.get("merged_into"):
            return item
        key = str(item["merged_into"])
    return None


def lead_view(engine: Engine, item: dict[str, Any], now: float, *, full: bool = True) -> dict[str, Any]:
    """The lead as the API shows it: scores, grade, stage, reasons (and, in full, facts, identities, recent)."""
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
    }
    if full:
        view.update({
            "facts": {k: f.value for k, f in sorted(state.facts.items()) if f.value is not None},
            "identities": sorted({str(item["pk"]), *(str(a) for a in item.get("merged_from", ()))}),
            "first_seen": iso(state.first_seen),
            "events": state.event_count,
            "recent": [{"type": type_, "at": iso(at)} for at, _, type_, _ in sorted(state.recent, reverse=True)],
        })
    return view


def qualified(client: Any, table: str, stage: str, limit: int) -> list[dict[str, Any]]:
    """Lead items at `stage` (mql, sql, customer), hottest first, from the sparse ByStage index."""
    response = client.query(TableName=table, IndexName="ByStage", KeyConditionExpression="qstage = :s",
                            ExpressionAttributeValues={":s": {"S": stage}}, ScanIndexForward=False, Limit=limit)
    keys = [{"pk": i["pk"]} for i in response.get("Items", [])]
    by_key: dict[str, dict[str, Any]] = {}
    pending = {table: {"Keys": keys}} if keys else {}
    for _ in range(5):  # BatchGetItem may leave keys unprocessed under throttling: ask again for those
        if not pending:
            break
        answer = client.batch_get_item(RequestItems=pending)
        by_key.update((i["pk"]["S"], deserialize(i)) for i in answer["Responses"].get(table, []))
        pending = answer.get("UnprocessedKeys") or {}
    # the index's order (hottest first); an item that changed stage since the index was written is left out
    return [by_key[k["pk"]["S"]] for k in keys if k["pk"]["S"] in by_key and by_key[k["pk"]["S"]].get("stage") == stage]
