"""Card payments through Stripe, against localstripe running as a real server: off-session
renewals with a saved card (success, decline, authentication required), and the webhooks
localstripe signs and sends, reaching the Lambda handler and crediting exactly once.
Events localstripe never sends (refunds, disputes, Checkout) are built and signed with
Stripe's real scheme."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.periods import add_months
from billing.domain.profile import PaymentMethod
from billing.domain.tax import TaxProfile
from billing.orders.model import OrderStatus, Purpose
from billing.orders.saved_card import CardOutcome
from billing.providers.stripe_signature import sign_webhook
from billing.runtime import runtime
from functions.payment_webhook import app as payment_app
from local.localstripe_peer import LocalStripe
from tests.integration.conftest import STRIPE_WEBHOOK_SECRET
from tests.integration.http_events import call, http_event
from tests.integration.payers import payer, saved_card
from tests.integration.webhook_receiver import WebhookReceiver

EUR = Currency.EUR
PAYER = 4242
GATEWAY = {"lines": 1}


def payer_with_card(localstripe: LocalStripe, number: str) -> None:
    payer(PAYER, "FR", phone="+33 1 42 68 53 00")  # localstripe's cards are all issued in FR
    saved_card(localstripe, PAYER, number)


def gateway_subscription() -> str:
    rt = runtime()
    rt.ledger.top_up(PAYER, EUR, 21_600, cause="seed", reason="seed")
    purchase = rt.subscriptions.connect(
        request_id="gw",
        payer_id=PAYER,
        customer_id=PAYER,
        product="gateway",
        options=GATEWAY,
        months=6,
        currency=EUR,
        tax=TaxProfile.create("FR"),
        has_saved_card=True,
    )
    return purchase.subscription.id


def entries(cause_prefix: str) -> list[int]:
    return [
        e.amount for e in runtime().ledger.entries(PAYER, EUR) if e.cause.startswith(cause_prefix)
    ]


def table_items(settings: Settings) -> int:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    return sum(
        client.scan(TableName=name, Select="COUNT")["Count"]
        for name in (
            settings.orders_table,
            settings.balances_table,
            settings.idempotency_table,
            settings.subscriptions_table,
        )
    )


def test_off_session_renewal_with_a_saved_card_charges_once_and_extends(
    stripe_env: WebhookReceiver,
    localstripe: LocalStripe,
) -> None:
    payer_with_card(localstripe, "4242424242424242")
    sub_id = gateway_subscription()
    rt = runtime()
    before = rt.subscriptions.get_any(sub_id).expires_at
    period = rt.subscriptions.get_any(sub_id).period_key()

    first = rt.saved_cards.renew(sub_id, period_key=period)
    again = rt.saved_cards.renew(sub_id, period_key=period)  # the same message twice

    assert first.outcome is CardOutcome.PAID
    assert again.outcome is CardOutcome.MOVED_ON and again.order is None  # nothing charged
    assert first.order is not None and first.order.status is OrderStatus.PAID
    renewed = rt.subscriptions.get_any(sub_id)
    assert renewed.expires_at == add_months(before, 6)
    # Gateway, 1 line, 6 months, FR 20 %: 180.00 net + 36.00 VAT = 216.00 EUR, paid by
    # card: credited and charged in one transaction, with the invoice.
    assert entries("order:") == [21_600]
    assert entries("renew:") == [-21_600]
    assert first.settlement is not None and first.settlement.purchase is not None
    assert first.settlement.purchase.invoice_number == "INV-000002"
    # localstripe's payment_intent.succeeded reaches the handler: 200, and no second credit.
    answers = stripe_env.wait_for(1)
    assert answers and all(status == 200 for _, status in answers)
    assert entries("order:") == [21_600]
    # localstripe's card is from FR like the billing country: no flag.
    assert rt.profiles.profile(PAYER).flagged_for_support is None


def test_a_renewal_by_card_for_a_payer_in_debt_pays_the_debt_too_and_charges_once(
    stripe_env: WebhookReceiver,
    localstripe: LocalStripe,
) -> None:
    # Found by the simulation: the card paid the renewal's price, which only repaid the debt
    # (a chargeback), the period stayed unbought, and the next attempt charged it again.
    payer_with_card(localstripe, "4242424242424242")
    sub_id = gateway_subscription()
    rt = runtime()
    rt.ledger.refund(PAYER, EUR, 5_000, cause="dispute:dp_debt", reason="chargeback")
    period = rt.subscriptions.get_any(sub_id).period_key()

    first = rt.saved_cards.renew(sub_id, period_key=period)

    assert first.outcome is CardOutcome.PAID
    assert first.order is not None and first.order.amount == 21_600 + 5_000
    assert rt.subscriptions.get_any(sub_id).period_key() != period  # the period was bought
    assert rt.ledger.wallet(PAYER, EUR).balance == 0  # the debt repaid, the renewal paid
    assert entries("renew:") == [-21_600]


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("4000000000000341", CardOutcome.DECLINED),
        ("4000002500003155", CardOutcome.NEEDS_AUTHENTICATION),
    ],
)
def test_a_declined_or_unauthenticated_card_changes_nothing_but_the_order(
    stripe_env: WebhookReceiver,
    localstripe: LocalStripe,
    number: str,
    expected: CardOutcome,
) -> None:
    payer_with_card(localstripe, number)
    sub_id = gateway_subscription()
    rt = runtime()
    before = rt.subscriptions.get_any(sub_id)

    result = rt.saved_cards.renew(sub_id, period_key=before.period_key())

    assert result.outcome is expected
    assert result.order is not None and result.order.status is OrderStatus.FAILED
    assert rt.subscriptions.get_any(sub_id).expires_at == before.expires_at
    assert entries("order:") == [] and entries("renew:") == []
    time.sleep(1.5)  # a payment_failed event, if localstripe sends one, changes nothing
    assert entries("order:") == []


def stripe_event(kind: str, obj: dict, event_id: str) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}
    ).encode()


def deliver(body: bytes, *, secret: str = STRIPE_WEBHOOK_SECRET, at: int | None = None) -> int:
    timestamp = at if at is not None else int(runtime().clock.now().timestamp())
    headers = {"stripe-signature": sign_webhook(body, secret, timestamp)}
    response = call(payment_app.lambda_handler, http_event("/payments/stripe", body, headers))
    return int(response["statusCode"])


def top_up_order(amount: int = 5_000):
    rt = runtime()
    payer(PAYER, "US", phone="+1 212 555 0100")
    return rt.payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=amount,
        currency=EUR,
        method=PaymentMethod.STRIPE_CARD,
        chat_id=PAYER,
    )


def succeeded(order_id: str, amount: int = 5_000, currency: str = "eur") -> dict:
    return {
        "id": f"pi_{order_id}",
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": currency,
        "status": "succeeded",
        "metadata": {"order_id": order_id},
    }


def test_five_deliveries_some_concurrent_and_out_of_order_credit_once(
    stripe_env: WebhookReceiver,
) -> None:
    order = top_up_order()
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": 5_000,
        "currency": "eur",
        "payment_intent": f"pi_{order.id}",
        "metadata": {"order_id": order.id},
    }
    intent_event = stripe_event("payment_intent.succeeded", succeeded(order.id), "evt_pi")
    session_event = stripe_event("checkout.session.completed", session, "evt_cs")
    # The intent's event first (out of order), then both again, three of them at once.
    assert deliver(intent_event) == 200
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(deliver, [session_event, intent_event, session_event]))
    # A copy meeting another still at work is told to come back (503), never a false 200.
    assert statuses[1] == 200 and set(statuses) <= {200, 503}
    assert deliver(session_event) == 200
    assert deliver(intent_event) == 200

    assert entries("order:") == [5_000]
    assert runtime().ledger.wallet(PAYER, EUR).balance == 5_000
    stored = runtime().payments.order(order.id)
    assert stored is not None and stored.status is OrderStatus.PAID


def test_forged_tampered_and_stale_stripe_events_are_401_and_write_nothing(
    stripe_env: WebhookReceiver, lambda_env: Settings
) -> None:
    order = top_up_order()
    body = stripe_event("payment_intent.succeeded", succeeded(order.id), "evt_forged")
    items = table_items(lambda_env)
    now = int(runtime().clock.now().timestamp())
    tampered_headers = {"stripe-signature": sign_webhook(body, STRIPE_WEBHOOK_SECRET, now)}
    tampered = body.replace(b"5000", b"9000")

    assert deliver(body, secret="whsec_wrong") == 401
    assert deliver(body, at=now - 301) == 401  # older than Stripe's 5-minute tolerance
    response = call(
        payment_app.lambda_handler, http_event("/payments/stripe", tampered, tampered_headers)
    )
    assert response["statusCode"] == 401
    assert (
        call(payment_app.lambda_handler, http_event("/payments/stripe", body))["statusCode"] == 401
    )  # no signature at all
    assert table_items(lambda_env) == items
    assert runtime().ledger.wallets(PAYER) == []


def test_wrong_amount_or_currency_is_recorded_alerted_and_not_credited(
    stripe_env: WebhookReceiver, lambda_env: Settings
) -> None:
    order = top_up_order()
    wrong_amount = stripe_event("payment_intent.succeeded", succeeded(order.id, 4_000), "e1")
    wrong_currency = stripe_event(
        "payment_intent.succeeded", succeeded(order.id, 5_000, "usd"), "e2"
    )

    assert deliver(wrong_amount) == 200
    assert deliver(wrong_currency) == 200

    assert runtime().ledger.wallets(PAYER) == []
    reasons = sorted(alert.reason for alert in runtime().orders.alerts())
    assert reasons == [
        "amount mismatch: 40.00 EUR paid for 50.00 EUR",
        "currency mismatch: USD paid for a EUR order",
    ]


def test_refund_and_dispute_debit_the_wallet_into_debt_and_alert_support(
    stripe_env: WebhookReceiver,
) -> None:
    order = top_up_order()
    assert deliver(stripe_event("payment_intent.succeeded", succeeded(order.id), "e1")) == 200
    runtime().ledger.charge(PAYER, EUR, 4_000, cause="spent", reason="spent")
    refund = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": f"pi_{order.id}",
        "currency": "eur",
        "amount_refunded": 3_000,
        "refunds": {"object": "list", "data": [{"id": "re_1", "amount": 3_000}]},
    }
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "payment_intent": f"pi_{order.id}",
        "amount": 2_000,
        "currency": "eur",
    }

    assert deliver(stripe_event("charge.refunded", refund, "e2")) == 200
    assert deliver(stripe_event("charge.refunded", refund, "e3")) == 200  # same refund again
    assert deliver(stripe_event("charge.dispute.created", dispute, "e4")) == 200

    # 50.00 in, 40.00 spent, 30.00 refunded, 20.00 disputed: -40.00, debt recorded.
    assert runtime().ledger.wallet(PAYER, EUR).balance == -4_000
    kinds = [e.kind.value for e in runtime().ledger.entries(PAYER, EUR)]
    assert kinds == ["top_up", "charge", "refund", "chargeback"]
    reasons = sorted(alert.reason for alert in runtime().orders.alerts())
    assert reasons == [
        "chargeback (dispute opened) debited from the wallet",
        "refund debited from the wallet",
    ]


def test_checkout_with_save_card_keeps_the_card_and_flags_a_contradicting_country(
    stripe_env: WebhookReceiver, localstripe: LocalStripe
) -> None:
    rt = runtime()
    payer(PAYER, "DE", phone="+49 30 901820")
    order = rt.payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=5_000,
        currency=EUR,
        method=PaymentMethod.STRIPE_CARD,
        chat_id=PAYER,
        details={"save_card": True},
    )
    # What Stripe Checkout leaves behind (localstripe has no Checkout): a customer, and a
    # succeeded PaymentIntent with the card, here made off-session on localstripe.
    customer = localstripe.create_customer(payer_id=str(PAYER))
    method = localstripe.create_card_payment_method("4242424242424242")
    localstripe.attach(method, customer)
    intent = rt.providers.stripe.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=5_000,
        currency="EUR",
        idempotency_key=f"test-{order.id}",
        metadata={"order_id": order.id},
    )
    assert intent.outcome == "succeeded" and intent.payment_intent_id is not None
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": 5_000,
        "currency": "eur",
        "customer": customer,
        "payment_intent": intent.payment_intent_id,
        "metadata": {"order_id": order.id},
    }

    assert deliver(stripe_event("checkout.session.completed", session, "evt_cs_save")) == 200

    profile = rt.profiles.profile(PAYER)
    assert profile.saved_card is not None
    assert (profile.saved_card.last4, profile.saved_card.provider_ref) == ("4242", method)
    assert profile.saved_card.customer_ref == customer
    assert rt.ledger.wallet(PAYER, EUR).balance == 5_000
    # localstripe's payment_intent.succeeded follows; the card is from FR, the Payer
    # declared DE: flagged for support, with an alert (SPEC §6). Still one credit.
    stripe_env.wait_for(1)
    assert rt.profiles.profile(PAYER).flagged_for_support == (
        "card country FR contradicts billing country DE"
    )
    assert [a.reason for a in rt.orders.alerts()] == [
        "card country FR contradicts billing country DE"
    ]
    assert entries("order:") == [5_000]
