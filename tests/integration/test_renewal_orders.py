"""A renewal paid by a payment method (SPEC §3, §5.2): the order carries the total the Payer
confirmed (bot/payments.py puts it in the order's details). If the price changed before the
money arrived, the period is not bought at another price: the money stays on the balance
and the Payer confirms the new quote."""

from __future__ import annotations

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.domain.tax import TaxProfile
from billing.orders.model import Order, Purpose
from billing.orders.service import Outcome
from billing.runtime import runtime
from tests.integration.payers import payer

EUR = Currency.EUR
PAYER = 707
NET = 18_000  # Gateway, 1 line, 6 months, before VAT


def gateway(country: str) -> str:
    rt = runtime()
    payer(PAYER, country)
    rt.ledger.top_up(PAYER, EUR, 30_000, cause="seed", reason="seed")
    return rt.subscriptions.connect(
        request_id="gw",
        payer_id=PAYER,
        customer_id=PAYER,
        product="gateway",
        options={"lines": 1},
        months=6,
        currency=EUR,
        tax=TaxProfile.create(country),
        has_saved_card=False,
    ).subscription.id


def renewal_order(sub_id: str, confirmed: int) -> Order:
    """What the Renew screen's "pay by a method" opens: the missing part of the quote."""
    rt = runtime()
    sub = rt.subscriptions.get_any(sub_id)
    missing = rt.ledger.wallet(PAYER, EUR).missing_for(confirmed)
    return rt.payments.open(
        payer_id=PAYER,
        purpose=Purpose.RENEW,
        amount=missing,
        currency=EUR,
        method=PaymentMethod.CRYPTO,
        chat_id=PAYER,
        details={"subscription_id": sub.id, "period_key": sub.period_key(), "total": confirmed},
    )


def settle(order: Order) -> Outcome:
    rt = runtime()
    settled = rt.payments.settle(
        order.id, amount=order.amount, currency="EUR", provider="cryptopay", provider_ref="p1"
    )
    return settled.outcome


def test_a_renewal_paid_after_the_price_went_up_stays_on_the_balance(
    lambda_env: Settings,
) -> None:
    sub_id = gateway("US")  # 180.00, no VAT; 120.00 left on the wallet
    before = runtime().subscriptions.get_any(sub_id)
    order = renewal_order(sub_id, NET)  # 60.00 missing
    runtime().profiles.set_country(PAYER, "DE")  # now 214.20

    assert settle(order) is Outcome.TOPPED_UP

    assert runtime().subscriptions.get_any(sub_id).expires_at == before.expires_at
    assert runtime().ledger.wallet(PAYER, EUR).balance == 12_000 + 6_000


def test_a_renewal_paid_after_the_price_went_down_is_not_bought_at_the_new_price(
    lambda_env: Settings,
) -> None:
    sub_id = gateway("DE")  # 214.20; 85.80 left on the wallet
    before = runtime().subscriptions.get_any(sub_id)
    order = renewal_order(sub_id, 21_420)  # 128.40 missing
    runtime().profiles.set_country(PAYER, "US")  # now 180.00

    assert settle(order) is Outcome.TOPPED_UP

    assert runtime().subscriptions.get_any(sub_id).expires_at == before.expires_at
    assert runtime().ledger.wallet(PAYER, EUR).balance == 30_000 - 21_420 + 12_840
