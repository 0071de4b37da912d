"""Old buttons pressed again (issue: "Renew screens", "a stale top-up button"): they say what
happened before and where to go now, and never read like a second payment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import connect_gateway_for_self, set_country, top_up

ANN = TgUser(101, "Ann")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def test_a_renewal_confirmed_again_says_it_was_paid_before_and_charges_nothing(
    chat: Chat,
) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    connect_gateway_for_self(chat, ANN)
    # The renewal screen opened twice: two messages with the same confirmation.
    for _ in range(2):
        chat.say(ANN, "/subscriptions")
        chat.press(ANN, "Gateway for you")
        chat.press(ANN, "Renew")
    older = next(m for m in chat.bot_messages(ANN) if "Renewal" in str(m.get("text")))
    chat.press(ANN, "Pay")
    assert "Paid" in chat.screen(ANN)
    balance = runtime().ledger.wallet(ANN.id, Currency.EUR).balance
    confirm = next(
        b["callback_data"]
        for row in older["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"].startswith("Pay")
    )

    chat.deliver(chat.fake.press_button(ANN.id, older["message_id"], data=confirm))

    again = next(
        str(m["text"]) for m in chat.bot_messages(ANN) if m["message_id"] == older["message_id"]
    )
    assert again.startswith("This renewal was paid already: Gateway runs until")
    assert "Nothing more was charged." in again and "Paid" not in again
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == balance


def test_a_connect_confirmed_again_says_it_was_connected_before(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    message_id, confirm = chat.find_button(ANN, "Pay")
    update = chat.fake.press_button(ANN.id, message_id, data=confirm)
    chat.deliver(update)
    balance = runtime().ledger.wallet(ANN.id, Currency.EUR).balance

    chat.deliver({**update, "update_id": update["update_id"] + 1000})  # a second tap

    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == balance
    assert chat.last_answer()["text"].startswith("This button is out of date")


@pytest.mark.parametrize("data", ["ta:EUR:999", "tc:XXX", "tx:XXX", "ta:EUR:abc"])
def test_a_stale_top_up_button_points_to_balance(chat: Chat, data: str) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "/balance")
    chat.press_data(ANN, data)
    assert chat.last_answer()["text"] == "This button is out of date. Open /balance to top up."
