"""The front door of POST /telegram: authenticate, parse, act, answer.

Telegram retries an update until it gets a 2xx, so: a wrong secret is 401 with nothing
read or written; an update we cannot act on is logged and answered 200; only a transient
fault (DynamoDB unavailable, ...) becomes 5xx so that Telegram delivers it again.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from billing.http import Event, Response, body_bytes, header, json_response
from billing.observability import logger
from billing.runtime import Runtime
from billing.secret_store import secret

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
WELCOME = {
    "en": "Welcome! Your account is on the Free subscription. /subscriptions shows what you"
    " can connect, /help lists everything else.",
    "ru": "Добро пожаловать! Ваш аккаунт на бесплатной подписке Free. /subscriptions покажет,"
    " что можно подключить, /help — остальные команды.",
}


def authentic(event: Event, expected: str) -> bool:
    given = header(event, SECRET_HEADER) or ""
    return hmac.compare_digest(given.encode(), expected.encode())


def handle(event: Event, rt: Runtime) -> Response:
    if not authentic(event, secret(rt.settings, rt.settings.webhook_secret_param)):
        return json_response(401, {"error": "unauthorized"})
    try:
        update = json.loads(body_bytes(event))
    except ValueError:
        logger.warning("telegram update is not JSON; ignored")
        return json_response(200, {})
    if not isinstance(update, dict):
        logger.warning("telegram update is not an object; ignored")
        return json_response(200, {})
    reply = _act(update, rt)
    return json_response(200, reply or {})


def _act(update: dict[str, Any], rt: Runtime) -> dict[str, Any] | None:
    message = update.get("message")
    if not isinstance(message, dict):
        logger.info("update kind not handled yet", extra={"update_id": update.get("update_id")})
        return None
    sender, chat, text = message.get("from"), message.get("chat"), message.get("text")
    if not (isinstance(sender, dict) and isinstance(chat, dict) and isinstance(text, str)):
        return None
    user_id, chat_id = sender.get("id"), chat.get("id")
    if not (isinstance(user_id, int) and isinstance(chat_id, int)):
        return None
    command, _, argument = text.strip().partition(" ")
    if command.split("@")[0] != "/start":
        return None
    language = "ru" if str(sender.get("language_code", "")).startswith("ru") else "en"
    rt.accounts.ensure(
        user_id,
        now=rt.clock.now(),
        language=language,
        first_name=sender.get("first_name") if isinstance(sender.get("first_name"), str) else None,
        username=sender.get("username") if isinstance(sender.get("username"), str) else None,
        start_parameter=argument.strip()[:64] or None,
    )
    # One Bot API call returned as the webhook's response body saves a round trip.
    return {"method": "sendMessage", "chat_id": chat_id, "text": WELCOME[language]}
