"""The obvious scoring worker, the baseline bench/aws_calls.py measures ours against.

Per event: powertools idempotency on its own table, GetItem the lead's JSON blob (following an
anonymous visitor's pointer to its lead), the same engine, PutItem with a version condition,
one PutEvents per transition. Its table holds `{"pk", "state": JSON, "v"}` items and alias
pointers `{"pk", "merged_into"}`; `load_state` reads a blob back for scoring.
"""

from __future__ import annotations

import json
from typing import Any

from leadscore.adapters.leads import deserialize
from leadscore.identity import LOCAL_KEY_SECRET, keys_of
from leadscore.worker import transition_detail
from scoring_core import Engine, Event, Fact, LeadState


def dump_state(st: LeadState) -> str:
    """The whole state as one JSON blob (what the naive worker stores)."""
    return json.dumps({
        "acc": [[r, e, u] for (r, e), u in st.acc.items()], "occ": {k: sorted(v) for k, v in st.occurrences.items()},
        "facts": {k: [f.at, f.event_id, f.value] for k, f in st.facts.items()}, "flags": st.flags, "email": st.email,
        "email_seen": list(st.email_seen), "first": st.first_seen, "last": st.last_seen, "n": st.event_count,
        "recent": [[a, b, c, list(d)] for a, b, c, d in st.recent], "stage": st.stage, "stage_at": st.stage_changed_at,
        "tr": st.transitions, "pinned": st.pinned, "recycled": st.recycled,
    }, separators=(",", ":"))


def load_state(blob: str | None) -> LeadState:
    """`dump_state`'s blob back as a state; a blank state for none."""
    st = LeadState()
    if not blob:
        return st
    d = json.loads(blob)
    st.acc = {(r, e): u for r, e, u in d["acc"]}
    st.occurrences = {k: set(v) for k, v in d["occ"].items()}
    st.facts = {k: Fact(at, eid, v) for k, (at, eid, v) in d["facts"].items()}
    st.flags = d["flags"]
    st.email, st.email_seen = d["email"], tuple(d["email_seen"])
    st.first_seen, st.last_seen, st.event_count = d["first"], d["last"], d["n"]
    st.recent = [(a, b, c, tuple(r)) for a, b, c, r in d["recent"]]
    st.stage, st.stage_changed_at, st.transitions, st.pinned, st.recycled = d["stage"], d["stage_at"], d["tr"], d["pinned"], d["recycled"]
    return st


def merge_states(into: LeadState, other: LeadState) -> None:
    """An anonymous visitor's history joins its lead: sums, unions, earliest flags, newest facts."""
    for k, u in other.acc.items():
        into.acc[k] = into.acc.get(k, 0) + u
    for k, times in other.occurrences.items():
        into.occurrences.setdefault(k, set()).update(times)
    for k, t in other.flags.items():
        if k not in into.flags or t < into.flags[k]:
            into.flags[k] = t
    for k, f in other.facts.items():
        old = into.facts.get(k)
        if old is None or (f.at, f.event_id) > (old.at, old.event_id):
            into.facts[k] = f
    if other.email and (into.email is None or other.email_seen > into.email_seen):
        into.email, into.email_seen = other.email, other.email_seen
    into.first_seen = min(x for x in (into.first_seen, other.first_seen) if x is not None) if (into.first_seen or other.first_seen) else None
    into.last_seen = max(x for x in (into.last_seen, other.last_seen) if x is not None) if (into.last_seen or other.last_seen) else None
    into.event_count += other.event_count
    into.recent = sorted(into.recent + other.recent, reverse=True)[:20]


def naive_handler(engine: Engine, ddb: Any, events: Any, table: str, idempotency_table: str, bus: str, clock: list[float]):
    """The obvious worker: per event, powertools idempotency, read the lead, apply, write it back, publish."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=ddb)
    config = IdempotencyConfig(event_key_jmespath="event_id", raise_on_no_idempotency_key=True)

    def get(key: str) -> dict[str, Any] | None:
        item = ddb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return deserialize(item) if item else None

    @idempotent_function(data_keyword_argument="event", config=config, persistence_store=persistence)
    def apply_event(event: dict[str, Any]) -> dict[str, Any]:
        ev = Event.model_validate(event)
        now = clock[0]
        keys = keys_of(ev, LOCAL_KEY_SECRET)
        key = keys[0]
        item = get(key)
        if item and item.get("merged_into"):  # a known visitor's device: follow the pointer
            key = str(item["merged_into"])
            item = get(key)
        version = int(item["v"]) if item else 0
        state = load_state(item["state"] if item else None)
        for alias in keys[1:]:
            if alias == key:
                continue
            other = get(alias)
            if other and other.get("merged_into"):
                continue  # first merge wins
            if other:
                merge_states(state, load_state(other.get("state")))
            ddb.put_item(TableName=table, Item={"pk": {"S": alias}, "merged_into": {"S": key}})
        engine.apply(state, ev)
        before = (state.stage, state.stage_changed_at, state.transitions, state.recycled)
        score, tr = engine.advance(state, now)
        if tr is not None and tr.to_stage in ("mql", "sql") and not state.email:
            # as the worker does: nobody to contact yet, it qualifies once identified
            state.stage, state.stage_changed_at, state.transitions, state.recycled = before
            tr = None
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "state": {"S": dump_state(state)}, "v": {"N": str(version + 1)}},
                     ConditionExpression="attribute_not_exists(pk) OR v = :v", ExpressionAttributeValues={":v": {"N": str(version)}})
        if tr is not None:
            detail = transition_detail(key, state, score, tr)
            events.put_events(Entries=[{"Source": "leadscore", "DetailType": "LeadStageChanged", "Detail": json.dumps(detail), "EventBusName": bus}])
        return {"lead": key}

    def record_handler(record: Any) -> None:
        apply_event(event=json.loads(record.body))

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        config.register_lambda_context(context)
        processor = BatchProcessor(event_type=EventType.SQS)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

    return handler
