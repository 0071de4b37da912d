"""The billing country by name (issue: "country input accepts only ISO codes"): "Germany",
"Германия", "de" all set DE; a name that fits several countries offers them as buttons."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.config import Settings
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def country_of(user: TgUser) -> str | None:
    return runtime().profiles.profile(user.id).country


def answer_country(chat: Chat, user: TgUser, text: str) -> None:
    chat.say(user, "/billing")
    chat.press(user, "Country" if user.language_code == "en" else "Страна")
    chat.say(user, text)


@pytest.mark.parametrize(
    ("user", "typed"),
    [(ANN, "Germany"), (ANN, "  germany "), (ANN, "de"), (ANN, "DEU"), (IVAN, "Германия")],
)
def test_a_country_is_taken_by_its_name_or_code_in_either_language(
    chat: Chat, user: TgUser, typed: str
) -> None:
    chat.say(user, "/start")
    answer_country(chat, user, typed)
    assert country_of(user) == "DE"
    shown = "Country: Germany (DE)" if user is ANN else "Страна: Германия (DE)"
    assert shown in chat.screen(user)


def test_a_name_of_several_countries_offers_them_as_buttons(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    answer_country(chat, IVAN, "Корея")
    assert chat.screen(IVAN) == "Какую страну вы имеете в виду?"
    assert {"Южная Корея", "Северная Корея"} <= set(chat.buttons(IVAN))
    assert country_of(IVAN) is None  # nothing is saved until the Payer picks

    chat.press(IVAN, "Южная Корея")

    assert country_of(IVAN) == "KR"
    assert "Страна: Южная Корея (KR)" in chat.screen(IVAN)


def test_a_stale_country_button_changes_nothing(chat: Chat) -> None:
    chat.say(ANN, "/start")
    answer_country(chat, ANN, "Korea")
    _, data = chat.find_button(ANN, "South Korea")
    chat.press(ANN, "Cancel")
    chat.press_data(ANN, data)  # the question was cancelled: the button is out of date
    assert country_of(ANN) is None
    assert "out of date" in chat.last_answer()["text"]


def test_text_that_names_no_country_is_asked_again_politely(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    answer_country(chat, IVAN, "привет")
    assert country_of(IVAN) is None
    assert "Отмена" in chat.buttons(IVAN)  # the question stays open, with a way out
    chat.say(IVAN, "Литва")
    assert country_of(IVAN) == "LT"


def test_not_set_fields_read_grammatically_in_russian(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    chat.say(IVAN, "/billing")
    screen = chat.screen(IVAN)
    assert "Страна: не указана" in screen
    assert "Адрес: не указан" in screen
    assert "Имя: не указано" in screen
