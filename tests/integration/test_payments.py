"""Orders applied exactly once (SPEC §4, §7, §8) on DynamoDB (moto server), provider-free:
what every provider's confirmation ends in."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest

from billing.accounts.service import ProfileService
from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.catalog import default_catalog
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.domain.subscription import Status
from billing.domain.tax import TaxProfile
from billing.errors import CountryNotVerified, InvalidAmount, InvalidState
from billing.ledger.service import Ledger
from billing.orders.invoices import InvoiceIssuer, document_from_json
from billing.orders.model import OrderStatus, Purpose
from billing.orders.service import Outcome, PaymentService
from billing.store.accounts import AccountsRepository
from billing.store.balances import BalancesRepository
from billing.store.orders import OrdersRepository
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import SubscriptionService

EUR = Currency.EUR
PAYER, OTHER = 11, 22
SOFTPHONE_5_REC = {"sip_accounts": 5, "recording": "on"}
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class World:
    def __init__(self, settings: Settings, clock: ManualClock) -> None:
        catalog = default_catalog()
        self.clock = clock
        self.accounts = AccountsRepository()
        self.profiles = ProfileService(self.accounts, clock)
        self.orders = OrdersRepository()
        self.ledger = Ledger(BalancesRepository(), clock)
        self.subscriptions = SubscriptionService(
            catalog=catalog,
            subscriptions=SubscriptionsRepository(settings.due_shards),
            ledger=self.ledger,
            clock=clock,
            admin_ids=settings.admin_ids,
            invoices=InvoiceIssuer(
                orders=self.orders, accounts=self.accounts, catalog=catalog, settings=settings
            ),
        )
        self.payments = PaymentService(
            orders=self.orders,
            ledger=self.ledger,
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=clock,
        )

    def payer(self, user_id: int, country: str = "DE", name: str | None = None) -> None:
        self.accounts.ensure(
            user_id,
            now=self.clock.now(),
            language="en",
            first_name=f"user{user_id}",
            username=None,
            start_parameter=None,
        )
        self.profiles.set_country(user_id, country)
        if name:
            self.profiles.set_name(user_id, name)

    def balance(self, user_id: int, currency: Currency = EUR) -> int:
        return self.ledger.wallet(user_id, currency).balance

    def connect_order(self, user_id: int, amount: int, method: PaymentMethod, request: str):
        return self.payments.open(
            payer_id=user_id,
            purpose=Purpose.CONNECT,
            amount=amount,
            currency=EUR,
            method=method,
            chat_id=user_id,
            details={
                "request_id": request,
                "customer_id": user_id,
                "product": "softphone",
                "options": SOFTPHONE_5_REC,
                "months": 12,
            },
        )


@pytest.fixture
def world(tables: Settings, clock: ManualClock) -> World:
    return World(tables, clock)


def alerts(settings: Settings) -> list[dict]:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    items = client.scan(TableName=settings.orders_table)["Items"]
    return [item for item in items if item.get("kind", {}).get("S") == "alert"]


def test_a_paid_connect_order_credits_charges_activates_and_invoices_at_once(
    world: World, tables: Settings
) -> None:
    world.payer(PAYER, "DE", name="ООО «Ромашка»")
    order = world.connect_order(PAYER, 32_130, PaymentMethod.CRYPTO, "draft-1")

    settled = world.payments.settle(
        order.id, amount=32_130, currency="EUR", provider="cryptopay", provider_ref="inv-1"
    )

    assert settled.outcome is Outcome.APPLIED
    assert settled.purchase is not None
    sub = settled.purchase.subscription
    assert sub.status is Status.ACTIVE
    assert sub.expires_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert world.balance(PAYER) == 0
    entries = world.ledger.entries(PAYER, EUR)
    assert [(e.kind.value, e.amount) for e in entries] == [("top_up", 32_130), ("charge", -32_130)]
    stored = world.orders.get(order.id)
    assert stored is not None and stored.status is OrderStatus.PAID and stored.paid_amount == 32_130
    assert stored.provider_ref == "inv-1"
    assert settled.purchase.invoice_number == "INV-000001"
    invoice = world.orders.invoice("INV-000001")
    assert invoice is not None and invoice.order_id == order.id and invoice.total == 32_130
    document = document_from_json(invoice.document)
    assert document.buyer.name == "ООО «Ромашка»"
    assert (document.net, document.vat_rate, document.vat) == (27_000, "19", 5_130)
    assert document.seller_vat_number == "LT100018548216"
    assert document.paid_by == "crypto"


def test_the_same_payment_five_times_concurrently_credits_once(world: World) -> None:
    world.payer(PAYER)
    order = world.payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=5_000,
        currency=EUR,
        method=PaymentMethod.CRYPTO,
        chat_id=PAYER,
    )

    def deliver(_: int):
        return world.payments.settle(
            order.id, amount=5_000, currency="EUR", provider="cryptopay", provider_ref="inv-9"
        ).outcome

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(deliver, range(5)))

    assert sorted(outcomes) == sorted([Outcome.APPLIED] + [Outcome.ALREADY] * 4)
    assert world.balance(PAYER) == 5_000
    assert len(world.ledger.entries(PAYER, EUR)) == 1


def test_wrong_amount_or_currency_credits_nothing_and_alerts_support(
    world: World, tables: Settings
) -> None:
    world.payer(PAYER)
    order = world.connect_order(PAYER, 32_130, PaymentMethod.CRYPTO, "draft-1")

    wrong_amount = world.payments.settle(
        order.id, amount=100, currency="EUR", provider="cryptopay", provider_ref="x"
    )
    wrong_currency = world.payments.settle(
        order.id, amount=32_130, currency="USD", provider="cryptopay", provider_ref="x"
    )
    unknown = world.payments.settle(
        "no-such", amount=32_130, currency="EUR", provider="cryptopay", provider_ref="x"
    )

    assert [wrong_amount.outcome, wrong_currency.outcome, unknown.outcome] == [
        Outcome.MISMATCH,
        Outcome.MISMATCH,
        Outcome.UNKNOWN,
    ]
    assert world.ledger.wallets(PAYER) == []
    stored = world.orders.get(order.id)
    assert stored is not None and stored.status is OrderStatus.PENDING
    reasons = sorted(alert["reason"]["S"] for alert in alerts(tables))
    assert reasons == [
        "amount mismatch: 1.00 EUR paid for 321.30 EUR",
        "currency mismatch: USD paid for a EUR order",
        "payment for an unknown order",
    ]


def test_a_purchase_that_can_no_longer_be_made_leaves_the_money_on_the_balance(
    world: World,
) -> None:
    world.payer(PAYER)
    first = world.connect_order(PAYER, 32_130, PaymentMethod.CRYPTO, "draft-1")
    second = world.connect_order(PAYER, 32_130, PaymentMethod.CRYPTO, "draft-2")
    world.payments.settle(first.id, amount=32_130, currency="EUR", provider="c", provider_ref="1")

    settled = world.payments.settle(
        second.id, amount=32_130, currency="EUR", provider="c", provider_ref="2"
    )

    assert settled.outcome is Outcome.TOPPED_UP
    assert "already has an active softphone" in (settled.reason or "")
    assert world.balance(PAYER) == 32_130
    again = world.payments.settle(
        second.id, amount=32_130, currency="EUR", provider="c", provider_ref="2"
    )
    assert again.outcome is Outcome.ALREADY
    assert world.balance(PAYER) == 32_130


def test_invoice_numbers_are_consecutive_across_concurrent_charges(world: World) -> None:
    payers = list(range(100, 108))
    for payer in payers:
        world.payer(payer, "US")
        world.ledger.top_up(payer, EUR, 30_000, cause="seed", reason="seed")

    def buy(payer: int) -> str | None:
        return world.subscriptions.connect(
            request_id=f"r{payer}",
            payer_id=payer,
            customer_id=payer,
            product="softphone",
            options=SOFTPHONE_5_REC,
            months=12,
            currency=EUR,
            tax=TaxProfile.create("US"),
            has_saved_card=False,
        ).invoice_number

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(buy, payers))

    assert sorted(numbers) == [f"INV-{n:06d}" for n in range(1, 9)]  # type: ignore[type-var]
    for number in numbers:
        assert number is not None and world.orders.invoice(number) is not None


def test_a_refund_debits_into_debt_and_alerts(world: World, tables: Settings) -> None:
    world.payer(PAYER)
    world.profiles.set_vat_id(PAYER, "DE136695976")
    order = world.connect_order(PAYER, 27_000, PaymentMethod.STRIPE_CARD, "draft-2")
    world.payments.settle(
        order.id, amount=27_000, currency="EUR", provider="s", provider_ref="pi_1"
    )

    record = world.payments.record_refund(
        provider="stripe", provider_ref="pi_1", refund_id="re_1", amount=27_000, currency="EUR"
    )
    world.payments.record_refund(
        provider="stripe", provider_ref="pi_1", refund_id="re_1", amount=27_000, currency="EUR"
    )

    assert record.moved_now
    assert world.balance(PAYER) == -27_000
    stored = world.orders.get(order.id)
    assert stored is not None and stored.status is OrderStatus.REFUNDED
    assert [a["reason"]["S"] for a in alerts(tables)] == ["refund debited from the wallet"]


def test_card_payment_needs_a_verified_country_for_an_eu_consumer(world: World) -> None:
    world.payer(PAYER, "DE")

    with pytest.raises(CountryNotVerified, match="share your phone number"):
        world.connect_order(PAYER, 32_130, PaymentMethod.STRIPE_CARD, "draft-1")
    world.profiles.share_phone(PAYER, "+49 30 901820", contact_user_id=PAYER)
    order = world.connect_order(PAYER, 32_130, PaymentMethod.STRIPE_CARD, "draft-1")

    assert order.status is OrderStatus.PENDING and order.method is PaymentMethod.STRIPE_CARD


def test_orders_are_refused_outside_the_limits_and_without_a_country(world: World) -> None:
    world.accounts.ensure(
        OTHER, now=START, language="en", first_name="x", username=None, start_parameter=None
    )
    with pytest.raises(InvalidState, match="billing country"):
        world.connect_order(OTHER, 32_130, PaymentMethod.CRYPTO, "d")
    world.payer(PAYER)
    with pytest.raises(InvalidAmount, match=r"from 1.00 EUR to 10000.00 EUR"):
        world.payments.open(
            payer_id=PAYER,
            purpose=Purpose.TOP_UP,
            amount=99,
            currency=EUR,
            method=PaymentMethod.CRYPTO,
            chat_id=PAYER,
        )
