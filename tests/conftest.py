"""Fixtures every test gets: a fresh container per test, the default model and its engine."""

from __future__ import annotations

import pytest
from leadscore import settings
from scoring_core import Engine, load_model


@pytest.fixture(autouse=True)
def fresh_container():
    """Each test a new container: settings read again from its environment, nothing built before kept."""
    settings.reset()
    yield
    settings.reset()


@pytest.fixture(scope="session")
def default_model():
    return load_model()


@pytest.fixture(scope="session")
def engine(default_model):
    return Engine(default_model)
