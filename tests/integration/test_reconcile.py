"""Reconciliation against localstripe and the fake PayPal and Crypto Pay (SPEC §7): a
payment whose webhook was lost is credited exactly once by the next run; the webhook
delivered late, after it, changes nothing; orders past their time are expired."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from billing import runtime as runtime_module
from billing.clock import ManualClock
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.orders.checkout import PaymentLink
from billing.orders.model import Order, OrderStatus, Purpose
from billing.providers.stripe_signature import sign_webhook
from billing.runtime import runtime
from functions.payment_webhook import app as payment_app
from functions.reconcile import app as reconcile_app
from local.events import FakeContext, scheduled_event
from local.localstripe_peer import LocalStripe
from tests.integration.conftest import STRIPE_WEBHOOK_SECRET
from tests.integration.http_events import call, http_event
from tests.integration.payers import payer, saved_card
from tests.integration.webhook_receiver import WebhookReceiver

EUR = Currency.EUR
PAYER = 7070


@pytest.fixture
def all_providers(
    stripe_env: WebhookReceiver,
    localstripe: LocalStripe,
    fake_paypal: Any,
    fake_cryptopay: Any,
    fake_yookassa: Any,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """Stripe on localstripe with its webhook lost (unregistered), PayPal and Crypto Pay on
    their fakes, which send no webhooks (none configured): every callback is lost."""
    localstripe.unregister_webhook(f"{stripe_env.url}/payments/stripe")
    monkeypatch.setenv("PAYPAL_API_BASE", fake_paypal.base_url)
    monkeypatch.setenv("CRYPTOPAY_API_BASE", fake_cryptopay.base_url)
    monkeypatch.setenv("YOOKASSA_API_BASE", fake_yookassa.base_url)
    runtime_module.use_clock(clock)
    payer(PAYER, "US", phone="+1 212 555 0100")
    yield


def top_up(method: PaymentMethod, amount: int) -> Order:
    return runtime().payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=amount,
        currency=EUR,
        method=method,
        chat_id=PAYER,
    )


def started(order: Order) -> Order:
    link = runtime().bot.deps.checkout.start(order, title="Top-up")
    assert isinstance(link, PaymentLink)
    return link.order


def reconcile() -> dict[str, Any]:
    result: dict[str, Any] = reconcile_app.lambda_handler(
        scheduled_event(runtime().clock.now()), FakeContext("reconcile", timeout_seconds=300)
    )
    return result


def credits() -> list[tuple[str, int]]:
    return [(e.cause, e.amount) for e in runtime().ledger.entries(PAYER, EUR)]


def deliver(provider: str, headers: dict[str, str], body: bytes) -> int:
    response = call(payment_app.lambda_handler, http_event(f"/payments/{provider}", body, headers))
    return int(response["statusCode"])


def status(order: Order) -> OrderStatus:
    stored = runtime().payments.order(order.id)
    assert stored is not None
    return stored.status


def test_payments_whose_webhooks_were_lost_are_credited_once_and_late_webhooks_change_nothing(
    all_providers: None, localstripe: LocalStripe, fake_paypal: Any, fake_cryptopay: Any
) -> None:
    rt = runtime()
    # Stripe: a card charged at localstripe; its payment_intent.succeeded never arrives.
    customer, method = saved_card(localstripe, PAYER, "4242424242424242")
    by_card = top_up(PaymentMethod.STRIPE_CARD, 1_100)
    charged = rt.providers.stripe.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=1_100,
        currency="EUR",
        idempotency_key=f"test-{by_card.id}",
        metadata={"order_id": by_card.id},
    )
    assert charged.outcome == "succeeded"
    # PayPal: approved by the Payer; CHECKOUT.ORDER.APPROVED is lost, nothing captured yet.
    by_paypal = started(top_up(PaymentMethod.PAYPAL, 2_200))
    fake_paypal.approve(by_paypal.provider_ref)
    # Crypto Pay: paid; invoice_paid is lost.
    by_crypto = started(top_up(PaymentMethod.CRYPTO, 3_300))
    invoice_id = int(str(by_crypto.provider_ref).removeprefix("crypto-"))
    crypto_update = fake_cryptopay.pay(invoice_id)
    assert credits() == []

    first = reconcile()
    second = reconcile()

    assert sorted(amount for _, amount in credits()) == [1_100, 2_200, 3_300]
    assert {status(o) for o in (by_card, by_paypal, by_crypto)} == {OrderStatus.PAID}
    assert first["unreachable"] == [] and second["unreachable"] == []
    assert first["seen"]["paypal"] == 1 and first["seen"]["cryptopay"] >= 1
    assert "paypal" not in second["seen"]  # paid now: no longer open, not asked again

    # The webhooks arrive late, after reconciliation: nothing more is credited.
    approved = next(
        d for d in fake_paypal.webhook_deliveries if d.event_type == "CHECKOUT.ORDER.APPROVED"
    )
    assert deliver("paypal", approved.headers, approved.body) == 200
    assert deliver("cryptopay", *crypto_update) == 200
    event = next(
        e
        for e in rt.providers.stripe.events_since(0)
        if e["type"] == "payment_intent.succeeded"
        and e["data"]["object"]["metadata"].get("order_id") == by_card.id
    )
    body = json.dumps(event).encode()
    signature = sign_webhook(body, STRIPE_WEBHOOK_SECRET, int(rt.clock.now().timestamp()))
    assert deliver("stripe", {"stripe-signature": signature}, body) == 200

    assert sorted(amount for _, amount in credits()) == [1_100, 2_200, 3_300]


def test_a_payment_reconciled_before_its_webhook_meets_a_redelivered_event_once(
    all_providers: None, localstripe: LocalStripe
) -> None:
    rt = runtime()
    customer, method = saved_card(localstripe, PAYER, "4242424242424242")
    order = top_up(PaymentMethod.STRIPE_CARD, 1_500)
    rt.providers.stripe.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=1_500,
        currency="EUR",
        idempotency_key=f"test-{order.id}",
        metadata={"order_id": order.id},
    )
    reconcile()
    reconcile()

    assert [amount for _, amount in credits()] == [1_500]


def test_orders_past_their_time_are_expired_and_money_after_that_is_a_top_up(
    all_providers: None, clock: ManualClock, fake_cryptopay: Any
) -> None:
    waiting = started(top_up(PaymentMethod.CRYPTO, 2_000))
    # The provider's invoice is opened for as long as the order lasts (SPEC §7).
    invoice = fake_cryptopay.invoice(int(str(waiting.provider_ref).removeprefix("crypto-")))
    assert waiting.expires_at is not None
    assert invoice["expiration_date"].startswith(waiting.expires_at.strftime("%Y-%m-%dT%H:%M"))
    fresh_after = timedelta(hours=23)
    clock.advance(fresh_after)
    reconcile()
    assert status(waiting) is OrderStatus.PENDING

    clock.advance(timedelta(hours=2))
    report = reconcile()
    assert report["expired"] == 1 and status(waiting) is OrderStatus.EXPIRED

    # Paid after all (the invoice outlived the order): credited, as a top-up, once.
    invoice_id = int(str(waiting.provider_ref).removeprefix("crypto-"))
    assert deliver("cryptopay", *fake_cryptopay.pay(invoice_id)) == 200
    reconcile()
    assert [amount for _, amount in credits()] == [2_000]
    assert status(waiting) is OrderStatus.PAID
