"""Polling mode (`make run MODE=polling`): a real bot token tries the bot without AWS.

Reads updates with getUpdates from the configured Bot API and feeds each to the same
handler as POST /telegram, then performs the method call the webhook answered with (in
webhook mode Telegram performs it; here nobody else would). The webhook is deleted first:
Telegram refuses getUpdates while one is set.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from local.stack import LocalStack

log = logging.getLogger("local.polling")

# The update kinds the bot handles, as `make set-webhook` registers them.
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]


class Poller:
    # Long polling, kept under the client's 10 s request timeout.
    def __init__(self, stack: LocalStack, client: Any, *, timeout: int = 8) -> None:
        self._stack = stack
        self._client = client  # billing.telegram.client.BotApi
        self._timeout = timeout
        self.delivered = 0

    def run(self, stop: threading.Event) -> None:
        from billing.telegram.errors import TelegramError

        self._client.call("deleteWebhook", {"drop_pending_updates": False})
        offset: int | None = None
        while not stop.is_set():
            try:
                updates = self._client.call(
                    "getUpdates",
                    {
                        "offset": offset,
                        "timeout": self._timeout,
                        "allowed_updates": ALLOWED_UPDATES,
                    },
                )
            except TelegramError as error:
                log.warning("getUpdates failed: %s; trying again", error)
                stop.wait(2)
                continue
            for update in updates or []:
                update_id = update.get("update_id") if isinstance(update, dict) else None
                if not isinstance(update_id, int):
                    continue
                offset = update_id + 1  # acknowledged with the next getUpdates
                result = self._stack.deliver_update(update, perform=self._perform)
                self.delivered += 1
                if result["status"] != 200:
                    log.warning("update %s answered %s", update_id, result["status"])

    def _perform(self, method: str, params: dict[str, Any]) -> None:
        from billing.telegram.errors import TelegramError

        try:
            self._client.call(method, params)
        except TelegramError as error:
            log.warning("%s failed: %s", method, error)
