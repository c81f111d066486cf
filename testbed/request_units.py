"""DynamoDB item sizes and request units, and a meter of AWS API calls hooked into botocore.

Write request units follow DynamoDB's rules: 1 WRU per started KB of the larger of the item
before and after; failed conditional writes are billed on the existing item; transactions 2x;
item size = attribute names + values, numbers 1 byte per 2 significant digits + 1, lists/maps
3 bytes + 1 per element. The sizes are read from moto's backend before and after each write
(not through the API, so not counted). GSI writes (a sparse index such as ByStage) are counted
apart: a changed index key is a delete plus a put.

`Meter.before` / `Meter.after` are botocore handlers for `provide-client-params` and
`after-call`: register them on a botocore session before its clients exist (a client copies
its session's handlers when created).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from typing import Any

from leadscore.dev.template import resources

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


def _num_size(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "").strip("0")
    return (max(len(mantissa), 1) + 1) // 2 + 1


def _size_tv(t: str, v: Any) -> int:
    if t == "S":
        return len(v.encode())
    if t == "N":
        return _num_size(str(v))
    if t == "B":
        return len(v)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "SS":
        return sum(len(x.encode()) for x in v)
    if t == "NS":
        return sum(_num_size(str(x)) for x in v)
    if t == "BS":
        return sum(len(x) for x in v)
    if t == "L":
        return 3 + sum(1 + attribute_size(x) for x in v)
    if t == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(x) for k, x in v.items())
    raise ValueError(t)


def attribute_size(x: Any) -> int:
    """One attribute value's size: a moto DynamoType or the wire form {"S": ...}."""
    if hasattr(x, "type"):  # moto's DynamoType
        return _size_tv(x.type, x.value)
    (t, v), = x.items()
    return _size_tv(t, v)


def item_size(attrs: dict[str, Any]) -> int:
    """DynamoDB's item size: UTF-8 attribute names plus values (the rules in the module docstring)."""
    return sum(len(k.encode()) + attribute_size(v) for k, v in attrs.items())


def _kb(size: int, unit: int = 1024) -> int:
    return max(1, math.ceil(size / unit))


