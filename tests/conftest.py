"""Shared fixtures: a moto server for the whole session, fresh tables per test."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.store import connection
from local.moto_server import MotoServer

# Powertools reads these when the handler modules are imported, which happens at collection,
# before any fixture runs; template.yaml sets them for the deployed functions.
for _name, _value in {
    "POWERTOOLS_SERVICE_NAME": "sip-billing",
    "POWERTOOLS_METRICS_NAMESPACE": "SipBillingTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-central-1",
}


@pytest.fixture(scope="session", autouse=True)
def _fake_aws_credentials() -> Iterator[None]:
    # Never let a test reach a real AWS account, whatever the developer's shell holds.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    server = MotoServer()
    endpoint = server.start()
    yield endpoint
    server.stop()


@pytest.fixture
def settings(aws_endpoint: str) -> Settings:
    # As Lambda gets them: environment variables, validated by Settings.from_env.
    return Settings.from_env(
        {
            "AWS_REGION": "eu-central-1",
            "AWS_ENDPOINT_URL": aws_endpoint,
            "ADMIN_IDS": "900",
            "DUE_SHARDS": "4",
            **_table_env(),
        }
    )


def _table_env() -> dict[str, str]:
    from local.template_tables import LOCAL_TABLE_NAMES

    by_logical = {
        "AccountsTable": "ACCOUNTS_TABLE",
        "SubscriptionsTable": "SUBSCRIPTIONS_TABLE",
        "BalancesTable": "BALANCES_TABLE",
        "OrdersTable": "ORDERS_TABLE",
        "IdempotencyTable": "IDEMPOTENCY_TABLE",
        "EntitlementsTable": "ENTITLEMENTS_TABLE",
    }
    return {by_logical[logical]: name for logical, name in LOCAL_TABLE_NAMES.items()}


@pytest.fixture
def fresh_tables(settings: Settings, aws_endpoint: str) -> Callable[[], None]:
    """Empties moto and creates the tables from template.yaml; the store is bound to them."""
    import boto3

    from local.template_tables import create_tables

    client = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name=settings.region)

    def reset() -> None:
        request = urllib.request.Request(f"{aws_endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request).close()
        create_tables(client)
        connection.bind(settings)

    return reset


@pytest.fixture
def tables(settings: Settings, fresh_tables: Callable[[], None]) -> Settings:
    """Empty tables, created from template.yaml, with the store bound to them."""
    fresh_tables()
    return settings


_REPORT: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Lines a test wants in the run's summary (figures the issues ask us to state)."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _REPORT:
        terminalreporter.write_line(line)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
