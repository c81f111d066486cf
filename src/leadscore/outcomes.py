"""`leadscore outcomes export`: the leads table as a CSV of outcomes and the mapping that
`leadscore calibrate` and `leadscore backtest` read (docs/calibration.md, Outcomes from the live table).

Each lead item becomes one row: its facts, its events per type (`c.<type>`), first and
last seen, and an outcome:

- `converted`: the latest sales feedback is `won`, or the lead is a `customer`;
- `not_converted`: the latest feedback is `lost` or `rejected`, or the lead is `disqualified`;
- `unknown`: anything else (still a lead, an MQL or SQL in progress, `accepted`). Left out by
  default (`unknown="skip"`); `unknown="negative"` keeps them as non-converters.

Pointers (merged aliases) and erasure tombstones are no leads and are skipped. Personal data
stays out unless asked for: no email, no name-like facts (`PERSONAL_FACTS`); an `e:` lead id is
a keyed hash already, a `u:`/`v:` id (the sender's own) is replaced by a digest of it.

The table is read by a parallel Scan: calibration needs every lead, and the `ByStage` index holds
only qualified ones. It runs offline, on demand, with eventually consistent reads that use read
capacity only (the worker's writes are not slowed); docs/calibration.md argues it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .adapters.leads.codec import deserialize, plain

CSV_NAME, MAPPING_NAME = "outcomes.csv", "mapping.yaml"
CONVERTED, NOT_CONVERTED, UNKNOWN = "converted", "not_converted", "unknown"
POSITIVE_FEEDBACK, NEGATIVE_FEEDBACK = frozenset({"won"}), frozenset({"lost", "rejected"})
#: facts that name or reach the person: left out unless `personal=True`
PERSONAL_FACTS = frozenset({"first_name", "last_name", "name", "full_name", "email", "phone", "phone_number",
                            "mobile", "address", "street", "linkedin", "linkedin_url", "twitter"})
#: event counts that are the outcome itself, not evidence for it (excluded in the mapping)
OUTCOME_EVENTS = {"purchase": "a purchase makes the lead a customer: it is the outcome",
                  "opt_out": "an opt-out disqualifies the lead: it is the outcome",
                  "other": "custom event types counted together: no one type the live engine could score"}


def outcome_of(item: dict[str, Any]) -> tuple[str, float | None]:
    """(outcome, when it was reached) of a lead item: the latest feedback decides, then the stage."""
    feedback = sorted(item.get("fb") or [], key=lambda f: float(f.get("at") or 0))
    for entry in reversed(feedback):
        said = str(entry.get("outcome"))
        if said in POSITIVE_FEEDBACK:
            return CONVERTED, float(entry.get("at") or 0) or None
        if said in NEGATIVE_FEEDBACK:
            return NOT_CONVERTED, float(entry.get("at") or 0) or None
    stage = item.get("stage")
    at = float(item["stage_at"]) if item.get("stage_at") is not None else None
    if stage == "customer":
        return CONVERTED, at
    if stage == "disqualified":
        return NOT_CONVERTED, at
    return UNKNOWN, None


def is_lead(item: dict[str, Any]) -> bool:
    """A lead's own item: not a merged alias's pointer, not an erasure's tombstone."""
    return str(item.get("pk", ""))[:2] in ("e:", "u:", "v:") and not item.get("merged_into") and "n" in item


def public_id(key: str) -> str:
    """The lead's id as the CSV shows it: an `e:` key as it is (a keyed hash), others as a digest."""
    return key if key.startswith("e:") else "h:" + hashlib.sha256(key.encode()).hexdigest()[:26]


def _iso(t: Any) -> str:
    return "" if t is None else datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


@dataclass
class Export:
    rows: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {CONVERTED: 0, NOT_CONVERTED: 0, UNKNOWN: 0})
    skipped_unknown: int = 0
    csv_path: Path | None = None
    mapping_path: Path | None = None


