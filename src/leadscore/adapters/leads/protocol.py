"""What the worker and the leads API need of the leads table, whoever holds it.

`LeadReader` is what the read API uses, `LeadTable` what the worker uses; `LeadStore`
(DynamoDB, store.py) and `InMemoryLeadStore` (memory.py, for unit tests) implement
both, with the limits and rules below. Items are dicts of plain Python values, the
attributes of docs/data-model.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ...identity import OUR_PREFIXES, event_hash

if TYPE_CHECKING:  # pragma: no cover
    from scoring_core import Effects, LeadState

DEDUPE_PERIOD_S = 7 * 86400  # event ids are filed by the week they were applied in; two weeks are checked
OCCURRENCES_KEEP, OCCURRENCES_TRIM_AT = 25, 50  # repeat rules' match times kept per rule
MAX_EVENTS_PER_WEEK = 2000  # events one lead may have applied in a week; beyond, they are dropped and counted
# A trim is a write billed at the item's full size; a longer list costs bytes on every write.
# Trimming 30 down to 10 measured cheapest of 10/15, 8/16, 10/20, 8/24 and 10/30 on the
# X Education stream (bench/aws_calls.py: 1.169, 1.127, 1.121, 1.097, 1.092 WRU per event).
RECENT_KEEP, RECENT_TRIM_AT = 10, 30
ERAS_KEPT = 3  # a touched accumulator's era k drops era k-3 of the same rule
MAX_HOPS = 4  # a merged alias points at its lead; chains are short
# per event type, how many were applied (`c.<type>`), for `leadscore outcomes export`; a custom
# type counts as `c.other`, so a sender cannot grow an item with names
COUNTED_TYPES = frozenset({
    "page_view", "form_submitted", "demo_requested", "email_opened", "email_clicked", "email_bounced",
    "unsubscribed", "opt_out", "webinar_attended", "meeting_booked", "meeting_canceled", "purchase",
    "cart_abandoned", "identify", "alias"})


def counter(event_type: str) -> str:
    return f"c.{event_type if event_type in COUNTED_TYPES else 'other'}"


IDS = "ids"  # the aliases a lead's events named (SS), so an erasure finds every pointer without a Scan
# An erased key's tombstone outlives every event that can still arrive for it: the events
# queue keeps a message 4 days, its dead-letter queue 14 (a redrive brings them back).
TOMBSTONE_S = 18 * 86400
FEEDBACK_KEPT = 20  # sales' feedbacks kept on a lead (`fb`), the latest; older ones are dropped
# Downgrades on time (docs/data-model.md, Due times): a qualified lead whose stage time alone
# will move carries `due_at` (epoch seconds) and `due_bucket` (due_at floored to DUE_BUCKET_S),
# the keys of the sparse ByDue index the sweep queries bucket by bucket.
DUE_BUCKET_S = 900


# Owners (docs/routing.md): a lead's `owner` (M: id, name, email, team) is set once, never changed;
# `rr#<team>` holds the team's round-robin counter `assigned` (owners it has assigned), `dom#<keyed hash of
# a company domain>` the owner the domain's leads share. Neither is a lead (no `n`, no `e:` key).
ROUND_ROBIN_PREFIX, DOMAIN_PREFIX = "rr#", "dom#"
ASSIGN_ATTEMPTS = 30  # conflicting assignments (another worker took the counter's value) before giving up


def round_robin_key(team: str) -> str:
    return f"{ROUND_ROBIN_PREFIX}{team}"


def next_owner(members: Sequence[Mapping[str, Any]], team: str, assigned: int) -> dict[str, Any]:
    """The owner the team's `assigned`-th assignment gives: members in turn (round-robin)."""
    return {**{k: v for k, v in members[assigned % len(members)].items() if v is not None}, "team": team}


