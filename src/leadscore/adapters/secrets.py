"""The secrets in AWS: keys of the JSON secrets named in `SECRETS_ARN`.

`leadscore.settings` asks here only when no environment variable of the key's
name is set (the local stack and tests set them). Each secret is fetched
through powertools parameters and cached for `CACHE_SECONDS`, so a rotated
secret is read again within 5 minutes, with one GetSecretValue per secret per
5 minutes per container. Never log what this returns.
"""

from __future__ import annotations

import re
from typing import Any

CACHE_SECONDS = 300


def secret_key(name: str, arns: tuple[str, ...]) -> tuple[Any, str] | None:
    """The value of key `name` in the first of the secrets that has it, and where it was found
    (`"key of the <secret name> secret"`, for error messages); None when none has it."""
    from aws_lambda_powertools.utilities import (
        parameters,  # only on AWS, only when a secret is read
    )

    for arn in arns:
        data = parameters.get_secret(arn, transform="json", max_age=CACHE_SECONDS)
        value = data.get(name) if isinstance(data, dict) else None
        if value is not None:
            return value, f"key of the {secret_name(arn)} secret"
    return None


def secret_name(arn: str) -> str:
    """The secret's name from its ARN (`...:secret:<name>-AbCdEf`), or what was given when it is a name."""
    if not arn.startswith("arn:"):
        return arn
    resource = arn.split(":", 6)[-1]
    return re.sub(r"-[A-Za-z0-9]{6}$", "", resource)
