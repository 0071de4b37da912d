"""Fixtures for tests that talk to AWS APIs on the session's moto server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from billing import aws
from billing import runtime as runtime_module
from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.catalog import default_catalog
from billing.ledger.service import Ledger
from billing.runtime import reset_runtime
from billing.store.balances import BalancesRepository
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import SubscriptionService
from local.entitlement_sink import LOCAL_BUS, EventSink, create_bus
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration.chat import WEBHOOK_SECRET
from tests.integration.telephony import Delivery
from tests.integration.webhook_receiver import WebhookReceiver


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
def ledger(tables: Settings, clock: ManualClock) -> Ledger:
    return Ledger(BalancesRepository(), clock)


@pytest.fixture
def service(tables: Settings, clock: ManualClock, ledger: Ledger) -> SubscriptionService:
    return SubscriptionService(
        catalog=default_catalog(),
        subscriptions=SubscriptionsRepository(tables.due_shards),
        ledger=ledger,
        clock=clock,
        admin_ids=tables.admin_ids,
    )


@pytest.fixture
def requests_to_dynamodb(lambda_env: Settings) -> Iterator[list[str]]:
    """The DynamoDB operations the handler sends, counted where botocore sends them: on the
    session the runtime's clients are made from (a new runtime starts a new session)."""
    sent: list[str] = []
    runtime_module.runtime()

    def count(request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        sent.append((target.decode() if isinstance(target, bytes) else target).split(".")[-1])

    aws.session().register("before-send.dynamodb", count)
    yield sent
    aws.forget_clients()


@pytest.fixture
def delivery(lambda_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Delivery:
    endpoint = lambda_env.aws_endpoint_url or ""
    queue = create_bus(lambda_env.region, endpoint)
    monkeypatch.setenv("ENTITLEMENTS_BUS_NAME", LOCAL_BUS)
    reset_runtime()
    return Delivery(lambda_env, EventSink(lambda_env.region, endpoint, queue))


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
        "ENTITLEMENTS_TABLE": tables.entitlements_table,
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


# --- payment providers --------------------------------------------------------------------


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """localstripe (a stateful fake Stripe API) as a child process, for the session. Objects
    of other tests stay visible: create your own customers. Under xdist, one per worker."""
    peer = LocalStripe()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


STRIPE_WEBHOOK_SECRET = "whsec_test_0123456789"
CRYPTOPAY_TOKEN = "12345:AAtestcryptopaytoken"
PAYPAL_CREDENTIALS = {"client_id": "paypal-client", "client_secret": "paypal-secret"}
PAYPAL_WEBHOOK_ID = "WH-TEST-0001"
YOOKASSA_SHOP = {"shop_id": "506751", "secret_key": "test_yookassa_secret_key"}
YOOKASSA_PATH_SECRET = "yk-path-secret-0123456789"
PROVIDER_TOKENS = {
    "EUR": "284685063:TEST:stripe-eur",
    "USD": "284685063:TEST:stripe-usd",
    "RUB": "381764678:TEST:partner-rub",
}


def put_payment_secrets(settings: Settings, stripe_key: str) -> None:
    """The provider secrets in SSM, as an operator stores them for a deployed stack."""
    import json

    ssm = boto3.client("ssm", endpoint_url=settings.aws_endpoint_url)
    for name, value in (
        (settings.stripe_secret_key_param, stripe_key),
        (settings.stripe_webhook_secret_param, STRIPE_WEBHOOK_SECRET),
        (settings.cryptopay_token_param, CRYPTOPAY_TOKEN),
        (
            settings.paypal_credentials_param,
            json.dumps({**PAYPAL_CREDENTIALS, "webhook_id": PAYPAL_WEBHOOK_ID}),
        ),
        (settings.payment_provider_tokens_param, json.dumps(PROVIDER_TOKENS)),
        (
            settings.yookassa_credentials_param,
            json.dumps({**YOOKASSA_SHOP, "webhook_secret": YOOKASSA_PATH_SECRET}),
        ),
    ):
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


@pytest.fixture
def fake_paypal() -> Iterator[Any]:
    from local.fake_paypal import FakePayPal

    fake = FakePayPal(
        None,
        PAYPAL_WEBHOOK_ID,
        PAYPAL_CREDENTIALS["client_id"],
        PAYPAL_CREDENTIALS["client_secret"],
    )
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def fake_cryptopay() -> Iterator[Any]:
    from local.fake_cryptopay import FakeCryptoPay

    fake = FakeCryptoPay(CRYPTOPAY_TOKEN, None)
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def fake_yookassa(clock: ManualClock) -> Iterator[Any]:
    """The fake YooKassa on the test's clock; its notifications are delivered by the test
    (tests/integration/yookassa.py), from the address the test names."""
    from local.fake_yookassa import FakeYooKassa

    fake = FakeYooKassa(YOOKASSA_SHOP["shop_id"], YOOKASSA_SHOP["secret_key"], None, clock=clock)
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def providers_env(
    lambda_env: Settings,
    fake_paypal: Any,
    fake_cryptopay: Any,
    fake_yookassa: Any,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """lambda_env with PayPal, Crypto Pay and YooKassa pointed at their fakes, secrets in
    SSM."""
    monkeypatch.setenv("PAYPAL_API_BASE", fake_paypal.base_url)
    monkeypatch.setenv("CRYPTOPAY_API_BASE", fake_cryptopay.base_url)
    monkeypatch.setenv("YOOKASSA_API_BASE", fake_yookassa.base_url)
    put_payment_secrets(lambda_env, "sk_test_unused")
    runtime_module.use_clock(clock)
    return lambda_env


@pytest.fixture
def stripe_env(
    lambda_env: Settings,
    localstripe: LocalStripe,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebhookReceiver]:
    monkeypatch.setenv("STRIPE_API_BASE", localstripe.base_url)
    put_payment_secrets(lambda_env, localstripe.api_key)
    # localstripe signs its events with the real time; the handler checks them against
    # the clock, so this test's clock is the real one.
    clock.set(datetime.now(UTC).replace(microsecond=0))
    runtime_module.use_clock(clock)
    receiver = WebhookReceiver()
    localstripe.register_webhook(
        f"{receiver.url}/payments/stripe",
        STRIPE_WEBHOOK_SECRET,
        events=["payment_intent.succeeded", "payment_intent.payment_failed"],
    )
    yield receiver
    localstripe.unregister_webhook(f"{receiver.url}/payments/stripe")
    receiver.stop()


class Sweeper:
    """Runs the renewal sweep as AWS does: the scheduled event, then the queue drained
    into the same function (each batch delivered `deliveries` times, as SQS may)."""

    def __init__(self, clock: ManualClock, queue_url: str, dead_letter_url: str) -> None:
        self.clock = clock
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url
        self.sqs = boto3.client("sqs")

    def run(self, *, schedules: int = 1, deliveries: int = 1) -> int:
        """Returns how many messages the function failed (left on the queue)."""
        from functions.renewal_cron import app as cron_app
        from local.events import FakeContext, scheduled_event
        from local.queue_driver import drain

        context = FakeContext("renewal-cron", timeout_seconds=60)
        for _ in range(schedules):
            cron_app.lambda_handler(scheduled_event(self.clock.now()), context)

        def invoke(event: dict[str, Any]) -> Any:
            result = None
            for _ in range(deliveries):
                result = cron_app.lambda_handler(event, context)
            return result

        return drain(self.sqs, self.queue_url, invoke).failed

    def dead_letters(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def sweeper(
    providers_env: Settings,
    localstripe: LocalStripe,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Sweeper:
    """lambda_env with the renewal queue (from template.yaml) and Stripe on localstripe,
    on the test's manual clock."""
    from local.stack import create_renewal_queues

    queue_url, dead_letter_url = create_renewal_queues(
        boto3.client("sqs", endpoint_url=providers_env.aws_endpoint_url)
    )
    monkeypatch.setenv("RENEWAL_QUEUE_URL", queue_url)
    monkeypatch.setenv("STRIPE_API_BASE", localstripe.base_url)
    put_payment_secrets(providers_env, localstripe.api_key)
    runtime_module.use_clock(clock)
    return Sweeper(clock, queue_url, dead_letter_url)
