"""Paying from the balance on credit (SPEC §4): a Payer whose balance is smaller than the
price but whose credit limit covers the rest sees, before confirming, what the balance will
be after the charge and what the limit is. Connect and renew, English and Russian."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import set_country, top_up

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def on_credit(user: TgUser) -> None:
    """28.72 EUR on the balance and a 200.00 EUR credit limit set by support."""
    top_up(user, 2_872)
    runtime().ledger.set_credit_limit(user.id, Currency.EUR, 20_000)


def test_the_connect_confirmation_shows_the_balance_after_and_the_limit(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")  # the Gateway costs 180.00 EUR, no VAT
    on_credit(ANN)
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    assert chat.screen(ANN).endswith(
        "Your EUR balance: 28.72 EUR. After this payment it will be -151.28 EUR: you pay on"
        " credit (your credit limit is 200.00 EUR). Confirm to pay from the balance."
    )
    chat.press(ANN, "Pay 180.00 EUR from balance")
    assert "Paid 180.00 EUR from the balance" in chat.screen(ANN)
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == -15_128


def test_the_russian_confirmation_says_it_too(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "US")
    on_credit(IVAN)
    chat.say(IVAN, "/subscriptions")
    chat.press(IVAN, "Шлюз")
    chat.press(IVAN, "Подключить")
    chat.press(IVAN, "EUR")
    chat.press(IVAN, "Показать цену")
    assert chat.screen(IVAN).endswith(
        "Ваш баланс в EUR: 28.72 EUR. После оплаты он станет -151.28 EUR: оплата в кредит"
        " (ваш кредитный лимит — 200.00 EUR). Подтвердите оплату с баланса."
    )


def test_the_renew_confirmation_shows_them_too(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 18_000 + 2_872)
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    # Enough on the balance: no credit is used, nothing about it is said.
    assert chat.screen(ANN).endswith("Your EUR balance: 208.72 EUR. Confirm to pay from it.")
    chat.press(ANN, "Pay 180.00 EUR from balance")
    runtime().ledger.set_credit_limit(ANN.id, Currency.EUR, 20_000)
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway for you")
    chat.press(ANN, "Renew")
    assert chat.screen(ANN).endswith(
        "Your EUR balance: 28.72 EUR. After this payment it will be -151.28 EUR: you pay on"
        " credit (your credit limit is 200.00 EUR). Confirm to pay from the balance."
    )
