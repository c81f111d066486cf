"""The leads table on DynamoDB: every read and write of it. One UpdateItem per lead per batch.

Applying events needs no read: the update carries a condition (not merged,
none of these events seen, no newer fact overwritten) and returns the new item
(`ALL_NEW`) for evaluation; when the condition fails DynamoDB returns the old
item (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), which says which events
were duplicates, which facts are older, or where a merged alias points, and
the update is retried without them.

A throttled request (after botocore's own retries) is sent again within the
invocation, a few times with a jittered backoff (`THROTTLE_RETRIES`): every write
here is conditional or idempotent, so sending it again cannot apply it twice. A
failed condition is an answer, never retried as such.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scoring_core.stages import QUALIFIED  # the stages the ByStage index holds

from ...identity import event_hash
from scoring_core.triggers import trimmed_hits

from .codec import (
    HITS_PREFIX,
    OUTBOX,
    TRIGGER_MARKS,
    TRIGGER_OUTBOX,
    TRIGGER_VERSION,
    deserialize,
    pack_detail,
    pack_details,
    plain,
    recent_order,
    to_attribute,
)
from .expressions import Update
from .protocol import (
    ASSIGN_ATTEMPTS,
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
    gather_holdings,
    newest_facts,
    next_owner,
    round_robin_key,
    with_facts,
    without_older_facts,
)

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core import LeadState

MAX_ATTEMPTS = 6  # conflicting updates of one lead (failed conditions) before giving up
FACTS_PER_UPDATE = 20
BY_STAGE = "ByStage"  # the sparse index of qualified leads: qstage, then heat
BY_DUE = "ByDue"  # the sparse index of leads time will move: due_bucket, then due_at (keys only)
# Throttling, after botocore's retries: a few more tries, each after a random wait of up to
# base·2^attempt (full jitter, at most THROTTLE_CAP_S), about 0.4 s at most in all.
THROTTLE_RETRIES = 4
THROTTLE_BASE_S, THROTTLE_CAP_S = 0.025, 0.4
THROTTLED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                       "TransactionConflictException"})
# a cancelled transaction is retried when every cancelled part was throttled or conflicted, never
# when a part's condition failed
THROTTLED_PARTS = frozenset({"None", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded",
                             "TransactionConflict"})


def _stage_change(u: Update, state: LeadState, detail: dict[str, Any], now: float) -> None:
    """The SETs (and REMOVE) of a recorded stage change: the stage, its counter, the score at the
    change, and the `LeadStageChanged` detail in `ob` for the stream publisher."""
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


def _trigger_record(u: Update, record: TriggerRecord) -> None:
    """The SETs and condition of recorded trigger marks and firings (docs/data-model.md, Triggers)."""
    tv = u.name(TRIGGER_VERSION)
    u.conditions.append(f"attribute_not_exists({tv})" if record.version == 0 else f"{tv} = {u.value(record.version)}")
    u.set += [f"{u.name(TRIGGER_MARKS)} = {u.value(record.marks)}", f"{tv} = {u.value(record.version + 1)}"]
    if record.details:
        u.set.append(f"{u.name(TRIGGER_OUTBOX)} = {u.value(pack_details(record.details))}")


def throttled(exc: Exception) -> bool:
    """Whether a botocore ClientError is a throttle or a transaction conflict, which succeed when sent again."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = (response.get("Error") or {}).get("Code")
    if code in THROTTLED:
        return True
    if code == "TransactionCanceledException":
        reasons = [r.get("Code", "None") for r in response.get("CancellationReasons") or []]
        return bool(reasons) and any(r != "None" for r in reasons) and all(r in THROTTLED_PARTS for r in reasons)
    return False


