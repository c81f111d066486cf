# The two commands: `make run` and `make test` (lint and type checks, then pytest). Both create .venv on first use,
# with Lambda's Python (3.12) where this machine has it, from requirements/dev.lock.
RUNTIME_PYTHON := $(shell scripts/runtime-python)
PYTHON ?= $(or $(RUNTIME_PYTHON),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.lock
BUILD := .aws-sam/build
BUILD_STAMP := $(BUILD)/.built
BUILD_INPUTS := template.yaml $(shell find functions layers src -type f -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)

.PHONY: run test lint build lock bench check-model clean

$(STAMP): $(LOCK) pyproject.toml
	@if [ -z "$(RUNTIME_PYTHON)" ]; then echo "make: python3.12 (Lambda's runtime) not found: .venv uses $$($(PYTHON) --version 2>&1); the built-artifact tests need 3.12" >&2; fi
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.executable and sys.version_info[:2] != tuple(map(int, "'"$$($(PYTHON) -c 'import sys; print(*sys.version_info[:2], sep=".")')"'".split("."))))'; then \
		echo "make: .venv has another Python than $(PYTHON): recreating it" >&2; rm -rf $(VENV); fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/leadscore dev

# pytest-xdist: one worker per core; --dist loadscope keeps each module (and its local stack or
# fitted model, module-scoped fixtures) on one worker. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto

test: $(STAMP) $(BUILD_STAMP) lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

# ruff over the repository and mypy over the paths pyproject.toml names (both configured there)
lint: $(STAMP)
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy

# What `sam deploy` uploads: `sam build` (no Docker; it finds python3.12 in .venv/bin),
# then bytecode for python3.12 that stays valid under SAM's 1980 zip dates.
build: $(BUILD_STAMP)

$(BUILD_STAMP): $(STAMP) $(BUILD_INPUTS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build --template template.yaml --build-dir $(BUILD)
	$(BIN)/python scripts/compile-build $(BUILD)
	@touch $(BUILD_STAMP)

# Re-pin every dependency (dev venv and both layers) from pyproject.toml and the .in files.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 pyproject.toml --extra dev -o $(LOCK)
	$(BIN)/uv pip compile --quiet --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
		-c $(LOCK) layers/scoring_core/requirements.in -o layers/scoring_core/requirements.txt
	$(BIN)/uv pip compile --quiet --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
		-c $(LOCK) src/requirements.in -o src/requirements.txt

bench: $(STAMP)
	$(BIN)/python bench/engine.py

check-model: $(STAMP)
	$(BIN)/leadscore model check layers/scoring_core/scoring_core/models/default.yaml

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .hypothesis .mypy_cache .ruff_cache build *.egg-info
