"""Regression tests of issue 11: money under real provider behaviour (SPEC §4, §7).

Refunds keyed by the provider's refund id and bounded by the payment; a refund before its
payment parked; the refund debit and the order's record in one transaction; a second real
payment for a paid order kept as a top-up; orders that expire; disputes won credited back.
Each of these failed on the code before the fix. Provider-free (the use cases on moto),
except the Stripe cases at the end, which run against localstripe and the real handler.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.orders.model import Order, OrderStatus, Purpose
from billing.orders.service import Outcome, RefundOutcome
from billing.providers.stripe_signature import sign_webhook
from billing.runtime import runtime
from billing.store.balances import BalancesRepository
from functions.payment_webhook import app as payment_app
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration import test_stripe_payments as stripe_tests
from tests.integration.conftest import STRIPE_WEBHOOK_SECRET
from tests.integration.http_events import call, http_event
from tests.integration.payers import payer, saved_card
from tests.integration.test_payments import PAYER, World, alerts
from tests.integration.test_stripe_payments import succeeded, top_up_order
from tests.integration.webhook_receiver import WebhookReceiver

EUR = Currency.EUR


@pytest.fixture
def world(tables: Settings, clock: ManualClock) -> World:
    return World(tables, clock)


def open_top_up(
    world: World, amount: int = 5_000, method: PaymentMethod = PaymentMethod.CRYPTO
) -> Order:
    """A pending top-up (crypto by default: a method that needs no country verification)."""
    return world.payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=amount,
        currency=EUR,
        method=method,
        chat_id=PAYER,
    )


def paid_top_up(world: World, amount: int = 5_000, ref: str = "pi_1") -> str:
    world.payer(PAYER, "US")
    order = open_top_up(world, amount)
    settled = world.payments.settle(
        order.id, amount=amount, currency="EUR", provider="test", provider_ref=ref
    )
    assert settled.outcome is Outcome.APPLIED
    return order.id


def refund(world: World, refund_id: str, amount: int, ref: str = "pi_1", **kw: Any):
    return world.payments.record_refund(
        provider="test", provider_ref=ref, refund_id=refund_id, amount=amount, currency="EUR", **kw
    )


def entries(world: World) -> list[tuple[str, int]]:
    return [(e.kind.value, e.amount) for e in world.ledger.entries(PAYER, EUR)]


# --- 1. refunds keyed by the provider's refund id, bounded -----------------------------------


def test_each_refund_is_debited_once_by_its_id_and_never_beyond_the_payment(
    world: World, tables: Settings
) -> None:
    order_id = paid_top_up(world)

    first = refund(world, "re_1", 2_000)
    again = refund(world, "re_1", 2_000)
    second = refund(world, "re_2", 3_000)
    beyond = refund(world, "re_3", 1_000)

    assert [first.outcome, again.outcome, second.outcome, beyond.outcome] == [
        RefundOutcome.DEBITED,
        RefundOutcome.ALREADY,
        RefundOutcome.DEBITED,
        RefundOutcome.NOTHING_LEFT,
    ]
    assert entries(world) == [("top_up", 5_000), ("refund", -2_000), ("refund", -3_000)]
    order = world.orders.get(order_id)
    assert order is not None and order.status is OrderStatus.REFUNDED
    assert order.refunded_amount == 5_000
    assert order.refunds == {"refund:re_1": 2_000, "refund:re_2": 3_000}
    assert "refund beyond the payment" in [a["reason"]["S"] for a in alerts(tables)]


def test_a_refund_larger_than_what_is_left_debits_only_what_is_left(world: World) -> None:
    paid_top_up(world)
    refund(world, "re_1", 4_000)

    partial = refund(world, "re_2", 3_000)

    assert partial.outcome is RefundOutcome.DEBITED
    assert entries(world)[-1] == ("refund", -1_000)
    assert world.balance(PAYER) == 0


def test_concurrent_refunds_of_one_payment_stay_within_it(world: World) -> None:
    paid_top_up(world)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: refund(world, f"re_{n}", 2_000), range(4)))

    assert world.balance(PAYER) == 0  # 5 000 paid: 2 000 + 2 000 + 1 000, never more
    order = world.orders.get(world.orders.by_provider_ref("pi_1").id)  # type: ignore[union-attr]
    assert order is not None and order.refunded_amount == 5_000


# --- 2. a refund before its payment --------------------------------------------------------


def test_a_refund_before_its_payment_is_parked_and_the_late_payment_still_credits(
    world: World, tables: Settings
) -> None:
    world.payer(PAYER, "US")
    order = open_top_up(world)
    world.payments.attach_provider_ref(order, "cap_1")

    parked = refund(world, "re_1", 5_000, ref="cap_1")

    assert parked.outcome is RefundOutcome.PARKED
    assert world.balance(PAYER) == 0 and entries(world) == []
    stored = world.orders.get(order.id)
    assert stored is not None and stored.status is OrderStatus.PENDING
    assert "refund before its payment; parked" in [a["reason"]["S"] for a in alerts(tables)]

    late = world.payments.settle(
        order.id, amount=5_000, currency="EUR", provider="test", provider_ref="cap_1"
    )
    assert late.outcome is Outcome.APPLIED
    assert world.balance(PAYER) == 5_000
    # Reported again once the payment is in (reconciliation does this), it is debited once.
    assert refund(world, "re_1", 5_000, ref="cap_1").outcome is RefundOutcome.DEBITED
    assert world.balance(PAYER) == 0


# --- 3. the refund debit and the order's record are one write --------------------------------


def test_a_crash_after_the_refund_debit_is_repaired_by_the_redelivery(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = paid_top_up(world)
    real_append = BalancesRepository.append
    crashes = [1]

    def append_then_crash(self: BalancesRepository, *args: Any, **kwargs: Any) -> None:
        real_append(self, *args, **kwargs)
        if crashes:
            crashes.pop()
            raise RuntimeError("the function died right after the debit")

    monkeypatch.setattr(BalancesRepository, "append", append_then_crash)
    with pytest.raises(RuntimeError):
        refund(world, "re_1", 5_000)
    refund(world, "re_1", 5_000)  # the provider delivers the event again

    assert world.balance(PAYER) == 0
    order = world.orders.get(order_id)
    assert order is not None and order.status is OrderStatus.REFUNDED
    assert order.refunded_amount == 5_000


# --- 4. a second real payment for a paid order ---------------------------------------------------


def test_a_second_payment_for_a_paid_order_is_kept_as_a_top_up_and_alerted(
    world: World, tables: Settings
) -> None:
    order_id = paid_top_up(world, ref="tg_charge_1")

    repeat = world.payments.settle(
        order_id, amount=5_000, currency="EUR", provider="telegram", provider_ref="tg_charge_1"
    )
    second = world.payments.settle(
        order_id, amount=5_000, currency="EUR", provider="telegram", provider_ref="tg_charge_2"
    )
    second_again = world.payments.settle(
        order_id, amount=5_000, currency="EUR", provider="telegram", provider_ref="tg_charge_2"
    )

    assert repeat.outcome is Outcome.ALREADY
    assert second.outcome is Outcome.TOPPED_UP and second.credited_now
    assert second_again.outcome is Outcome.ALREADY
    assert world.balance(PAYER) == 10_000
    # The second payment is an order of its own, so its refund finds it.
    extra = world.orders.by_provider_ref("tg_charge_2")
    assert extra is not None and extra.id != order_id and extra.status is OrderStatus.PAID
    assert refund(world, "re_9", 5_000, ref="tg_charge_2").outcome is RefundOutcome.DEBITED
    reasons = [a["reason"]["S"] for a in alerts(tables)]
    assert "second payment for a paid order; kept on the balance" in reasons


def test_two_different_payments_racing_for_one_order_are_both_credited(world: World) -> None:
    world.payer(PAYER, "US")
    order = open_top_up(world)

    def pay(ref: str) -> Outcome:
        return world.payments.settle(
            order.id, amount=5_000, currency="EUR", provider="test", provider_ref=ref
        ).outcome

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(pay, ["pi_a", "pi_b"]))

    assert outcomes == sorted([Outcome.APPLIED, Outcome.TOPPED_UP])
    assert world.balance(PAYER) == 10_000


# --- 10. orders expire ------------------------------------------------------------------------


def test_an_order_past_its_time_is_not_payable_and_late_money_is_a_top_up(
    world: World, clock: ManualClock, tables: Settings
) -> None:
    world.payer(PAYER)
    world.profiles.set_vat_id(PAYER, "DE136695976")
    order = world.connect_order(PAYER, 27_000, PaymentMethod.STRIPE_CARD, "draft-late")
    assert world.payments.is_payable(order.id, amount=27_000, currency="EUR") is not None

    clock.advance(timedelta(hours=24, seconds=1))
    assert world.payments.is_payable(order.id, amount=27_000, currency="EUR") is None
    late = world.payments.settle(
        order.id, amount=27_000, currency="EUR", provider="stripe", provider_ref="pi_late"
    )

    assert late.outcome is Outcome.TOPPED_UP and late.purchase is None
    assert world.balance(PAYER) == 27_000  # nothing bought at a price no longer confirmed
    assert world.subscriptions.visible_to(PAYER) == []
    assert "payment after the order expired; kept on the balance" in [
        a["reason"]["S"] for a in alerts(tables)
    ]


def test_expired_orders_leave_the_open_index_and_a_bank_transfer_waits_thirty_days(
    world: World, clock: ManualClock
) -> None:
    world.payer(PAYER, "US", name="ACME Inc")
    world.profiles.set_address(PAYER, "1 Main St")
    card = open_top_up(world)
    bank = open_top_up(world, 20_000, PaymentMethod.BANK_TRANSFER)
    due = clock.now() + timedelta(days=1)
    assert [o.id for o in world.orders.open_until(due)] == [card.id]

    expired = world.payments.expire(card.id)

    assert expired is not None and expired.status is OrderStatus.EXPIRED
    assert world.payments.expire(card.id) is None  # once
    far = clock.now() + timedelta(days=31)
    assert [o.id for o in world.orders.open_until(far)] == [bank.id]


# --- Stripe, against localstripe and the real handler -----------------------------------------


def stripe_event(kind: str, obj: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}
    ).encode()


def deliver(body: bytes) -> int:
    timestamp = int(runtime().clock.now().timestamp())
    headers = {"stripe-signature": sign_webhook(body, STRIPE_WEBHOOK_SECRET, timestamp)}
    response = call(payment_app.lambda_handler, http_event("/payments/stripe", body, headers))
    return int(response["statusCode"])


def card_payment(localstripe: LocalStripe, amount: int = 5_000) -> tuple[str, str]:
    """A top-up paid by a saved card at localstripe; returns (order id, payment intent)."""
    payer(PAYER + 1, "FR", phone="+33 1 42 68 53 00")
    customer, method = saved_card(localstripe, PAYER + 1, "4242424242424242")
    rt = runtime()
    order = rt.payments.open(
        payer_id=PAYER + 1,
        purpose=Purpose.TOP_UP,
        amount=amount,
        currency=EUR,
        method=PaymentMethod.STRIPE_CARD,
        chat_id=PAYER + 1,
    )
    result = rt.providers.stripe.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=amount,
        currency="EUR",
        idempotency_key=f"test-{order.id}",
        metadata={"order_id": order.id},
    )
    assert result.outcome == "succeeded" and result.payment_intent_id is not None
    rt.payments.settle(
        order.id,
        amount=amount,
        currency="EUR",
        provider="stripe",
        provider_ref=result.payment_intent_id,
    )
    return order.id, result.payment_intent_id


def payer_entries() -> list[tuple[str, int]]:
    return [(e.kind.value, e.amount) for e in runtime().ledger.entries(PAYER + 1, EUR)]


def charge_refunded(intent: str, refunded: int, event_id: str) -> bytes:
    # The shape since API 2022-11-15: no `refunds` list on the charge.
    charge = {
        "id": f"ch_{intent}",
        "object": "charge",
        "payment_intent": intent,
        "currency": "eur",
        "amount": 5_000,
        "amount_refunded": refunded,
        "refunded": refunded == 5_000,
    }
    return stripe_event("charge.refunded", charge, event_id)


def test_two_partial_stripe_refunds_debit_twenty_and_thirty_and_the_payer_is_told(
    stripe_env: WebhookReceiver, localstripe: LocalStripe, fake_telegram: FakeBotApi
) -> None:
    _, intent = card_payment(localstripe)
    stripe = runtime().providers.stripe
    stripe.refund(payment_intent_id=intent, amount=2_000, idempotency_key=f"r1-{intent}")
    assert deliver(charge_refunded(intent, 2_000, "evt_r1")) == 200
    stripe.refund(payment_intent_id=intent, amount=3_000, idempotency_key=f"r2-{intent}")
    assert deliver(charge_refunded(intent, 5_000, "evt_r2")) == 200
    assert deliver(charge_refunded(intent, 5_000, "evt_r2_late_copy")) == 200

    assert payer_entries() == [("top_up", 5_000), ("refund", -2_000), ("refund", -3_000)]
    texts = [m.get("text", "") for m in fake_telegram.messages(PAYER + 1)]
    assert sum("refunded" in text for text in texts) == 2


def test_an_admin_refund_and_its_own_webhook_debit_once(
    stripe_env: WebhookReceiver, localstripe: LocalStripe
) -> None:
    order_id, intent = card_payment(localstripe)

    runtime().bot.deps.refunds.refund(order_id, 1_500)
    assert deliver(charge_refunded(intent, 1_500, "evt_admin")) == 200

    assert payer_entries() == [("top_up", 5_000), ("refund", -1_500)]


# --- 14. a dispute the seller wins ---------------------------------------------------------------


def test_a_won_dispute_credits_back_what_it_took_once(
    stripe_env: WebhookReceiver, localstripe: LocalStripe
) -> None:
    _, intent = card_payment(localstripe)
    dispute = {
        "id": "dp_won",
        "object": "dispute",
        "payment_intent": intent,
        "amount": 5_000,
        "currency": "eur",
        "status": "needs_response",
    }
    assert deliver(stripe_event("charge.dispute.created", dispute, "evt_d1")) == 200
    assert runtime().ledger.wallet(PAYER + 1, EUR).balance == 0

    won = {**dispute, "status": "won"}
    assert deliver(stripe_event("charge.dispute.funds_reinstated", won, "evt_d2")) == 200
    assert deliver(stripe_event("charge.dispute.closed", won, "evt_d3")) == 200

    assert payer_entries() == [("top_up", 5_000), ("chargeback", -5_000), ("reversal", 5_000)]
    order = runtime().payments.order_of_provider(intent)
    assert order is not None and order.status is OrderStatus.PAID and order.refunded_amount == 0


def test_checkout_session_expired_ends_the_order_it_waits_on(
    stripe_env: WebhookReceiver,
) -> None:
    rt = runtime()
    order = rt.payments.attach_provider_ref(top_up_order(), "cs_test_1")
    other = {"id": "cs_older", "object": "checkout.session", "client_reference_id": order.id}
    session = {**other, "id": "cs_test_1"}

    assert deliver(stripe_event("checkout.session.expired", other, "evt_x0")) == 200
    assert rt.payments.order(order.id).status is OrderStatus.PENDING  # type: ignore[union-attr]
    assert deliver(stripe_event("checkout.session.expired", session, "evt_x1")) == 200
    assert rt.payments.order(order.id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]


# --- 11. a provider event whose work fails is delivered again and acts once -----------------------


def test_a_provider_event_that_fails_midway_answers_503_and_its_redelivery_credits_once(
    stripe_env: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.errors import ConcurrentModification
    from billing.orders.service import PaymentService

    rt = runtime()
    order = top_up_order()
    body = stripe_event("payment_intent.succeeded", succeeded(order.id), "evt_fails_once")
    real_settle = PaymentService.settle
    failures = [ConcurrentModification("the wallet kept changing")]

    def settle_failing_once(self: PaymentService, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_settle(self, *args, **kwargs)

    monkeypatch.setattr(PaymentService, "settle", settle_failing_once)

    assert deliver(body) == 503  # not done: Stripe delivers it again
    assert deliver(body) == 200
    assert deliver(body) == 200  # done: a third copy changes nothing

    assert [e.amount for e in rt.ledger.entries(stripe_tests.PAYER, EUR)] == [5_000]
