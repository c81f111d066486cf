"""A lead item as DynamoDB holds it, and as the engine reads it.

- DynamoDB JSON (`{"N": "1.5"}`, `{"SS": [...]}`, ...) to Python values and back,
  with the same types and number rules as boto3's `TypeSerializer`/`TypeDeserializer`
  (numbers as `Decimal`, 38 significant digits, sets as sets), written here so the
  worker does not import boto3 (and s3transfer with it) for two small functions;
- an item's attributes to the engine's `LeadState` (`state_of`);
- the recorded transition's compressed detail (`pack_detail`, `unpack_detail`).

The attributes themselves are described in docs/data-model.md.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

from scoring_core import Fact, LeadState

# DynamoDB's number range and precision: a number it would round or refuse is refused here
NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
# The transition a write recorded, for the stream publisher (functions/publish): set by
# `record_transition`, removed by the lead's next apply, so it is in the item's new stream
# image only when a write put it there (docs/data-model.md, Stage transitions).
OUTBOX = "ob"
# The triggers a write fired (`LeadTriggered` details, a compressed JSON list), beside `ob` and
# kept the same way: set by the write that records the firings, removed by the lead's next apply.
TRIGGER_OUTBOX = "ot"
# Per trigger, its matching events (`g.<trigger>`, SS of "<ms>|<tag>"), and every trigger's mark
# (`tm`, a map trigger -> {k, e, up, c, n}) with its version `tv` (each write of `tm` conditional on it).
HITS_PREFIX, TRIGGER_MARKS, TRIGGER_VERSION = "g.", "tm", "tv"


def _number(value: int | Decimal) -> str:
    text = str(NUMBERS.create_decimal(value))
    if text in ("Infinity", "-Infinity", "NaN", "-NaN", "sNaN"):
        raise TypeError(f"DynamoDB numbers are finite: {text}")
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _decimals(value: Any) -> Any:
    """Floats as the Decimals of their shortest repr (a non-finite float is NULL); recursively."""
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def to_attribute(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value; floats become exact Decimals first."""
    return _serialize(_decimals(value))


def _serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, (set, frozenset)):
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": [bytes(v) for v in value]}
        raise TypeError("a set holds numbers, strings or bytes, one kind only")
    if isinstance(value, Mapping):
        return {"M": {str(k): _serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_serialize(v) for v in value]}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as Python: N as Decimal, sets as sets, B as bytes."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return NUMBERS.create_decimal(value)
    if kind == "B":
        return bytes(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {NUMBERS.create_decimal(v) for v in value}
    if kind == "BS":
        return {bytes(v) for v in value}
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    raise TypeError(f"unknown DynamoDB type {kind}")


def deserialize(item: Mapping[str, Any] | None) -> dict[str, Any]:
    """An item in DynamoDB JSON as a dict of Python values (an absent item is `{}`)."""
    return {k: from_attribute(v) for k, v in (item or {}).items()}


def plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int/float; sets to sorted lists, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value


def pack_detail(detail: dict[str, Any]) -> bytes:
    """A recorded transition: its JSON, zlib-compressed (a binary attribute). While it is on the
    item, every write is billed for it: 1,261 bytes of JSON become about 530."""
    return zlib.compress(json.dumps(detail, separators=(",", ":")).encode("utf-8"), 9)


def unpack_detail(value: Any) -> dict[str, Any]:
    raw = getattr(value, "value", value)  # boto3's Binary wraps the bytes
    result: dict[str, Any] = json.loads(zlib.decompress(bytes(raw)))
    return result


def pack_details(details: list[dict[str, Any]]) -> bytes:
    """The firings one write recorded: a JSON list, zlib-compressed."""
    return zlib.compress(json.dumps(details, separators=(",", ":")).encode("utf-8"), 9)


def unpack_details(value: Any) -> list[dict[str, Any]]:
    raw = getattr(value, "value", value)
    result = json.loads(zlib.decompress(bytes(raw)))
    if not isinstance(result, list):
        raise ValueError("not a list of firings")
    return result


def trigger_hits(item: Mapping[str, Any], triggers: Iterable[str] | None = None) -> dict[str, set[str]]:
    """Each trigger's stored matching events (`g.<trigger>`); only those of `triggers` when given."""
    if triggers is not None:
        return {t: set(value) for t in triggers if (value := item.get(f"{HITS_PREFIX}{t}"))}
    return {name[len(HITS_PREFIX):]: {str(v) for v in value} for name, value in item.items()
            if name.startswith(HITS_PREFIX) and value}


def trigger_marks(item: Mapping[str, Any]) -> dict[str, Any]:
    """Each trigger's mark as stored (plain values; `scoring_core.triggers.Mark.of_item` reads one)."""
    marks = item.get(TRIGGER_MARKS)
    return {str(k): plain(v) for k, v in marks.items()} if isinstance(marks, dict) else {}


def recent_order(entry: Any) -> tuple[float, str]:
    """A `recent` entry's sort key: (when, event hash)."""
    at, event_id = str(entry).split("|", 2)[:2]
    return float(at), event_id


def state_of(item: Mapping[str, Any]) -> LeadState:
    """The engine's state of a lead item."""
    st = LeadState()
    for name, value in item.items():
        if name.startswith("a."):
            rule, _, era = name[2:].rpartition(".")
            st.acc[(rule, int(era))] = int(value)
        elif name.startswith("o."):
            st.occurrences[name[2:]] = {int(v) for v in value}
        elif name.startswith("f."):
            st.facts[name[2:]] = Fact(float(value["t"]), str(value["e"]), plain(value.get("v")))
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
