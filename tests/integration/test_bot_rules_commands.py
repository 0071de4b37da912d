"""/privacy and /paysupport (SPEC §10, Telegram's rules for bots that take payments), and
the command menu: one list (billing.bot.commands) that /help shows and setMyCommands
registers, each command answered by the bot. Through the webhook handler, moto and the
api.json-enforcing fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.bot.commands import COMMANDS
from billing.config import Settings
from billing.i18n import message
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", "ru")
SUPPORT = TgUser(900, "Sam")  # ADMIN_IDS of the test settings
UNKNOWN = {
    "en": "I don't know that command. /help lists what I can do.",
    "ru": "Такой команды нет. /help — список команд.",
}


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def test_privacy_says_what_is_stored_why_and_how_to_have_it_deleted(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "/privacy")
    text = chat.screen(ANN)
    for phrase in (
        "Telegram id, name and language",
        "country, name, address, VAT id",
        "phone number",
        "never the card number",
        "wallets, ledger entries, orders and invoices",
        "tax and accounting law",
        "24 hours",
        "write to support in this chat",
        "the rest is deleted",
    ):
        assert phrase in text, phrase
    # Without an account (no /start) it is answered too, in Telegram's language.
    chat.say(IVAN, "/privacy")
    text = chat.screen(IVAN)
    for phrase in (
        "Telegram id, имя и язык",
        "страна, имя, адрес, VAT-номер",
        "номер телефона",
        "номер карты — никогда",
        "кошельки, операции по балансу, заказы и счета",
        "налоговому и бухгалтерскому",
        "24 часа",
        "напишите в поддержку в этом чате",
        "остальное удаляется",
    ):
        assert phrase in text, phrase


def test_paysupport_says_how_to_reach_support_about_a_payment(chat: Chat) -> None:
    chat.say(ANN, "/paysupport")
    text = chat.screen(ANN)
    assert "order number" in text and "/paysupport" in text and "in this chat" in text
    chat.say(IVAN, "/paysupport")
    text = chat.screen(IVAN)
    assert "номер заказа" in text and "/paysupport" in text and "в этом чате" in text


def test_a_question_reaches_support_and_support_answers_in_the_payers_chat(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(IVAN, "/start")
    chat.say(IVAN, "/paysupport 261201-A1B2C3 деньги списали дважды")
    assert chat.screen(IVAN) == "Отправлено в поддержку. Ответ придёт в этот чат."
    # Support hears of it at once, and finds it in the inbox.
    told = [m.get("text", "") for m in fake_telegram.messages(SUPPORT.id)]
    assert any("деньги списали дважды" in text and "303" in text for text in told)
    chat.say(SUPPORT, "/admin inbox")
    assert "question from a payer" in chat.screen(SUPPORT)

    chat.say(SUPPORT, "/admin reply 303 Проверили: второй платёж зачислен на баланс.")

    assert chat.screen(SUPPORT) == "Sent to user 303."
    assert chat.screen(IVAN) == "Поддержка: Проверили: второй платёж зачислен на баланс."


def test_only_support_can_answer_users(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "/admin reply 303 hello")
    assert chat.screen(ANN) == UNKNOWN["en"]
    chat.say(SUPPORT, "/admin reply 303")
    assert chat.screen(SUPPORT) == "To answer a user: /admin reply <user id> <text>"


@pytest.mark.parametrize("user", [ANN, IVAN], ids=["en", "ru"])
def test_help_lists_every_menu_command_and_each_is_answered(chat: Chat, user: TgUser) -> None:
    lang = user.language_code
    names = list(COMMANDS)
    assert {"privacy", "paysupport"} <= set(names)
    chat.say(user, "/start")
    chat.say(user, "/help")
    shown = chat.screen(user)
    for name in names:
        if name != "help":
            assert f"/{name} — {message(lang, f'cmd_{name}')}" in shown, name
    for name in names:
        chat.say(user, f"/{name}")
        assert chat.screen(user) != UNKNOWN[lang], name
