"""testbed.environment: a run's environment is put back as it was."""

from __future__ import annotations

import os

from testbed.environment import AS_DEPLOYED, environment


def test_the_environment_block_puts_back_what_it_set_and_what_it_removed(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)

    with environment(AS_DEPLOYED, unset=["AWS_ENDPOINT_URL"]):
        assert os.environ["POWERTOOLS_SERVICE_NAME"] == "score"
        assert "AWS_ENDPOINT_URL" not in os.environ

    assert "POWERTOOLS_SERVICE_NAME" not in os.environ
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
