"""The mapping file: how a CSV of historical leads becomes facts, events and an outcome.

```yaml
id: Prospect ID                      # optional: the lead's id column (without it: row-1, row-2, ...)
outcome: {column: Converted, positive: ["1"]}
created_at: Created                  # optional: when the lead came in (ISO dates)
converted_at: Won At                 # optional: when it converted (time to conversion)
missing: ["", "Select"]              # values that mean "not answered", in every column
exclude:                             # columns never used, with the reason (leaks, ids, ...)
  - {column: Tags, reason: "filled in by sales after contact: carries the outcome"}
facts:                               # who the lead is: fit rules
  - {column: Lead Source, fact: lead_source, lowercase: true}
  - {column: Page Views Per Visit, fact: pages_per_visit, numeric: true}
events:                              # what the lead did: engagement rules
  - {column: TotalVisits, event: site_visit, kind: count}      # n events
  - {column: Total Time Spent on Website, event: time_on_site, kind: amount}  # one event, amount = value
  - {column: Last Activity, kind: category,                     # one event, its type from the value
     at: Last Activity Date,                                    # optional: when (default: created_at)
     ignore: {SMS Sent: "sent by sales after contact"}}
```

Validated with pydantic; errors name the file, the line and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

_SNAKE = re.compile(r"[^a-z0-9]+")
_IDENT = r"^[a-z][a-z0-9_]{0,63}$"


def snake(text: str) -> str:
    """`Email Opened` → `email_opened`; a leading digit gets a `v_` prefix."""
    out = _SNAKE.sub("_", text.strip().lower()).strip("_") or "blank"
    return out if out[0].isalpha() else f"v_{out}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(_Strict):
    column: str
    positive: list[str] = Field(min_length=1, description="values meaning the lead converted")


class Excluded(_Strict):
    column: str
    reason: str = Field(min_length=3)


class FactColumn(_Strict):
    column: str
    fact: str = Field(pattern=_IDENT)
    numeric: bool = False
    lowercase: bool = False  # treat Google and google as one value
    missing: list[str] = Field(default_factory=list)  # more "not answered" values for this column


class EventColumn(_Strict):
    column: str
    kind: Literal["count", "amount", "category"]
    event: str | None = Field(default=None, pattern=_IDENT)  # count/amount: the event type
    prefix: str = ""  # category: event type = prefix + snake(value)
    ignore: dict[str, str] = Field(default_factory=dict)  # category values not used, value -> reason
    missing: list[str] = Field(default_factory=list)
    at: str | None = None  # a date column: when this column's events happened (default: created_at)

    @model_validator(mode="after")
    def _event_named(self) -> EventColumn:
        if self.kind in ("count", "amount") and not self.event:
            raise ValueError(f"a {self.kind} column needs `event`, the event type it becomes")
        if self.kind == "category" and self.event:
            raise ValueError("a category column takes its event types from its values: give `prefix`, not `event`")
        return self

    def event_type(self, value: str) -> str:
        return self.event if self.event else f"{self.prefix}{snake(value)}"[:64]


class Mapping(_Strict):
    id: str | None = None  # None: leads are numbered row-1, row-2, ... in file order
    outcome: Outcome
    created_at: str | None = None
    converted_at: str | None = None
    missing: list[str] = Field(default_factory=lambda: [""])
    exclude: list[Excluded] = Field(default_factory=list)
    facts: list[FactColumn] = Field(default_factory=list)
    events: list[EventColumn] = Field(default_factory=list)
    half_life_days: float = Field(default=30, gt=0)  # of the engagement rules calibrate writes
    min_category_leads: int | None = Field(default=None, ge=1)  # calibrate: leads a value needs for a rule (default: chosen by cross-validation)
    cv_folds: int = Field(default=5, ge=3, le=10)  # calibrate: folds of every cross-validation (3 is quicker, 5 steadier)

    @model_validator(mode="after")
    def _columns_once(self) -> Mapping:
        used = [c.column for c in self.facts] + [c.column for c in self.events]
        doubled = sorted({c for c in used if used.count(c) > 1})
        if doubled:
            raise ValueError(f"a column can be used once: {', '.join(doubled)}")
        if not used:
            raise ValueError("map at least one column to a fact or an event")
        return self

    _source: str = PrivateAttr(default="mapping")
    _text: str = PrivateAttr(default="")

    def where(self, *loc: Any) -> str:
        """`file:line` of a key of the mapping file (the file alone when it has no such key)."""
        line = _line_of(self._text, loc) if self._text else None
        return f"{self._source}:{line}" if line else self._source

    def feature_columns(self) -> list[str]:
        return [c.column for c in self.facts] + [c.column for c in self.events]

    def leaks(self) -> list[str]:
        """Problems that make learning from this mapping wrong: a used column that is also
        excluded (told to leak), or the outcome (or id) used as a feature."""
        problems = []
        excluded = {e.column: e.reason for e in self.exclude}
        for column in self.feature_columns():
            if column in excluded:
                problems.append(f"column {column!r} is used but excluded: {excluded[column]}")
            if column == self.outcome.column:
                problems.append(f"column {column!r} is the outcome: it cannot be a feature")
            if self.id and column == self.id:
                problems.append(f"column {column!r} is the lead id: it cannot be a feature")
        return problems


class MappingError(Exception):
    pass


def _node_at(text: str, path: tuple[Any, ...]) -> Any:
    """The YAML node at `path` (or the deepest one on the way), from the composed node tree."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if k.value == part]
            if not found:
                break
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node


def _line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """The line of a YAML node, by walking the composed node tree along `path`."""
    node = _node_at(text, path)
    return node.start_mark.line + 1 if node is not None else None


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise MappingError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping file is a YAML object (id, outcome, facts, events, ...)")
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            line = _line_of(text, loc)
            field = ".".join(str(p) for p in loc) or "(top)"
            lines.append(f"{path}:{line or 1}: {field}: {_not_text(text, loc, error) or error['msg']}")
        raise MappingError("\n".join(lines)) from None
    mapping._source, mapping._text = str(path), text
    return mapping




def _not_text(text: str, loc: tuple[Any, ...], error: dict[str, Any]) -> str | None:
    """For a value YAML read as something other than text (`yes`, `no`, `on`, `1`, `2026-01-01`),
    what it read and how to quote it: the usual mistake in `positive: [yes]`."""
    if error["type"] != "string_type" or not isinstance(error.get("input"), (bool, int, float)) or not loc:
        return None
    node = _node_at(text, loc)
    if not isinstance(node, yaml.ScalarNode) or node.style:  # quoted already: not this mistake
        return None
    read = str(error["input"]).lower() if isinstance(error["input"], bool) else f"the number {error['input']}"
    said = f"YAML reads {node.value} as {read}, not text"
    parent = _node_at(text, loc[:-1])
    if isinstance(loc[-1], int) and isinstance(parent, yaml.SequenceNode) and len(loc) >= 2:
        items = ", ".join(f"'{v.value}'" if isinstance(v, yaml.ScalarNode) else "..." for v in parent.value)
        return f"{said}: quote it: `{loc[-2]}: [{items}]`"
    return f"{said}: quote it: `{loc[-1]}: '{node.value}'`"
