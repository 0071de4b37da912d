"""SPEC §10 privacy: the bot works in private chats only, and reveals nothing about a
Telegram user who was not picked in the current conversation."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import boto3
import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.runtime import runtime
from local.fake_bot_api import BOT_USER, FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser

ANN = TgUser(101, "Ann")
BOB = TgUser(202, "Bob")
CAROL = TgUser(404, "Carol")
IVAN = TgUser(303, "Иван", "ru")

GROUP = -4_815_162
SUPERGROUP = -1_001_234_567_890

INVITE_EN = "I work only in a private chat. Open a chat with me and send /start there."
INVITE_RU = "Я работаю только в личном чате. Откройте чат со мной и отправьте там /start."

_ids = count(700_000)


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def billing_items() -> int:
    """Items in every table but the update claims (those say nothing about anyone)."""
    settings = runtime().settings
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    names = [n for n in client.list_tables()["TableNames"] if n != settings.idempotency_table]
    return sum(client.scan(TableName=name, Select="COUNT")["Count"] for name in names)


def _from(user: TgUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "is_bot": False,
        "first_name": user.first_name,
        "language_code": user.language_code,
    }


def _chat(chat_id: int) -> dict[str, Any]:
    kind = "supergroup" if chat_id == SUPERGROUP else "group"
    return {"id": chat_id, "type": kind, "title": "Team"}


def in_group(chat: Chat, user: TgUser, chat_id: int, text: str) -> None:
    command = text.split(maxsplit=1)[0]
    message = {
        "message_id": next(_ids),
        "date": 1_780_000_000,
        "chat": _chat(chat_id),
        "from": _from(user),
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
    }
    assert chat.deliver({"update_id": next(_ids), "message": message})["statusCode"] == 200


def press_in_group(chat: Chat, user: TgUser, chat_id: int, data: str) -> dict[str, Any]:
    """A button pressed under a bot message in a group (as another member could)."""
    query_id = f"group-{next(_ids)}"
    message = {
        "message_id": 1,
        "date": 1_780_000_000,
        "chat": _chat(chat_id),
        "from": BOT_USER,
        "text": "Subscriptions",
        "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": data}]]},
    }
    update = {
        "update_id": next(_ids),
        "callback_query": {
            "id": query_id,
            "from": _from(user),
            "message": message,
            "chat_instance": "7",
            "data": data,
        },
    }
    assert chat.deliver(update)["statusCode"] == 200
    return chat.fake.callback_answers[query_id]


def group_texts(chat: Chat, chat_id: int) -> list[str]:
    return [
        str(m.get("text", ""))
        for m in chat.fake.messages(chat_id)
        if (m.get("from") or {}).get("is_bot")
    ]


def conversation(user: TgUser) -> dict[str, Any]:
    return runtime().bot.deps.conversations.get(user.id, runtime().clock.now()) or {}


def ann_with_a_subscription(chat: Chat) -> str:
    chat.say(ANN, "/start")
    chat.say(ANN, "/billing")
    for field, value in (("Country", "US"), ("Name", "Ann Smith"), ("Address", "5 Elm Street")):
        chat.press(ANN, field)
        chat.say(ANN, value)
    runtime().ledger.top_up(ANN.id, Currency.EUR, 123_456, cause="test:ann", reason="top-up")
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    chat.press(ANN, "Pay")
    return runtime().subscriptions.visible_to(ANN.id)[0].id


@pytest.mark.parametrize("chat_id", [GROUP, SUPERGROUP])
def test_commands_in_a_group_get_only_an_invitation(chat: Chat, chat_id: int) -> None:
    ann_with_a_subscription(chat)
    before, private = billing_items(), len(chat.fake.messages(ANN.id))
    commands = ["/billing", "/balance", "/subscriptions", "/paysystem", "/start", "/help"]
    for command in commands:
        in_group(chat, ANN, chat_id, command)
    in_group(chat, CAROL, chat_id, "/start promo")
    in_group(chat, IVAN, chat_id, "/balance@sip_billing_bot")
    texts = group_texts(chat, chat_id)
    assert texts == [INVITE_EN] * (len(commands) + 1) + [INVITE_RU]
    assert billing_items() == before  # nothing written: no account for Carol or Ivan
    assert runtime().accounts.get(CAROL.id) is None
    assert runtime().accounts.get(IVAN.id) is None
    assert len(chat.fake.messages(ANN.id)) == private  # nor anything sent privately


@pytest.mark.parametrize("chat_id", [GROUP, SUPERGROUP])
def test_buttons_pressed_in_a_group_change_nothing(chat: Chat, chat_id: int) -> None:
    sub_id = ann_with_a_subscription(chat)
    sub = runtime().subscriptions.get(sub_id, viewer=ANN.id)
    before = billing_items()
    period = sub.expires_at.strftime("%Y%m%dT%H%M%SZ")
    for user in (ANN, BOB):
        for data in (f"sa:{sub_id}:0", f"sv:{sub_id}", f"sr:{sub_id}:{period}", "sl", "bt"):
            answer = press_in_group(chat, user, chat_id, data)
            assert answer == {"callback_query_id": answer["callback_query_id"]} | {
                "text": INVITE_EN,
                "show_alert": True,
            }
    assert press_in_group(chat, IVAN, chat_id, "lg:en")["text"] == INVITE_RU
    assert group_texts(chat, chat_id) == []  # nothing edited or posted into the group
    assert chat.fake.calls_of("editMessageText")[-1]["chat_id"] == ANN.id
    assert billing_items() == before
    assert runtime().subscriptions.get(sub_id, viewer=ANN.id) == sub
    assert runtime().accounts.get(IVAN.id) is None


def test_a_forged_connect_for_someone_not_picked_reveals_nothing(chat: Chat) -> None:
    chat.say(BOB, "/start")
    runtime().ledger.top_up(BOB.id, Currency.EUR, 100_000, cause="test:bob", reason="top-up")
    chat.say(BOB, "/billing")
    chat.press(BOB, "Country")
    chat.say(BOB, "US")
    chat.say(BOB, "/subscriptions")
    chat.press(BOB, "Gateway")
    chat.press(BOB, "Connect")
    chat.press(BOB, "EUR")
    chat.press(BOB, "Show the price")
    chat.press(BOB, "Pay")  # Bob holds a Gateway
    chat.say(CAROL, "/start")
    chat.say(CAROL, "/subscriptions")
    screen = chat.screen(CAROL)
    stale = "This button is out of date. Open /subscriptions again."
    for forged in (f"cn:gateway:{BOB.id}", f"cn:softphone:{BOB.id}", "cn:gateway:x"):
        chat.press_data(CAROL, forged)
        assert chat.last_answer()["text"] == stale
        assert chat.screen(CAROL) == screen  # no draft screen naming anyone
        state = conversation(CAROL)
        assert "draft" not in state
    for message in chat.bot_messages(CAROL):
        assert "Bob" not in str(message) and str(BOB.id) not in str(message)
    answers = [a for a in chat.fake.callback_answers.values() if str(a).count("Bob")]
    assert answers == []


def test_only_users_picked_in_this_conversation_can_be_connected(chat: Chat) -> None:
    for user in (ANN, BOB, CAROL):
        chat.say(user, "/start")
    chat.say(CAROL, "/subscriptions")
    chat.press(CAROL, "Connect for another user")
    chat.say(
        CAROL,
        users_shared={"request_id": 1, "users": [{"user_id": BOB.id, "first_name": "Bob"}]},
    )
    chat.press_data(CAROL, f"cn:softphone:{ANN.id}")  # Ann was not picked
    assert chat.last_answer()["text"].startswith("This button is out of date")
    chat.press(CAROL, "Softphone")  # Bob was
    assert "Bob" in chat.screen(CAROL)
    state = conversation(CAROL)
    assert state["draft"]["customer"] == BOB.id
    # Connecting for oneself needs no pick; a new conversation forgets the pick.
    chat.say(CAROL, "/subscriptions")
    chat.press_data(CAROL, f"cn:softphone:{CAROL.id}")
    assert chat.screen(CAROL).startswith("Connect Softphone for you.")
    chat.say(CAROL, "/subscriptions")
    chat.press_data(CAROL, f"cn:softphone:{BOB.id}")
    assert chat.last_answer()["text"].startswith("This button is out of date")
