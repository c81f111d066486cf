"""Lead state in DynamoDB: one item per lead, written with one UpdateItem per lead per batch.

The item (docs/data-model.md) holds the engine's `LeadState` as top-level
attributes, so every change is an atomic ADD or a conditional SET:

    a.<rule>.<era>   N   decay accumulator, integer units (ADD)
    o.<rule>         NS  repeat-rule occurrence times, ms (ADD)
    f.<fact>         M   {v: value, t: when, e: event hash}: newest wins (conditional SET)
    x.<kind>:<rule>  N   sticky flag (disqualified / customer), first time seen
    s.<week>         SS  hashes of the event ids applied, by week of application (dedupe)
    n, first_at, last_at, email, recent, heat, stage, stage_at, tr, pinned, recycled,
    expires_at (TTL), merged_into (an alias pointing at its lead), merged_from

Applying events needs no read: the update carries a condition (not merged,
none of these events seen, no newer fact overwritten) and returns the new item
(`ALL_NEW`) for evaluation; when the condition fails DynamoDB returns the old
item (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), which says which events
were duplicates, which facts are older, or where a merged alias points, and
the update is retried without them.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from scoring_core.state import Effects, Fact, LeadState

from ..identity import event_hash

DEDUPE_PERIOD_S = 7 * 86400  # event ids are filed by the week they were applied in; two weeks are checked
OCCURRENCES_KEEP, OCCURRENCES_TRIM_AT = 25, 50  # repeat rules' match times kept per rule
MAX_EVENTS_PER_WEEK = 2000  # events one lead may have applied in a week; beyond, they are dropped and counted
# A trim is a write billed at the item's full size; a longer list costs bytes on every write.
# Trimming 30 down to 10 measured cheapest of 10/15, 8/16, 10/20, 8/24 and 10/30 on the
# X Education stream (bench/aws_calls.py: 1.169, 1.127, 1.121, 1.097, 1.092 WRU per event).
RECENT_KEEP, RECENT_TRIM_AT = 10, 30
HEAT_T0 = 1767225600.0  # 2026-01-01T00:00:00Z: epoch of the heat accumulator
HEAT_HALF_LIFE_S = 30 * 86400.0
MAX_ATTEMPTS = 6
QUALIFIED = ("mql", "sql", "customer")
FACTS_PER_UPDATE = 20
ERAS_KEPT = 3  # a touched accumulator's era k drops era k-3 of the same rule
# The transition a write recorded, for the stream publisher (functions/publish): set by
# `record_transition`, removed by the lead's next apply, so it is in the item's new stream
# image only when a write put it there (docs/data-model.md, Stage transitions).
OUTBOX = "ob"

_ser = TypeSerializer()
_de = TypeDeserializer()


def _dynamo(value: Any) -> dict[str, Any]:
    return _ser.serialize(_decimals(value))


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int/float; sets to lists, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value


def deserialize(item: dict[str, Any] | None) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in (item or {}).items()}


def heat_increment(points: float, t: float) -> float:
    """One event's contribution to `heat`: points in log space against a fixed epoch, so
    sorting leads by `heat` is sorting them by engagement decayed with a 30-day half-life."""
    return points * 2.0 ** ((t - HEAT_T0) / HEAT_HALF_LIFE_S)


@dataclass
class Pending:
    """One event's effects waiting to be applied to a lead."""

    effects: Effects
    heat: float = 0.0

    @property
    def event_id(self) -> str:
        return self.effects.event_id


@dataclass
class Applied:
    key: str
    item: dict[str, Any] = field(default_factory=dict)  # the lead after the update (plain Python values)
    applied: list[str] = field(default_factory=list)  # event ids applied now
    duplicates: list[str] = field(default_factory=list)  # event ids applied before
    flooded: list[str] = field(default_factory=list)  # event ids not applied: the lead's weekly budget is spent
    redirect: str | None = None  # the key is an alias: apply at this lead instead


