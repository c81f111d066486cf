"""The leads table in memory: `LeadTable` for unit tests of the worker and the read API.

Each method does what `LeadStore`'s conditional request does to the item in DynamoDB
(the same attributes, conditions, trims and limits), on a dict per key; values stay
plain Python (ints and floats, not Decimals). Not thread-safe, not durable, no
request limits (a large identify is one write here). `writes` counts the writes, as
a test of the hot path's budget would count UpdateItems.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scoring_core.stages import QUALIFIED

from ...identity import event_hash
from scoring_core.triggers import trimmed_hits

from .codec import HITS_PREFIX, OUTBOX, TRIGGER_MARKS, TRIGGER_OUTBOX, TRIGGER_VERSION, pack_detail, pack_details, plain, recent_order
from .protocol import (
    DEDUPE_PERIOD_S,
    ERAS_KEPT,
    MAX_EVENTS_PER_WEEK,
    IDS,
    MAX_HOPS,
    OCCURRENCES_KEEP,
    OCCURRENCES_TRIM_AT,
    RECENT_KEEP,
    RECENT_TRIM_AT,
    TOMBSTONE_S,
    Applied,
    Holdings,
    due_bucket,
    Pending,
    TriggerRecord,
    counter,
    distinct,
    newest_facts,
    gather_holdings,
    next_owner,
    round_robin_key,
    without_older_facts,
)

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core import LeadState


class InMemoryLeadStore:
    """`LeadTable` and `LeadReader` over a dict of items."""

    def __init__(self, retention_days: int = 400, max_events_per_week: int = MAX_EVENTS_PER_WEEK):
        self.items: dict[str, dict[str, Any]] = {}
        self.retention_s = retention_days * 86400
        self.max_events_per_week = max_events_per_week
        self.writes = 0

    # -- reads ----------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any]:
        return copy.deepcopy(self.items.get(key, {}))

    def find(self, key: str) -> dict[str, Any] | None:
        for _ in range(MAX_HOPS):
            item = self.items.get(key)
            if not item:
                return None
            if not item.get("merged_into"):
                return copy.deepcopy(item)
            key = str(item["merged_into"])
        return None

    def qualified(self, stage: str, limit: int) -> list[dict[str, Any]]:
        indexed = [i for i in self.items.values() if i.get("qstage") == stage and "heat" in i]
        hottest = sorted(indexed, key=lambda i: i["heat"], reverse=True)[:limit]
        return [copy.deepcopy(i) for i in hottest if i.get("stage") == stage]

    # -- applying events ----------------------------------------------------

    def apply(self, key: str, pending: Sequence[Pending], now: float, aliases: Sequence[str] = ()) -> Applied:
        result = Applied(key)
        todo = distinct(pending, result)
        if not todo:
            return result
        old = self.items.get(key, {})
        if old.get("merged_into"):
            result.redirect = str(old["merged_into"])
            return result
        week = int(now // DEDUPE_PERIOD_S)
        seen = set(old.get(f"s.{week}", ())) | set(old.get(f"s.{week - 1}", ()))
        dupes = [p for p in todo if event_hash(p.event_id) in seen]
        result.duplicates += [p.event_id for p in dupes]
        todo = [without_older_facts(p, old) for p in todo if p not in dupes]
        room = self.max_events_per_week - len(old.get(f"s.{week}", ()))
        if len(todo) > room:  # a flood: apply what fits this week's budget, drop the rest
            result.flooded += [p.event_id for p in todo[max(room, 0):]]
            todo = todo[:max(room, 0)]
        if not todo:
            result.item = copy.deepcopy(old)
            return result
        item = self._applied(copy.deepcopy(old) or {"pk": key}, todo, now)
        if aliases:
            item[IDS] = set(item.get(IDS, ())) | set(aliases)
        self._trim(item)
        self.items[key] = item
        self.writes += 1
        result.item = copy.deepcopy(item)
        result.applied += [p.event_id for p in todo]
        return result

    def _applied(self, item: dict[str, Any], todo: Sequence[Pending], now: float) -> dict[str, Any]:
        week = int(now // DEDUPE_PERIOD_S)
        for stale in range(week - 2 - self.retention_s // DEDUPE_PERIOD_S - 1, week - 1):
            item.pop(f"s.{stale}", None)
        item.setdefault(f"s.{week}", set()).update(event_hash(p.event_id) for p in todo)
        increments: dict[str, int] = {}
        for p in todo:
            for (rule, era), units in p.effects.increments.items():
                increments[f"a.{rule}.{era}"] = increments.get(f"a.{rule}.{era}", 0) + units
        for name, units in increments.items():
            if units:
                item[name] = item.get(name, 0) + units
            rule_id, _, era_text = name[2:].rpartition(".")
            stale_era = f"a.{rule_id}.{int(era_text) - ERAS_KEPT}"
            if stale_era not in increments:
                item.pop(stale_era, None)
        flags: dict[str, float] = {}
        heat = 0.0
        for p in todo:
            fx = p.effects
            for rule, ms in fx.occurrences.items():
                item.setdefault(f"o.{rule}", set()).add(ms)
            for trigger, entry in fx.hits.items():
                item.setdefault(f"{HITS_PREFIX}{trigger}", set()).add(entry)
            for flag, t in fx.flags.items():
                flags[f"x.{flag}"] = min(t, flags.get(f"x.{flag}", t))
            heat += p.heat
            if fx.email:
                item.setdefault("email", fx.email)
        for name, t in flags.items():
            item.setdefault(name, t)
        for p in todo:
            item[counter(p.effects.type)] = item.get(counter(p.effects.type), 0) + 1
        for fact, (t, event_id, value) in newest_facts(todo).items():
            item[f"f.{fact}"] = {"v": value, "t": t, "e": event_id}
        item.setdefault("first_at", int(min(p.effects.at for p in todo)))
        item["last_at"] = int(max(p.effects.at for p in todo))
        item["n"] = item.get("n", 0) + len(todo)
        heat = round(heat, 2)
        if heat:
            item["heat"] = item.get("heat", 0) + heat
        item.setdefault("stage", "lead")
        item.setdefault("tr", 0)
        item["recent"] = list(item.get("recent", [])) + [
            f"{int(p.effects.at)}|{event_hash(p.event_id)}|{p.effects.type}" for p in todo]
        item["expires_at"] = int(now) + self.retention_s
        item.pop(OUTBOX, None)
        item.pop(TRIGGER_OUTBOX, None)
        return item

    def _trim(self, item: dict[str, Any]) -> None:
        if len(item["recent"]) > RECENT_TRIM_AT:
            item["recent"] = sorted(item["recent"], key=recent_order, reverse=True)[:RECENT_KEEP]
        for name, times in list(item.items()):
            if name.startswith("o.") and len(times) > OCCURRENCES_TRIM_AT:
                item[name] = set(sorted(times)[len(times) - OCCURRENCES_KEEP:])
            elif name.startswith(HITS_PREFIX) and (old := trimmed_hits(set(times))):
                item[name] = set(times) - old

    # -- stage -------------------------------------------------------------

    def record_transition(self, key: str, state: LeadState, expected_transitions: int, detail: dict[str, Any],
                          now: float, due_at: int | None = None,
                          triggers: TriggerRecord | None = None) -> tuple[bool, dict[str, Any]]:
        item = self.items.get(key, {})
        if item.get("tr") != expected_transitions or "merged_into" in item:
            return False, copy.deepcopy(item)
        if triggers is not None:
            if item.get(TRIGGER_VERSION, 0) != triggers.version:
                return False, copy.deepcopy(item)
            _trigger_record(item, triggers)
        item.update(stage=state.stage, stage_at=now, tr=state.transitions, recycled=state.recycled,
                    score={k: detail[k] for k in ("score", "fit", "engagement", "grade")})
        item.setdefault("heat", 0)
        item[OUTBOX] = pack_detail(detail)
        if state.stage in QUALIFIED:
            item["qstage"] = state.stage
        else:
            item.pop("qstage", None)
        _set_due(item, due_at)
        self.writes += 1
        return True, copy.deepcopy(item)

    def record_triggers(self, key: str, record: TriggerRecord, expected_transitions: int, expected_events: int,
                        due_at: int | None) -> tuple[bool, dict[str, Any]]:
        item = self.items.get(key, {})
        if (not item or item.get("tr") != expected_transitions or item.get("n") != expected_events
                or "merged_into" in item or item.get(TRIGGER_VERSION, 0) != record.version):
            return False, copy.deepcopy(item)
        _trigger_record(item, record)
        _set_due(item, due_at)
        self.writes += 1
        return True, copy.deepcopy(item)

    def record_feedback(self, key: str, state: LeadState, expected_transitions: int, history: list[dict[str, Any]],
                        expected_feedbacks: int, detail: dict[str, Any] | None, now: float) -> tuple[bool, dict[str, Any]]:
        item = self.items.get(key, {})
        if (item.get("tr") != expected_transitions or item.get("fbn", 0) != expected_feedbacks
                or "merged_into" in item or not item):
            return False, copy.deepcopy(item)
        if detail is not None:
            self.record_transition(key, state, expected_transitions, detail, now)  # on `item`, in place
            self.writes -= 1  # one write in all, as LeadStore's one UpdateItem
        item["recycled"] = state.recycled
        if state.pinned is None:
            item.pop("pinned", None)
        else:
            item["pinned"] = state.pinned
        item["fb"] = copy.deepcopy(history)
        item["fbn"] = expected_feedbacks + 1
        self.writes += 1
        return True, copy.deepcopy(item)

    def record_recycled(self, key: str, recycled: bool, expected_transitions: int) -> None:
        item = self.items.get(key, {})
        if item.get("tr") == expected_transitions:
            item["recycled"] = recycled
            self.writes += 1

    # -- due times -------------------------------------------------------------

    def bring_forward(self, key: str, due_at: int, expected_transitions: int) -> bool:
        item = self.items.get(key, {})
        if (item.get("tr") != expected_transitions or "merged_into" in item
                or ("due_at" in item and item["due_at"] <= due_at)):
            return False
        _set_due(item, due_at)
        self.writes += 1
        return True

    def reschedule(self, key: str, due_at: int | None, expected_transitions: int, expected_events: int) -> bool:
        item = self.items.get(key, {})
        if item.get("tr") != expected_transitions or item.get("n") != expected_events:
            return False
        _set_due(item, due_at)
        self.writes += 1
        return True

    def due_leads(self, bucket: int, now: float) -> list[str]:
        return [k for k, i in self.items.items() if i.get("due_bucket") == bucket and i["due_at"] <= int(now)]

    def read_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {k: copy.deepcopy(self.items[k]) for k in keys if k in self.items}

    # -- owners -------------------------------------------------------------------

    def assign_owner(self, key: str, team: str, members: Sequence[Mapping[str, Any]], domain: str | None,
                     now: float) -> dict[str, Any] | None:
        lead = self.items.get(key)
        if not lead or "merged_into" in lead or "n" not in lead:
            return None
        if lead.get("owner"):
            return copy.deepcopy(lead["owner"])
        shared = self.items.get(domain, {}) if domain else {}
        if shared.get("owner"):
            lead["owner"] = copy.deepcopy(shared["owner"])
            shared["expires_at"] = int(now) + self.retention_s
            self.writes += 1
            return copy.deepcopy(lead["owner"])
        counter = self.items.setdefault(round_robin_key(team), {"pk": round_robin_key(team), "assigned": 0})
        owner = next_owner(members, team, int(counter["assigned"]))
        counter["assigned"] += 1
        lead["owner"] = owner
        if domain:
            self.items[domain] = {"pk": domain, "owner": copy.deepcopy(owner), "expires_at": int(now) + self.retention_s}
        self.writes += 1
        return copy.deepcopy(owner)

    # -- identities ----------------------------------------------------------

    def link(self, alias: str, target: str, now: float) -> tuple[str, dict[str, Any] | None]:
        old = self.items.get(alias)
        if old is None:
            self.items[alias] = {"pk": alias, "merged_into": target, "expires_at": int(now) + self.retention_s}
            self.writes += 1
            return target, None
        if old.get("merged_into"):
            return str(old["merged_into"]), None
        return target, copy.deepcopy(old)

    def merge(self, alias_item: dict[str, Any], target: str, target_state: LeadState, now: float) -> bool:
        alias = str(alias_item["pk"])
        stored_alias = self.items.get(alias, {})
        lead = self.items.get(target, {"pk": target})
        if (alias in lead.get("merged_from", ()) or "merged_into" in stored_alias
                or stored_alias.get("n") != int(alias_item.get("n", 0))):
            return False
        moved = []
        for name, value in alias_item.items():
            if name.startswith(("a.", "c.")) and int(value):
                lead[name] = lead.get(name, 0) + int(value)
            elif name.startswith(("o.", "s.", HITS_PREFIX)) and value:  # a trigger's matches move too
                lead[name] = set(lead.get(name, ())) | set(value)
            elif name.startswith("x."):
                lead.setdefault(name, value)
            elif name.startswith("f."):
                old = target_state.facts.get(name[2:])
                if old is None or (float(value["t"]), str(value["e"])) > (old.at, old.event_id):
                    lead[name] = plain(value)
            else:
                continue
            moved.append(name)
        if "n" in alias_item:
            lead["n"] = lead.get("n", 0) + int(alias_item["n"])
        if "heat" in alias_item:
            lead["heat"] = lead.get("heat", 0) + float(alias_item["heat"])
        if alias_item.get("recent"):
            lead["recent"] = list(lead.get("recent", [])) + list(alias_item["recent"])
        if "first_at" in alias_item:
            lead.setdefault("first_at", float(alias_item["first_at"]))
        lead["merged_from"] = set(lead.get("merged_from", ())) | {alias}
        self.items[target] = lead
        for name in moved + [k for k in ("recent", "heat") if k in alias_item]:
            stored_alias.pop(name, None)
        stored_alias["merged_into"] = target
        self.writes += 1
        return True

    # -- erasure and access ------------------------------------------------------

    def holdings(self, key: str) -> Holdings | None:
        return gather_holdings(key, lambda k: copy.deepcopy(self.items.get(k, {})),
                               lambda keys: {k: copy.deepcopy(self.items[k]) for k in keys if k in self.items})

    def erase(self, holdings: Holdings, markers: Mapping[str, str], now: float) -> dict[str, int] | None:
        if any(self.items.get(k, {}).get("merged_into") != v.get("merged_into") for k, v in holdings.identities.items()):
            return None
        for k in holdings.identities:
            del self.items[k]
        until = int(now) + TOMBSTONE_S
        for k in holdings.keys():
            self.items[markers[k]] = {"pk": markers[k], "erased_at": now, "until": until, "expires_at": until}
        self.items.pop(holdings.key, None)
        self.writes += 1
        return {"leads": 1, "identities": len(holdings.identities), "tombstones": len(holdings.keys())}

    def erased_at(self, marker: str, now: float) -> float | None:
        item = self.items.get(marker)
        if not item or item["until"] < now:
            return None
        return float(item["erased_at"])

    def discard(self, key: str, n: int) -> bool:
        if self.items.get(key, {}).get("n") != n:
            return False
        del self.items[key]
        self.writes += 1
        return True

    def unlink(self, alias: str, target: str) -> bool:
        if self.items.get(alias, {}).get("merged_into") != target:
            return False
        del self.items[alias]
        self.writes += 1
        return True

def _trigger_record(item: dict[str, Any], record: TriggerRecord) -> None:
    item[TRIGGER_MARKS] = copy.deepcopy(record.marks)
    item[TRIGGER_VERSION] = record.version + 1
    if record.details:
        item[TRIGGER_OUTBOX] = pack_details(record.details)


def _set_due(item: dict[str, Any], due_at: int | None) -> None:
    if due_at is None:
        item.pop("due_at", None)
        item.pop("due_bucket", None)
    else:
        item.update(due_at=int(due_at), due_bucket=due_bucket(due_at))
