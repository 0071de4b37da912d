"""Every screen a Russian reader sees is in Russian (issue: "Russian is half done"): a walk
through the journeys of the SPEC as a `ru` user, collecting every text, button and answer,
checked for English words outside an allow-list (product and provider names, currency and
country codes, abbreviations, commands) and for internal keys or ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.ledger.model import Reason
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.conftest import Sweeper
from tests.integration.test_bot_flows import pay_gateway_in_russian
from tests.integration.test_error_texts import english_words, everything_said, leaks

IVAN = TgUser(303, "Иван", "ru")
OLGA = TgUser(404, "Ольга", "ru")


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def walk(chat: Chat, sweeper: Sweeper) -> None:
    chat.say(IVAN, "/start")
    for command in ("/help", "/privacy", "/paysupport", "/language", "/tariff", "/balance"):
        chat.say(IVAN, command)
    chat.say(IVAN, "привет")
    chat.say(IVAN, "/nonsense")
    # billing details, field by field
    chat.say(IVAN, "/billing")
    chat.press(IVAN, "Страна")
    chat.say(IVAN, "Германия")
    chat.press(IVAN, "Имя")
    chat.say(IVAN, "ООО Ромашка")
    chat.press(IVAN, "Адрес")
    chat.say(IVAN, "Берлин, Унтер-ден-Линден 1")
    chat.press(IVAN, "Способ оплаты")
    chat.press(IVAN, "« Назад")
    # a connect for oneself: options, period, currency, quote, methods
    chat.say(IVAN, "/subscriptions")
    chat.press(IVAN, "Софтфон")
    chat.press(IVAN, "Подключить")
    chat.press(IVAN, "SIP-аккаунты")
    chat.say(IVAN, "5")
    chat.press(IVAN, "Запись звонков")
    chat.press(IVAN, "вкл")
    chat.press(IVAN, "12 месяцев")
    chat.press(IVAN, "EUR")
    chat.press(IVAN, "Показать цену")
    chat.press(IVAN, "Оплатить")
    chat.press(IVAN, "Картой в Telegram")
    chat.press(IVAN, "Поделиться номером телефона")
    chat.say(IVAN, contact={"phone_number": "+49 30 901820", "first_name": "Иван", "user_id": 303})
    chat.press(IVAN, "Картой в Telegram")  # the Telegram invoice, in Russian too
    chat.say(IVAN, "/subscriptions")
    # top-up screens
    chat.say(IVAN, "/balance")
    chat.press(IVAN, "Пополнить")
    chat.press(IVAN, "EUR")
    chat.press(IVAN, "Другая сумма")
    chat.say(IVAN, "0")
    chat.press(IVAN, "Отмена")
    # paid from the balance, then the subscription's own screens
    # Funded as a paid order funds it (the ledger entry a crypto payment writes).
    wording = Reason("payment T-1 by crypto", "payment", (("order", "T-1"), ("method", "crypto")))
    runtime().ledger.top_up(IVAN.id, Currency.EUR, 100_000, cause="test:T-1", reason=wording)
    pay_gateway_in_russian(chat, IVAN)
    chat.press(IVAN, "Подписки")
    chat.press(IVAN, "Автопродление")
    chat.press(IVAN, "Продлить")
    chat.press(IVAN, "« Назад")
    chat.press(IVAN, "Изменить")
    chat.press(IVAN, "Линии")
    chat.say(IVAN, "2")
    chat.press(IVAN, "Показать цену")
    chat.press(IVAN, "Подтвердить изменение")
    # a connect for someone else, who is told
    chat.say(OLGA, "/start")
    chat.say(IVAN, "/subscriptions")
    chat.press(IVAN, "Подключить другому")
    chat.say(
        IVAN,
        users_shared={"request_id": 1, "users": [{"user_id": OLGA.id, "first_name": "Ольга"}]},
    )
    chat.press(IVAN, "Софтфон")
    chat.press(IVAN, "EUR")
    chat.press(IVAN, "Показать цену")
    chat.press(IVAN, "Оплатить")
    chat.say(IVAN, "/balance")
    # the sweep's reminders and expiry, months later
    for days in (170, 10, 10):
        sweeper.clock.set(sweeper.clock.now() + timedelta(days=days))
        sweeper.run()


def test_every_screen_of_a_russian_reader_is_russian(chat: Chat, sweeper: Sweeper) -> None:
    walk(chat, sweeper)
    for user in (IVAN, OLGA):
        said = everything_said(chat, user)
        assert len(said) > (40 if user is IVAN else 2)
        for text in said:
            assert english_words(text) == [], text
            assert leaks(text) == [], text
    said = "\n".join(everything_said(chat, IVAN))
    # The grammar the issue found wrong: «Софтфон для вас истекла», «Пользователь: вас».
    assert "Подписка «Шлюз» для вас истекла" in said
    assert "Пользователь: вы\n" in said
    assert "Подключение: Софтфон для пользователя Ольга." in said
