"""Fixtures for tests that talk to AWS APIs on the session's moto server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from billing import runtime as runtime_module
from billing.clock import ManualClock
from billing.config import Settings
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET


@pytest.fixture(scope="session")
def moto_server(aws_endpoint: str) -> str:
    """Endpoint URL ("http://127.0.0.1:<port>") of the session's moto server.

    The server itself is `aws_endpoint` (tests/conftest.py): moto keeps its state in the
    process, so a second server would share it anyway and only add a thread.
    """
    return aws_endpoint


@pytest.fixture(scope="session")
def dynamodb_client(moto_server: str) -> Any:
    """A DynamoDB client on the moto server, with fake credentials in eu-central-1."""
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_server,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


@pytest.fixture
def fake_telegram() -> Iterator[FakeBotApi]:
    """A Bot API server on loopback that enforces api.json and keeps every chat."""
    fake = FakeBotApi()
    fake.base_url = fake.serve()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


@pytest.fixture
def lambda_env(
    tables: Settings,
    clock: ManualClock,
    fake_telegram: FakeBotApi,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """The environment template.yaml gives the functions, pointed at moto and the fake
    Bot API, with the secrets in SSM; the handlers run on the test's clock."""
    for name, value in {
        "AWS_ENDPOINT_URL": tables.aws_endpoint_url or "",
        "ACCOUNTS_TABLE": tables.accounts_table,
        "SUBSCRIPTIONS_TABLE": tables.subscriptions_table,
        "BALANCES_TABLE": tables.balances_table,
        "ORDERS_TABLE": tables.orders_table,
        "IDEMPOTENCY_TABLE": tables.idempotency_table,
        "DUE_SHARDS": str(tables.due_shards),
        "ADMIN_IDS": ",".join(str(i) for i in sorted(tables.admin_ids)),
        "TELEGRAM_API_BASE": fake_telegram.base_url,  # type: ignore[attr-defined]
    }.items():
        monkeypatch.setenv(name, value)
    ssm = boto3.client("ssm", endpoint_url=tables.aws_endpoint_url)
    for name, value in (
        (tables.webhook_secret_param, WEBHOOK_SECRET),
        (tables.bot_token_param, fake_telegram.token),
    ):
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    runtime_module.use_clock(clock)
    yield tables
    runtime_module.use_clock(runtime_module.SystemClock())
