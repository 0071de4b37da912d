"""No internal key, id or code sentence reaches a user (issue: "internal names leak", SPEC §10).

Every refusal the catalog can say is rendered in both languages and searched for keys
(`customer_may_change`), ids (`abe39ef4…`) and Python leftovers; then the bot's error paths
are walked through its public entry point and everything it says is searched the same way.
A Russian reader's texts are also searched for English words."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from datetime import timedelta

import pytest
from babel.messages.pofile import read_po

from billing import i18n
from billing.clock import ManualClock
from billing.config import Settings
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import (
    connect_softphone_5_with_recording_12_months,
    pay_gateway_in_russian,
    set_country,
    top_up,
)

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", "ru")

KEY = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")  # a snake_case name: a key, a field, an option
HEX_ID = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{8,}\b")
LEFTOVER = re.compile(r"\bgot\b|\bNone\b|Traceback|\{\w*\}|\\n|'[^']*'\)")
# Words a Russian screen may show in Latin letters: names of products and providers,
# currency and country codes, abbreviations, and commands.
ALLOWED_LATIN = {
    "English",  # the language's name in the language picker, written in that language
    "BTC",
    "ETH",
    "USDT",
    "TON",
    "Free",
    "SIP",
    "API",
    "VAT",
    "EUR",
    "USD",
    "RUB",
    "Telegram",
    "PayPal",
    "Stripe",
    "VIES",
    "PDF",
    "UTC",
    "id",
    "Ann",
    "Anna",
    "Bob",
}


def leaks(text: str) -> list[str]:
    without_commands = re.sub(r"/\w+", "", text)
    return [m.group(0) for p in (KEY, HEX_ID, LEFTOVER) for m in p.finditer(without_commands)]


def english_words(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z]+", re.sub(r"/\w+|\S*\d\S*", "", text))
    return [w for w in words if w not in ALLOWED_LATIN and not (w.isupper() and len(w) == 2)]


def error_messages(lang: str) -> dict[str, str]:
    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "bot.po"
    with path.open("rb") as stream:
        catalog = read_po(stream, locale=lang)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if isinstance(m.id, str) and m.id.startswith("error_")
    }


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_refusal_sentence_reads_as_a_sentence(lang: str) -> None:
    messages = error_messages(lang)
    assert len(messages) > 30
    for key, template in messages.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        text = template.format(**{f: "12.00 EUR" for f in fields})
        assert leaks(text) == [], (key, text)
        if lang == "ru":
            assert english_words(text) == [], (key, text)


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def everything_said(chat: Chat, user: TgUser) -> list[str]:
    """Every text the bot sent or edited into the user's chat (each screen as it was shown,
    not only its last state), its buttons, and the answers to button presses."""
    said: list[str] = []
    for method in ("sendMessage", "editMessageText", "sendDocument", "sendInvoice"):
        for params in chat.fake.calls_of(method):
            if params.get("chat_id") != user.id:
                continue
            said += [str(params.get(k, "")) for k in ("text", "caption", "title", "description")]
            markup = params.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []) + markup.get("keyboard", []):
                said += [str(b["text"]) for b in row]
    # Answers carry no chat: the tests that read them have one user pressing buttons.
    said += [str(a.get("text", "")) for a in chat.fake.calls_of("answerCallbackQuery")]
    return [text for text in said if text]


def assert_nothing_leaks(chat: Chat, user: TgUser) -> None:
    for text in everything_said(chat, user):
        assert leaks(text) == [], text
        if user.language_code == "ru":
            assert english_words(text) == [], text


@pytest.mark.parametrize("user", [ANN, IVAN], ids=["en", "ru"])
def test_bad_values_in_drafts_and_billing(chat: Chat, user: TgUser) -> None:
    ru = user is IVAN
    chat.say(user, "/start")
    chat.say(user, "/subscriptions")
    chat.press(user, "Софтфон" if ru else "Softphone")
    chat.press(user, "Подключить" if ru else "Connect")
    chat.press(user, "SIP-аккаунты" if ru else "SIP accounts")
    for bad in ("abc", "5000", "-1", "1.5"):
        chat.say(user, bad)
    chat.say(user, "/billing")
    chat.press(user, "VAT-номер" if ru else "VAT id")  # before a country
    chat.say(user, "DE136695976")
    set_country(chat, user, "DE")
    chat.press(user, "VAT-номер" if ru else "VAT id")
    for bad in ("DE123", "FR40303265045", "X" * 40, ""):
        chat.say(user, bad or " ")
    chat.press(user, "Отмена" if ru else "Cancel")
    chat.press(user, "Страна" if ru else "Country")
    chat.say(user, "Atlantis")
    chat.say(user, "/billing")
    chat.press(user, "Имя" if ru else "Name")
    chat.say(user, "x" * 300)
    phone = {"phone_number": "+1 23", "first_name": user.first_name, "user_id": user.id}
    chat.say(user, contact=phone)
    chat.say(user, contact={**phone, "phone_number": "+49 30 901820", "user_id": 999})
    assert_nothing_leaks(chat, user)


@pytest.mark.parametrize("user", [ANN, IVAN], ids=["en", "ru"])
def test_refused_payments_and_changes(chat: Chat, user: TgUser) -> None:
    ru = user is IVAN
    chat.say(user, "/start")
    set_country(chat, user, "DE")
    connect_softphone_5_with_recording_12_months(chat, user) if not ru else None
    if ru:
        chat.say(user, "/subscriptions")
        chat.press(user, "Софтфон")
        chat.press(user, "Подключить")
        chat.press(user, "EUR")
        chat.press(user, "Показать цену")
    chat.press(user, "Оплатить" if ru else "Pay")
    for method in (
        ("Картой в Telegram", "Банковский перевод") if ru else ("Card in Telegram", "Bank transfer")
    ):
        chat.press(user, method)
    assert_nothing_leaks(chat, user)


def test_switches_on_an_expired_subscription_say_why_in_words(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "DE")
    top_up(IVAN, 100_000)
    pay_gateway_in_russian(chat, IVAN)
    sub_id = runtime().subscriptions.visible_to(IVAN.id)[0].id
    chat.say(IVAN, "/subscriptions")
    chat.press(IVAN, "Шлюз")
    _, auto = chat.find_button(IVAN, "Автопродление")
    _, change = chat.find_button(IVAN, "Изменить")
    clock = runtime().clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=200))
    runtime().subscriptions.expire(sub_id)

    chat.press_data(IVAN, auto)
    said = chat.last_answer()["text"]
    assert said == "Эта подписка истекла, поэтому сейчас это сделать нельзя."
    chat.press_data(IVAN, change)
    chat.press_data(IVAN, f"sv:{sub_id}")  # its history names the expiry in words
    assert "срок истёк" in chat.screen(IVAN)
    assert_nothing_leaks(chat, IVAN)
