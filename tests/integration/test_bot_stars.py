"""Paying in Telegram Stars (SPEC §7): the order's total at the configured rate, rounded up
to a whole Star and shown before paying; an XTR invoice without a provider token; the wallet
credited with the order's amount in its own currency; refunds by support through
refundStarPayment, once; reconciliation through getStarTransactions. The fake Bot API checks
every call against api.json."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.subscription import Status
from billing.orders.model import OrderStatus
from billing.runtime import runtime
from functions.reconcile import app as reconcile_app
from local.events import FakeContext, scheduled_event
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import (
    connect_softphone_5_with_recording_12_months,
    set_country,
)

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", language_code="ru")
ADMIN = TgUser(900, "Sam")
EUR, RUB = Currency.EUR, Currency.RUB


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def pay_invoice(chat: Chat, user: TgUser, invoice: dict[str, Any]) -> None:
    fake = chat.fake
    chat.deliver(fake.pre_checkout(user.id, invoice["message_id"]))
    assert fake.calls_of("answerPreCheckoutQuery")[-1]["ok"] is True
    chat.deliver(fake.successful_payment(user.id, invoice["message_id"]))


def reconcile() -> dict[str, Any]:
    result: dict[str, Any] = reconcile_app.lambda_handler(
        scheduled_event(runtime().clock.now()), FakeContext("reconcile", timeout_seconds=300)
    )
    return result


def connect_paid_in_stars(chat: Chat, user: TgUser) -> dict[str, Any]:
    """Softphone, one account, six months: 18.00 EUR outside the EU."""
    chat.say(user, "/start")
    set_country(chat, user, "US")
    chat.say(user, "/subscriptions")
    for label in ("Softphone", "Connect", "EUR", "Show the price"):
        chat.press(user, label)
    chat.press(user, "Pay 18.00 EUR by card")
    # 18.00 EUR at 84 Stars per euro: 1 512 Stars (rounding up: tests/unit/test_stars.py).
    assert "Telegram Stars: 1512 ⭐" in chat.buttons(user)
    chat.press(user, "Telegram Stars")
    invoice = chat.invoices(user)[-1]
    return invoice


def test_a_connect_paid_in_stars_shows_the_stars_first_and_credits_the_euro_amount(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    invoice = connect_paid_in_stars(chat, ANN)

    # No country verification for Stars (no card here), and the exact Stars asked.
    assert "Order " in chat.screen(ANN) and "18.00 EUR, that is 1512 ⭐" in chat.screen(ANN)
    sent = fake_telegram.calls_of("sendInvoice")[-1]
    assert (sent["currency"], sent["provider_token"], sent["prices"]) == (
        "XTR",
        "",
        [{"label": sent["title"], "amount": 1_512}],
    )
    assert invoice["invoice"]["total_amount"] == 1_512
    pay_invoice(chat, ANN, invoice)

    rt = runtime()
    subs = rt.subscriptions.visible_to(ANN.id)
    assert [(s.product, s.status) for s in subs] == [("softphone", Status.ACTIVE)]
    assert rt.ledger.wallet(ANN.id, EUR).balance == 0
    credited = [e for e in rt.ledger.entries(ANN.id, EUR) if e.cause.startswith("order:")]
    assert [e.amount for e in credited] == [1_800]  # the order's amount, in euros
    assert "Payment of 18.00 EUR received" in chat.screen(ANN)
    order = rt.payments.order(str(sent["payload"]))
    assert order is not None and order.provider_ref == fake_telegram.star_transactions()[0]["id"]


def test_a_top_up_in_stars_credits_roubles_and_reconciliation_adds_nothing(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "RU")
    chat.say(IVAN, "/balance")
    chat.press(IVAN, "Пополнить")
    chat.press(IVAN, "RUB")
    chat.press(IVAN, "1000.00 RUB")
    # 1 000 RUB at 0.85 Stars per rouble.
    assert "Звёздами Telegram: 850 ⭐" in chat.buttons(IVAN)
    chat.press(IVAN, "Звёздами Telegram")
    invoice = chat.invoices(IVAN)[-1]
    assert (invoice["invoice"]["currency"], invoice["invoice"]["total_amount"]) == ("XTR", 850)
    pay_invoice(chat, IVAN, invoice)

    assert runtime().ledger.wallet(IVAN.id, RUB).balance == 100_000
    reconcile()
    reconcile()
    assert runtime().ledger.wallet(IVAN.id, RUB).balance == 100_000


def test_a_stars_payment_whose_update_was_lost_is_credited_once_by_reconciliation(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    invoice = connect_paid_in_stars(chat, ANN)
    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))
    lost = fake_telegram.successful_payment(ANN.id, invoice["message_id"])  # never delivered
    rt = runtime()
    assert rt.subscriptions.visible_to(ANN.id) == []

    report = reconcile()
    assert report["seen"]["stars"] == 1
    assert [s.status for s in rt.subscriptions.visible_to(ANN.id)] == [Status.ACTIVE]
    chat.deliver(lost)  # delivered late after all: nothing more
    reconcile()
    credited = [e for e in rt.ledger.entries(ANN.id, EUR) if e.cause.startswith("order:")]
    assert [e.amount for e in credited] == [1_800]


def test_stars_that_differ_from_the_invoice_are_refused_and_credit_nothing(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    invoice = connect_paid_in_stars(chat, ANN)
    query = fake_telegram.pre_checkout(ANN.id, invoice["message_id"])
    query["pre_checkout_query"]["total_amount"] = 100  # not what the invoice asked
    chat.deliver(query)
    assert fake_telegram.calls_of("answerPreCheckoutQuery")[-1]["ok"] is False

    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))
    paid = fake_telegram.successful_payment(ANN.id, invoice["message_id"])
    paid["message"]["successful_payment"]["total_amount"] = 100
    chat.deliver(paid)
    rt = runtime()
    assert rt.ledger.wallet(ANN.id, EUR).balance == 0
    assert rt.subscriptions.visible_to(ANN.id) == []
    assert any("XTR" in alert.reason for alert in rt.orders.alerts())


def test_support_refunds_a_stars_payment_whole_through_telegram_once(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    invoice = connect_paid_in_stars(chat, ANN)
    pay_invoice(chat, ANN, invoice)
    order_id = str(fake_telegram.calls_of("sendInvoice")[-1]["payload"])
    rt = runtime()

    chat.say(ADMIN, f"/admin {order_id}")
    chat.press(ADMIN, "Refund")
    chat.say(ADMIN, "EUR 10.00")  # Telegram refunds no part of a Stars payment
    assert "Not done: Telegram refunds a Stars payment whole" in chat.screen(ADMIN)
    assert fake_telegram.calls_of("refundStarPayment") == []
    chat.say(ADMIN, "EUR 18.00")
    assert "18.00 EUR refunded" in chat.screen(ADMIN)

    assert "the 1512 ⭐ you paid were refunded to your Telegram Stars" in chat.screen(ANN)
    charge = fake_telegram.star_transactions()[0]["id"]
    assert [
        (c["user_id"], c["telegram_payment_charge_id"])
        for c in fake_telegram.calls_of("refundStarPayment")
    ] == [(ANN.id, charge)]
    refunds = [e for e in rt.ledger.entries(ANN.id, EUR) if e.kind.value == "refund"]
    assert [e.amount for e in refunds] == [-1_800]
    stored = rt.payments.order(order_id)
    assert stored is not None and stored.status is OrderStatus.REFUNDED

    # The refund is in Telegram's list too: reconciliation finds it recorded already.
    reconcile()
    refunds = [e for e in rt.ledger.entries(ANN.id, EUR) if e.kind.value == "refund"]
    assert [e.amount for e in refunds] == [-1_800]
    assert "Refund" not in chat.buttons(ADMIN)


def test_a_purchase_above_one_invoices_stars_is_not_offered_stars(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Pay 321.30 EUR by card")
    # 321.30 EUR would be 26 990 Stars, more than one invoice may ask.
    assert not any(b.startswith("Telegram Stars") for b in chat.buttons(ANN))
    assert "Telegram Stars take up to 10000 ⭐ per payment" in chat.screen(ANN)
    assert fake_telegram.calls_of("sendInvoice") == []
