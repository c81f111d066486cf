"""Load a model file, reporting every problem as `file:line:col: message`.

PyYAML's node tree keeps the position of every key and value; we build the
plain data ourselves from it (so duplicate keys are caught, which PyYAML
silently overwrites) and remember where each path came from, then map
pydantic's error locations back to lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FsPath
from typing import Any, TypeVar

import yaml  # type: ignore[import-untyped]  # (no stubs in the lock)
from pydantic import BaseModel, ValidationError

from .document import Path, _Marks, read_document
from .model import OPERATORS, TRIGGER_KINDS, ScoringModel, semantic_errors

DEFAULT_MODEL = "default.yaml"


@dataclass(frozen=True)
class ModelError:
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ModelFileError(Exception):
    """A model file that cannot be used; `errors` lists each problem with its position."""

    def __init__(self, errors: list[ModelError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _locate(loc: tuple[Any, ...], marks: _Marks) -> tuple[Path, list[Any]]:
    """The longest prefix of a pydantic location that exists in the file, and the rest."""
    found: Path = ()
    rest: list[Any] = []
    for part in loc:
        if part == "in_":
            part = "in"
        if part == "[key]":  # a mapping key failed: the rest names it
            rest.append(part)
            continue
        if len(found) == 2 and found[0] == "triggers" and part in TRIGGER_KINDS and not rest:
            continue  # the discriminated union's tag: the trigger's own keys follow
        candidate = found + (part,)
        if not rest and (candidate in marks.value or candidate in marks.key):
            found = candidate
        else:
            rest.append(part)
    return found, rest


def _message(err: dict[str, Any], found: Path, rest: list[Any]) -> tuple[str, bool]:
    """A readable message, and whether it is about a key (position of the key) or a value."""
    kind = err["type"]
    if kind == "extra_forbidden":
        name = found[-1] if found else rest[-1]
        if len(found) >= 3 and found[-3] == "when":
            return f"{_dotted(found[:-1])}: unknown operator '{name}' (use one of {', '.join(OPERATORS)})", True
        return f"{_dotted(found[:-1])}: unknown key '{name}'", True
    if kind == "union_tag_not_found":
        return f"{_dotted(found)}: missing required key 'kind' (one of {', '.join(TRIGGER_KINDS)})", False
    if kind == "union_tag_invalid":
        return f"{_dotted(found)}: unknown trigger kind (use one of {', '.join(TRIGGER_KINDS)})", False
    if kind == "missing":
        name = rest[-1] if rest else found[-1]
        return f"{_dotted(found)}: missing required key '{name}'", False
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ")
    return f"{_dotted(found)}: {msg}", False


def _yaml_error(file: str, exc: yaml.YAMLError) -> ModelError:
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None) or ""
    mark = problem_mark or context_mark
    message = f"not valid YAML: {problem}"
    if context in ("while parsing a flow mapping", "while parsing a flow sequence") and context_mark is not None:
        # an unclosed bracket: PyYAML notices on a later line; point at the bracket
        mark = context_mark
        message += f" (the bracket opened here is not closed before line {problem_mark.line + 1})" if problem_mark else ""
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return ModelError(file, line, col, message)


_TYPE_NAMES = {
    "string_type": "text", "int_type": "a whole number", "float_type": "a number", "bool_type": "true/false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}


def _collapse(errors: list[dict[str, Any]], marks: _Marks) -> list[tuple[dict[str, Any], Path, list[Any]]]:
    """One error per place: a value that fits none of a union's types fails once per
    type; say that once, and prefer a specific complaint over a type mismatch."""
    by_place: dict[Path, list[tuple[dict[str, Any], Path, list[Any]]]] = {}
    for err in errors:
        found, rest = _locate(err["loc"], marks)
        key = found + tuple(p for p in rest if p == "[key]") if err["type"] != "missing" else found + tuple(rest)
        by_place.setdefault(key, []).append((err, found, rest))
    out = []
    for group in by_place.values():
        specific = [g for g in group if g[0]["type"] not in _TYPE_NAMES]
        if specific:
            out.extend(specific)
        elif len(group) == 1:
            out.append(group[0])
        else:
            names = list(dict.fromkeys(_TYPE_NAMES[g[0]["type"]] for g in group))
            err, found, rest = group[0]
            expected = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
            out.append(({**err, "type": "union", "msg": f"expected {expected}"}, found, rest))
    return out


M = TypeVar("M", bound=BaseModel)


def parse_document(text: str, file: str, schema: type[M],
                   semantic: Callable[[Any], list[tuple[Path, str]]] | None = None,
                   not_a_mapping: str = "the file must be a mapping") -> M:
    """Validate YAML text against `schema` (then the cross-field checks `semantic` finds in the raw
    document); raise ModelFileError listing every problem with its file, line and column. The
    model file and the routing file (`scoring_core.routing`) are both read through here."""
    try:
        data, marks, dupes = read_document(text)
    except yaml.YAMLError as exc:
        raise ModelFileError([_yaml_error(file, exc)]) from None

    def at(path: Path, message: str, key: bool = False) -> ModelError:
        table = marks.key if key else marks.value
        line, col = table.get(path) or marks.value.get(path) or marks.key.get(path) or (1, 1)
        return ModelError(file, line, col, message)

    if not isinstance(data, dict):
        raise ModelFileError([ModelError(file, 1, 1, not_a_mapping)])
    errors = [at(path, f"{_dotted(path[:-1])}: {msg}", key=True) for path, msg in dupes]
    parsed: M | None
    try:
        parsed = schema.model_validate(data)
    except ValidationError as exc:
        for err, found, rest in _collapse([dict(e) for e in exc.errors()], marks):
            if err["type"] == "union_tag_invalid" and found + ("kind",) in marks.value:
                found = found + ("kind",)  # point at the kind written
            message, about_key = _message(err, found, rest)
            errors.append(at(found, message, key=about_key or "[key]" in rest))
        parsed = None
    if semantic is not None:
        errors += [at(path, f"{_dotted(path)}: {msg}") for path, msg in semantic(data)]
    if errors or parsed is None:  # (nothing parsed without an error: a failed validation adds one)
        raise ModelFileError(sorted(set(errors), key=lambda e: (e.line, e.col, e.message)))
    return parsed


def read_text(path: str | FsPath, what: str = "model file") -> str:
    """A file's text, or ModelFileError (line 1) saying why it cannot be read."""
    try:
        return FsPath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError([ModelError(str(path), 1, 1, f"cannot read {what}: {exc.__class__.__name__}: {exc}")]) from None


def parse_model(text: str, file: str = "<model>") -> ScoringModel:
    """Validate model text; raise ModelFileError listing every problem with its line."""
    return parse_document(text, file, ScoringModel, semantic_errors,
                          "a model file must be a mapping (version, fit, engagement, stages, ...)")


def load_model(path: str | FsPath | None = None) -> ScoringModel:
    """Load a model file, or the default model shipped with the engine when `path` is None."""
    if path is None:
        text = resources.files(__package__).joinpath("models", DEFAULT_MODEL).read_text(encoding="utf-8")
        return parse_model(text, f"scoring_core/models/{DEFAULT_MODEL}")
    return parse_model(read_text(path), str(path))
