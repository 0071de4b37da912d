"""Support's order actions in the bot (SPEC §9): look up by order number or provider
payment id, mark a bank transfer paid with the amount received, refund a card payment
through Stripe (localstripe). Admins only, audited, money only through the ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.domain.tax import TaxProfile
from billing.orders.model import OrderStatus, Purpose
from billing.runtime import runtime
from billing.store.audit import AuditRepository
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.payers import payer, saved_card
from tests.integration.webhook_receiver import WebhookReceiver

ADMIN = TgUser(900, "Sam")
ANN = TgUser(101, "Ann")
EUR = Currency.EUR


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def company(user: TgUser) -> None:
    payer(
        user.id,
        "LT",
        name="UAB Pavyzdys",
        address="Gedimino pr. 1, Vilnius",
        vat_id="LT100001919017",
    )


def actions(user: TgUser) -> list[str]:
    return [entry.action for entry in AuditRepository().for_user(user.id)]


def test_support_marks_a_bank_transfer_paid_with_the_amount_received(chat: Chat) -> None:
    company(ANN)
    order = runtime().payments.open(
        payer_id=ANN.id,
        purpose=Purpose.TOP_UP,
        amount=15_000,
        currency=EUR,
        method=PaymentMethod.BANK_TRANSFER,
        chat_id=ANN.id,
    )

    chat.say(ANN, f"/admin {order.id}")  # not an admin: nothing revealed
    assert chat.screen(ANN) == "I don't know that command. /help lists what I can do."
    chat.press_data(ANN, f"ab:{order.id}")
    assert runtime().ledger.wallets(ANN.id) == []

    chat.say(ADMIN, f"/admin {order.id}")
    screen = chat.screen(ADMIN)
    assert f"Support: order {order.id}" in screen and "Payer: 101" in screen
    assert "Status: pending" in screen
    chat.press(ADMIN, "Mark the transfer paid")
    chat.say(ADMIN, "USD 150.00")
    assert "Not done: order" in chat.screen(ADMIN)  # wrong currency: the question stays
    chat.say(ADMIN, "EUR 149.50")  # the bank took a fee: what arrived is credited

    assert "149.50 EUR credited to user 101" in chat.screen(ADMIN)
    assert runtime().ledger.wallet(ANN.id, EUR).balance == 14_950
    stored = runtime().payments.order(order.id)
    assert stored is not None and stored.status is OrderStatus.PAID
    assert actions(ANN) == ["bank_transfer_paid"]
    assert "Payment of 149.50 EUR received" in chat.screen(ANN)
    # The button is gone; the same press forged again changes nothing.
    chat.say(ADMIN, f"/admin {order.id}")
    assert "Mark the transfer paid" not in chat.buttons(ADMIN)
    chat.press_data(ADMIN, f"ab:{order.id}")
    chat.say(ADMIN, "EUR 149.50")
    assert runtime().ledger.wallet(ANN.id, EUR).balance == 14_950


def test_support_finds_the_account_of_a_provider_payment_id(chat: Chat) -> None:
    company(ANN)
    order = runtime().payments.open(
        payer_id=ANN.id,
        purpose=Purpose.TOP_UP,
        amount=5_000,
        currency=EUR,
        method=PaymentMethod.CRYPTO,
        chat_id=ANN.id,
    )
    runtime().payments.settle(
        order.id, amount=5_000, currency="EUR", provider="cryptopay", provider_ref="crypto-77"
    )

    chat.say(ADMIN, "/admin")
    chat.say(ADMIN, "crypto-77")

    screen = chat.screen(ADMIN)
    assert f"Support: order {order.id}" in screen and "Payer: 101" in screen
    assert "Refund" not in chat.buttons(ADMIN)  # crypto is refunded by hand
    chat.press(ADMIN, "Payer 101")
    assert "Support: user 101" in chat.screen(ADMIN)


def test_support_refunds_a_card_payment_through_stripe(
    chat: Chat, stripe_env: WebhookReceiver, localstripe: LocalStripe
) -> None:
    rt = runtime()
    company(ANN)
    saved_card(localstripe, ANN.id, "4242424242424242")
    rt.ledger.top_up(ANN.id, EUR, 21_780, cause="seed", reason="seed")
    sub = rt.subscriptions.connect(
        request_id="gw",
        payer_id=ANN.id,
        customer_id=ANN.id,
        product="gateway",
        options={"lines": 1},
        months=6,
        currency=EUR,
        tax=TaxProfile.create("LT", "LT100001919017"),
        has_saved_card=True,
    ).subscription
    charged = rt.saved_cards.renew(sub.id, period_key=sub.period_key())
    assert charged.order is not None
    order_id = charged.order.id

    chat.say(ADMIN, f"/admin {order_id}")
    chat.press(ADMIN, "Refund")
    chat.say(ADMIN, "EUR 500.00")
    assert "Not done: a refund of order" in chat.screen(ADMIN)
    chat.say(ADMIN, "EUR 50.00")

    assert "50.00 EUR refunded" in chat.screen(ADMIN)
    refunds = [e for e in rt.ledger.entries(ANN.id, EUR) if e.kind.value == "refund"]
    assert [(e.amount, e.cause.startswith("refund:re_")) for e in refunds] == [(-5_000, True)]
    assert actions(ANN) == ["refund"]
    stored = rt.payments.order(order_id)
    assert stored is not None and stored.refunded_amount == 5_000
