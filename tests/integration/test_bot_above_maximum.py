"""A purchase above a method's maximum (issue finding, SPEC §4): the methods that would refuse
are not offered; bank transfer (no maximum) is, and topping up in parts is explained."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.errors import InvalidAmount
from billing.orders.model import MAXIMUM, require_payable_amount
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import set_country

ANN = TgUser(101, "Ann")


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def test_bank_transfer_has_no_maximum_and_every_other_method_has_one() -> None:
    above = MAXIMUM[Currency.EUR] + 1
    assert require_payable_amount(above, PaymentMethod.BANK_TRANSFER, Currency.EUR) == above
    for method in PaymentMethod:
        if method is not PaymentMethod.BANK_TRANSFER:
            with pytest.raises(InvalidAmount, match=r"10000\.00 EUR per payment"):
                require_payable_amount(above, method, Currency.EUR)


def test_a_gateway_above_the_maximum_is_offered_bank_transfer_and_top_ups(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    chat.press(ANN, "Lines")
    chat.say(ANN, "100")
    chat.press(ANN, "12 months")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    chat.press(ANN, "Pay")

    screen = chat.screen(ANN)
    assert "up to 10000.00 EUR per payment" in screen
    labels = chat.buttons(ANN)
    assert "Bank transfer (payment order PDF)" in labels and "Top up" in labels
    assert not any(label.startswith(("Card", "PayPal", "Crypto")) for label in labels), labels

    chat.press(ANN, "Bank transfer")
    chat.press(ANN, "Add the missing details")
    chat.say(ANN, "Ann Example Inc.")
    chat.say(ANN, "1 Main Street, Springfield")
    chat.press(ANN, "Bank transfer")

    assert chat.documents(ANN), "the payment order PDF"
    orders = runtime().orders.of_payer(ANN.id)
    assert orders and orders[0].amount > MAXIMUM[Currency.EUR]