def pack_detail(detail: dict[str, Any]) -> bytes:
    """A recorded transition: its JSON, zlib-compressed (a binary attribute). While it is on the
    item, every write is billed for it: 1,261 bytes of JSON become about 530."""
    return zlib.compress(json.dumps(detail, separators=(",", ":")).encode("utf-8"), 9)


def unpack_detail(value: Any) -> dict[str, Any]:
    raw = getattr(value, "value", value)  # boto3's Binary wraps the bytes
    return json.loads(zlib.decompress(bytes(raw)))


def state_of(item: dict[str, Any]) -> LeadState:
    """The engine's state of a lead item."""
    st = LeadState()
    for name, value in item.items():
        if name.startswith("a."):
            rule, _, era = name[2:].rpartition(".")
            st.acc[(rule, int(era))] = int(value)
        elif name.startswith("o."):
            st.occurrences[name[2:]] = {int(v) for v in value}
        elif name.startswith("f."):
            st.facts[name[2:]] = Fact(float(value["t"]), str(value["e"]), _plain(value.get("v")))
        elif name.startswith("x."):
            st.flags[name[2:]] = float(value)
    st.email = item.get("email")
    st.first_seen = float(item["first_at"]) if "first_at" in item else None
    st.last_seen = float(item["last_at"]) if "last_at" in item else None
    st.event_count = int(item.get("n", 0))
    for entry in item.get("recent", []):
        at, event_id, type_, *rules = str(entry).split("|", 3)
        st.recent.append((float(at), event_id, type_, tuple(r for r in (rules[0] if rules else "").split(",") if r)))
    st.stage = item.get("stage", "lead")
    st.stage_changed_at = float(item["stage_at"]) if "stage_at" in item else None
    st.transitions = int(item.get("tr", 0))
    st.pinned = item.get("pinned")
    st.recycled = bool(item.get("recycled", False))
    return st


def _recent_order(entry: Any) -> tuple[float, str]:
    at, event_id = str(entry).split("|", 2)[:2]
    return float(at), event_id


