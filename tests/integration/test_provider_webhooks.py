"""PayPal and Crypto Pay: orders paid through the fakes (real payload shapes and signature
schemes), their webhooks delivered to the Lambda handler five times, some concurrently,
some out of order: one credit. Forged or tampered deliveries: 401, nothing written."""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.orders.checkout import PaymentLink
from billing.orders.model import Order, OrderStatus, Purpose
from billing.runtime import runtime
from functions.payment_webhook import app as payment_app
from tests.integration.conftest import CRYPTOPAY_TOKEN
from tests.integration.http_events import call, http_event
from tests.integration.payers import payer

EUR = Currency.EUR
PAYER = 5150


def open_order(method: PaymentMethod, amount: int = 2_500, purpose: Purpose = Purpose.TOP_UP):
    payer(PAYER, "DE", phone="+49 30 901820")
    rt = runtime()
    order = rt.payments.open(
        payer_id=PAYER,
        purpose=purpose,
        amount=amount,
        currency=EUR,
        method=method,
        chat_id=PAYER,
    )
    started = rt.bot.deps.checkout.start(order, title="Top-up")
    assert isinstance(started, PaymentLink)
    return started.order, started.url


def deliver(provider: str, headers: dict[str, str], body: bytes) -> int:
    response = call(payment_app.lambda_handler, http_event(f"/payments/{provider}", body, headers))
    return int(response["statusCode"])


def credits() -> list[int]:
    return [e.amount for e in runtime().ledger.entries(PAYER, EUR)]


def written(settings: Settings) -> int:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    return sum(
        client.scan(TableName=name, Select="COUNT")["Count"]
        for name in (settings.orders_table, settings.balances_table, settings.idempotency_table)
    )


def paid(order: Order) -> bool:
    stored = runtime().payments.order(order.id)
    return stored is not None and stored.status is OrderStatus.PAID


# --- PayPal -----------------------------------------------------------------------------------


def test_paypal_approval_captures_and_credits_once_across_five_deliveries(
    providers_env: Settings, fake_paypal: Any
) -> None:
    order, url = open_order(PaymentMethod.PAYPAL)
    assert order.provider_ref is not None and order.provider_ref in url
    fake_paypal.approve(order.provider_ref)
    approved = fake_paypal.webhook_deliveries[-1]
    assert approved.event_type == "CHECKOUT.ORDER.APPROVED"

    # First the approval: the handler captures the order at PayPal and credits it.
    assert deliver("paypal", approved.headers, approved.body) == 200
    completed = fake_paypal.webhook_deliveries[-1]
    assert completed.event_type == "PAYMENT.CAPTURE.COMPLETED"
    # Then the completion and the approval again, three at once, and the completion last.
    deliveries = [completed, approved, completed]
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda d: deliver("paypal", d.headers, d.body), deliveries))
    # A copy that meets another still at work is told to come back later (503), never 200:
    # that one could still fail.
    assert set(statuses) <= {200, 503} and 200 in statuses
    assert deliver("paypal", completed.headers, completed.body) == 200

    assert credits() == [2_500]
    assert paid(order)
    stored = runtime().payments.order(order.id)
    assert stored is not None and stored.provider_ref == fake_paypal.capture_of(
        order.provider_ref if order.provider_ref else ""
    )


def test_paypal_completion_before_approval_still_credits_once(
    providers_env: Settings, fake_paypal: Any
) -> None:
    order, _ = open_order(PaymentMethod.PAYPAL)
    fake_paypal.approve(order.provider_ref)
    approved = fake_paypal.webhook_deliveries[-1]
    # The approval is lost for now; the capture happens (as PayPal's own return flow
    # might), and its completion event arrives first.
    runtime().providers.paypal.capture_order(order.provider_ref)
    completed = fake_paypal.webhook_deliveries[-1]

    assert deliver("paypal", completed.headers, completed.body) == 200
    assert deliver("paypal", approved.headers, approved.body) == 200  # late: capture exists

    assert credits() == [2_500]


