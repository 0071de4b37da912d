"""Secrets (bot token, webhook secret, provider keys) from SSM Parameter Store.

Only their parameter names are configuration; values are fetched on first use and cached
for a few minutes, so a rotated secret is picked up without a deploy. The SSM client comes
from the container's one botocore session (billing.aws); a plain GetParameter and a dict
replace Powertools' parameters utility, whose import loads its AppConfig, Secrets Manager
and DynamoDB providers on every cold start.
"""

from __future__ import annotations

import threading
import time

from billing import aws
from billing.config import Settings

CACHE_SECONDS = 300.0

_lock = threading.Lock()
_values: dict[tuple[str, str | None, str], tuple[float, str]] = {}


def forget_secrets() -> None:
    """Drop cached values (tests and the local stack change secrets between runs)."""
    with _lock:
        _values.clear()


def secret(settings: Settings, name: str) -> str:
    """The decrypted value of the SecureString parameter `name`."""
    key = (settings.region, settings.aws_endpoint_url, name)
    now = time.monotonic()  # a cache age, not business time: no injectable clock here
    with _lock:
        cached = _values.get(key)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    ssm = aws.client("ssm", settings.region, settings.aws_endpoint_url)
    value = str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    with _lock:
        _values[key] = (now, value)
    return value
