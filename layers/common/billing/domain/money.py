"""Money is an integer count of minor units (cents, kopecks) plus a currency code.

Floats never appear: rates and percentages are `Decimal`, and every conversion back to
minor units goes through `round_half_up`, once per line, as SPEC §2-§3 require.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

from billing.errors import InvalidAmount, UnsupportedCurrency


class Currency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    RUB = "RUB"

    @classmethod
    def parse(cls, code: str) -> Currency:
        try:
            return cls(code.strip().upper())
        except ValueError:
            allowed = ", ".join(c.value for c in cls)
            raise UnsupportedCurrency(
                f"currency {code!r} is not supported (use {allowed})"
            ) from None

    @property
    def minor_per_major(self) -> int:
        # All three currencies have two decimal places (cents, cents, kopecks).
        return 100

    @property
    def decimal_places(self) -> int:
        return len(str(self.minor_per_major)) - 1


def round_half_up(value: Decimal) -> int:
    """Round to a whole number of minor units, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def round_down(value: Decimal) -> int:
    """Truncate towards zero (credits and remaining value are never rounded up)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_DOWN))


def stars_for(amount: int, currency: Currency, stars_per_unit: Decimal) -> int:
    """The whole Telegram Stars that pay `amount` (SPEC §7): converted at the configured
    rate and rounded UP, so the Stars never bring less than the order's total."""
    stars = Decimal(amount) * stars_per_unit / currency.minor_per_major
    return max(1, int(stars.to_integral_value(rounding=ROUND_CEILING)))


def to_minor(amount: Decimal | str | int, currency: Currency) -> int:
    """Major units ("12.50") to minor units (1250), refusing sub-minor precision."""
    value = Decimal(str(amount)) * currency.minor_per_major
    if value != value.to_integral_value():
        raise InvalidAmount(f"{amount} {currency} has more decimal places than the currency allows")
    return int(value)


# Digits, an optional decimal point or comma and at most 12 decimals: no exponent, no
# "Infinity" or "NaN", no other scripts' digits, which Decimal() would all take.
_TYPED_AMOUNT = re.compile(
    r"(?P<sign>[+-]?)(?P<units>[0-9]{1,12})(?:[.,](?P<fraction>[0-9]{1,12}))?"
)
_TYPED_AMOUNT_MAX = 32  # characters, so an absurdly long text is refused before the regex


def parse_amount(text: str, currency: Currency, *, signed: bool = False) -> int:
    """An amount as a person types it ("12", "12.5", "12,50"; "-10.00" if `signed`) in
    minor units. Anything else raises InvalidAmount, never another exception: it is read
    with int(), so nothing can overflow or come out without an integer value."""
    typed = text.strip()
    match = _TYPED_AMOUNT.fullmatch(typed) if len(typed) <= _TYPED_AMOUNT_MAX else None
    if match is None or (match["sign"] and not signed):
        shown = typed if len(typed) <= _TYPED_AMOUNT_MAX else typed[:_TYPED_AMOUNT_MAX] + "..."
        raise InvalidAmount(f"{shown!r} is not an amount like 12.50")
    fraction = match["fraction"] or ""
    if len(fraction) > currency.decimal_places:
        raise InvalidAmount(f"{typed} {currency} has more decimal places than the currency allows")
    minor = int(match["units"]) * currency.minor_per_major
    minor += int(fraction.ljust(currency.decimal_places, "0") or "0")
    return -minor if match["sign"] == "-" else minor


def decimal_text(amount: int) -> str:
    """1250 -> "12.50": the decimal string providers take for two-decimal currencies."""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    return f"{sign}{major}.{minor:02d}"


def format_minor(amount: int, currency: Currency | str) -> str:
    """1250, EUR -> "12.50 EUR" (for texts and logs, never for arithmetic)."""
    return f"{decimal_text(amount)} {currency}"


def require_positive(amount: int, what: str = "amount") -> int:
    """Guard for amounts that must be a positive integer count of minor units."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"{what} must be an integer number of minor units, got {amount!r}")
    if amount <= 0:
        raise InvalidAmount(f"{what} must be positive, got {amount}")
    return amount