class _Update:
    """Builds one UpdateExpression with its placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.add: list[str] = []
        self.set: list[str] = []
        self.remove: list[str] = []
        self.conditions: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = self.names.get(attribute)
        if placeholder is None:
            placeholder = self.names[attribute] = f"#n{len(self.names)}"
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = _dynamo(value)
        return placeholder

    def request(self) -> dict[str, Any]:
        parts = []
        if self.set:
            parts.append("SET " + ", ".join(self.set))
        if self.add:
            parts.append("ADD " + ", ".join(self.add))
        if self.remove:
            parts.append("REMOVE " + ", ".join(self.remove))
        names = {v: k for k, v in self.names.items()}
        req: dict[str, Any] = {"UpdateExpression": " ".join(parts), "ExpressionAttributeNames": names}
        if self.values:
            req["ExpressionAttributeValues"] = self.values
        if self.conditions:
            req["ConditionExpression"] = " AND ".join(self.conditions)
        return req


class LeadStore:
    """The leads table. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str, retention_days: int = 400, max_events_per_week: int = MAX_EVENTS_PER_WEEK):
        self._client = client
        self.table = table
        self.retention_s = retention_days * 86400
        self.max_events_per_week = max_events_per_week

    # -- applying events ----------------------------------------------------

    def apply(self, key: str, pending: Sequence[Pending], now: float) -> Applied:
        """Apply each event once to the lead `key`: one UpdateItem on the happy path."""
        result = Applied(key)
        todo: list[Pending] = []
        ids: set[str] = set()
        for p in pending:  # the same delivery twice in one batch: apply it once
            if p.event_id in ids:
                result.duplicates.append(p.event_id)
            else:
                ids.add(p.event_id)
                todo.append(p)
        todo = self._apply_extra_facts(key, todo)
        for _ in range(MAX_ATTEMPTS):
            if not todo:
                return result
            request = self._apply_request(key, todo, now)
            try:
                response = self._client.update_item(
                    TableName=self.table, Key={"pk": {"S": key}}, ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD", **request,
                )
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                old = deserialize(exc.response.get("Item"))
                if old.get("merged_into"):
                    result.redirect = str(old["merged_into"])
                    return result
                seen = {h for name, hashes in old.items() if name.startswith("s.") for h in hashes}
                dupes = [p for p in todo if event_hash(p.event_id) in seen]
                result.duplicates += [p.event_id for p in dupes]
                todo = [_without_older_facts(p, old) for p in todo if p not in dupes]
                room = self.max_events_per_week - len(old.get(f"s.{int(now // DEDUPE_PERIOD_S)}") or ())
                if len(todo) > room:  # a flood: apply what fits this week's budget, drop the rest
                    result.flooded += [p.event_id for p in todo[max(room, 0):]]
                    todo = todo[:max(room, 0)]
                result.item = old
                continue
            result.item = deserialize(response.get("Attributes"))
            result.applied += [p.event_id for p in todo]
            self._trim_recent(key, result.item)
            self._trim_occurrences(key, result.item)
            return result
        raise RuntimeError(f"lead {key}: update kept conflicting after {MAX_ATTEMPTS} attempts")

    def _apply_extra_facts(self, key: str, todo: list[Pending]) -> list[Pending]:
        """Facts beyond FACTS_PER_UPDATE go in fact-only updates first: each fact's
        newest-wins condition costs ~90 characters, and an expression may not exceed
        4 KB. A fact-only update is idempotent, so it is safe for a duplicate event too."""
        names = {name for p in todo for name in p.effects.facts}
        if len(names) <= FACTS_PER_UPDATE:
            return todo
        extra = sorted(names)[FACTS_PER_UPDATE:]
        for start in range(0, len(extra), FACTS_PER_UPDATE):
            chunk = set(extra[start : start + FACTS_PER_UPDATE])
            only = [Pending(Effects(**{**p.effects.__dict__, "facts": {k: v for k, v in p.effects.facts.items() if k in chunk}}))
                    for p in todo if chunk & p.effects.facts.keys()]
            for _ in range(MAX_ATTEMPTS):
                u = _Update()
                for fact, (t, event_id, value) in _newest_facts(only).items():
                    _set_fact(u, fact, t, event_id, value)
                if not u.set:
                    break
                try:
                    self._client.update_item(TableName=self.table, Key={"pk": {"S": key}}, **u.request())
                    break
                except self._client.exceptions.ConditionalCheckFailedException:
                    stored = self.get(key)  # rare: an out-of-order fact among a very large identify
                    only = [_without_older_facts(p, stored) for p in only]
        return [Pending(Effects(**{**p.effects.__dict__, "facts": {k: v for k, v in p.effects.facts.items() if k not in extra}}), p.heat)
                for p in todo]

    def _apply_request(self, key: str, todo: Sequence[Pending], now: float) -> dict[str, Any]:
        u = _Update()
        increments: dict[str, int] = {}
        occurrences: dict[str, set[int]] = {}
        flags: dict[str, float] = {}
        facts = _newest_facts(todo)
        seen: list[str] = []
        heat = 0.0
        first = int(min(p.effects.at for p in todo))  # whole seconds: fewer digits in every write
        last = int(max(p.effects.at for p in todo))
        email = None
        recent = []
        for p in todo:
            fx = p.effects
            for (rule, era), units in fx.increments.items():
                name = f"a.{rule}.{era}"
                increments[name] = increments.get(name, 0) + units
            for rule, ms in fx.occurrences.items():
                occurrences.setdefault(f"o.{rule}", set()).add(ms)
            for flag, t in fx.flags.items():
                flags[f"x.{flag}"] = min(t, flags.get(f"x.{flag}", t))
            seen.append(event_hash(fx.event_id))
            heat += p.heat
            email = email or fx.email
            # the short hash, not the sender's id: it cannot contain the separator
            recent.append(f"{int(fx.at)}|{event_hash(fx.event_id)}|{fx.type}")

        u.conditions.append(f"attribute_not_exists({u.name('merged_into')})")
        # dedupe by id alone: an id is filed under the week it is applied in, whatever the event's
        # own time, and looked for in this week's and last week's buckets (docs/data-model.md)
        week = int(now // DEDUPE_PERIOD_S)
        checked = [u.name(f"s.{week}"), u.name(f"s.{week - 1}")]
        for h in seen:
            hv = u.value(h)
            u.conditions += [f"NOT contains({b}, {hv})" for b in checked]
        # bounded: at most MAX_EVENTS_PER_WEEK ids in this week's bucket (a size check, no read)
        u.conditions.append(f"(attribute_not_exists({checked[0]}) OR size({checked[0]}) <= {u.value(self.max_events_per_week - len(seen))})")
        u.add.append(f"{checked[0]} {u.value(set(seen))}")
        # every older bucket an item can still hold (TTL removes an item idle for retention_days):
        # at most the two checked weeks' buckets are ever on an item after a write
        for stale in range(week - 2 - self.retention_s // DEDUPE_PERIOD_S - 1, week - 1):
            u.remove.append(u.name(f"s.{stale}"))
        for name, units in increments.items():
            if units:
                u.add.append(f"{u.name(name)} {u.value(units)}")
        # compaction without a read: an era three eras back has decayed by at least 2^-64
        # (each era is 32 half-lives), far below the engine's resolution; removing an
        # attribute that is not there is a no-op
        for name in increments:
            rule, _, era = name[2:].rpartition(".")
            stale = f"a.{rule}.{int(era) - ERAS_KEPT}"
            if stale not in increments:
                u.remove.append(u.name(stale))
        for name, values in occurrences.items():
            u.add.append(f"{u.name(name)} {u.value(values)}")
        for name, t in flags.items():
            n = u.name(name)
            u.set.append(f"{n} = if_not_exists({n}, {u.value(t)})")
        for fact, (t, event_id, value) in facts.items():
            _set_fact(u, fact, t, event_id, value)
        if email:
            n = u.name("email")
            u.set.append(f"{n} = if_not_exists({n}, {u.value(email)})")
        n = u.name("first_at")
        u.set.append(f"{n} = if_not_exists({n}, {u.value(first)})")
        u.set.append(f"{u.name('last_at')} = {u.value(last)}")
        u.add.append(f"{u.name('n')} {u.value(len(todo))}")
        heat = round(heat, 2)  # an ordering key: two decimals are plenty, and shorter numbers bill fewer bytes
        if heat:
            u.add.append(f"{u.name('heat')} {u.value(heat)}")
        n = u.name("stage")
        u.set.append(f"{n} = if_not_exists({n}, {u.value('lead')})")
        n = u.name("tr")
        u.set.append(f"{n} = if_not_exists({n}, {u.value(0)})")
        n = u.name("recent")
        u.set.append(f"{n} = list_append(if_not_exists({n}, {u.value([])}), {u.value(recent)})")
        u.set.append(f"{u.name('expires_at')} = {u.value(int(now) + self.retention_s)}")
        # the last recorded transition is in the stream already: stop paying for its bytes
        u.remove.append(u.name(OUTBOX))
        return u.request()

    def _trim_recent(self, key: str, item: dict[str, Any]) -> None:
        """Keep the recent-activity list short (an extra write once every ~20 events of a lead)."""
        recent = item.get("recent") or []
        if len(recent) <= RECENT_TRIM_AT:
            return
        keep = sorted(recent, key=_recent_order, reverse=True)[:RECENT_KEEP]
        try:
            self._client.update_item(
                TableName=self.table, Key={"pk": {"S": key}},
                UpdateExpression="SET #r = :keep", ConditionExpression="size(#r) = :n",
                ExpressionAttributeNames={"#r": "recent"},
                ExpressionAttributeValues={":keep": _dynamo(keep), ":n": {"N": str(len(recent))}},
            )
            item["recent"] = keep
        except self._client.exceptions.ConditionalCheckFailedException:
            return  # someone appended meanwhile; the next write trims

    def _trim_occurrences(self, key: str, item: dict[str, Any]) -> None:
        """Keep each repeat rule's occurrence times bounded: past OCCURRENCES_TRIM_AT, the oldest
        are deleted down to OCCURRENCES_KEEP (an extra write once every ~25 matches of such a
        rule). A repeat rule asks whether a previous match lies within its window: the newest
        matches answer that for every event but one arriving more than 25 matches late."""
        deletes = {}
        for name, times in item.items():
            if name.startswith("o.") and len(times) > OCCURRENCES_TRIM_AT:
                deletes[name] = sorted(times)[: len(times) - OCCURRENCES_KEEP]
        if not deletes:
            return
        u = _Update()
        parts = [f"{u.name(name)} {u.value(set(old))}" for name, old in deletes.items()]
        request = u.request()
        request["UpdateExpression"] = "DELETE " + ", ".join(parts)
        request.pop("ConditionExpression", None)
        self._client.update_item(TableName=self.table, Key={"pk": {"S": key}}, **request)
        for name, old in deletes.items():  # DELETE of elements already gone is a no-op: safe under concurrency
            item[name] = set(item[name]) - set(old)

    # -- stage -------------------------------------------------------------

    def record_transition(self, key: str, state: LeadState, expected_transitions: int, detail: dict[str, Any],
                          now: float) -> tuple[bool, dict[str, Any]]:
        """Write the stage `Engine.advance` moved to, with the transition's detail in `ob` for
        the stream publisher, if no one recorded another change first. Returns
        (recorded, the lead's item: new when recorded, current when not)."""
        u = _Update()
        u.set += [
            f"{u.name('stage')} = {u.value(state.stage)}",
            f"{u.name('stage_at')} = {u.value(now)}",
            f"{u.name('tr')} = {u.value(state.transitions)}",
            f"{u.name('recycled')} = {u.value(state.recycled)}",
            f"{u.name('score')} = {u.value({k: detail[k] for k in ('score', 'fit', 'engagement', 'grade')})}",
            f"{u.name('heat')} = if_not_exists({u.name('heat')}, {u.value(0)})",
            f"{u.name(OUTBOX)} = {u.value(pack_detail(detail))}",
        ]
        qstage = u.name("qstage")  # the sparse ByStage index holds qualified leads only
        if state.stage in QUALIFIED:
            u.set.append(f"{qstage} = {u.value(state.stage)}")
        else:
            u.remove.append(qstage)
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        u.conditions.append(f"attribute_not_exists({u.name('merged_into')})")
        return self._conditional(key, u)

    def record_recycled(self, key: str, recycled: bool, expected_transitions: int) -> None:
        """A lost deal's lead stops being recycled once its score has dipped (no stage change)."""
        u = _Update()
        u.set.append(f"{u.name('recycled')} = {u.value(recycled)}")
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        self._conditional(key, u)

    def _conditional(self, key: str, u: _Update) -> tuple[bool, dict[str, Any]]:
        try:
            response = self._client.update_item(
                TableName=self.table, Key={"pk": {"S": key}}, ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD", **u.request(),
            )
            return True, deserialize(response.get("Attributes"))
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            return False, deserialize(exc.response.get("Item"))

    # -- identities ----------------------------------------------------------

    def link(self, alias: str, target: str, now: float) -> tuple[str, dict[str, Any] | None]:
        """Point `alias` at `target` if it points nowhere yet. Returns (where the alias
        points, its own item when it has history that must be merged first)."""
        try:
            self._client.put_item(
                TableName=self.table,
                Item={"pk": {"S": alias}, "merged_into": {"S": target}, "expires_at": {"N": str(int(now) + self.retention_s)}},
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return target, None
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            old = deserialize(exc.response.get("Item"))
        if old.get("merged_into"):
            return str(old["merged_into"]), None  # first merge wins: a shared device does not move
        return target, old

    def merge(self, alias_item: dict[str, Any], target: str, target_state: LeadState, now: float) -> bool:
        """Move an alias's history into its lead, exactly once (one transaction): the lead
        gains its accumulators, occurrences, seen ids, flags and newer facts; the alias
        becomes a pointer. False when the alias changed meanwhile (call again)."""
        alias = str(alias_item["pk"])
        u = _Update()
        moved = []
        for name, value in alias_item.items():
            if name.startswith("a.") and int(value):
                u.add.append(f"{u.name(name)} {u.value(int(value))}")
            elif name.startswith(("o.", "s.")) and value:
                u.add.append(f"{u.name(name)} {u.value(set(value))}")
            elif name.startswith("x."):
                n = u.name(name)
                u.set.append(f"{n} = if_not_exists({n}, {u.value(value)})")
            elif name.startswith("f."):
                old = target_state.facts.get(name[2:])
                if old is None or (float(value["t"]), str(value["e"])) > (old.at, old.event_id):
                    u.set.append(f"{u.name(name)} = {u.value(_plain(value))}")
            else:
                continue
            moved.append(name)
        if "n" in alias_item:
            u.add.append(f"{u.name('n')} {u.value(int(alias_item['n']))}")
        if "heat" in alias_item:
            u.add.append(f"{u.name('heat')} {u.value(float(alias_item['heat']))}")
        if alias_item.get("recent"):
            n = u.name("recent")
            u.set.append(f"{n} = list_append(if_not_exists({n}, {u.value([])}), {u.value(list(alias_item['recent']))})")
        if "first_at" in alias_item:
            n = u.name("first_at")
            u.set.append(f"{n} = if_not_exists({n}, {u.value(float(alias_item['first_at']))})")
        u.add.append(f"{u.name('merged_from')} {u.value({alias})}")
        u.conditions.append(f"NOT contains({u.name('merged_from')}, {u.value(alias)})")
        target_update = {"TableName": self.table, "Key": {"pk": {"S": target}}, **u.request()}

        a = _Update()
        a.set.append(f"{a.name('merged_into')} = {a.value(target)}")
        a.remove += [a.name(name) for name in moved + [k for k in ("recent", "heat") if k in alias_item]]
        a.conditions.append(f"attribute_not_exists({a.name('merged_into')})")
        a.conditions.append(f"{a.name('n')} = {a.value(int(alias_item.get('n', 0)))}")
        alias_update = {"TableName": self.table, "Key": {"pk": {"S": alias}}, **a.request()}
        try:
            self._client.transact_write_items(TransactItems=[{"Update": target_update}, {"Update": alias_update}])
            return True
        except self._client.exceptions.TransactionCanceledException:
            return False

    def get(self, key: str) -> dict[str, Any]:
        response = self._client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return deserialize(response.get("Item"))


def _newest_facts(todo: Sequence[Pending]) -> dict[str, tuple[float, str, Any]]:
    """Per fact, the value of the newest event among these: (at, event hash, value)."""
    facts: dict[str, tuple[float, str, Any]] = {}
    for p in todo:
        fx = p.effects
        for name, value in fx.facts.items():
            current = facts.get(name)
            # the stored tie-breaker is the event's short hash: items stay small
            key = (fx.at, event_hash(fx.event_id))
            if current is None or key > current[:2]:
                facts[name] = (*key, value)
    return facts


def _set_fact(u: _Update, fact: str, t: float, event_id: str, value: Any) -> None:
    """SET f.<fact>, unless a fact learnt from a later event is stored (newest wins)."""
    n = u.name(f"f.{fact}")
    tv, ev = u.value(t), u.value(event_id)
    u.conditions.append(
        f"(attribute_not_exists({n}) OR {n}.{u.name('t')} < {tv} OR ({n}.{u.name('t')} = {tv} AND {n}.{u.name('e')} < {ev}))"
    )
    u.set.append(f"{n} = {u.value({'v': value, 't': t, 'e': event_id})}")


def _without_older_facts(p: Pending, stored: dict[str, Any]) -> Pending:
    """The event's effects minus facts a stored, newer event already set."""
    fx = p.effects
    keep = {}
    for name, value in fx.facts.items():
        old = stored.get(f"f.{name}")
        if old is None or (fx.at, event_hash(fx.event_id)) > (float(old["t"]), str(old["e"])):
            keep[name] = value
    if len(keep) == len(fx.facts):
        return p
    return Pending(Effects(**{**fx.__dict__, "facts": keep}), p.heat)
