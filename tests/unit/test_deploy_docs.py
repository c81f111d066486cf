"""The README's deploy section is what CI runs, step for step, up to where AWS credentials are needed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _deploy_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploy for real", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [c for c in commands if c]


def test_the_readme_deploy_steps_before_credentials_are_what_ci_runs_in_that_order():
    steps = _deploy_commands()
    before_credentials = steps[:next(i for i, c in enumerate(steps) if "sam deploy" in c)]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]

    assert before_credentials, "the README shows no build step"
    positions = [ci.index(step) for step in before_credentials]  # ValueError: a README step CI does not run
    assert positions == sorted(positions)


def test_the_build_step_runs_sam_build_and_compiles_bytecode_with_the_runtime_python():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("$(BUILD_STAMP): ", 1)[1].split("\n\n", 1)[0]

    assert "sam build --template template.yaml" in recipe
    assert "scripts/compile-build" in recipe
