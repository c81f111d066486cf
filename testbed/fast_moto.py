"""Speed-ups of moto's DynamoDB emulation that change no result for a valid request.

moto is in-process and single-threaded: fine for counting calls and units, slow for a stream
of 10,000 events. `faster_moto()` patches a few of its internals (see its docstring) so a
benchmark fits its time budget; `exact_moto()` puts moto back as installed. Benchmarks take
`--exact-moto` to run without them (the same tables, only slower); the tests run moto as
installed except where they check that these patches change nothing (tests/unit/test_testbed_fast_moto.py).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

_MISSING = object()
_undo: list[tuple[Any, str, Any]] = []  # (owner, attribute, what it was) for each patch, in order


def _patch(owner: Any, name: str, value: Any) -> None:
    _undo.append((owner, name, vars(owner).get(name, _MISSING)))
    setattr(owner, name, value)


def exact_moto() -> None:
    """moto as installed again: every patch of `faster_moto` undone, last first."""
    while _undo:
        owner, name, saved = _undo.pop()
        if saved is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, saved)


def faster_moto() -> None:
    """Speed up moto's DynamoDB emulation without changing any result for a valid request, so the
    benchmark fits its time budget (the counts do not depend on these; timings inside calls are moto's anyway):
    - an UpdateExpression string is parsed once for moto's own checks, and a validator gets a fresh
      parse instead of a deep copy of the tree (cheaper, the same tree);
    - checks that only reject invalid requests are skipped (one SET/ADD/REMOVE clause, overlapping
      paths, key attributes, type mismatches, empty key values: `exact_moto()` and `--exact-moto` keep them, and a
      run with them gives the identical tables), and each traverser's processing map is built once;
    - a response class's method names are listed once, not on every request;
    - a GetItem/PutItem/UpdateItem result is sent as its JSON (what the protocol's serializer
      produces from it, checked against it for the first 50 responses of each operation);
    - a transaction backs up the items it touches instead of deep-copying every table it names
      (which grows with the table: tens of ms per merge by the end of the run)."""
    if _undo:  # already faster
        return
    from functools import lru_cache

    from moto.dynamodb import models
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from moto.core import responses as core_responses

    _patch(core_responses, "method_names_from_class", lru_cache(maxsize=None)(core_responses.method_names_from_class))  # per request, per class
    parse = UpdateExpressionParser.make.__func__

    @lru_cache(maxsize=8192)
    def make(cls: Any, text: str) -> Any:
        tree = parse(cls, text)
        tree.fast_moto_text = text  # a cached tree is only ever read: validators work on copies
        return tree

    _patch(UpdateExpressionParser, "make", classmethod(make))
    real_deepcopy = validators.deepcopy
    # a validator works on its own copy of the tree: parsing the text again is cheaper than deep-copying
    _patch(validators, "deepcopy", lambda x, memo=None: (parse(UpdateExpressionParser, x.fast_moto_text) if hasattr(x, "fast_moto_text")
                                                        else real_deepcopy(x, memo)))

    checks_only = (validators.ActionCountValidator, validators.OverlappingPathsValidator, validators.UpdateHashRangeKeyValidator,
                   validators.TypeMismatchValidator, validators.EmptyStringKeyValueValidator)
    processors = validators.UpdateExpressionValidator.get_ast_processors
    _patch(validators.UpdateExpressionValidator, "get_ast_processors",
           lambda self: [p for p in processors(self) if not isinstance(p, checks_only)])

    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    def processing_map(self: Any) -> dict[Any, Any]:  # built once per traverser, not once per node
        cached = self.__dict__.get("_fast_moto_map")
        if cached is None:
            cached = self.__dict__["_fast_moto_map"] = type(self)._processing_map(self)
        return cached

    _patch(DepthFirstTraverser, "nodes_to_be_processed", lambda self: tuple(processing_map(self)))
    _patch(DepthFirstTraverser, "process",
           lambda self, node: next(f(node) for cls, f in processing_map(self).items() if isinstance(node, cls)))

    from moto.dynamodb.responses import DynamoResult

    serialize = DynamoResult.execute_result
    checked: Counter[str] = Counter()
    headers_of: dict[str, dict[str, str]] = {}

    def execute_result(self: Any, context: Any) -> Any:
        """DynamoDB's JSON protocol: a plain result dict is its own response body. Checked against
        moto's serializer for the first responses of each operation."""
        op = context.operation_model.name
        if op not in ("GetItem", "PutItem", "UpdateItem") or not isinstance(self.result, dict):
            return serialize(self, context)
        try:
            body = json.dumps(self.result)
        except TypeError:  # binary values: base64 is the serializer's job
            return serialize(self, context)
        if checked[op] < 50:
            checked[op] += 1
            status, headers, expected = serialize(self, context)
            if status != 200 or json.loads(expected) != json.loads(body):
                raise AssertionError(f"fast {op} response differs from moto's")
            headers_of[op] = dict(headers)
            return status, headers, body
        return 200, dict(headers_of[op]), body

    _patch(DynamoResult, "execute_result", execute_result)

    original = models.DynamoDBBackend.transact_write_items
    real_copy = models.copy

    class _Copy:  # moto's module-level `copy`, minus deep copies of whole tables
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, models.Table) else real_copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            (_, op), = entry.items()
            table = self.get_table(op["TableName"])
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            hash_key, range_key = self.get_keys_value(table, key)
            saved.append((table, hash_key, range_key, real_copy.deepcopy(table.get_item(hash_key, range_key))))
        models.copy = _Copy
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):  # roll back what the transaction touched
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items.setdefault(hash_key, {})[range_key] = item
            raise
        finally:
            models.copy = real_copy

    _patch(models.DynamoDBBackend, "transact_write_items", transact_write_items)