def due_bucket(due_at: float) -> int:
    """The ByDue index's partition: the due time floored to DUE_BUCKET_S."""
    return int(due_at // DUE_BUCKET_S) * DUE_BUCKET_S


@dataclass
class Pending:
    """One event's effects waiting to be applied to a lead, with its `heat` increment."""

    effects: Effects
    heat: float = 0.0

    @property
    def event_id(self) -> str:
        return self.effects.event_id


@dataclass
class TriggerRecord:
    """What a write records of the model's triggers (docs/data-model.md, Triggers): every trigger's
    mark (`tm`, plain values), written only if the marks' version `tv` is still `version`, and the
    `LeadTriggered` details fired (in `ot`, for the stream publisher; none: marks only)."""

    marks: dict[str, dict[str, Any]]
    version: int
    details: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Applied:
    key: str
    item: dict[str, Any] = field(default_factory=dict)  # the lead after the update (plain Python values)
    applied: list[str] = field(default_factory=list)  # event ids applied now
    duplicates: list[str] = field(default_factory=list)  # event ids applied before
    flooded: list[str] = field(default_factory=list)  # event ids not applied: the lead's weekly budget is spent
    redirect: str | None = None  # the key is an alias: apply at this lead instead


@dataclass
class Holdings:
    """Everything the leads table holds about one person: the lead item and the item of every
    other key it is known by (pointers at it, followed transitively)."""

    lead: dict[str, Any]
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return str(self.lead["pk"])

    def keys(self) -> list[str]:
        """The lead's own key first, then every identity's."""
        return [self.key, *sorted(self.identities)]


def identity_keys(item: Mapping[str, Any]) -> set[str]:
    """The other keys an item knows itself by: aliases merged into it and aliases its events named."""
    return {str(k) for k in (*(item.get("merged_from") or ()), *(item.get(IDS) or ()))} - {str(item.get("pk"))}


def points_into(item: Mapping[str, Any], keys: set[str]) -> bool:
    return bool(item) and str(item.get("merged_into") or "") in keys


def gather_holdings(key: str, get: Callable[[str], Mapping[str, Any]],
                    get_many: Callable[[list[str]], Mapping[str, dict[str, Any]]]) -> Holdings | None:
    """Follow `key` to its lead, then gather every key that points at it, transitively (an alias
    merged into an alias), reading with the store's own consistent `get` (one key, `{}` when absent)
    and `get_many` (the items found among the keys). None when there is no such lead."""
    chain: dict[str, dict[str, Any]] = {}
    for _ in range(MAX_HOPS):
        item = dict(get(key))
        if not item:
            return None
        if not item.get("merged_into"):
            break
        chain[key] = item
        key = str(item["merged_into"])
    else:
        return None
    if "n" not in item or not key.startswith(OUR_PREFIXES):
        return None  # not a lead: a tombstone, a team's round-robin counter, a domain's owner item
    holdings = Holdings(item, {})
    known = {key} | set(chain)
    todo = identity_keys(item) | {k for c in chain.values() for k in identity_keys(c)}
    for _ in range(MAX_HOPS):
        todo -= known
        if not todo:
            break
        found = get_many(sorted(todo))
        known |= todo
        todo = set()
        for k, other in found.items():
            if points_into(other, known | set(found)):
                chain[k] = other
                todo |= identity_keys(other)
    holdings.identities = {k: v for k, v in chain.items() if points_into(v, {holdings.key, *chain})}
    return holdings


class LeadReader(Protocol):
    """The leads table as the read API sees it."""

    def find(self, key: str) -> dict[str, Any] | None:
        """The lead item for a key, following merged aliases; None when there is no such lead."""
        ...

    def qualified(self, stage: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` lead items at `stage` (mql, sql, customer), hottest (`heat`) first."""
        ...


class LeadEraser(Protocol):
    """The leads table as erasure and access (GDPR articles 15 and 17) see it."""

    def holdings(self, key: str) -> Holdings | None:
        """The lead of `key` (any of its keys, following merges) and every key it is known by;
        None when there is no such lead."""
        ...

    def erase(self, holdings: Holdings, markers: Mapping[str, str], now: float) -> dict[str, int] | None:
        """Delete the lead item and every pointer at it (None, nothing deleted, when a pointer moved
        meanwhile: read the holdings again), and leave a tombstone `markers[key]` per key (no key in clear) that keeps
        events from before `now` out for TOMBSTONE_S; all in transactions. Counts of what went."""
        ...


class LeadTable(LeadReader, Protocol):
    """The leads table as the worker sees it: every write is conditional, so concurrent
    workers on one lead neither lose an update nor apply an event twice."""

    def apply(self, key: str, pending: Sequence[Pending], now: float, aliases: Sequence[str] = ()) -> Applied:
        """Apply each event once to the lead `key` (duplicates, floods and a merged alias reported);
        `aliases` (the other keys the events name) are added to the lead's `ids`."""
        ...

    def erased_at(self, marker: str, now: float) -> float | None:
        """When the key of this tombstone was erased, if that was less than TOMBSTONE_S ago."""
        ...

    def discard(self, key: str, n: int) -> bool:
        """Delete the lead item `key` if it still holds exactly `n` events (one just created)."""
        ...

    def unlink(self, alias: str, target: str) -> bool:
        """Delete the pointer `alias` if it still points at `target` (a lead that is gone)."""
        ...

    def get(self, key: str) -> dict[str, Any]:
        """The item at `key` as it is now (consistent); `{}` when there is none."""
        ...

    def record_transition(self, key: str, state: LeadState, expected_transitions: int, detail: dict[str, Any],
                          now: float, due_at: int | None = None,
                          triggers: TriggerRecord | None = None) -> tuple[bool, dict[str, Any]]:
        """Write a stage change if the lead's transition counter is still `expected_transitions`:
        (recorded, the lead's item: new when recorded, current when not). `due_at`: when time
        alone next moves the new stage or a trigger needs a look; None removes the due time.
        `triggers`: the trigger marks and firings of the same evaluation, in the same write (and
        on the marks' version too)."""
        ...

    def record_triggers(self, key: str, record: TriggerRecord, expected_transitions: int, expected_events: int,
                        due_at: int | None) -> tuple[bool, dict[str, Any]]:
        """Write trigger marks and firings (no stage change) with the due time `due_at`, if the marks'
        version, the transition counter and the event count are still as read: (recorded, the item)."""
        ...

    def record_feedback(self, key: str, state: LeadState, expected_transitions: int, history: list[dict[str, Any]],
                        expected_feedbacks: int, detail: dict[str, Any] | None, now: float) -> tuple[bool, dict[str, Any]]:
        """Write sales' feedback (pin, recycled mark, the bounded history `history`, the feedback
        counter `fbn`) and, with `detail`, the stage change it made, if the lead's transition counter
        is still `expected_transitions` and its feedback counter `expected_feedbacks`: (recorded,
        the lead's item: new when recorded, current when not)."""
        ...

    def record_recycled(self, key: str, recycled: bool, expected_transitions: int) -> None:
        """Clear or set a lost deal's `recycled` mark (no stage change), on the same condition."""
        ...

    # `record_transition(..., due_at=)` sets the due time with the stage (none given: removed);
    # these set it alone (docs/data-model.md, Due times)

    def bring_forward(self, key: str, due_at: int, expected_transitions: int) -> bool:
        """Set `due_at` if the lead has none or a later one, and its stage has not changed since."""
        ...

    def reschedule(self, key: str, due_at: int | None, expected_transitions: int, expected_events: int) -> bool:
        """Set (None: remove) `due_at` if no event and no stage change reached the lead since it was read."""
        ...

    def due_leads(self, bucket: int, now: float) -> list[str]:
        """Keys of the leads in the ByDue `bucket` whose `due_at` is at or before `now`."""
        ...

    def read_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The items at `keys` as they are now (consistent reads); missing keys are left out."""
        ...

    def assign_owner(self, key: str, team: str, members: Sequence[Mapping[str, Any]], domain: str | None,
                     now: float) -> dict[str, Any] | None:
        """The lead's owner, assigned now if it has none, atomically however many workers assign at once:
        the lead's own owner if it has one; else the owner of its company `domain` item (`dom#…`, None:
        not sticky), the team's counter untouched; else the team's next member (`next_owner` of the
        counter `rr#<team>`), with the counter advanced by exactly one, the lead's `owner` set and the
        domain item created in one transaction, conditioned on what was read (retried on conflict).
        None when the lead is gone or merged."""
        ...

    def link(self, alias: str, target: str, now: float) -> tuple[str, dict[str, Any] | None]:
        """Point `alias` at `target` if it points nowhere yet: (where the alias points,
        its own item when it has history that must be merged first)."""
        ...

    def merge(self, alias_item: dict[str, Any], target: str, target_state: LeadState, now: float) -> bool:
        """Move an alias's history into its lead, exactly once; False when the alias changed meanwhile."""
        ...


def distinct(pending: Sequence[Pending], result: Applied) -> list[Pending]:
    """The same delivery twice in one batch is applied once: later copies are duplicates."""
    todo: list[Pending] = []
    ids: set[str] = set()
    for p in pending:
        if p.event_id in ids:
            result.duplicates.append(p.event_id)
        else:
            ids.add(p.event_id)
            todo.append(p)
    return todo


def newest_facts(todo: Sequence[Pending]) -> dict[str, tuple[float, str, Any]]:
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


def without_older_facts(p: Pending, stored: Mapping[str, Any]) -> Pending:
    """The event's effects minus facts a stored, newer event already set."""
    fx = p.effects
    keep = {}
    for name, value in fx.facts.items():
        old = stored.get(f"f.{name}")
        if old is None or (fx.at, event_hash(fx.event_id)) > (float(old["t"]), str(old["e"])):
            keep[name] = value
    if len(keep) == len(fx.facts):
        return p
    return Pending(replace(fx, facts=keep), p.heat)


def with_facts(p: Pending, keep: Any) -> Pending:
    """The event's effects with only the facts `keep(name)` accepts."""
    return Pending(replace(p.effects, facts={k: v for k, v in p.effects.facts.items() if keep(k)}), p.heat)
