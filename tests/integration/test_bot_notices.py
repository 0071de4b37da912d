"""People are told (issue: "people are not told", SPEC §9): the Customer when a subscription
is connected for them, the Payer on every money movement they did not start (support's
adjustment, a credit-limit change, a termination with credit) and when a Customer's change
moved the expiry; everyone is named, never "user 1003"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import set_country, top_up

ADMIN = TgUser(900, "Sam")
ANN = TgUser(101, "Anna")
BOB = TgUser(202, "Bob")
IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def texts(chat: Chat, user: TgUser) -> list[str]:
    return [str(m["text"]) for m in chat.text_messages(user)]


def no_numbered_people(chat: Chat, *users: TgUser) -> None:
    for user in users:
        for text in texts(chat, user):
            assert not re.search(r"\b(user|пользовател\w*) \d+", text), text


def share(chat: Chat, payer: TgUser, customer: TgUser) -> None:
    chat.say(payer, "/subscriptions")
    chat.press(payer, "Connect for another user")
    keyboard = chat.fake.reply_keyboard(payer.id)
    assert keyboard is not None
    assert keyboard["keyboard"][0][0]["request_users"]["request_name"] is True
    chat.say(
        payer,
        users_shared={
            "request_id": 1,
            "users": [{"user_id": customer.id, "first_name": customer.first_name}],
        },
    )


def connect_gateway_for(chat: Chat, payer: TgUser, customer: TgUser) -> str:
    share(chat, payer, customer)
    chat.press(payer, "Gateway")
    chat.press(payer, "EUR")
    chat.press(payer, "Show the price")
    chat.press(payer, "Pay")
    return runtime().subscriptions.visible_to(customer.id)[0].id


def test_the_customer_is_told_and_everyone_is_named(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(IVAN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    share(chat, ANN, IVAN)
    assert "Chosen: Иван." in texts(chat, ANN)
    chat.press(ANN, "Gateway")
    assert "Connect Gateway for Иван." in chat.screen(ANN)
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    chat.press(ANN, "Pay")

    told = chat.screen(IVAN)
    assert told.startswith("Anna подключил(а) вам Шлюз до ")
    assert "Оплачивает Anna" in told
    no_numbered_people(chat, ANN, IVAN)


def test_a_customer_who_never_started_the_bot_is_called_by_the_shared_name(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    connect_gateway_for(chat, ANN, BOB)  # Bob has no account: the name came with the share
    assert "Gateway for Bob is active" in chat.screen(ANN)
    # The conversation (and the name the pick came with) is gone: the subscription kept it.
    chat.say(ANN, "/cancel")
    chat.say(ANN, "/subscriptions")
    assert "Gateway for Bob — until" in chat.screen(ANN)
    no_numbered_people(chat, ANN)


def test_a_picked_user_is_offered_only_what_they_do_not_hold(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    connect_gateway_for(chat, ANN, BOB)

    share(chat, ANN, BOB)

    screen = chat.screen(ANN)
    assert "Bob already has Gateway." in screen
    labels = chat.buttons(ANN)
    assert "Gateway" not in labels and "Softphone" in labels


def test_support_adjustment_and_credit_limit_are_told_to_the_payer(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    top_up(IVAN, 1_000)
    chat.say(ADMIN, f"/admin {IVAN.id}")
    chat.press(ADMIN, "Adjust balance")
    chat.say(ADMIN, "EUR 5.00 goodwill for the outage")
    assert chat.screen(IVAN) == (
        "Поддержка зачислила 5.00 EUR на ваш баланс: goodwill for the outage. Баланс: 15.00 EUR."
    )
    chat.say(ADMIN, f"/admin {IVAN.id}")
    chat.press(ADMIN, "Set credit limit")
    chat.say(ADMIN, "EUR 50")
    assert chat.screen(IVAN).startswith("Ваш кредитный лимит теперь 50.00 EUR")


def test_a_termination_with_credit_is_told_to_payer_and_customer(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    connect_gateway_for(chat, ANN, BOB)
    clock = runtime().clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=40))
    chat.say(ADMIN, f"/admin {BOB.id}")
    chat.press(ADMIN, "Terminate Gateway with credit")
    chat.press(ADMIN, "Terminate, credit")

    assert re.fullmatch(
        r"Support ended Gateway for Bob\. Its unused value, [\d.]+ EUR, is back on your balance\.",
        chat.screen(ANN),
    )
    assert chat.screen(BOB) == "Gateway for you has ended. Anna paid for it."


def test_a_customers_expansion_that_moves_the_expiry_is_told_to_the_payer(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    sub_id = connect_gateway_for(chat, ANN, BOB)
    chat.press(ANN, "Subscriptions")
    chat.press(ANN, "User may change options: no")
    assert "the user may change options: yes" in chat.screen(ANN)  # not customer_may_change
    before = runtime().subscriptions.get(sub_id, viewer=ANN.id).expires_at

    chat.say(BOB, "/subscriptions")
    chat.press(BOB, "Gateway for you")
    chat.press(BOB, "Change")
    chat.press(BOB, "Lines")
    chat.say(BOB, "4")
    chat.press(BOB, "Show the price")
    chat.press(BOB, "Confirm the change")

    after = runtime().subscriptions.get(sub_id, viewer=ANN.id).expires_at
    assert after < before
    told = chat.screen(ANN)
    assert told.startswith("Bob changed the options of Gateway, which you pay for: it now runs")
    assert "instead of" in told
