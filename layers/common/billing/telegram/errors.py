"""How a Bot API call failed (billing.telegram.client raises these). Its own module so that
handling them does not import httpx."""

from __future__ import annotations


class TelegramError(Exception):
    """The Bot API refused a call (or could not be reached, for the subclass)."""

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        method: str = "",
    ) -> None:
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.method = method
        where = f"{method}: " if method else ""
        wait = f" (retry after {retry_after} s)" if retry_after is not None else ""
        super().__init__(f"{where}{error_code} {description}{wait}")


class BotBlocked(TelegramError):
    """403: the user blocked the bot, deleted their account or never started the bot."""


class TelegramUnavailable(TelegramError):
    """Telegram could not be reached or kept failing (5xx, network, 429 beyond the cap)."""
