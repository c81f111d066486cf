"""The layers ship exactly what the tests ran: their pins come from the one lock .venv installs."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "dev.lock"
LAYER_REQUIREMENTS = [ROOT / "layers" / "scoring_core" / "requirements.txt", ROOT / "src" / "requirements.txt"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.split("#")[0].strip()]


@pytest.mark.parametrize("requirements", LAYER_REQUIREMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_layer_requirement_is_pinned_at_the_locked_version(requirements):
    lock = _pins(LOCK)

    lines = _lines(requirements)
    pins = _pins(requirements)

    assert len(pins) == len(lines), "a layer requirement without an exact pin: " + ", ".join(
        line for line in lines if not PIN.match(line))
    assert {name: lock.get(name) for name in pins} == pins


@pytest.mark.parametrize("requirements", LAYER_REQUIREMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_dev_venv_runs_the_versions_the_layers_ship(requirements):
    installed = {name: metadata.version(name) for name in _pins(requirements)}

    assert installed == _pins(requirements)


@pytest.mark.parametrize("requirements", LAYER_REQUIREMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_layer_pins_everything_its_packages_need_but_the_runtime_sdk(requirements):
    # boto3, botocore and their own dependencies come with the Lambda runtime
    runtime_sdk = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
    pins = _pins(requirements)

    needed = set()
    for name in pins:
        for requirement in metadata.requires(name) or []:
            spec, _, marker = requirement.partition(";")
            if "extra ==" in marker:
                continue
            if "python_version" in marker and not eval_marker(marker):
                continue
            needed.add(_canonical(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]))

    assert needed - set(pins) - runtime_sdk == set()


def eval_marker(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker.strip()).evaluate({"python_version": "3.12", "python_full_version": "3.12.1"})
