"""The front door of POST /telegram: authenticate, parse, dedupe, act, answer.

Telegram retries an update until it gets a 2xx, so: a body over 256 KiB is 413 and a wrong
secret 401, both with nothing read or written; an update we cannot act on is logged and
answered 200. An update is acted on at least once and its effects happen once (cause-keyed
writes); its claim (store/dedupe.py) only saves repeating the work:

- the claim is a lease for the invocation's time, marked done once the work completed
  (the bot's writes and the calls sent), and the answer is then 200;
- any exception from the work releases it and answers 503, so Telegram delivers the update
  again and that delivery acts; if the release fails too, the lease lapses by itself;
- an update done already is answered 200 without acting; one in progress elsewhere (Lambda
  running it twice at once) 503, as that attempt may still fail: a 200 would lose it.

One update is one operation of the store's read map (store/reads.py): each item is read
from DynamoDB once however many steps of the bot ask for it.
"""

from __future__ import annotations

import hmac
from typing import Any

from billing import deadline
from billing.bot.calls import Call
from billing.http import Event, Response, header, json_response, limited_body, too_large
from billing.observability import logger
from billing.runtime import Runtime
from billing.secret_store import secret
from billing.store import reads
from billing.telegram.errors import TelegramError
from billing.telegram.models import Update, parse_update

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
# Telegram's update ids are positive counters; a 2,000-digit one (valid JSON) would make a
# dedupe key DynamoDB refuses (over 2048 bytes), so one beyond int64 is not an update.
MAX_UPDATE_ID = 2**63


def authentic(event: Event, expected: str) -> bool:
    given = header(event, SECRET_HEADER) or ""
    return hmac.compare_digest(given.encode(), expected.encode())


def handle(event: Event, rt: Runtime) -> Response:
    with reads.operation():
        return _handle(event, rt)


def _handle(event: Event, rt: Runtime) -> Response:
    # The size is checked before the secret, because it is cheaper: a length, with nothing
    # fetched (the secret comes from SSM) and nothing parsed; and a 413 before the 401 tells
    # a caller nothing about the secret. Real updates are a few KB: Telegram's never hit it.
    body = limited_body(event)
    if body is None:
        return too_large()
    if not authentic(event, secret(rt.settings, rt.settings.webhook_secret_param)):
        return json_response(401, {"error": "unauthorized"})
    update = _actionable_update(body)
    if update is None:
        return json_response(200, {})
    return _act_once(update, rt)


def _act_once(update: Update, rt: Runtime) -> Response:
    key = f"telegram-update#{update.update_id}"
    if not rt.dedupe.claim(key, rt.clock.now(), deadline.current().lease()):
        if rt.dedupe.done(key):
            logger.info("update already handled", extra={"update_id": update.update_id})
            return json_response(200, {})
        logger.info("update in progress elsewhere", extra={"update_id": update.update_id})
        return retry_later()
    try:
        reply = _reply(rt.bot.handle(update), rt)
    except Exception:
        logger.exception("update not handled; Telegram will deliver it again")
        _release(rt, key)
        return retry_later()
    try:
        rt.dedupe.complete(key, rt.clock.now())
    except Exception:
        # The work is done: answer 200. A redelivery after the lease would repeat it, and
        # its effects are keyed by cause.
        logger.exception("update handled but not marked done")
    return json_response(200, reply)


def _release(rt: Runtime, key: str) -> None:
    try:
        rt.dedupe.release(key)
    except Exception:
        logger.exception("claim not released; it lapses with its lease")


def retry_later() -> Response:
    return json_response(503, {"error": "temporarily unavailable"})


def _actionable_update(body: bytes) -> Update | None:
    """The update if the bot handles its kind; anything else is logged and left alone.

    Parsed by msgspec straight from the bytes (`parse_update`), not through json.loads,
    which passes lone surrogates (bytes ED A0 80, or an escaped \\ud800) that DynamoDB then
    refuses, turning a bad update into endless 503s. parse_update refuses them (the whole
    body must be UTF-8, and msgspec rejects escaped lone surrogates), and the RecursionError
    that [[[[... nested deep raises in any decoder is caught there: all of these are None.
    """
    update = parse_update(body)
    if update is None or not 0 <= update.update_id < MAX_UPDATE_ID:
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
            # The user's state is already saved; a lost message is logged, not retried (nor
            # one that Telegram asked to wait for longer than the invocation has left).
            logger.warning(
                "Bot API call failed",
                extra={
                    "method": call.method,
                    "code": error.error_code,
                    "retry_after": error.retry_after,
                },
            )
    return reply.as_webhook_reply() if reply is not None else {}