def test_forged_or_tampered_paypal_deliveries_are_401_and_write_nothing(
    providers_env: Settings, fake_paypal: Any
) -> None:
    order, _ = open_order(PaymentMethod.PAYPAL)
    fake_paypal.approve(order.provider_ref)
    approved = fake_paypal.webhook_deliveries[-1]
    before = written(providers_env)
    tampered = approved.body.replace(b"APPROVED", b"COMPLETED", 1)
    forged = dict(approved.headers, **{"paypal-transmission-sig": "Zm9yZ2Vk"})
    stripped = {k: v for k, v in approved.headers.items() if not k.lower().startswith("paypal-")}

    assert deliver("paypal", approved.headers, tampered) == 401
    assert deliver("paypal", forged, approved.body) == 401
    assert deliver("paypal", stripped, approved.body) == 401
    assert written(providers_env) == before
    assert credits() == []


# --- Crypto Pay ---------------------------------------------------------------------------------


def crypto_invoice_id(order: Order) -> int:
    assert order.provider_ref is not None
    return int(order.provider_ref.removeprefix("crypto-"))


def test_crypto_invoice_paid_credits_once_across_five_deliveries(
    providers_env: Settings, fake_cryptopay: Any
) -> None:
    order, url = open_order(PaymentMethod.CRYPTO)
    assert url.startswith(fake_cryptopay.base_url)
    invoice = fake_cryptopay.invoice(crypto_invoice_id(order))
    assert invoice["currency_type"] == "fiat" and invoice["fiat"] == "EUR"
    assert Decimal(invoice["amount"]) == Decimal("25.00") and invoice["accepted_assets"] == [
        "BTC",
        "ETH",
        "USDT",
        "TON",
    ]
    headers, body = fake_cryptopay.pay(crypto_invoice_id(order), asset="TON")

    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda _: deliver("cryptopay", headers, body), range(3)))
    later = [deliver("cryptopay", headers, body) for _ in range(2)]

    # A copy that meets another still at work is 503 (come back later), never a false 200.
    assert set(statuses) <= {200, 503} and 200 in statuses
    assert later == [200, 200]
    assert credits() == [2_500]
    assert paid(order)


def signed_crypto(update: dict[str, Any], token: str = CRYPTOPAY_TOKEN) -> tuple[dict, bytes]:
    body = json.dumps(update).encode()
    key = hashlib.sha256(token.encode()).digest()
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {"crypto-pay-api-signature": signature}, body


def test_crypto_wrong_amount_or_currency_is_alerted_not_credited(
    providers_env: Settings, fake_cryptopay: Any
) -> None:
    order, _ = open_order(PaymentMethod.CRYPTO)
    _, body = fake_cryptopay.pay(crypto_invoice_id(order))
    update = json.loads(body)
    wrong_amount = json.loads(body)
    wrong_amount["update_id"] += 1000
    wrong_amount["payload"]["amount"] = "20.00"
    wrong_currency = json.loads(body)
    wrong_currency["update_id"] += 2000
    wrong_currency["payload"]["fiat"] = "USD"

    for changed in (wrong_amount, wrong_currency):
        assert deliver("cryptopay", *signed_crypto(changed)) == 200

    assert credits() == []
    reasons = sorted(alert.reason for alert in runtime().orders.alerts())
    assert reasons == [
        "amount mismatch: 20.00 EUR paid for 25.00 EUR",
        "currency mismatch: USD paid for a EUR order",
    ]
    assert update["payload"]["payload"] == order.id


@pytest.mark.parametrize("case", ["tampered", "wrong token", "no signature"])
def test_forged_crypto_deliveries_are_401_and_write_nothing(
    providers_env: Settings, fake_cryptopay: Any, case: str
) -> None:
    order, _ = open_order(PaymentMethod.CRYPTO)
    headers, body = fake_cryptopay.pay(crypto_invoice_id(order))
    before = written(providers_env)
    if case == "tampered":
        changed = json.loads(body)
        changed["payload"]["amount"] = "2500"
        body = json.dumps(changed).encode()
    elif case == "wrong token":
        headers, body = signed_crypto(json.loads(body), token="99999:wrong")
    else:
        headers = {}

    assert deliver("cryptopay", headers, body) == 401
    assert written(providers_env) == before
    assert credits() == []
