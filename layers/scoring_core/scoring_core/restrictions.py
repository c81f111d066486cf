"""What only a trusted sender may say: the events that make a lead a customer or disqualify it,
and the money an event carries (docs/ingest.md, Trust levels).

Computed from the model, never listed by hand: every event type a rule with `stage:` (customer)
or a disqualifier with `on:` names is *restricted*; a disqualifier on `*` restricts every event
its conditions match; the properties the model multiplies points by (`points_per.field`), and
`amount`, `total`, `revenue` and `value`, are *money*.

Read from the model file's YAML as the loader reads it (`scoring_core.document`), not through the
validating `ScoringModel`: the tracking pixel calls this on a cold start, where pydantic's model
schema would cost about as much again as the event model, and the worker validates the same file
(`tests/unit/test_restrictions.py` checks this reading against the validated model). Pure: no I/O
but reading the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .conditions import Getter, Test, event_getter, operator_test

#: Properties that carry money on any event, whatever the model reads (Segment's e-commerce spec
#: names the amount `total`, `revenue` or `value`; ours is `amount`).
MONEY_PROPERTIES = frozenset({"amount", "total", "revenue", "value"})
WILDCARD = "*"


@dataclass(frozen=True)
class Restrictions:
    """`types`: event types only a trusted sender may send; `conditional`: (rule id, tests) of the
    flag rules on `*`, which restrict an event their tests all accept; `money`: property names."""

    types: frozenset[str]
    conditional: tuple[tuple[str, tuple[tuple[Getter, Test], ...]], ...]
    money: frozenset[str]

    def forbids(self, event: Any) -> bool:
        """True when `event` would make a lead a customer or disqualify it."""
        if event.type in self.types:
            return True
        return any(all(test(get(event)) for get, test in tests) for _, tests in self.conditional)

    def without_money(self, properties: dict[str, Any]) -> dict[str, Any]:
        """`properties` without the money ones (the same dict when it has none)."""
        if self.money.isdisjoint(properties):
            return properties
        return {k: v for k, v in properties.items() if k not in self.money}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _operators(condition: Any) -> dict[str, Any]:
    # the model's shorthand: `field: value` is eq, `field: [a, b]` is in
    if isinstance(condition, list):
        return {"in": condition}
    if isinstance(condition, dict):
        return condition
    return {"eq": condition}


def restrictions(document: dict[str, Any]) -> Restrictions:
    """The restrictions of a model document (the YAML as loaded)."""
    types: set[str] = set()
    conditional = []
    money = set(MONEY_PROPERTIES)
    flagging = [r for r in document.get("engagement") or [] if isinstance(r, dict) and r.get("stage")]
    flagging += [r for r in document.get("disqualifiers") or [] if isinstance(r, dict) and r.get("on") is not None]
    for rule in flagging:
        on = _as_list(rule.get("on"))
        if WILDCARD in on:
            tests = tuple((event_getter(name), operator_test(op, arg))
                          for name, cond in (rule.get("when") or {}).items()
                          for op, arg in _operators(cond).items())
            conditional.append((str(rule.get("id")), tests))
        else:
            types.update(on)
    for rule in document.get("engagement") or []:
        per = rule.get("points_per") if isinstance(rule, dict) else None
        if isinstance(per, dict) and isinstance(per.get("field"), str):
            field = per["field"]
            money.add(field.split(".", 1)[1].split(".")[0] if field.startswith("properties.") else field.split(".")[0])
    return Restrictions(frozenset(types), tuple(conditional), frozenset(money))


def load_restrictions(path: str | Path | None = None) -> Restrictions:
    """The restrictions of a model file (None: the shipped default model)."""
    from .document import read_document

    if path is None:  # the loader's DEFAULT_MODEL, named here so as not to import the loader's pydantic models
        text = resources.files(__package__).joinpath("models", "default.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    document = read_document(text)[0]
    return restrictions(document if isinstance(document, dict) else {})
