"""Detours (issue: "detours lose the draft"): a quote or a payment that needs something first
(the billing country, a VAT id, a name and address, a shared phone, a top-up) sends the Payer
to fix it and brings them back to the same quote or payment, options and all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import (
    connect_softphone_5_with_recording_12_months,
    set_country,
)

ANN = TgUser(101, "Ann")

# What the quote of connect_softphone_5_with_recording_12_months shows for a German Payer.
GERMAN_QUOTE = ("SIP accounts", "× 5", "Discount 10%", "VAT 19%: 51.30 EUR", "Total: 321.30 EUR")


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def assert_german_quote(text: str) -> None:
    for part in GERMAN_QUOTE:
        assert part in text, (part, text)


def test_a_quote_without_a_country_asks_for_it_and_comes_back_to_the_same_quote(
    chat: Chat,
) -> None:
    chat.say(ANN, "/start")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    asked = chat.screen(ANN)
    assert "depends on your billing country" in asked
    assert "Send your country" in asked

    chat.say(ANN, "DE")

    assert_german_quote(chat.screen(ANN))
    chat.press(ANN, "Pay 321.30 EUR by card")  # the quote's buttons are current, not stale
    assert "How would you like to pay?" in chat.screen(ANN)


def test_cancelling_the_country_question_goes_back_to_the_draft(chat: Chat) -> None:
    chat.say(ANN, "/start")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Cancel")
    assert "Connect Softphone for you" in chat.screen(ANN)
    assert "SIP accounts: 5" in chat.buttons(ANN)
    chat.press(ANN, "Show the price")
    assert "depends on your billing country" in chat.screen(ANN)


def test_going_to_billing_on_ones_own_keeps_the_draft_and_offers_the_way_back(
    chat: Chat,
) -> None:
    chat.say(ANN, "/start")
    connect_softphone_5_with_recording_12_months(chat, ANN)  # asked for the country
    set_country(chat, ANN, "DE")  # through /billing instead of answering
    assert "« Back to the price" in chat.buttons(ANN)

    chat.press(ANN, "« Back to the price")

    assert_german_quote(chat.screen(ANN))


def test_a_vat_id_added_from_the_quote_returns_to_the_requoted_price(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "FR")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    assert "VAT 20%" in chat.screen(ANN)

    chat.press(ANN, "Billing details")
    chat.press(ANN, "VAT id")
    chat.say(ANN, "FR40303265045")

    requoted = chat.screen(ANN)
    assert "VAT 0% (reverse charge)" in requoted and "Total: 270.00 EUR" in requoted
    assert "× 5" in requoted  # the same draft, not a new one


def test_company_details_asked_by_a_bank_transfer_reprice_it_before_any_order(
    chat: Chat,
) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Pay 321.30 EUR by card")
    chat.press(ANN, "Bank transfer")
    assert "Add the missing details" in chat.buttons(ANN)

    chat.press(ANN, "Add the missing details")
    assert "name" in chat.screen(ANN).lower()
    chat.say(ANN, "Ann Example GmbH")
    assert "address" in chat.screen(ANN).lower()
    chat.say(ANN, "Unter den Linden 1, 10117 Berlin")
    assert "VAT id" in chat.screen(ANN)  # a company in the EU gives its VAT id too
    chat.say(ANN, "DE136695976")

    # The VAT id makes it a reverse charge: the new price to confirm, not the old payment
    # (an order for 321.30 would be refused by the purchase when its money arrived).
    requoted = chat.screen(ANN)
    assert requoted.startswith("⚠ The price changed with your billing details")
    assert "Total: 270.00 EUR" in requoted and "× 5" in requoted
    assert runtime().orders.of_payer(ANN.id) == []
    chat.press(ANN, "Pay 270.00 EUR by card")
    chat.press(ANN, "Bank transfer")
    assert chat.documents(ANN), "the payment order PDF"
    assert [o.amount for o in runtime().orders.of_payer(ANN.id)] == [27_000]


def test_an_old_payment_screen_after_a_price_change_shows_the_new_price(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "FR")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Pay")
    methods_id, crypto = chat.find_button(ANN, "Crypto")
    set_country(chat, ANN, "DE")  # on one's own, while the payment screen waits

    chat.deliver(chat.fake.press_button(ANN.id, methods_id, data=crypto))

    assert runtime().orders.of_payer(ANN.id) == []
    assert any("VAT 19%" in m["text"] for m in chat.text_messages(ANN))


def test_a_country_contradiction_offers_no_phone_to_share_again(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    share = {"phone_number": "+33 1 42 68 53 00", "first_name": "Ann", "user_id": ANN.id}
    chat.say(ANN, contact=share)
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Pay")
    chat.press(ANN, "Card in Telegram")
    assert "Support will check it" in chat.screen(ANN)
    assert "Share my phone number" not in chat.buttons(ANN)


def test_a_forged_option_button_is_out_of_date_not_a_crash(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Softphone")
    chat.press(ANN, "Connect")
    _, option = chat.find_button(ANN, "SIP accounts")
    nonce = option.split(":")[1]

    response = chat.press_data(ANN, f"cv:{nonce}:zzz:1")

    assert response["statusCode"] == 200
    assert chat.last_answer()["text"].startswith("This button is out of date")


def test_a_phone_shared_for_verification_returns_to_the_payment(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Pay 321.30 EUR by card")
    chat.press(ANN, "Card in Telegram")
    chat.press(ANN, "Share my phone number")
    chat.say(ANN, contact={"phone_number": "+49 30 901820", "first_name": "Ann", "user_id": ANN.id})

    assert "How would you like to pay?" in chat.screen(ANN)
    chat.press(ANN, "Card in Telegram")
    assert chat.invoices(ANN), "the Telegram invoice for the same payment"


def test_a_top_up_from_the_quote_leads_back_to_it_once_paid(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    share = {"phone_number": "+49 30 901820", "first_name": "Ann", "user_id": ANN.id}
    chat.say(ANN, contact=share)
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Top up")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Other amount")
    chat.say(ANN, "400")
    chat.press(ANN, "Card in Telegram")
    invoice = chat.invoices(ANN)[-1]
    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))
    chat.deliver(fake_telegram.successful_payment(ANN.id, invoice["message_id"]))
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == 40_000

    chat.press(ANN, "« Back to the price")

    assert_german_quote(chat.screen(ANN))
    chat.press(ANN, "Pay 321.30 EUR from balance")
    assert "active until" in chat.screen(ANN)