class LeadStore:
    """The leads table (`LeadTable` and `LeadReader`). `client` is a botocore DynamoDB client.

    `sleep` and `rng` pace the throttle retries (tests pass their own)."""

    def __init__(self, client: Any, table: str, retention_days: int = 400, max_events_per_week: int = MAX_EVENTS_PER_WEEK,
                 *, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        self._client = client
        self.table = table
        self.retention_s = retention_days * 86400
        self.max_events_per_week = max_events_per_week
        self._sleep = sleep
        self._rng = rng or random.Random()

    # -- requests ------------------------------------------------------------

    def _send(self, operation: str, **request: Any) -> dict[str, Any]:
        """One request, sent again while it is throttled (a bounded, jittered backoff)."""
        call = getattr(self._client, operation)
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                response: dict[str, Any] = call(**request)
                return response
            except self._client.exceptions.ClientError as exc:
                if attempt == THROTTLE_RETRIES or not throttled(exc):
                    raise
            self._sleep(self._rng.uniform(0, min(THROTTLE_CAP_S, THROTTLE_BASE_S * 2 ** attempt)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _update(self, key: str, **request: Any) -> dict[str, Any]:
        return self._send("update_item", TableName=self.table, Key={"pk": {"S": key}}, **request)

    # -- reads ----------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any]:
        response = self._send("get_item", TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return deserialize(response.get("Item"))

    def find(self, key: str) -> dict[str, Any] | None:
        """The lead item for a key, following merged aliases (eventually consistent reads)."""
        for _ in range(MAX_HOPS):
            item = deserialize(self._send("get_item", TableName=self.table, Key={"pk": {"S": key}}).get("Item"))
            if not item:
                return None
            if not item.get("merged_into"):
                return item
            key = str(item["merged_into"])
        return None

    def qualified(self, stage: str, limit: int) -> list[dict[str, Any]]:
        """Lead items at `stage`, hottest first, from the sparse ByStage index, then BatchGetItem."""
        response = self._send("query", TableName=self.table, IndexName=BY_STAGE, KeyConditionExpression="qstage = :s",
                              ExpressionAttributeValues={":s": {"S": stage}}, ScanIndexForward=False, Limit=limit)
        keys = [{"pk": i["pk"]} for i in response.get("Items", [])]
        by_key: dict[str, dict[str, Any]] = {}
        pending = {self.table: {"Keys": keys}} if keys else {}
        for _ in range(5):  # BatchGetItem may leave keys unprocessed under throttling: ask again for those
            if not pending:
                break
            answer = self._send("batch_get_item", RequestItems=pending)
            by_key.update((i["pk"]["S"], deserialize(i)) for i in answer["Responses"].get(self.table, []))
            pending = answer.get("UnprocessedKeys") or {}
        # the index's order (hottest first); an item that changed stage since the index was written is left out
        return [by_key[k["pk"]["S"]] for k in keys if k["pk"]["S"] in by_key and by_key[k["pk"]["S"]].get("stage") == stage]

    # -- applying events ----------------------------------------------------

    def apply(self, key: str, pending: Sequence[Pending], now: float, aliases: Sequence[str] = ()) -> Applied:
        """Apply each event once to the lead `key`: one UpdateItem on the happy path."""
        result = Applied(key)
        todo = self._apply_extra_facts(key, distinct(pending, result))
        for _ in range(MAX_ATTEMPTS):
            if not todo:
                return result
            try:
                response = self._update(key, ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                        **self._apply_request(todo, now, aliases))
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                old = deserialize(exc.response.get("Item"))
                if old.get("merged_into"):
                    result.redirect = str(old["merged_into"])
                    return result
                seen = {h for name, hashes in old.items() if name.startswith("s.") for h in hashes}
                dupes = [p for p in todo if event_hash(p.event_id) in seen]
                result.duplicates += [p.event_id for p in dupes]
                todo = [without_older_facts(p, old) for p in todo if p not in dupes]
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
            only = [with_facts(p, chunk.__contains__) for p in todo if chunk & p.effects.facts.keys()]
            for _ in range(MAX_ATTEMPTS):
                u = Update()
                for fact, (t, event_id, value) in newest_facts(only).items():
                    u.set_fact(fact, t, event_id, value)
                if not u.set:
                    break
                try:
                    self._update(key, **u.request())
                    break
                except self._client.exceptions.ConditionalCheckFailedException:
                    stored = self.get(key)  # rare: an out-of-order fact among a very large identify
                    only = [without_older_facts(p, stored) for p in only]
        kept = set(extra)
        return [with_facts(p, lambda name: name not in kept) for p in todo]

    def _apply_request(self, todo: Sequence[Pending], now: float, aliases: Sequence[str] = ()) -> dict[str, Any]:
        u = Update()
        increments: dict[str, int] = {}
        occurrences: dict[str, set[int]] = {}
        hits: dict[str, set[str]] = {}
        flags: dict[str, float] = {}
        facts = newest_facts(todo)
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
            for trigger, entry in fx.hits.items():
                hits.setdefault(f"{HITS_PREFIX}{trigger}", set()).add(entry)
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
            rule_id, _, era_text = name[2:].rpartition(".")
            stale_era = f"a.{rule_id}.{int(era_text) - ERAS_KEPT}"
            if stale_era not in increments:
                u.remove.append(u.name(stale_era))
        for name, values in occurrences.items():
            u.add.append(f"{u.name(name)} {u.value(values)}")
        for name, entries in hits.items():  # trigger matches: a set ADD, like occurrences (no read)
            u.add.append(f"{u.name(name)} {u.value(entries)}")
        counts: dict[str, int] = {}
        for p in todo:
            counts[counter(p.effects.type)] = counts.get(counter(p.effects.type), 0) + 1
        for name, count in counts.items():
            u.add.append(f"{u.name(name)} {u.value(count)}")
        for name, t in flags.items():
            n = u.name(name)
            u.set.append(f"{n} = if_not_exists({n}, {u.value(t)})")
        for fact, (t, event_id, value) in facts.items():
            u.set_fact(fact, t, event_id, value)
        if email:
            n = u.name("email")
            u.set.append(f"{n} = if_not_exists({n}, {u.value(email)})")
        n = u.name("first_at")
        u.set.append(f"{n} = if_not_exists({n}, {u.value(first)})")
        u.set.append(f"{u.name('last_at')} = {u.value(last)}")
        u.add.append(f"{u.name('n')} {u.value(len(todo))}")
        if aliases:  # the identities erasure must find (docs/data-model.md, Erasure); ADD to a set is idempotent
            u.add.append(f"{u.name(IDS)} {u.value(set(aliases))}")
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
        # the last recorded transition (and firings) are in the stream already: stop paying for their bytes
        u.remove += [u.name(OUTBOX), u.name(TRIGGER_OUTBOX)]
        return u.request()

    def _trim_recent(self, key: str, item: dict[str, Any]) -> None:
        """Keep the recent-activity list short (an extra write once every ~20 events of a lead)."""
        recent = item.get("recent") or []
        if len(recent) <= RECENT_TRIM_AT:
            return
        keep = sorted(recent, key=recent_order, reverse=True)[:RECENT_KEEP]
        try:
            self._update(key, UpdateExpression="SET #r = :keep", ConditionExpression="size(#r) = :n",
                         ExpressionAttributeNames={"#r": "recent"},
                         ExpressionAttributeValues={":keep": to_attribute(keep), ":n": {"N": str(len(recent))}})
            item["recent"] = keep
        except self._client.exceptions.ConditionalCheckFailedException:
            return  # someone appended meanwhile; the next write trims

    def _trim_occurrences(self, key: str, item: dict[str, Any]) -> None:
        """Keep each repeat rule's occurrence times bounded: past OCCURRENCES_TRIM_AT, the oldest
        are deleted down to OCCURRENCES_KEEP (an extra write once every ~25 matches of such a
        rule). A repeat rule asks whether a previous match lies within its window: the newest
        matches answer that for every event but one arriving more than 25 matches late."""
        deletes: dict[str, Any] = {}
        for name, times in item.items():
            if name.startswith("o.") and len(times) > OCCURRENCES_TRIM_AT:
                deletes[name] = sorted(times)[: len(times) - OCCURRENCES_KEEP]
            elif name.startswith(HITS_PREFIX) and (old := trimmed_hits(set(times))):
                deletes[name] = old  # a trigger's matches: the same bound (scoring_core.triggers)
        if not deletes:
            return
        u = Update()
        parts = [f"{u.name(name)} {u.value(set(old))}" for name, old in deletes.items()]
        request = u.request()
        request["UpdateExpression"] = "DELETE " + ", ".join(parts)
        request.pop("ConditionExpression", None)
        self._update(key, **request)
        for name, old in deletes.items():  # DELETE of elements already gone is a no-op: safe under concurrency
            item[name] = set(item[name]) - set(old)

    # -- stage -------------------------------------------------------------

    def record_transition(self, key: str, state: LeadState, expected_transitions: int, detail: dict[str, Any],
                          now: float, due_at: int | None = None,
                          triggers: TriggerRecord | None = None) -> tuple[bool, dict[str, Any]]:
        """Write the stage `Engine.advance` moved to, with the transition's detail in `ob` for
        the stream publisher, if no one recorded another change first (and with `triggers`, the
        trigger marks and firings of the same evaluation). Returns
        (recorded, the lead's item: new when recorded, current when not)."""
        u = Update()
        _stage_change(u, state, detail, now)
        _set_due(u, due_at)
        if triggers is not None:
            _trigger_record(u, triggers)
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        u.conditions.append(f"attribute_not_exists({u.name('merged_into')})")
        return self._conditional(key, u)

    def record_triggers(self, key: str, record: TriggerRecord, expected_transitions: int, expected_events: int,
                        due_at: int | None) -> tuple[bool, dict[str, Any]]:
        """Write trigger marks and firings with the due time: one conditional UpdateItem, recorded only
        if the marks' version, the stage and the event count are as read (so of two concurrent
        evaluations, or a worker and the sweep, only one fires an episode)."""
        u = Update()
        _trigger_record(u, record)
        _set_due(u, due_at)
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        u.conditions.append(f"{u.name('n')} = {u.value(expected_events)}")
        u.conditions.append(f"attribute_not_exists({u.name('merged_into')})")
        return self._conditional(key, u)

    def record_feedback(self, key: str, state: LeadState, expected_transitions: int, history: list[dict[str, Any]],
                        expected_feedbacks: int, detail: dict[str, Any] | None, now: float) -> tuple[bool, dict[str, Any]]:
        """Write sales' feedback: the pin and recycled mark `apply_feedback` set, the feedback history
        `history` (already bounded) and its counter, and, when `detail` is given, the stage change
        `Engine.advance` made (as `record_transition` writes it). One conditional UpdateItem: only if
        neither another stage change nor another feedback was recorded since the item was read."""
        u = Update()
        if detail is not None:
            _stage_change(u, state, detail, now)
        else:
            u.set.append(f"{u.name('recycled')} = {u.value(state.recycled)}")
        if state.pinned is None:
            u.remove.append(u.name("pinned"))
        else:
            u.set.append(f"{u.name('pinned')} = {u.value(state.pinned)}")
        u.set.append(f"{u.name('fb')} = {u.value(history)}")
        fbn = u.name("fbn")
        u.set.append(f"{fbn} = {u.value(expected_feedbacks + 1)}")
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        u.conditions.append(f"attribute_not_exists({fbn})" if expected_feedbacks == 0
                            else f"{fbn} = {u.value(expected_feedbacks)}")
        u.conditions.append(f"attribute_not_exists({u.name('merged_into')})")
        return self._conditional(key, u)

    def record_recycled(self, key: str, recycled: bool, expected_transitions: int) -> None:
        """A lost deal's lead stops being recycled once its score has dipped (no stage change)."""
        u = Update()
        u.set.append(f"{u.name('recycled')} = {u.value(recycled)}")
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        self._conditional(key, u)

    # -- due times (the sweep's ByDue index) ------------------------------------

    def bring_forward(self, key: str, due_at: int, expected_transitions: int) -> bool:
        """An event that cooled the lead (negative points, a changed fact) made its stage due
        earlier than stored: set the earlier time, unless an earlier one or a stage change came first."""
        u = Update()
        _set_due(u, due_at)
        n = u.name("due_at")
        u.conditions.append(f"(attribute_not_exists({n}) OR {n} > {u.value(due_at)})")
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        u.conditions.append(f"attribute_not_exists({u.name('merged_into')})")
        return self._conditional(key, u)[0]

    def reschedule(self, key: str, due_at: int | None, expected_transitions: int, expected_events: int) -> bool:
        """The sweep found the lead warmer than its due time said: move (or remove) the due time,
        if no event and no stage change reached the lead since the sweep read it."""
        u = Update()
        _set_due(u, due_at)
        u.conditions.append(f"{u.name('tr')} = {u.value(expected_transitions)}")
        u.conditions.append(f"{u.name('n')} = {u.value(expected_events)}")
        return self._conditional(key, u)[0]

    def due_leads(self, bucket: int, now: float) -> list[str]:
        """Keys in the ByDue bucket due at or before `now`: a Query per page, never a Scan."""
        keys: list[str] = []
        request: dict[str, Any] = {
            "TableName": self.table, "IndexName": BY_DUE,
            "KeyConditionExpression": "due_bucket = :b AND due_at <= :t",
            "ExpressionAttributeValues": {":b": {"N": str(bucket)}, ":t": {"N": str(int(now))}},
        }
        while True:
            response = self._send("query", **request)
            keys += [i["pk"]["S"] for i in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                return keys
            request["ExclusiveStartKey"] = last

    def read_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The items at `keys`, 100 per BatchGetItem, consistent; unprocessed keys asked for again."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            pending: dict[str, Any] = {self.table: {"Keys": [{"pk": {"S": k}} for k in unique[start:start + 100]],
                                                    "ConsistentRead": True}}
            for attempt in range(THROTTLE_RETRIES + 2):
                answer = self._send("batch_get_item", RequestItems=pending)
                found.update((i["pk"]["S"], deserialize(i)) for i in answer["Responses"].get(self.table, []))
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                self._sleep(self._rng.uniform(0, min(THROTTLE_CAP_S, THROTTLE_BASE_S * 2 ** attempt)))
            else:
                raise RuntimeError("BatchGetItem kept leaving keys unprocessed")
        return found

    def _conditional(self, key: str, u: Update) -> tuple[bool, dict[str, Any]]:
        try:
            response = self._update(key, ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                    **u.request())
            return True, deserialize(response.get("Attributes"))
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            return False, deserialize(exc.response.get("Item"))

    # -- owners -------------------------------------------------------------------

    def assign_owner(self, key: str, team: str, members: Sequence[Mapping[str, Any]], domain: str | None,
                     now: float) -> dict[str, Any] | None:
        """One consistent BatchGetItem (lead, domain item, counter), then one conditional write: the
        domain's owner onto the lead, or a transaction advancing the counter from the value read,
        setting the lead's owner if it has none and creating the domain item if there is none. A
        cancelled transaction means another worker got there first: read again and decide again."""
        counter_key = round_robin_key(team)
        for attempt in range(ASSIGN_ATTEMPTS):
            found = self.read_many([key, counter_key, *([domain] if domain else [])])
            lead = found.get(key)
            if not lead or lead.get("merged_into") or "n" not in lead:
                return None  # no lead (gone, merged into another, or no lead's item at all)
            if lead.get("owner"):
                return dict(lead["owner"])
            shared = found.get(domain, {}) if domain else {}
            if shared.get("owner"):
                owner = plain(shared["owner"])
                if self._adopt(key, owner, str(domain), now):
                    return owner
            else:
                assigned = int(found.get(counter_key, {}).get("assigned", 0))
                owner = next_owner(members, team, assigned)
                if self._assign(key, counter_key, assigned, owner, domain, now):
                    return owner
            self._sleep(self._rng.uniform(0, min(THROTTLE_CAP_S, THROTTLE_BASE_S * 2 ** min(attempt, 4))))
        raise RuntimeError(f"owner assignment in team {team} kept conflicting after {ASSIGN_ATTEMPTS} attempts")

    def _owner_update(self, key: str, owner: dict[str, Any]) -> dict[str, Any]:
        u = Update()
        u.set.append(f"{u.name('owner')} = {u.value(owner)}")
        # `n`: a lead (a pointer or a tombstone has none); no owner yet: the first assignment stands
        u.conditions += [f"attribute_exists({u.name('n')})", f"attribute_not_exists({u.name('owner')})",
                         f"attribute_not_exists({u.name('merged_into')})"]
        return {"TableName": self.table, "Key": {"pk": {"S": key}}, **u.request()}

    def _adopt(self, key: str, owner: dict[str, Any], domain: str, now: float) -> bool:
        """The domain's owner becomes the lead's (the domain item kept as long as the lead); no counter."""
        d = Update()
        d.set.append(f"{d.name('expires_at')} = {d.value(int(now) + self.retention_s)}")
        d.conditions.append(f"{d.name('owner')}.{d.name('id')} = {d.value(owner['id'])}")
        touch = {"TableName": self.table, "Key": {"pk": {"S": domain}}, **d.request()}
        return self._transact([{"Update": self._owner_update(key, owner)}, {"Update": touch}])

    def _assign(self, key: str, counter_key: str, assigned: int, owner: dict[str, Any], domain: str | None,
                now: float) -> bool:
        c = Update()
        n = c.name("assigned")
        c.set.append(f"{n} = {c.value(assigned + 1)}")
        c.conditions.append(f"attribute_not_exists({n})" if assigned == 0 else f"{n} = {c.value(assigned)}")
        ops: list[dict[str, Any]] = [
            {"Update": {"TableName": self.table, "Key": {"pk": {"S": counter_key}}, **c.request()}},
            {"Update": self._owner_update(key, owner)},
        ]
        if domain:
            ops.append({"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)", "Item": {
                "pk": {"S": domain}, "owner": to_attribute(owner), "expires_at": {"N": str(int(now) + self.retention_s)}}}})
        return self._transact(ops)

    def _transact(self, ops: list[dict[str, Any]]) -> bool:
        try:
            self._send("transact_write_items", TransactItems=ops)
            return True
        except self._client.exceptions.TransactionCanceledException:
            return False  # a condition failed (or conflicts outlasted the retries): read again

    # -- identities ----------------------------------------------------------

    def link(self, alias: str, target: str, now: float) -> tuple[str, dict[str, Any] | None]:
        """Point `alias` at `target` if it points nowhere yet. Returns (where the alias
        points, its own item when it has history that must be merged first)."""
        try:
            self._send(
                "put_item",
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
        u = Update()
        moved = []
        for name, value in alias_item.items():
            if name.startswith(("a.", "c.")) and int(value):
                u.add.append(f"{u.name(name)} {u.value(int(value))}")
            elif name.startswith(("o.", "s.", HITS_PREFIX)) and value:  # a trigger's matches move too
                u.add.append(f"{u.name(name)} {u.value(set(value))}")
            elif name.startswith("x."):
                n = u.name(name)
                u.set.append(f"{n} = if_not_exists({n}, {u.value(value)})")
            elif name.startswith("f."):
                old = target_state.facts.get(name[2:])
                if old is None or (float(value["t"]), str(value["e"])) > (old.at, old.event_id):
                    u.set.append(f"{u.name(name)} = {u.value(plain(value))}")
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

        a = Update()
        a.set.append(f"{a.name('merged_into')} = {a.value(target)}")
        a.remove += [a.name(name) for name in moved + [k for k in ("recent", "heat") if k in alias_item]]
        a.conditions.append(f"attribute_not_exists({a.name('merged_into')})")
        a.conditions.append(f"{a.name('n')} = {a.value(int(alias_item.get('n', 0)))}")
        alias_update = {"TableName": self.table, "Key": {"pk": {"S": alias}}, **a.request()}
        try:
            self._send("transact_write_items", TransactItems=[{"Update": target_update}, {"Update": alias_update}])
            return True
        except self._client.exceptions.TransactionCanceledException:
            return False

    # -- erasure and access ------------------------------------------------------

    def _batch_get(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The items at `keys` (consistent), absent ones left out."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            pending = {self.table: {"Keys": [{"pk": {"S": k}} for k in keys[start:start + 100]], "ConsistentRead": True}}
            for _ in range(5):
                if not pending:
                    break
                answer = self._send("batch_get_item", RequestItems=pending)
                found.update((i["pk"]["S"], deserialize(i)) for i in answer["Responses"].get(self.table, []))
                pending = answer.get("UnprocessedKeys") or {}
            if pending:
                raise RuntimeError("BatchGetItem kept leaving keys unprocessed")
        return found

    def holdings(self, key: str) -> Holdings | None:
        """Follow `key` to its lead, then gather every key that points at it (a few consistent reads)."""
        return gather_holdings(key, self.get, self._batch_get)

    def erase(self, holdings: Holdings, markers: Mapping[str, str], now: float) -> dict[str, int] | None:
        """One transaction (per 100 items) deletes the pointers on condition they still point where they
        did and puts the tombstones; the lead item goes in the last one, so a failure leaves it to be
        found again by a retry."""
        lead = holdings.key
        until = int(now) + TOMBSTONE_S
        ops: list[dict[str, Any]] = []
        for k, item in holdings.identities.items():
            ops.append({"Delete": {"TableName": self.table, "Key": {"pk": {"S": k}},
                                   "ConditionExpression": "merged_into = :to",
                                   "ExpressionAttributeValues": {":to": {"S": str(item["merged_into"])}}}})
        for k in holdings.keys():
            ops.append({"Put": {"TableName": self.table, "Item": {
                "pk": {"S": markers[k]}, "erased_at": {"N": str(now)}, "until": {"N": str(until)},
                "expires_at": {"N": str(until)}}}})
        ops.append({"Delete": {"TableName": self.table, "Key": {"pk": {"S": lead}}}})
        for start in range(0, len(ops), 100):
            try:
                self._send("transact_write_items", TransactItems=ops[start:start + 100])
            except self._client.exceptions.TransactionCanceledException:
                return None  # a pointer moved meanwhile: read the holdings again
        return {"leads": 1, "identities": len(holdings.identities), "tombstones": len(holdings.keys())}

    def erased_at(self, marker: str, now: float) -> float | None:
        item = deserialize(self._send("get_item", TableName=self.table, Key={"pk": {"S": marker}},
                                      ConsistentRead=True).get("Item"))
        # TTL lags by days: the tombstone's own `until` says whether it still counts
        if not item or float(item.get("until", 0)) < now:
            return None
        return float(item["erased_at"])

    def discard(self, key: str, n: int) -> bool:
        try:
            self._send("delete_item", TableName=self.table, Key={"pk": {"S": key}}, ConditionExpression="#n = :n",
                       ExpressionAttributeNames={"#n": "n"}, ExpressionAttributeValues={":n": {"N": str(n)}})
            return True
        except self._client.exceptions.ConditionalCheckFailedException:
            return False

    def unlink(self, alias: str, target: str) -> bool:
        try:
            self._send("delete_item", TableName=self.table, Key={"pk": {"S": alias}}, ConditionExpression="merged_into = :to",
                       ExpressionAttributeValues={":to": {"S": target}})
            return True
        except self._client.exceptions.ConditionalCheckFailedException:
            return False

def _set_due(u: Update, due_at: int | None) -> None:
    """SET the due time and its ByDue bucket, or REMOVE both (the lead leaves the sparse index)."""
    if due_at is None:
        u.remove += [u.name("due_at"), u.name("due_bucket")]
    else:
        u.set += [f"{u.name('due_at')} = {u.value(int(due_at))}",
                  f"{u.name('due_bucket')} = {u.value(due_bucket(due_at))}"]
