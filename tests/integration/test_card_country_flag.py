"""SPEC §6: the card country Stripe reports after a payment flags the Payer for support when
it contradicts the declared country, once per Payer, and only for a Payer whose tax status
needed the verification (no valid EU VAT id). localstripe's cards are all issued in FR."""

from __future__ import annotations

import pytest

from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.orders.model import Purpose
from billing.runtime import runtime
from local.localstripe_peer import LocalStripe
from tests.integration.payers import payer
from tests.integration.test_stripe_payments import deliver, stripe_event, succeeded
from tests.integration.webhook_receiver import WebhookReceiver

EUR = Currency.EUR
CARD = "4242424242424242"
CONTRADICTION = "card country FR contradicts billing country DE"


def pay_by_card(localstripe: LocalStripe, payer_id: int, n: int) -> None:
    """A Stripe card payment of a 50.00 EUR top-up, confirmed by its webhook."""
    order = runtime().payments.open(
        payer_id=payer_id,
        purpose=Purpose.TOP_UP,
        amount=5_000,
        currency=EUR,
        method=PaymentMethod.STRIPE_CARD,
        chat_id=payer_id,
    )
    intent = {**succeeded(order.id), "payment_method": localstripe.create_card_payment_method(CARD)}
    assert deliver(stripe_event("payment_intent.succeeded", intent, f"evt_{payer_id}_{n}")) == 200


@pytest.fixture
def card_stripe(stripe_env: WebhookReceiver, localstripe: LocalStripe) -> LocalStripe:
    return localstripe


def test_a_payer_with_a_valid_vat_id_is_not_flagged(card_stripe: LocalStripe) -> None:
    payer(501, "LT", vat_id="LT100001919017")  # needed no verification

    pay_by_card(card_stripe, 501, 1)

    assert runtime().ledger.wallet(501, EUR).balance == 5_000
    assert runtime().profiles.profile(501).flagged_for_support is None
    assert runtime().orders.alerts() == []


def test_a_contradicting_card_flags_a_payer_who_needed_verification_once(
    card_stripe: LocalStripe,
) -> None:
    payer(502, "DE", phone="+49 30 901820")  # verified by the phone's country

    for n in range(3):
        pay_by_card(card_stripe, 502, n)

    assert runtime().ledger.wallet(502, EUR).balance == 15_000
    assert runtime().profiles.profile(502).flagged_for_support == CONTRADICTION
    assert [a.reason for a in runtime().orders.alerts()] == [CONTRADICTION]
    assert runtime().orders.alerts()[0].details["payer"] == 502

    # Support looked and confirmed the country by hand: later cards do not flag again.
    runtime().profiles.verify_country_by_support(502, 900, frozenset({900}))
    alert = runtime().orders.alerts()[0]
    runtime().orders.resolve(alert.id, by_admin=900, now=runtime().clock.now())
    pay_by_card(card_stripe, 502, 9)
    assert runtime().profiles.profile(502).flagged_for_support is None
    assert runtime().orders.alerts() == []
