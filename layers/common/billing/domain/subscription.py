"""A paid subscription and the pure rules of its lifecycle (SPEC §1, §5).

The use cases in `billing.subscriptions` read a subscription, ask these functions for the
next state, and write it back in one conditional transaction together with any money it
moves. Nothing here reads the clock: `now` is always passed in.

Value accounting (for terminate-with-credit, §5.6): a subscription carries `value_amount`,
the money (minor units) that covers the time from `value_since` to `expires_at`. The value
left at any moment is that amount pro rata. An expansion shortens the time but keeps the
value (the window restarts at `now` with the value left), so the credit after an expansion
equals the credit just before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from billing.domain.catalog import OptionValue
from billing.domain.money import Currency
from billing.domain.periods import add_months, whole_seconds
from billing.domain.renewal import SweepMarks
from billing.errors import CurrencyMismatch, InvalidState, NotAllowed


class Status(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class ChangeKind(StrEnum):
    CONNECT = "connect"
    RENEW = "renew"
    CHANGE = "change"
    AUTO_RENEW = "auto_renew"
    CUSTOMER_MAY_CHANGE = "customer_may_change"
    EXPIRE = "expire"
    TERMINATE = "terminate"


@dataclass(frozen=True)
class HistoryRecord:
    """One line of "why is my expiry what it is": what changed, who did it, the dates."""

    at: datetime
    kind: ChangeKind
    by: int | None  # Telegram user id; None when the system acted (sweep, expiry)
    old_expiry: datetime | None = None
    new_expiry: datetime | None = None
    # For a change: option -> [old, new]; for a renewal: the charge; for a toggle: the state.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    id: str
    product: str
    customer_id: int
    payer_id: int
    options: dict[str, OptionValue]
    months: int
    currency: Currency
    status: Status
    started_at: datetime
    expires_at: datetime
    auto_renew: bool
    customer_may_change: bool
    value_amount: int
    value_since: datetime
    version: int
    created_at: datetime
    history: tuple[HistoryRecord, ...] = ()
    sweep: SweepMarks = field(default_factory=SweepMarks)  # the renewal sweep's marks
    # The Customer's first name as Telegram gave it when the Payer picked them: how the
    # Payer's screens name someone who may never have started the bot.
    customer_name: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status is Status.ACTIVE

    def period_key(self) -> str:
        """Names the period a renewal would buy: the one starting at the current expiry.

        Manual renewal and every auto-renewal attempt for the same period share it, so the
        ledger entry keyed on it can be written only once.
        """
        return f"{self.id}@{self.expires_at.strftime('%Y%m%dT%H%M%SZ')}"


# History is shown to people and kept in the item: bounded so the item stays small.
HISTORY_LIMIT = 50


def _with_history(sub: Subscription, record: HistoryRecord, **changes: Any) -> Subscription:
    history = (*sub.history, record)[-HISTORY_LIMIT:]
    return replace(sub, history=history, version=sub.version + 1, **changes)


# --- permissions (SPEC §1) -------------------------------------------------------------


def can_view(sub: Subscription, user_id: int) -> bool:
    return user_id in (sub.payer_id, sub.customer_id)


def can_change_options(sub: Subscription, user_id: int) -> bool:
    return user_id == sub.payer_id or (user_id == sub.customer_id and sub.customer_may_change)


def can_renew(sub: Subscription, user_id: int) -> bool:
    # Charges always go to the Payer, so only the Payer renews.
    return user_id == sub.payer_id


def can_toggle_auto_renew(sub: Subscription, user_id: int) -> bool:
    return user_id == sub.payer_id


def require(allowed: bool, action: str) -> None:
    if not allowed:
        raise NotAllowed(f"only the payer of this subscription can {action}", reason="payer_only")


def require_active(sub: Subscription, action: str) -> None:
    if not sub.is_active:
        raise InvalidState(
            f"subscription {sub.id} is {sub.status.value}; cannot {action}",
            reason="not_active",
            status=sub.status.value,
        )


def require_currency(sub: Subscription, currency: Currency) -> None:
    if currency is not sub.currency:
        raise CurrencyMismatch(
            f"subscription {sub.id} is billed in {sub.currency}; it cannot be paid in {currency}"
        )


# --- transitions ------------------------------------------------------------------------


def connect(
    *,
    subscription_id: str,
    product: str,
    customer_id: int,
    payer_id: int,
    options: dict[str, OptionValue],
    months: int,
    currency: Currency,
    paid: int,
    auto_renew: bool,
    now: datetime,
    customer_name: str | None = None,
) -> Subscription:
    """A new active subscription: starts now, ends `now + months`, worth what was paid."""
    expires = add_months(now, months)
    record = HistoryRecord(
        at=now,
        kind=ChangeKind.CONNECT,
        by=payer_id,
        new_expiry=expires,
        details={"paid": paid, "currency": currency.value, "months": months},
    )
    return Subscription(
        id=subscription_id,
        product=product,
        customer_id=customer_id,
        payer_id=payer_id,
        options=dict(options),
        months=months,
        currency=currency,
        status=Status.ACTIVE,
        started_at=now,
        expires_at=expires,
        auto_renew=auto_renew,
        customer_may_change=False,
        value_amount=paid,
        value_since=now,
        version=1,
        created_at=now,
        history=(record,),
        customer_name=customer_name if customer_id != payer_id else None,
    )


def remaining_value(sub: Subscription, now: datetime) -> int:
    """Money left of what was paid, pro rata to the second, rounded down (SPEC §5.6)."""
    if not sub.is_active or now >= sub.expires_at:
        return 0
    window = whole_seconds(sub.value_since, sub.expires_at)
    if window == 0:
        return 0
    left = whole_seconds(max(now, sub.value_since), sub.expires_at)
    return (sub.value_amount * left) // window


def renew(sub: Subscription, *, paid: int, by: int | None, now: datetime) -> Subscription:
    """One more period of the same length from the current expiry (from now if expired)."""
    if sub.status is Status.TERMINATED:
        raise InvalidState(
            f"subscription {sub.id} was terminated; it cannot be renewed", reason="terminated"
        )
    start = max(sub.expires_at, now)
    new_expiry = add_months(start, sub.months)
    record = HistoryRecord(
        at=now,
        kind=ChangeKind.RENEW,
        by=by,
        old_expiry=sub.expires_at,
        new_expiry=new_expiry,
        details={"paid": paid, "currency": sub.currency.value, "months": sub.months},
    )
    return _with_history(
        sub,
        record,
        status=Status.ACTIVE,
        expires_at=new_expiry,
        value_amount=remaining_value(sub, now) + paid,
        value_since=now,
    )


@dataclass(frozen=True)
class ChangePlan:
    """What a change of options will do, shown to the Payer before confirming."""

    expands: bool
    old_monthly: int
    new_monthly: int
    old_expiry: datetime
    new_expiry: datetime
    changed: dict[str, tuple[OptionValue | None, OptionValue | None]]


def plan_change(
    sub: Subscription,
    new_options: dict[str, OptionValue],
    *,
    old_monthly: int,
    new_monthly: int,
    now: datetime,
) -> ChangePlan:
    """Expand (new monthly price higher): keep the value, spread it over the new price.

    `new_expiry = now + (expiry - now) * old_price / new_price`, rounded down to the second.
    Reduce (lower or equal, SPEC §5.3): the expiry stays and nothing is refunded. A change
    that both adds and removes is decided by the totals alone.
    """
    require_active(sub, "change options")
    if now >= sub.expires_at:
        raise InvalidState(
            f"subscription {sub.id} has expired; renew it before changing it", reason="expired"
        )
    keys = list(dict.fromkeys([*sub.options, *new_options]))
    changed = {
        key: (sub.options.get(key), new_options.get(key))
        for key in keys
        if sub.options.get(key) != new_options.get(key)
    }
    if not changed:
        raise InvalidState(
            "the new options are the same as the current ones", reason="same_options"
        )
    expands = new_monthly > old_monthly
    new_expiry = sub.expires_at
    if expands:
        remaining = whole_seconds(now, sub.expires_at)
        new_expiry = now + timedelta(seconds=remaining * old_monthly // new_monthly)
    return ChangePlan(
        expands=expands,
        old_monthly=old_monthly,
        new_monthly=new_monthly,
        old_expiry=sub.expires_at,
        new_expiry=new_expiry,
        changed=changed,
    )


def apply_change(
    sub: Subscription,
    new_options: dict[str, OptionValue],
    plan: ChangePlan,
    *,
    by: int,
    now: datetime,
) -> Subscription:
    record = HistoryRecord(
        at=now,
        kind=ChangeKind.CHANGE,
        by=by,
        old_expiry=plan.old_expiry,
        new_expiry=plan.new_expiry,
        details={
            "changed": {key: [old, new] for key, (old, new) in plan.changed.items()},
            "old_monthly": plan.old_monthly,
            "new_monthly": plan.new_monthly,
        },
    )
    if not plan.expands:
        return _with_history(sub, record, options=dict(new_options))
    return _with_history(
        sub,
        record,
        options=dict(new_options),
        expires_at=plan.new_expiry,
        value_amount=remaining_value(sub, now),
        value_since=now,
    )


def set_auto_renew(sub: Subscription, on: bool, *, by: int, now: datetime) -> Subscription:
    require_active(sub, "change auto-renewal")
    if sub.auto_renew == on:
        return sub
    record = HistoryRecord(at=now, kind=ChangeKind.AUTO_RENEW, by=by, details={"on": on})
    return _with_history(sub, record, auto_renew=on)


def set_customer_may_change(
    sub: Subscription, allowed: bool, *, by: int, now: datetime
) -> Subscription:
    require_active(sub, "change who may edit options")
    if sub.customer_may_change == allowed:
        return sub
    record = HistoryRecord(
        at=now, kind=ChangeKind.CUSTOMER_MAY_CHANGE, by=by, details={"allowed": allowed}
    )
    return _with_history(sub, record, customer_may_change=allowed)


def expire(sub: Subscription, *, now: datetime) -> Subscription:
    require_active(sub, "expire it")
    if now < sub.expires_at:
        raise InvalidState(f"subscription {sub.id} runs until {sub.expires_at.isoformat()}")
    record = HistoryRecord(at=now, kind=ChangeKind.EXPIRE, by=None, old_expiry=sub.expires_at)
    return _with_history(sub, record, status=Status.EXPIRED, value_amount=0, value_since=now)


def terminate(sub: Subscription, *, by: int, now: datetime) -> tuple[Subscription, int]:
    """Ends the subscription now; returns it and the credit owed to the Payer."""
    require_active(sub, "terminate it")
    credit = remaining_value(sub, now)
    record = HistoryRecord(
        at=now,
        kind=ChangeKind.TERMINATE,
        by=by,
        old_expiry=sub.expires_at,
        new_expiry=now,
        details={"credit": credit, "currency": sub.currency.value},
    )
    ended = _with_history(
        sub, record, status=Status.TERMINATED, expires_at=now, value_amount=0, value_since=now
    )
    return ended, credit
