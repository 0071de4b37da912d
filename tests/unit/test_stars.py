"""Telegram Stars (SPEC §7): an order's total in whole Stars, rounded up, and the bot's
Star transactions read from getStarTransactions as Telegram shapes them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.config import Settings, SettingsError
from billing.domain.money import Currency, stars_for
from billing.providers.errors import ProviderRejected, ProviderUnavailable
from billing.providers.stars import TelegramStars, refund_id
from billing.telegram.errors import TelegramError, TelegramUnavailable

EUR, RUB = Currency.EUR, Currency.RUB


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "stars"),
    [
        (1_800, EUR, Decimal(84), 1_512),  # exact
        (1_801, EUR, Decimal(84), 1_513),  # 1 512.84 rounded up, never down
        (100_000, RUB, Decimal("0.85"), 850),
        (100_001, RUB, Decimal("0.85"), 851),  # 850.0085
        (1, EUR, Decimal("0.01"), 1),  # never less than one Star
    ],
)
def test_an_amount_is_whole_stars_rounded_up(
    amount: int, currency: Currency, rate: Decimal, stars: int
) -> None:
    assert stars_for(amount, currency, rate) == stars


@given(
    amount=st.integers(1, 10**9),
    rate=st.decimals(Decimal("0.01"), Decimal(1000), places=2),
)
def test_the_stars_never_bring_less_than_the_amount(amount: int, rate: Decimal) -> None:
    stars = stars_for(amount, EUR, rate)
    assert Decimal(stars) >= Decimal(amount) * rate / 100  # enough
    assert Decimal(stars - 1) < max(Decimal(amount) * rate / 100, Decimal(1))  # not one more


def test_rates_are_configured_per_currency_and_checked() -> None:
    settings = Settings.from_env({"STARS_RATES": "EUR=80, USD=70,RUB=1.25"})
    assert settings.stars_rate("RUB") == Decimal("1.25")
    for bad in ("EUR=80,USD=70", "EUR=80,USD=70,RUB=0", "EUR=x,USD=1,RUB=1", "GBP=1,USD=1,RUB=1"):
        with pytest.raises(SettingsError, match="STARS_RATES"):
            Settings.from_env({"STARS_RATES": bad})


class _Bot:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _payment(ident: str, stars: int, payload: str) -> dict[str, Any]:
    user = {"id": 5, "is_bot": False, "first_name": "A"}
    return {
        "id": ident,
        "amount": stars,
        "date": 1_800_000_000,
        "source": {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user,
            "invoice_payload": payload,
        },
    }


def test_transactions_page_to_the_end_and_keep_only_invoice_payments_and_refunds() -> None:
    page = [_payment(f"stx{i}", 10, f"order-{i}") for i in range(100)]
    refund = {**_payment("stx3", 10, "order-3"), "receiver": None}
    refund["receiver"] = refund.pop("source")
    withdrawal = {
        "id": "w1",
        "amount": 500,
        "date": 1_800_000_100,
        "receiver": {"type": "fragment"},
    }
    bot = _Bot([{"transactions": page}, {"transactions": [refund, withdrawal, "junk"]}])
    found, end = TelegramStars(lambda: bot).transactions(0)  # type: ignore[arg-type,return-value]
    assert end == 103
    assert [c[1] for c in bot.calls] == [{"offset": 0, "limit": 100}, {"offset": 100, "limit": 100}]
    assert len(found) == 101
    assert (found[-1].id, found[-1].incoming, found[-1].payload) == ("stx3", False, "order-3")
    assert refund_id("stx3") == "refund-stx3"


def test_a_refund_made_before_is_an_answer_and_other_refusals_are_errors() -> None:
    already = TelegramError(400, "Bad Request: CHARGE_ALREADY_REFUNDED", method="refundStarPayment")
    unknown = TelegramError(400, "Bad Request: CHARGE_NOT_FOUND", method="refundStarPayment")
    down = TelegramUnavailable(502, "Bad Gateway", method="refundStarPayment")
    bot = _Bot([True, already, unknown, down])
    stars = TelegramStars(lambda: bot)  # type: ignore[arg-type,return-value]
    assert stars.refund(user_id=5, charge_id="stx1") is True
    assert stars.refund(user_id=5, charge_id="stx1") is False
    with pytest.raises(ProviderRejected):
        stars.refund(user_id=5, charge_id="stx2")
    with pytest.raises(ProviderUnavailable):
        stars.refund(user_id=5, charge_id="stx1")
