"""The engine's modules: no import cycle (not even for types), each importable on its own, none loading AWS."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "scoring_core" / "scoring_core"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imported_siblings(module: str) -> set[str]:
    """The package's modules that `module` imports anywhere: at the top, in functions, under TYPE_CHECKING."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import ...
                out.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x
                out |= {alias.name for alias in node.names}
            elif node.module and node.module.split(".")[0] == "scoring_core":
                rest = node.module.split(".")[1:]
                out |= {rest[0]} if rest else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            out |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("scoring_core.")}
    return out & set(MODULES)


def test_the_engine_modules_import_each_other_without_a_cycle():
    # Arrange
    graph = {module: imported_siblings(module) for module in MODULES}
    # Act: depth-first search for a path back to a module on the stack
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    # Assert
    assert cycles == []
    assert graph["stages"] == set(), "stages.py is imported by the model schema, the state and the score: it imports none of them"


def test_each_engine_module_imports_first_on_its_own_without_aws():
    """Each module imported first, with none of the package loaded before it (one
    interpreter, the package dropped from sys.modules between modules)."""
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'scoring_core']:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module('scoring_core.' + name)\n"
        "aws = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aws_lambda_powertools', 'leadscore'))\n"
        "assert not aws, aws\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
