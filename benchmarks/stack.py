"""The in-process stack the benchmarks drive: the handlers on a moto server, the fake Bot API
and the fake Crypto Pay, set up the way tests/conftest.py and tests/integration/conftest.py
do it (tables from template.yaml, the store bound, the lambda_env variables, secrets in SSM,
the renewal queue, a manual clock), plus counters of every AWS API call.
"""

from __future__ import annotations

import os
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from benchmarks.env import prepare_process_env
from billing.clock import ManualClock

# template.yaml does not set DUE_SHARDS, so the deployed functions use the default (8).
DUE_SHARDS = 8
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class AwsCalls:
    """Counts every botocore API call (any client: pynamodb's, boto3's) by service and
    operation, by patching `BaseClient._make_api_call` once; counting only while armed."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.transact_items = 0
        self.armed = False
        self._installed = False

    def install(self) -> None:
        if self._installed:
            return
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        calls = self

        def counting(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if calls.armed:
                service = client.meta.service_model.service_name
                calls.counts[(service, operation_name)] += 1
                if operation_name == "TransactWriteItems":
                    calls.transact_items += len(api_params.get("TransactItems", []))
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = counting  # type: ignore[attr-defined]
        self._installed = True

    @contextmanager
    def counting(self) -> Iterator[AwsCallCount]:
        before, items = Counter(self.counts), self.transact_items
        result = AwsCallCount()
        self.armed = True
        try:
            yield result
        finally:
            self.armed = False
            result.counts = self.counts - before
            result.transact_items = self.transact_items - items


class AwsCallCount:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.transact_items = 0

    def dynamodb(self, ops: frozenset[str] | None = None) -> int:
        return sum(
            n
            for (service, op), n in self.counts.items()
            if service == "dynamodb" and (ops is None or op in ops)
        )

    @property
    def reads(self) -> int:
        return self.dynamodb(READS)

    @property
    def writes(self) -> int:
        return self.dynamodb(WRITES)

    @property
    def transactions(self) -> int:
        return self.counts[("dynamodb", "TransactWriteItems")]

    def other(self) -> dict[str, int]:
        return {
            f"{service}.{op}": n
            for (service, op), n in self.counts.items()
            if service != "dynamodb"
        }


class BenchStack:
    """One per process (see `stack()`); `reset()` empties moto and sets everything up again."""

    def __init__(self) -> None:
        prepare_process_env()  # before the imports below import the handler modules
        from local.fake_bot_api import FakeBotApi
        from local.fake_cryptopay import FakeCryptoPay
        from local.moto_server import MotoServer
        from tests.integration.conftest import CRYPTOPAY_TOKEN

        self.calls = AwsCalls()
        self.calls.install()
        self.moto = MotoServer()
        self.endpoint = self.moto.start()
        self.telegram = FakeBotApi()
        self.telegram.base_url = self.telegram.serve()  # type: ignore[attr-defined]
        self.cryptopay = FakeCryptoPay(CRYPTOPAY_TOKEN, None)
        self.cryptopay.serve()
        self.clock = ManualClock(START)
        self.queue_url = ""
        self.generation = 0  # how many times reset() ran; state built on moto is per generation
        self._stops: list[Callable[[], None]] = [
            self.cryptopay.stop,
            self.telegram.stop,
            self.moto.stop,
        ]

    def settings(self) -> Any:
        from billing.config import Settings
        from tests.conftest import _table_env

        # As the `settings` fixture, but with the deployed number of due shards.
        return Settings.from_env(
            {
                "AWS_REGION": "eu-central-1",
                "AWS_ENDPOINT_URL": self.endpoint,
                "ADMIN_IDS": "900",
                "DUE_SHARDS": str(DUE_SHARDS),
                **_table_env(),
            }
        )

    def reset(self) -> Any:
        """Empty moto, tables from template.yaml, the store bound, the environment of
        lambda_env + providers_env + sweeper, secrets in SSM; returns the Settings."""
        import boto3

        from billing import runtime as runtime_module
        from billing.store import connection
        from local.stack import create_renewal_queues
        from local.template_tables import create_tables
        from tests.integration.chat import WEBHOOK_SECRET
        from tests.integration.conftest import put_payment_secrets

        self.generation += 1
        settings = self.settings()
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request).close()
        create_tables(self.client("dynamodb"))
        connection.bind(settings)
        self.queue_url, _ = create_renewal_queues(self.client("sqs"))
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "ACCOUNTS_TABLE": settings.accounts_table,
                "SUBSCRIPTIONS_TABLE": settings.subscriptions_table,
                "BALANCES_TABLE": settings.balances_table,
                "ORDERS_TABLE": settings.orders_table,
                "IDEMPOTENCY_TABLE": settings.idempotency_table,
                "ENTITLEMENTS_TABLE": settings.entitlements_table,
                "DUE_SHARDS": str(settings.due_shards),
                "ADMIN_IDS": ",".join(str(i) for i in sorted(settings.admin_ids)),
                "TELEGRAM_API_BASE": self.telegram.base_url,  # type: ignore[attr-defined]
                "CRYPTOPAY_API_BASE": self.cryptopay.base_url,
                "RENEWAL_QUEUE_URL": self.queue_url,
            }
        )
        ssm = boto3.client("ssm", endpoint_url=self.endpoint)
        for name, value in (
            (settings.webhook_secret_param, WEBHOOK_SECRET),
            (settings.bot_token_param, self.telegram.token),
        ):
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        put_payment_secrets(settings, "sk_test_unused")
        self.clock.set(START)
        runtime_module.use_clock(self.clock)
        return settings

    def client(self, service: str) -> Any:
        import boto3

        factory: Any = boto3.client  # typed per service name; this takes any
        return factory(service, endpoint_url=self.endpoint, region_name="eu-central-1")

    def close(self) -> None:
        while self._stops:
            self._stops.pop()()


@cache
def stack() -> BenchStack:
    return BenchStack()