def scan_leads(client: Any, table: str, segments: int = 4) -> Iterator[dict[str, Any]]:
    """Every item of the table (plain values), by a parallel Scan of `segments` segments."""

    def segment(i: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": table, "Segment": i, "TotalSegments": segments}
        while True:
            page = client.scan(**request)
            items += [deserialize(raw) for raw in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for items in pool.map(segment, range(segments)):
            yield from items


def export(items: Iterable[dict[str, Any]], out: Path, *, unknown: str = "skip", personal: bool = False,
           log: Callable[[str], None] = lambda _: None) -> Export:
    """Write `out/outcomes.csv` and `out/mapping.yaml` from lead items."""
    result = Export()
    rows: list[dict[str, str]] = []
    facts: dict[str, bool] = {}  # fact -> every value numeric
    types: set[str] = set()
    for item in items:
        if not is_lead(item):
            continue
        outcome, reached = outcome_of(item)
        result.outcomes[outcome] += 1
        if outcome == UNKNOWN and unknown == "skip":
            result.skipped_unknown += 1
            continue
        row = {"lead_id": public_id(str(item["pk"])), "outcome": outcome, "stage": str(item.get("stage") or "lead"),
               "first_seen": _iso(item.get("first_at")), "last_seen": _iso(item.get("last_at")),
               "converted_at": _iso(reached) if outcome == CONVERTED else "", "events_total": str(int(item.get("n") or 0))}
        if personal:
            row["email"] = str(item.get("email") or "")
        for name, value in item.items():
            if name.startswith("c."):
                types.add(name[2:])
                row[f"events_{name[2:]}"] = str(int(value))
            elif name.startswith("f."):
                fact = name[2:]
                v = plain((value or {}).get("v"))
                if v is None or (fact in PERSONAL_FACTS and not personal):
                    continue
                numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
                facts[fact] = facts.get(fact, True) and numeric
                row[f"fact_{fact}"] = _cell(v)
        rows.append(row)

    out.mkdir(parents=True, exist_ok=True)
    fixed = ["lead_id", "outcome", "stage", "first_seen", "last_seen", "converted_at", "events_total"]
    columns = fixed + (["email"] if personal else []) + [f"events_{t}" for t in sorted(types)] + \
        [f"fact_{f}" for f in sorted(facts)]
    result.csv_path, result.mapping_path = out / CSV_NAME, out / MAPPING_NAME
    with result.csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            # an event type the lead never had is a count of 0, not "not answered"
            writer.writerow({**{f"events_{t}": "0" for t in types}, **row})
    result.rows = len(rows)
    result.mapping_path.write_text(mapping_yaml(sorted(types), facts, personal, unknown), encoding="utf-8")
    log(f"{result.rows} leads written ({result.outcomes[CONVERTED]} converted, {result.outcomes[NOT_CONVERTED]} not, "
        f"{result.outcomes[UNKNOWN]} unknown{', left out' if unknown == 'skip' else ', counted as not converted'})")
    return result


def mapping_yaml(types: list[str], facts: dict[str, bool], personal: bool, unknown: str) -> str:
    """The mapping of the CSV `export` writes (docs/calibration.md, The mapping file)."""
    import yaml  # type: ignore[import-untyped]  # (no stubs in the lock)

    exclude = [
        {"column": "stage", "reason": "the lead's stage now: customer and disqualified are the outcome"},
        {"column": "last_seen", "reason": "activity after the outcome is known: it would leak"},
        {"column": "events_total", "reason": "the sum of the event columns, not an event of its own"},
    ]
    if personal:
        exclude.append({"column": "email", "reason": "personal data, not a feature"})
    exclude += [{"column": f"events_{t}", "reason": OUTCOME_EVENTS[t]} for t in types if t in OUTCOME_EVENTS]
    mapping = {
        "id": "lead_id",
        "outcome": {"column": "outcome", "positive": [CONVERTED]},
        "created_at": "first_seen",
        "converted_at": "converted_at",
        "missing": [""],
        "exclude": exclude,
        "facts": [{"column": f"fact_{f}", "fact": f, **({"numeric": True} if numeric else {"lowercase": True})}
                  for f, numeric in sorted(facts.items())],
        "events": [{"column": f"events_{t}", "kind": "count", "event": t} for t in types if t not in OUTCOME_EVENTS],
    }
    head = ("# written by `leadscore outcomes export` with its CSV (docs/calibration.md, Outcomes from the live table)\n"
            f"# unknown outcomes: {'left out' if unknown == 'skip' else 'counted as not converted'}\n")
    return head + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True)
