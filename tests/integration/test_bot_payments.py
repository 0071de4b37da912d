"""Paying in the bot (SPEC §4, §6, §7): the method list, card payments inside Telegram
(pre-checkout and successful_payment), country verification, links to provider pages,
the bank-transfer payment order and invoices as PDF documents."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.subscription import Status
from billing.orders.model import OrderStatus
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.payers import saved_card
from tests.integration.test_bot_flows import (
    connect_softphone_5_with_recording_12_months,
    set_country,
)
from tests.integration.webhook_receiver import WebhookReceiver

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", language_code="ru")


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def share_phone(chat: Chat, user: TgUser, phone: str) -> None:
    chat.say(
        user, contact={"phone_number": phone, "first_name": user.first_name, "user_id": user.id}
    )


def pdf_text(fake: FakeBotApi, message: dict[str, Any]) -> str:
    _, content, _ = fake.file(message["document"]["file_id"])
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_card_in_telegram_pays_the_missing_amount_and_activates(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    assert "321.30 EUR is missing" in chat.screen(ANN)

    chat.press(ANN, "Pay 321.30 EUR by card")
    assert "How would you like to pay?" in chat.screen(ANN)
    chat.press(ANN, "Card in Telegram")
    # An EU consumer without a VAT id must confirm the country first (SPEC §6).
    assert "share your phone number" in chat.screen(ANN)
    assert chat.invoices(ANN) == []
    share_phone(chat, ANN, "+49 30 901820")
    chat.press(ANN, "Card in Telegram")  # the same list, now accepted
    assert any("The invoice to pay by card is below" in m["text"] for m in chat.text_messages(ANN))
    invoice = chat.invoices(ANN)[-1]
    assert invoice["invoice"]["total_amount"] == 32_130
    assert invoice["invoice"]["currency"] == "EUR"

    # Telegram asks before taking the money: ok for the order's exact amount.
    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))
    assert fake_telegram.calls_of("answerPreCheckoutQuery")[-1]["ok"] is True
    chat.deliver(fake_telegram.successful_payment(ANN.id, invoice["message_id"]))

    subs = runtime().subscriptions.visible_to(ANN.id)
    assert [(s.product, s.status) for s in subs] == [("softphone", Status.ACTIVE)]
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == 0
    assert "Payment of 321.30 EUR received" in chat.screen(ANN)
    document = chat.documents(ANN)[-1]
    text = pdf_text(fake_telegram, document)
    assert "Invoice INV-000001" in text and "Total: 321.30 EUR" in text

    # /balance lists the invoice; pressing it sends the PDF again.
    chat.say(ANN, "/balance")
    assert "Invoices:" in chat.screen(ANN)
    documents = len(chat.documents(ANN))
    chat.press(ANN, "INV-000001 · 321.30 EUR")
    assert len(chat.documents(ANN)) == documents + 1
    assert "Invoice INV-000001" in pdf_text(fake_telegram, chat.documents(ANN)[-1])
    chat.say(IVAN, "/start")
    chat.press_data(IVAN, "iv:INV-000001")  # someone else's invoice: nothing is sent
    assert chat.documents(IVAN) == [] and "устарела" in chat.last_answer()["text"]

    # The same invoice again (already paid): refused, with a reason.
    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))
    refused = fake_telegram.calls_of("answerPreCheckoutQuery")[-1]
    assert refused["ok"] is False and "can no longer be paid" in refused["error_message"]


def test_pre_checkout_is_refused_for_a_changed_order(chat: Chat, fake_telegram: FakeBotApi) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    share_phone(chat, ANN, "+1 212 555 0100")
    chat.say(ANN, "/balance")
    chat.press(ANN, "Top up")
    chat.press(ANN, "EUR")
    chat.press(ANN, "25.00 EUR")
    chat.press(ANN, "Card in Telegram")
    invoice = chat.invoices(ANN)[-1]
    order_id = fake_telegram.calls_of("sendInvoice")[-1]["payload"]
    order = runtime().payments.order(order_id)
    assert order is not None
    from dataclasses import replace

    runtime().orders.save(
        replace(order, status=OrderStatus.EXPIRED, version=order.version + 1),
        expected_version=order.version,
    )

    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))

    assert fake_telegram.calls_of("answerPreCheckoutQuery")[-1]["ok"] is False
    assert runtime().ledger.wallets(ANN.id) == []


def test_links_to_provider_pages_and_the_bank_transfer_order(
    chat: Chat, fake_telegram: FakeBotApi, fake_cryptopay: Any
) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "LT")
    chat.say(IVAN, "/balance")
    chat.press(IVAN, "Пополнить")
    chat.press(IVAN, "RUB")
    chat.press(IVAN, "1000.00 RUB")
    chat.press(IVAN, "Криптовалютой")
    assert "Откройте страницу оплаты" in chat.screen(IVAN)
    link = chat.text_messages(IVAN)[-1]["reply_markup"]["inline_keyboard"][0][0]
    assert link["url"].startswith(fake_cryptopay.base_url)

    # Bank transfer: refused until the company's name, address and VAT id are in /billing.
    chat.say(IVAN, "/balance")
    chat.press(IVAN, "Пополнить")
    chat.press(IVAN, "RUB")
    chat.press(IVAN, "Другая сумма")
    chat.say(IVAN, "сто")
    assert "Это не сумма" in chat.screen(IVAN)
    chat.say(IVAN, "15000")
    chat.press(IVAN, "Банковский перевод")
    assert "Для банковского перевода сначала нужны данные компании" in chat.screen(IVAN)
    runtime().profiles.set_name(IVAN.id, "ООО «Ромашка»")
    runtime().profiles.set_address(IVAN.id, "Вильнюс, проспект Гедимино 1")
    runtime().profiles.set_vat_id(IVAN.id, "LT100001919017")
    chat.press(IVAN, "Банковский перевод")
    assert "платёжному поручению" in chat.screen(IVAN)
    text = pdf_text(fake_telegram, chat.documents(IVAN)[-1])
    assert "ООО «Ромашка»" in text and "15000.00 RUB" in text
    assert runtime().ledger.wallets(IVAN.id) == []  # nothing credited until support confirms


def test_removing_the_saved_card_detaches_it_at_stripe(
    chat: Chat, stripe_env: WebhookReceiver, localstripe: LocalStripe
) -> None:
    chat.say(ANN, "/start")
    _, method = saved_card(localstripe, ANN.id, "4242424242424242")
    chat.say(ANN, "/paysystem")
    assert "Saved card: visa •••• 4242" in chat.screen(ANN)
    chat.press(ANN, "Payment method")
    chat.press(ANN, "PayPal")
    assert "Payment method: PayPal" in chat.screen(ANN)

    chat.press(ANN, "Remove saved card")

    assert "Saved card: none" in chat.screen(ANN)
    assert runtime().profiles.profile(ANN.id).saved_card is None
    assert localstripe.get(f"/v1/payment_methods/{method}")["customer"] is None
