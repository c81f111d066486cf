"""Secrets: environment variables locally, one Secrets Manager secret in AWS.

`get_secret("WEBHOOK_SECRET_TYPEFORM")` reads the environment variable of that
name when it is set (the local stack, tests); otherwise, when `SECRETS_ARN`
names a Secrets Manager secret holding a JSON object, the key of that name in
it (fetched through powertools parameters, cached for 5 minutes). Never log
what this returns.
"""

from __future__ import annotations

import os

CACHE_SECONDS = 300


def get_secret(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None:
        return value
    arn = os.environ.get("SECRETS_ARN")
    if not arn:
        return None
    from aws_lambda_powertools.utilities import parameters  # only on AWS, only on a cache miss path

    data = parameters.get_secret(arn, transform="json", max_age=CACHE_SECONDS)
    value = data.get(name) if isinstance(data, dict) else None
    return None if value is None else str(value)


def write_keys() -> frozenset[str]:
    """The accepted SDK write keys (`WRITE_KEYS`, comma-separated)."""
    raw = get_secret("WRITE_KEYS") or ""
    return frozenset(k.strip() for k in raw.split(",") if k.strip())
