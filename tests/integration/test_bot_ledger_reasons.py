"""Ledger reasons in the reader's language (issue: "English ledger reasons"): each entry keeps
its English reason for support and audits, and /balance shows the catalog's wording."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.ledger.model import Reason
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import pay_gateway_in_russian, set_country

IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def test_a_russian_payer_reads_the_balance_history_in_russian(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "Литва")
    pay_gateway_in_russian(chat, IVAN)
    chat.press(IVAN, "Криптовалютой")
    order = runtime().orders.of_payer(IVAN.id)[0]
    # The crypto processor's paid webhook, as the fake delivers it.
    runtime().payments.settle(
        order.id,
        amount=order.amount,
        currency=order.currency.value,
        provider="cryptopay",
        provider_ref="crypto-1",
    )

    chat.say(IVAN, "/balance")

    screen = chat.screen(IVAN)
    assert f"платёж, заказ {order.id}, криптовалюта" in screen
    assert "Шлюз, 6 месяцев" in screen
    assert "payment" not in screen and "gateway" not in screen
    stored = runtime().ledger.last_entries(IVAN.id, Currency.EUR, 5)
    assert any(e.reason.startswith("payment ") for e in stored)  # English kept for support


def test_an_old_entry_without_a_wording_is_shown_as_stored(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    runtime().ledger.top_up(IVAN.id, Currency.EUR, 500, cause="legacy", reason="top-up")
    runtime().ledger.top_up(
        IVAN.id,
        Currency.EUR,
        700,
        cause="worded",
        reason=Reason("refund of order X", "refund", (("order", "X"),)),
    )
    chat.say(IVAN, "/balance")
    screen = chat.screen(IVAN)
    assert "top-up" in screen and "возврат, заказ X" in screen
