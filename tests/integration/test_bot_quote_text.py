"""The quote as read (issue: 'quotes show "Discount 0 %: -0.00"'): no discount line without a
discount, and the period in the reader's plural form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import set_country

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def gateway_quote(chat: Chat, user: TgUser, months: str | None, currency: str) -> str:
    chat.say(user, "/subscriptions")
    chat.press(user, "Gateway" if user is ANN else "Шлюз")
    chat.press(user, "Connect" if user is ANN else "Подключить")
    if months is not None:  # else the shortest period, chosen by default
        chat.press(user, months)
    chat.press(user, currency)
    chat.press(user, "Show the price" if user is ANN else "Показать цену")
    return chat.screen(user)


def test_a_quote_without_a_discount_has_no_discount_line(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    quote = gateway_quote(chat, ANN, None, "EUR")
    assert "Discount" not in quote and "Subtotal" not in quote
    assert "Gateway for you, 6 months, EUR" in quote  # the shortest period has no discount
    assert "Net: 180.00 EUR" in quote


def test_a_russian_quote_names_the_period_in_the_right_plural_form(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "Литва")
    quote = gateway_quote(chat, IVAN, "12 месяцев", "EUR")
    assert ", 12 месяцев, EUR" in quote
    assert "Скидка 10%" in quote
