"""Secrets (bot token, webhook secret, provider keys) from SSM Parameter Store.

Only their parameter names are configuration; values are fetched on first use and cached
for a few minutes, so a rotated secret is picked up without a deploy.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities import parameters

from billing.config import Settings

CACHE_SECONDS = 300


@cache
def _provider(region: str, endpoint_url: str | None) -> parameters.SSMProvider:
    import boto3

    client: Any = boto3.client("ssm", region_name=region, endpoint_url=endpoint_url)
    return parameters.SSMProvider(boto3_client=client)


def forget_secrets() -> None:
    """Drop cached values (tests and the local stack change secrets between runs)."""
    _provider.cache_clear()


def secret(settings: Settings, name: str) -> str:
    """The decrypted value of the SecureString parameter `name`."""
    value = _provider(settings.region, settings.aws_endpoint_url).get(
        name, decrypt=True, max_age=CACHE_SECONDS
    )
    return str(value)
