"""A model file's YAML as plain data, with the position of every key and value.

PyYAML's node tree keeps the positions; the data is built from it here (so duplicate keys
are caught, which PyYAML silently overwrites, and keys are read as written). No pydantic:
`scoring_core.restrictions` reads a model this way on the tracking pixel's cold start, and
`scoring_core.loader` validates what this returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]  # (no stubs in the lock)

Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 would read the country code
    `NO`, or `on`, `off`, `yes`, `y` as booleans in a model file."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )

# values kept exactly as written, whatever they look like (`version: 1.10`)
_VERBATIM: set[tuple[str | int, ...]] = {("version",)}


@dataclass
class _Marks:
    value: dict[Path, tuple[int, int]]
    key: dict[Path, tuple[int, int]]


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, marks: _Marks, dupes: list[tuple[Path, str]]) -> Any:
    marks.value[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # keys as written: YAML 1.1 would read `on:` as True and `1:` as an int
            if not isinstance(key_node, yaml.ScalarNode):
                marks.key[path + ("#key",)] = _pos(key_node)
                dupes.append((path + ("#key",), "a mapping key must be a plain value"))
                continue
            key = key_node.value
            child = path + (key,)
            if key in out:
                marks.key.setdefault(child + ("#dup",), _pos(key_node))
                dupes.append((child + ("#dup",), f"duplicate key '{key}'"))
                continue
            marks.key[child] = _pos(key_node)
            out[key] = _build(loader, value_node, child, marks, dupes)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), marks, dupes) for i, item in enumerate(node.value)]
    if path in _VERBATIM and isinstance(node, yaml.ScalarNode):
        return node.value
    return loader.construct_object(node, deep=True)


def read_document(text: str) -> tuple[Any, _Marks, list[tuple[Path, str]]]:
    """(data, positions, duplicate keys) of YAML text; raises yaml.YAMLError when it is not YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        marks = _Marks({}, {})
        dupes: list[tuple[Path, str]] = []
        data = _build(loader, node, (), marks, dupes) if node is not None else None
    finally:
        loader.dispose()
    return data, marks, dupes
