"""When the sweep acts on a subscription (SPEC §5.4): pure rules, exact times."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from billing.domain import renewal
from billing.domain import subscription as rules
from billing.domain.money import Currency
from billing.domain.renewal import Action, Reminder

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRY = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def sub(*, auto_renew: bool = True) -> rules.Subscription:
    return rules.connect(
        subscription_id="s1",
        product="gateway",
        customer_id=2,
        payer_id=1,
        options={"lines": 1},
        months=6,
        currency=Currency.EUR,
        paid=21_420,
        auto_renew=auto_renew,
        now=NOW,
    )


def test_the_timeline_around_expiry_with_auto_renewal_on() -> None:
    s = sub()
    assert renewal.next_action_at(s) == EXPIRY - 7 * DAY
    assert renewal.due_actions(s, EXPIRY - 7 * DAY - timedelta(seconds=1)) == []
    assert renewal.due_actions(s, EXPIRY - 7 * DAY) == [Action.REMIND_WEEK]
    s = renewal.with_reminder(s, Reminder.WEEK)
    assert renewal.next_action_at(s) == EXPIRY - 3 * DAY
    assert renewal.due_actions(s, EXPIRY - 3 * DAY) == [Action.RENEW]
    s = renewal.with_attempt(s, EXPIRY - 3 * DAY)  # it failed
    assert renewal.next_action_at(s) == EXPIRY - 2 * DAY  # once a day
    assert renewal.due_actions(s, EXPIRY - 2 * DAY - timedelta(minutes=1)) == []
    s = renewal.with_attempt(s, EXPIRY - 2 * DAY)
    assert renewal.due_actions(s, EXPIRY - DAY) == [Action.RENEW, Action.REMIND_DAY]
    s = renewal.with_reminder(renewal.with_attempt(s, EXPIRY - DAY), Reminder.DAY)
    # No attempt at the expiry itself: the last one was the day before.
    assert renewal.next_attempt_at(s) is None
    assert renewal.next_action_at(s) == EXPIRY
    assert renewal.due_actions(s, EXPIRY) == [Action.EXPIRE]
    assert s.sweep.attempts == 3


def test_a_late_sweep_sends_only_the_latest_reminder_and_none_after_expiry() -> None:
    s = sub(auto_renew=False)
    assert renewal.due_actions(s, EXPIRY - DAY + timedelta(hours=1)) == [Action.REMIND_DAY]
    assert renewal.with_reminder(s, Reminder.DAY).sweep.reminded == (
        Reminder.DAY,
        Reminder.WEEK,
    )
    assert renewal.due_actions(s, EXPIRY + DAY) == [Action.EXPIRE]


def test_marks_belong_to_one_period_a_renewal_starts_afresh() -> None:
    s = renewal.with_attempt(renewal.with_reminder(sub(), Reminder.DAY), EXPIRY - 3 * DAY)
    renewed = rules.renew(s, paid=21_420, by=1, now=EXPIRY - 2 * DAY)
    new_expiry = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert renewal.marks(renewed).reminded == () and renewal.marks(renewed).attempts == 0
    assert renewal.next_action_at(renewed) == new_expiry - 7 * DAY


def test_an_ended_subscription_has_no_next_action() -> None:
    ended = replace(sub(), status=rules.Status.EXPIRED)
    assert renewal.next_action_at(ended) is None
    assert renewal.due_actions(ended, EXPIRY) == []


def test_a_late_sweep_never_charges_after_expiry_it_expires() -> None:
    # Ten days of outage: the attempts due before expiry are not made up afterwards.
    s = sub()
    assert renewal.next_attempt_at(s) == EXPIRY - 3 * DAY
    assert renewal.due_actions(s, EXPIRY + 10 * DAY) == [Action.EXPIRE]
    assert renewal.due_actions(s, EXPIRY) == [Action.EXPIRE]
    assert renewal.due_actions(s, EXPIRY - timedelta(seconds=1)) == [
        Action.RENEW,
        Action.REMIND_DAY,
    ]


def test_a_card_claim_holds_the_period_until_its_outcome_can_be_asked_for() -> None:
    s = renewal.with_reminder(sub(), Reminder.WEEK)
    at = EXPIRY - 3 * DAY
    assert renewal.next_charge_attempt(s) == 1
    claimed = renewal.with_claim(s, order_id="R-1", now=at)
    claim = renewal.marks(claimed).claim
    assert claim is not None and (claim.order_id, claim.attempt, claim.since) == ("R-1", 1, at)
    assert claimed.version == s.version + 1  # a renewal computed before it fails its condition
    # Nothing new while the first call may still be running; soon after, ask the provider.
    assert renewal.next_action_at(claimed) == at + timedelta(minutes=10)
    assert renewal.due_actions(claimed, at + timedelta(minutes=9)) == []
    assert renewal.due_actions(claimed, at + timedelta(minutes=10)) == [Action.RESOLVE_CHARGE]
    # Even past expiry, the unknown charge is resolved before the subscription expires.
    assert renewal.due_actions(claimed, EXPIRY + DAY) == [Action.RESOLVE_CHARGE]
    # A recorded failure ends the claim; the next attempt tomorrow has a new number.
    failed = renewal.with_attempt(claimed, at + timedelta(minutes=10))
    assert renewal.marks(failed).claim is None
    assert renewal.next_charge_attempt(failed) == 2
    assert renewal.due_actions(failed, at + DAY + timedelta(minutes=10)) == [Action.RENEW]
