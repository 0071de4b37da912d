"""Talking to the bot as Telegram users do: updates built by the fake Bot API, delivered to
the real Lambda handler as API Gateway HTTP API events, replies applied to the fake."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from functions.telegram_webhook import app as telegram_app
from local.events import FakeContext, http_api_event
from local.fake_bot_api import FakeBotApi

SECRET_HEADER = "x-telegram-bot-api-secret-token"
WEBHOOK_SECRET = "test-webhook-secret"


@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str
    language_code: str = "en"


class Chat:
    def __init__(self, fake: FakeBotApi, secret: str) -> None:
        self.fake = fake
        self.secret = secret
        self._forged = 0

    def deliver(self, update: dict[str, Any], *, secret: str | None = None) -> dict[str, Any]:
        event = http_api_event(
            "POST",
            "/telegram",
            headers={
                "content-type": "application/json",
                SECRET_HEADER: self.secret if secret is None else secret,
            },
            body=json.dumps(update).encode(),
        )
        response: dict[str, Any] = telegram_app.lambda_handler(event, FakeContext("telegram"))
        if response["statusCode"] == 200:
            body = json.loads(response["body"])
            if body.get("method"):
                self.fake.apply_webhook_reply(body)
        return response

    def say(self, user: TgUser, text: str | None = None, **content: Any) -> dict[str, Any]:
        update = self.fake.user_message(
            user.id, text, first_name=user.first_name, language_code=user.language_code, **content
        )
        return self.deliver(update)

    def bot_messages(self, user: TgUser) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages(user.id) if (m.get("from") or {}).get("is_bot")]

    def text_messages(self, user: TgUser) -> list[dict[str, Any]]:
        """The bot's messages with text (not documents or invoices sent alongside)."""
        return [m for m in self.bot_messages(user) if "text" in m]

    def screen(self, user: TgUser) -> str:
        return str(self.text_messages(user)[-1].get("text", ""))

    def documents(self, user: TgUser) -> list[dict[str, Any]]:
        return [m for m in self.bot_messages(user) if "document" in m]

    def invoices(self, user: TgUser) -> list[dict[str, Any]]:
        """Telegram invoices (sendInvoice) the bot sent this user."""
        return [m for m in self.bot_messages(user) if "invoice" in m]

    def buttons(self, user: TgUser) -> list[str]:
        markup = self.text_messages(user)[-1].get("reply_markup") or {}
        return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]

    def find_button(self, user: TgUser, label: str) -> tuple[int, str]:
        """(message id, callback data) of the newest bot message's button starting with label."""
        for message in reversed(self.bot_messages(user)):
            markup = message.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button["text"].startswith(label) and "callback_data" in button:
                        return message["message_id"], button["callback_data"]
        raise LookupError(f"no button {label!r}; last screen: {self.screen(user)!r}")

    def press(self, user: TgUser, label: str) -> dict[str, Any]:
        message_id, data = self.find_button(user, label)
        return self.deliver(self.fake.press_button(user.id, message_id, data=data))

    def press_data(self, user: TgUser, data: str) -> dict[str, Any]:
        """A callback with data of the user's choosing (forged or from an old message)."""
        self._forged += 1
        update = {
            "update_id": 900_000 + self._forged,
            "callback_query": {
                "id": f"forged-{self._forged}",
                "from": {
                    "id": user.id,
                    "is_bot": False,
                    "first_name": user.first_name,
                    "language_code": user.language_code,
                },
                "message": self.bot_messages(user)[-1],
                "chat_instance": "1",
                "data": data,
            },
        }
        return self.deliver(update)

    def last_answer(self) -> dict[str, Any]:
        return self.fake.calls_of("answerCallbackQuery")[-1]
