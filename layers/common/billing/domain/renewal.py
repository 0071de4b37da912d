"""What the renewal sweep does to a subscription, and when (SPEC §5.4), as pure rules.

Around the expiry E of the current period:
- E - 7 days: a reminder (skipped if the 1-day one is due already);
- E - 3 days, then once a day: an auto-renewal attempt, while auto-renewal is on;
- E - 1 day: the last reminder;
- E: expiry, unless the period was bought.
Each mark ("reminded 7 days before", "tried on day N") belongs to one period: a renewal (by
hand or by the sweep) starts a new period with no marks, so nothing is skipped or repeated.
The next time the sweep must look is a function of the subscription alone, stored in the
sparse due index.
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


class Reminder(StrEnum):
    WEEK = "7d"
    DAY = "1d"


class Action(StrEnum):
    RENEW = "renew"
    REMIND_WEEK = "remind_7d"
    REMIND_DAY = "remind_1d"
    EXPIRE = "expire"


@dataclass(frozen=True)
class SweepMarks:
    """What the sweep has done for one period (named by its period key)."""

    period: str | None = None
    reminded: tuple[Reminder, ...] = ()
    last_attempt_at: datetime | None = None
    attempts: int = 0

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
    times = [at for at, _ in _reminder_times(sub)] + [sub.expires_at]
    attempt = next_attempt_at(sub)
    if attempt is not None:
        times.append(attempt)
    return min(times)


def due_actions(sub: Subscription, now: datetime) -> list[Action]:
    """What is due at `now`, in the order to do it: a renewal attempt first (it may make
    the rest moot), then the latest reminder due, then expiry."""
    if not sub.is_active:
        return []
    actions: list[Action] = []
    attempt = next_attempt_at(sub)
    if attempt is not None and attempt <= now:
        actions.append(Action.RENEW)
    if sub.expires_at <= now:
        actions.append(Action.EXPIRE)  # too late to remind: the expiry notice says it all
        return actions
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
    current = marks(sub)
    updated = replace(current, last_attempt_at=now, attempts=current.attempts + 1)
    return replace(sub, sweep=updated, version=sub.version + 1)
