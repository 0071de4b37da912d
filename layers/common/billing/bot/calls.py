"""Bot API calls the bot wants made, and the keyboards they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Keyboard = list[list[dict[str, Any]]]


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    # name -> (file name, content, MIME type): an upload, sent multipart by the client and
    # so never as the webhook reply.
    files: dict[str, tuple[str, bytes, str]] | None = None

    def as_webhook_reply(self) -> dict[str, Any]:
        """The form Telegram accepts in a webhook response body."""
        return {"method": self.method, **self.params}


@dataclass(frozen=True)
class Screen:
    """What one message shows: text and an optional inline keyboard."""

    text: str
    keyboard: Keyboard = field(default_factory=list)


def button(text: str, data: str) -> dict[str, Any]:
    return {"text": text, "callback_data": data}


def markup(keyboard: Keyboard) -> dict[str, Any]:
    return {"inline_keyboard": keyboard}


def send_message(chat_id: int, screen: Screen) -> Call:
    params: dict[str, Any] = {"chat_id": chat_id, "text": screen.text}
    if screen.keyboard:
        params["reply_markup"] = markup(screen.keyboard)
    return Call("sendMessage", params)


def edit_message(chat_id: int, message_id: int, screen: Screen) -> Call:
    params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": screen.text}
    if screen.keyboard:
        params["reply_markup"] = markup(screen.keyboard)
    return Call("editMessageText", params)


def answer_callback(callback_id: str, text: str | None = None, *, alert: bool = False) -> Call:
    params: dict[str, Any] = {"callback_query_id": callback_id}
    if text:
        params["text"] = text[:200]  # the Bot API's limit for callback answers
        params["show_alert"] = alert
    return Call("answerCallbackQuery", params)
