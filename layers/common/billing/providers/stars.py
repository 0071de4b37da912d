"""Telegram Stars as a payment provider (SPEC §7): refunds and the bot's transaction list.

Stars are paid through the Bot API (an `XTR` invoice, no provider token), so the "provider"
is the bot itself: `refundStarPayment(user_id, telegram_payment_charge_id)` gives a whole
payment back (Telegram refunds no part of one), and `getStarTransactions` lists every
transaction in chronological order: an incoming payment carries the charge id as its `id`
and the invoice payload (our order id) in its `source`; a refund repeats the payment's id,
with the user as its `receiver`.

Failures are the other providers' (providers/errors.py): Telegram unreachable or failing
is `ProviderUnavailable`; a refusal is `ProviderRejected`, except a refund Telegram made
already (CHARGE_ALREADY_REFUNDED), which is an answer: `refund` returns False.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from billing.providers.errors import ProviderRejected, ProviderUnavailable
from billing.telegram.errors import TelegramError, TelegramUnavailable

if TYPE_CHECKING:
    from billing.telegram.client import BotApi

PROVIDER = "stars"
CURRENCY = "XTR"
PAGE = 100  # getStarTransactions' largest limit
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


@dataclass(frozen=True)
class StarTransaction:
    """One of the bot's Star transactions that concerns a user's invoice payment."""

    id: str  # the telegram_payment_charge_id (a refund repeats its payment's)
    stars: int
    date: int  # Unix time
    user_id: int
    incoming: bool  # a payment to the bot; False: a refund to the user
    payload: str | None  # the invoice payload: our order id


def refund_id(charge_id: str) -> str:
    """The id a Stars refund is recorded under: Telegram gives a refund no id of its own."""
    return f"refund-{charge_id}"


class TelegramStars:
    def __init__(self, bot_api: Callable[[], BotApi]) -> None:
        self._bot_api = bot_api

    def refund(self, *, user_id: int, charge_id: str) -> bool:
        """True when Telegram refunded it now, False when it had been refunded before."""
        try:
            self._call(
                "refundStarPayment", {"user_id": user_id, "telegram_payment_charge_id": charge_id}
            )
        except ProviderRejected as refused:
            if ALREADY_REFUNDED in refused.reason:
                return False
            raise
        return True

    def transactions(self, offset: int) -> tuple[list[StarTransaction], int]:
        """Invoice payments and refunds from the `offset`-th transaction on, to the end, and
        the offset after the last one read (where the next run may start)."""
        found: list[StarTransaction] = []
        while True:
            result = self._call("getStarTransactions", {"offset": offset, "limit": PAGE})
            listed = result.get("transactions") if isinstance(result, dict) else None
            if not isinstance(listed, list):
                raise ProviderUnavailable(PROVIDER, "getStarTransactions answered no list")
            found.extend(t for item in listed if (t := _transaction(item)) is not None)
            offset += len(listed)
            if len(listed) < PAGE:
                return found, offset

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return self._bot_api().call(method, params)
        except TelegramUnavailable as unavailable:
            raise ProviderUnavailable(PROVIDER, str(unavailable)) from None
        except TelegramError as refused:
            raise ProviderRejected(
                PROVIDER,
                refused.description,
                status=refused.error_code,
                name=f"{method} refused",
            ) from None


def _transaction(item: object) -> StarTransaction | None:
    """An invoice payment or its refund; anything else (withdrawals, ads, gifts) is None."""
    if not isinstance(item, dict):
        return None
    source, receiver = item.get("source"), item.get("receiver")
    partner, incoming = (source, True) if isinstance(source, dict) else (receiver, False)
    if not isinstance(partner, dict) or partner.get("type") != "user":
        return None
    if partner.get("transaction_type", "invoice_payment") != "invoice_payment":
        return None
    user = partner.get("user")
    ident, stars, date = item.get("id"), item.get("amount"), item.get("date")
    user_id = user.get("id") if isinstance(user, dict) else None
    numbers = (stars, date, user_id)
    if not (isinstance(ident, str) and ident and all(_whole(n) for n in numbers)):
        return None
    assert isinstance(stars, int) and isinstance(date, int) and isinstance(user_id, int)
    payload = partner.get("invoice_payload")
    return StarTransaction(
        id=ident,
        stars=stars,
        date=date,
        user_id=user_id,
        incoming=incoming,
        payload=payload if isinstance(payload, str) and payload else None,
    )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
