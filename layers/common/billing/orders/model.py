"""Orders as plain values, and the payment limits of SPEC §4 and §7.

An order names one payment: who pays, how much, in what currency, by which method and for
what (a top-up, or a connect / renew it pays for). Its status moves
pending -> paid | failed | expired | refunded; a paid order never goes back to pending.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from billing.domain.money import Currency, format_minor
from billing.domain.profile import PaymentMethod
from billing.errors import InvalidAmount


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class Purpose(StrEnum):
    TOP_UP = "top_up"
    CONNECT = "connect"
    RENEW = "renew"


# SPEC §4: per payment, in minor units. The maximum is 10 000 EUR "or equivalent"; the
# USD and RUB figures are that equivalent rounded, fixed here so limits never float.
MINIMUM = {Currency.EUR: 100, Currency.USD: 100, Currency.RUB: 10_000}
BANK_TRANSFER_MINIMUM = {Currency.EUR: 10_000, Currency.USD: 10_000, Currency.RUB: 1_000_000}
MAXIMUM = {Currency.EUR: 1_000_000, Currency.USD: 1_000_000, Currency.RUB: 100_000_000}


def minimum_for(method: PaymentMethod, currency: Currency) -> int:
    if method is PaymentMethod.BANK_TRANSFER:
        return BANK_TRANSFER_MINIMUM[currency]
    return MINIMUM[currency]


def maximum_for(method: PaymentMethod, currency: Currency) -> int | None:
    """The most one payment by `method` may be; None for bank transfer, which has none."""
    return None if method is PaymentMethod.BANK_TRANSFER else MAXIMUM[currency]


def require_payable_amount(amount: int, method: PaymentMethod, currency: Currency) -> int:
    """Refuses an amount outside the method's limits, saying what the limits are."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"an amount is an integer of minor units, got {amount!r}")
    low, high = minimum_for(method, currency), maximum_for(method, currency)
    if high is None:
        if amount < low:
            raise InvalidAmount(
                f"{method.label} takes from {format_minor(low, currency)} per payment",
                reason="minimum",
                method=method.value,
                low=format_minor(low, currency),
            )
        return amount
    if not low <= amount <= high:
        raise InvalidAmount(
            f"{method.label} takes from {format_minor(low, currency)}"
            f" to {format_minor(high, currency)} per payment",
            reason="range",
            method=method.value,
            low=format_minor(low, currency),
            high=format_minor(high, currency),
        )
    return amount


def amount_to_pay(missing: int, method: PaymentMethod, currency: Currency) -> int:
    """What a purchase asks the method for: the missing amount, raised to its minimum
    (the rest stays on the balance)."""
    return max(missing, minimum_for(method, currency))


# SPEC §7: how long an order waits for its money. A provider's own expiry (a crypto
# invoice's, a Checkout session's expired event) may end it sooner.
PAYABLE_FOR = {
    PaymentMethod.BANK_TRANSFER: timedelta(days=30),
}
DEFAULT_PAYABLE_FOR = timedelta(hours=24)


def expiry_for(method: PaymentMethod, created_at: datetime) -> datetime:
    return created_at + PAYABLE_FOR.get(method, DEFAULT_PAYABLE_FOR)


def new_order_id(now: datetime) -> str:
    """Short enough to type into a bank transfer's reference: date + 6 random hex digits."""
    return f"{now:%y%m%d}-{secrets.token_hex(3).upper()}"


@dataclass(frozen=True)
class Order:
    id: str
    payer_id: int
    purpose: Purpose
    amount: int
    currency: Currency
    method: PaymentMethod
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    # connect: request_id, customer_id, product, options, months, total;
    # renew: subscription_id, period_key, total. Empty for a top-up.
    details: dict[str, Any] = field(default_factory=dict)
    provider_ref: str | None = None  # the provider's payment id (pi_, capture, invoice, charge)
    paid_amount: int | None = None
    note: str | None = None  # why a paid order did not apply its purpose, a failure reason
    chat_id: int | None = None  # where to tell the Payer (the Payer's private chat)
    version: int = 1
    expires_at: datetime | None = None  # None: payable until support closes it
    # What each provider refund or dispute took back (id -> minor units); their sum is
    # never more than was paid.
    refunds: dict[str, int] = field(default_factory=dict)

    @property
    def refunded_amount(self) -> int:
        return sum(self.refunds.values())

    @property
    def refundable(self) -> int:
        """What is left of the payment (a paid order's) for refunds and disputes to take."""
        return (self.paid_amount or self.amount) - self.refunded_amount

    @property
    def is_open(self) -> bool:
        """Waiting for money (a failed card attempt can be retried on the same order),
        whether or not its time ran out: see `payable_at`."""
        return self.status in (OrderStatus.PENDING, OrderStatus.FAILED)

    def payable_at(self, now: datetime) -> bool:
        """Still open and within its time: what a payment page or pre-checkout may take."""
        return self.is_open and (self.expires_at is None or now < self.expires_at)

    def expired_at(self, now: datetime) -> bool:
        """No longer payable as what it was for: marked expired, or open past its time."""
        if self.status is OrderStatus.EXPIRED:
            return True
        return self.is_open and self.expires_at is not None and now >= self.expires_at

    def with_refund(self, refund_id: str, amount: int, now: datetime) -> Order:
        """`amount` more (or, negative, less: a dispute won) taken back by `refund_id`;
        refunded once all of the payment is."""
        refunds = {**self.refunds, refund_id: self.refunds.get(refund_id, 0) + amount}
        updated = replace(self, refunds=refunds)
        status = self.status
        if status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            status = OrderStatus.REFUNDED if updated.refundable <= 0 else OrderStatus.PAID
        return replace(
            updated,
            status=status,
            updated_at=now,
            version=self.version + 1,
        )

    def paid(
        self, *, amount: int, provider_ref: str | None, now: datetime, note: str | None
    ) -> Order:
        return replace(
            self,
            status=OrderStatus.PAID,
            paid_amount=amount,
            provider_ref=provider_ref or self.provider_ref,
            note=note,
            updated_at=now,
            version=self.version + 1,
        )
