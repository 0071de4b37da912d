"""The front door of POST /telegram: authenticate, parse, dedupe, act, answer.

Telegram retries an update until it gets a 2xx, so: a wrong secret is 401 with nothing
read or written; an update we cannot act on is logged and answered 200; an update already
handled (same update_id) is answered 200 without acting again; only a transient fault
(DynamoDB unavailable, ...) becomes 5xx, after releasing the update so the retry acts.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from billing.bot.calls import Call
from billing.http import Event, Response, body_bytes, header, json_response
from billing.observability import logger
from billing.runtime import Runtime
from billing.secret_store import secret
from billing.telegram.client import TelegramError
from billing.telegram.models import Update, parse_update

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
TRANSIENT = (BotoCoreError, ClientError, PynamoDBException)


def authentic(event: Event, expected: str) -> bool:
    given = header(event, SECRET_HEADER) or ""
    return hmac.compare_digest(given.encode(), expected.encode())


def handle(event: Event, rt: Runtime) -> Response:
    if not authentic(event, secret(rt.settings, rt.settings.webhook_secret_param)):
        return json_response(401, {"error": "unauthorized"})
    update = _actionable_update(event)
    if update is None:
        return json_response(200, {})
    key = f"telegram-update#{update.update_id}"
    if not rt.dedupe.claim(key, rt.clock.now()):
        logger.info("update already handled", extra={"update_id": update.update_id})
        return json_response(200, {})
    try:
        calls = rt.bot.handle(update)
    except TRANSIENT:
        rt.dedupe.release(key)
        logger.exception("transient fault; Telegram will deliver the update again")
        return json_response(503, {"error": "temporarily unavailable"})
    return json_response(200, _reply(calls, rt))


def _actionable_update(event: Event) -> Update | None:
    """The update if the bot handles its kind; anything else is logged and left alone."""
    try:
        raw: Any = json.loads(body_bytes(event))
    except ValueError:
        logger.warning("telegram update is not JSON; ignored")
        return None
    update = parse_update(raw)
    if update is None:
        logger.warning("not a Telegram update; ignored")
        return None
    if (
        update.message is None
        and update.callback_query is None
        and update.pre_checkout_query is None
    ):
        # Edited messages, polls, ...: nothing to do, and nothing worth remembering.
        logger.info("update kind not handled", extra={"update_id": update.update_id})
        return None
    return update


def _reply(calls: list[Call], rt: Runtime) -> dict[str, Any]:
    """Sends all calls but the last through the Bot API, in order, and returns the last for
    the webhook response body: Telegram performs it after ours, so the order holds, and a
    one-call answer costs no extra request."""
    if not calls:
        return {}
    # An upload (multipart) cannot ride in the webhook reply: then every call is sent.
    reply = calls[-1] if not calls[-1].files else None
    for call in calls[:-1] if reply is not None else calls:
        try:
            rt.telegram().call(call.method, call.params, files=call.files)
        except TelegramError as error:
            # The user's state is already saved; a lost message is logged, not retried.
            logger.warning(
                "Bot API call failed",
                extra={"method": call.method, "code": error.error_code},
            )
    return reply.as_webhook_reply() if reply is not None else {}