class Meter:
    """AWS API calls by operation (and purpose), DynamoDB request units, time spent inside calls."""

    def __init__(self, template: dict[str, Any], table_names: dict[str, str]):
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[ACCOUNT][REGION]
        self.indexes: dict[str, list[tuple[tuple[str, ...], tuple[str, ...] | None]]] = {}  # table -> [(key attrs, projected or None=ALL)]
        for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
            name = table_names.get(logical_id)
            for gsi in table["Properties"].get("GlobalSecondaryIndexes") or []:
                keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
                proj = gsi.get("Projection", {})
                projected = None if proj.get("ProjectionType") == "ALL" else tuple(proj.get("NonKeyAttributes", []))
                self.indexes.setdefault(name, []).append((keys, projected))
        self.active = False
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.writes = self.reads = 0
        self.wru = self.gsi_wru = self.rru = 0.0
        self.eb_entries = 0
        self.call_s = 0.0
        self.wru_by: Counter[str] = Counter()
        self.redirects = 0  # failed applies whose old item was an alias pointer (ALL_OLD has merged_into)
        self.merged_in_batch = False  # a merge transaction succeeded earlier in this batch

    # botocore handlers -------------------------------------------------------

    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return None
        t0 = time.perf_counter()
        snapshot = None
        if model.service_model.service_name == "dynamodb":
            snapshot = [(table, key, self._state(table, key)) for table, key, write in self._targets(model.name, params) if write]
        context["meter"] = (t0, params, snapshot)
        return None

    def after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        info = context.pop("meter", None)
        if info is None:
            return
        t0, params, snapshot = info
        op, service = model.name, model.service_model.service_name
        label = f"{service}.{op}[{self.purpose(op, params)}]"
        self.calls[label] += 1
        error = (parsed.get("Error") or {}).get("Code") if http_response.status_code >= 300 else None
        if error:
            self.failed[f"{label}:{error}"] += 1
        if op == "TransactWriteItems" and not error:
            self.merged_in_batch = True
        if service == "dynamodb":
            before = self.wru + self.gsi_wru
            self._units(op, params, parsed, snapshot, error)
            self.wru_by[label] += self.wru + self.gsi_wru - before
            if error and label.endswith("[apply]") and "merged_into" in (parsed.get("Item") or {}):
                self.redirects += 1
        elif service == "eventbridge" or op == "PutEvents":
            self.eb_entries += len(params.get("Entries", []))
        self.call_s += time.perf_counter() - t0

    # what a call is for -------------------------------------------------------

    def purpose(self, op: str, params: dict[str, Any]) -> str:
        table = params.get("TableName", "")
        if "idempotency" in table:
            return "idempotency"
        if "naive" in table:
            return "naive-lead" if op != "PutItem" or "state" in params.get("Item", {}) else "naive-alias"
        if op == "UpdateItem":
            names = set(params.get("ExpressionAttributeNames", {}).values())
            expression = params.get("UpdateExpression", "")
            if expression == "SET #r = :keep":
                return "trim-recent"
            if "n" in names and "last_at" in names:
                return "apply"
            if "stage_at" in names:
                return "record-transition"
            if names and all(n.startswith("f.") or n in ("t", "e") for n in names):
                return "facts-only"
            if "recycled" in names:
                return "record-recycled"
            return "update"
        if op == "PutItem":
            return "link-alias"
        if op == "TransactWriteItems":
            return "merge"
        if op == "GetItem":
            return "read-after-merge" if self.merged_in_batch else "read"
        if op == "PutEvents":
            return f"{len(params.get('Entries', []))} entries"
        return "-"

    # request units ----------------------------------------------------------------

    def _targets(self, op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key, is a write) of every item the call touches."""
        if op in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], True)]
        if op == "PutItem":
            return [(params["TableName"], self._key_of(params["TableName"], params["Item"]), True)]
        if op == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                key = body["Key"] if "Key" in body else self._key_of(body["TableName"], body["Item"])
                out.append((body["TableName"], key, True))
            return out
        if op == "BatchWriteItem":
            out = []
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    if "PutRequest" in r:
                        out.append((table, self._key_of(table, r["PutRequest"]["Item"]), True))
                    else:
                        out.append((table, r["DeleteRequest"]["Key"], True))
            return out
        if op == "GetItem":
            return [(params["TableName"], params["Key"], False)]
        return []

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        t = self._backend.get_table(table)
        names = [t.hash_key_attr] + ([t.range_key_attr] if t.range_key_attr else [])
        return {n: item[n] for n in names}

    def _state(self, table: str, key: dict[str, Any]) -> tuple[int, list[Any]]:
        """(size, index entries) of the stored item, read from moto's backend (not an API call)."""
        item = self._backend.get_item(table, key)
        if item is None:
            return 0, [None] * len(self.indexes.get(table, []))
        attrs = item.attrs
        entries = []
        for keys, projected in self.indexes.get(table, []):
            if not all(k in attrs for k in keys):
                entries.append(None)
                continue
            names = list(key) + list(keys) + (list(projected) if projected is not None else [k for k in attrs if k not in key and k not in keys])
            entry = {n: attrs[n] for n in dict.fromkeys(names) if n in attrs}
            entries.append((tuple(json.dumps(attrs[k].to_regular_json(), sort_keys=True) for k in keys),
                            json.dumps({n: v.to_regular_json() for n, v in entry.items()}, sort_keys=True), item_size(entry)))
        return item_size(attrs), entries

    def _units(self, op: str, params: dict[str, Any], parsed: dict[str, Any], snapshot: list[Any], error: str | None) -> None:
        if op in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"):
            if op == "GetItem":
                self.reads += 1
                size = item_size(parsed.get("Item") or {})
                self.rru += _kb(size, 4096) * (1.0 if params.get("ConsistentRead") else 0.5)
            elif op in ("Query", "Scan"):
                self.reads += 1
                size = sum(item_size(i) for i in parsed.get("Items", []))
                self.rru += _kb(size, 4096) * (1.0 if params.get("ConsistentRead") else 0.5)
            else:
                items = params.get("TransactItems") or [k for t in params.get("RequestItems", {}).values() for k in t["Keys"]]
                self.reads += len(items)
                self.rru += 2 * len(items) if op == "TransactGetItems" else len(items)  # small items: one unit each
            return
        if not snapshot:
            return
        factor = 2 if op == "TransactWriteItems" else 1
        for table, key, (before, before_idx) in snapshot:
            self.writes += 1
            after, after_idx = self._state(table, key)
            if error:  # a failed condition is billed on the existing item
                self.wru += factor * _kb(before)
                continue
            self.wru += factor * _kb(max(before, after))
            for b, a in zip(before_idx, after_idx, strict=True):
                if b is None and a is None:
                    continue
                if b is None:
                    self.gsi_wru += _kb(a[2])
                elif a is None:
                    self.gsi_wru += _kb(b[2])
                elif a[0] != b[0]:  # the index key moved: delete the old entry, put the new one
                    self.gsi_wru += _kb(b[2]) + _kb(a[2])
                elif a[1] != b[1]:
                    self.gsi_wru += _kb(a[2])
