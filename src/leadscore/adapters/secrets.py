"""Secrets: environment variables locally, one Secrets Manager secret in AWS.

`get_secret("WEBHOOK_SECRET_TYPEFORM")` reads the environment variable of that
name when it is set (the local stack, tests); otherwise, when `SECRETS_ARN`
names Secrets Manager secrets (comma-separated) holding JSON objects, the key
of that name in the first that has it (fetched through powertools parameters,
cached for 5 minutes). Never log what this returns.
"""

from __future__ import annotations

import os

CACHE_SECONDS = 300


def get_secret(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None:
        return value
    arns = [a.strip() for a in (os.environ.get("SECRETS_ARN") or "").split(",") if a.strip()]
    if not arns:
        return None
    from aws_lambda_powertools.utilities import parameters  # only on AWS, only on a cache miss path

    for arn in arns:
        data = parameters.get_secret(arn, transform="json", max_age=CACHE_SECONDS)
        value = data.get(name) if isinstance(data, dict) else None
        if value is not None:
            return str(value)
    return None


def in_aws() -> bool:
    """Secrets come from Secrets Manager (deployed), not the environment (local stack, tests)."""
    return bool(os.environ.get("SECRETS_ARN"))


def write_keys() -> frozenset[str]:
    """The accepted SDK write keys (`WRITE_KEYS`, comma-separated)."""
    raw = get_secret("WRITE_KEYS") or ""
    return frozenset(k.strip() for k in raw.split(",") if k.strip())
