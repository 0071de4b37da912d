"""What the renewal sweep does to a subscription, and when (SPEC §5.4), as pure rules.

Around the expiry E of the current period:
- E - 7 days: a reminder (skipped if the 1-day one is due already);
- E - 3 days, then once a day: an auto-renewal attempt, while auto-renewal is on;
- E - 1 day: the last reminder;
- E: expiry, unless the period was bought. Nothing is charged from E on, however late the
  sweep runs: it expires the subscription.
Each mark ("reminded 7 days before", "tried on day N") belongs to one period: a renewal (by
hand or by the sweep) starts a new period with no marks, so nothing is skipped or repeated.
The next time the sweep must look is a function of the subscription alone, stored in the
sparse due index.

A card charge claims the period before the provider is called (a mark written with the
subscription's version condition): while the claim stands, nothing else charges the period,
and once the call that made it must have ended, the sweep asks the provider what became of
it before anything else, even after E.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing.domain.subscription import Subscription

FIRST_REMINDER = timedelta(days=7)
LAST_REMINDER = timedelta(days=1)
ATTEMPTS_FROM = timedelta(days=3)
ATTEMPT_EVERY = timedelta(days=1)
# Longer than the renewal function's timeout (60 s in template.yaml): by then the invocation
# that claimed has ended, so asking the provider cannot race the request it made.
CLAIM_RESOLVES_AFTER = timedelta(minutes=10)


class Reminder(StrEnum):
    WEEK = "7d"
    DAY = "1d"


class Action(StrEnum):
    RENEW = "renew"
    RESOLVE_CHARGE = "resolve_charge"
    REMIND_WEEK = "remind_7d"
    REMIND_DAY = "remind_1d"
    EXPIRE = "expire"


@dataclass(frozen=True)
class CardClaim:
    """An off-session card charge for the period, from before the provider was called until
    its outcome is recorded. `attempt` numbers it within the period (the provider's
    idempotency key and the charge's metadata carry it)."""

    order_id: str
    attempt: int
    since: datetime

    @property
    def resolvable_at(self) -> datetime:
        return self.since + CLAIM_RESOLVES_AFTER


@dataclass(frozen=True)
class SweepMarks:
    """What the sweep has done for one period (named by its period key)."""

    period: str | None = None
    reminded: tuple[Reminder, ...] = ()
    last_attempt_at: datetime | None = None
    attempts: int = 0  # failed attempts, one a day
    card_attempts: int = 0  # card charges started, so each has its own number
    claim: CardClaim | None = None

    def for_period(self, period: str) -> SweepMarks:
        """These marks if they are the period's; empty ones for a period not seen yet."""
        return self if self.period == period else SweepMarks(period=period)


def marks(sub: Subscription) -> SweepMarks:
    return sub.sweep.for_period(sub.period_key())


def next_attempt_at(sub: Subscription) -> datetime | None:
    """The next auto-renewal attempt: from 3 days before expiry, once a day, until expiry."""
    if not sub.auto_renew:
        return None
    first = sub.expires_at - ATTEMPTS_FROM
    last = marks(sub).last_attempt_at
    at = first if last is None else max(first, last + ATTEMPT_EVERY)
    return at if at < sub.expires_at else None


def _reminder_times(sub: Subscription) -> list[tuple[datetime, Action]]:
    done = marks(sub).reminded
    times = []
    if Reminder.DAY not in done:
        if Reminder.WEEK not in done:
            times.append((sub.expires_at - FIRST_REMINDER, Action.REMIND_WEEK))
        times.append((sub.expires_at - LAST_REMINDER, Action.REMIND_DAY))
    return times


def next_action_at(sub: Subscription) -> datetime | None:
    """When the sweep should next look at this subscription; None once it has ended."""
    if not sub.is_active:
        return None
    claim = marks(sub).claim
    if claim is not None:
        return claim.resolvable_at
    times = [at for at, _ in _reminder_times(sub)] + [sub.expires_at]
    attempt = next_attempt_at(sub)
    if attempt is not None:
        times.append(attempt)
    return min(times)


def due_actions(sub: Subscription, now: datetime) -> list[Action]:
    """What is due at `now`, in the order to do it: a renewal attempt first (it may make
    the rest moot), then the latest reminder due, then expiry. While a card charge's
    outcome is unknown, only its resolution: it may have bought the period."""
    if not sub.is_active:
        return []
    claim = marks(sub).claim
    if claim is not None:
        return [Action.RESOLVE_CHARGE] if claim.resolvable_at <= now else []
    if sub.expires_at <= now:
        return [Action.EXPIRE]  # never a charge, nor a reminder: the expiry notice says it all
    actions: list[Action] = []
    attempt = next_attempt_at(sub)
    if attempt is not None and attempt <= now:
        actions.append(Action.RENEW)
    reminders = [action for at, action in _reminder_times(sub) if at <= now]
    if reminders:
        actions.append(reminders[-1])  # never a week-ahead reminder a day before expiry
    return actions


def with_reminder(sub: Subscription, reminder: Reminder) -> Subscription:
    current = marks(sub)
    done = {*current.reminded, reminder}
    if reminder is Reminder.DAY:
        done.add(Reminder.WEEK)  # the week-ahead one is moot now
    updated = replace(current, reminded=tuple(sorted(done)))
    return replace(sub, sweep=updated, version=sub.version + 1)


def with_attempt(sub: Subscription, now: datetime) -> Subscription:
    """A failed attempt, the next one tomorrow; a card charge's claim ends with it (its
    outcome is known)."""
    current = marks(sub)
    updated = replace(current, last_attempt_at=now, attempts=current.attempts + 1, claim=None)
    return replace(sub, sweep=updated, version=sub.version + 1)


def next_charge_attempt(sub: Subscription) -> int:
    """The number the next card charge of the current period gets."""
    return marks(sub).card_attempts + 1


def with_claim(sub: Subscription, *, order_id: str, now: datetime) -> Subscription:
    """The period held for card charge number `next_charge_attempt(sub)` of `order_id`."""
    current = marks(sub)
    attempt = next_charge_attempt(sub)
    claim = CardClaim(order_id=order_id, attempt=attempt, since=now)
    updated = replace(current, card_attempts=attempt, claim=claim)
    return replace(sub, sweep=updated, version=sub.version + 1)
