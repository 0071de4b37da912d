"""The pure lifecycle rules of SPEC §1 and §5, with exact times and amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.domain import renewal
from billing.domain import subscription as rules
from billing.domain.money import Currency
from billing.domain.periods import add_months
from billing.domain.subscription import ChangeKind, Status
from billing.errors import CurrencyMismatch, InvalidState, NotAllowed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAYER, CUSTOMER, STRANGER = 11, 22, 33


def gateway(lines: int = 1, *, paid: int = 18_000, months: int = 6) -> rules.Subscription:
    return rules.connect(
        subscription_id="sub1",
        product="gateway",
        customer_id=CUSTOMER,
        payer_id=PAYER,
        options={"lines": lines, "extra_sessions": 0, "api_access": False},
        months=months,
        currency=Currency.EUR,
        paid=paid,
        auto_renew=True,
        now=NOW,
    )


def test_add_months_clamps_to_the_end_of_the_target_month() -> None:
    assert add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 8, 31, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 3, 1, 12, tzinfo=UTC), 36) == datetime(
        2029, 3, 1, 12, tzinfo=UTC
    )


def test_connect_starts_now_and_ends_after_the_period() -> None:
    sub = gateway()
    assert sub.status is Status.ACTIVE
    assert sub.started_at == NOW
    assert sub.expires_at == datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    assert sub.value_amount == 18_000
    assert [r.kind for r in sub.history] == [ChangeKind.CONNECT]


def test_renewing_early_extends_from_the_current_expiry() -> None:
    sub = gateway()
    renewed = rules.renew(sub, paid=18_000, by=PAYER, now=NOW + timedelta(days=30))
    assert renewed.expires_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert renewed.version == sub.version + 1
    assert renewed.history[-1].old_expiry == sub.expires_at


def test_renewing_after_expiry_starts_from_now() -> None:
    sub = gateway()
    later = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
    renewed = rules.renew(sub, paid=18_000, by=PAYER, now=later)
    assert renewed.expires_at == datetime(2027, 4, 15, 8, 30, tzinfo=UTC)
    assert renewed.value_amount == 18_000  # nothing was left of the old period


def test_expand_spreads_the_remaining_time_over_the_new_price() -> None:
    # 184 days left at 30 EUR/month; 3 lines cost 60 EUR/month: half the time remains.
    sub = gateway()
    new = {"lines": 3, "extra_sessions": 0, "api_access": False}
    plan = rules.plan_change(sub, new, old_monthly=3_000, new_monthly=6_000, now=NOW)
    assert plan.expands
    assert plan.new_expiry == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert plan.changed == {"lines": (1, 3)}


def test_expand_rounds_the_new_expiry_down_to_the_second() -> None:
    sub = gateway()
    new = {"lines": 2, "extra_sessions": 0, "api_access": False}
    # 15_897_600 s x 3000 / 7000 = 6_813_257.14... s -> 6_813_257 s
    plan = rules.plan_change(sub, new, old_monthly=3_000, new_monthly=7_000, now=NOW)
    assert plan.new_expiry == NOW + timedelta(seconds=6_813_257)


def test_reduce_keeps_the_expiry() -> None:
    sub = gateway(lines=3)
    new = {"lines": 1, "extra_sessions": 0, "api_access": False}
    plan = rules.plan_change(sub, new, old_monthly=6_000, new_monthly=3_000, now=NOW)
    assert not plan.expands
    assert plan.new_expiry == sub.expires_at
    changed = rules.apply_change(sub, new, plan, by=PAYER, now=NOW)
    assert changed.expires_at == sub.expires_at
    assert changed.value_amount == sub.value_amount  # nothing refunded, nothing lost


def test_equal_price_counts_as_reduce() -> None:
    sub = gateway()
    new = {"lines": 1, "extra_sessions": 0, "api_access": True}
    plan = rules.plan_change(sub, new, old_monthly=3_000, new_monthly=3_000, now=NOW)
    assert not plan.expands and plan.new_expiry == sub.expires_at


def test_a_change_that_changes_nothing_is_refused() -> None:
    sub = gateway()
    with pytest.raises(InvalidState, match="same as the current"):
        rules.plan_change(sub, dict(sub.options), old_monthly=3_000, new_monthly=3_000, now=NOW)


def test_terminate_after_expansion_conserves_the_value() -> None:
    sub = gateway(paid=18_000)
    halfway = NOW + timedelta(days=92)  # 92 of 184 days used: 9_000 left
    assert rules.remaining_value(sub, halfway) == 9_000
    new = {"lines": 3, "extra_sessions": 0, "api_access": False}
    plan = rules.plan_change(sub, new, old_monthly=3_000, new_monthly=6_000, now=halfway)
    expanded = rules.apply_change(sub, new, plan, by=PAYER, now=halfway)
    assert expanded.expires_at == halfway + timedelta(days=46)
    ended, credit = rules.terminate(expanded, by=900, now=halfway)
    assert credit == 9_000
    assert ended.status is Status.TERMINATED and ended.expires_at == halfway
    # A quarter of the expanded window later, three quarters of the value remain.
    assert rules.remaining_value(expanded, halfway + timedelta(days=23)) == 4_500


def test_remaining_value_rounds_down() -> None:
    sub = gateway(paid=10_001)
    # 1 s after start of a 15_897_600 s window: 10_001 x 15_897_599 / 15_897_600 = 10_000.99...
    assert rules.remaining_value(sub, NOW + timedelta(seconds=1)) == 10_000


def test_expire_needs_the_expiry_to_have_passed() -> None:
    sub = gateway()
    with pytest.raises(InvalidState, match="runs until"):
        rules.expire(sub, now=NOW)
    ended = rules.expire(sub, now=sub.expires_at)
    assert ended.status is Status.EXPIRED
    assert renewal.next_action_at(ended) is None
    assert renewal.next_action_at(sub) == sub.expires_at - timedelta(days=7)


def test_customer_sees_but_cannot_change_renew_or_toggle() -> None:
    sub = gateway()
    assert rules.can_view(sub, CUSTOMER) and rules.can_view(sub, PAYER)
    assert not rules.can_view(sub, STRANGER)
    assert not rules.can_change_options(sub, CUSTOMER)
    assert not rules.can_renew(sub, CUSTOMER)
    assert not rules.can_toggle_auto_renew(sub, CUSTOMER)
    assert rules.can_change_options(sub, PAYER) and rules.can_renew(sub, PAYER)
    allowed = rules.set_customer_may_change(sub, True, by=PAYER, now=NOW)
    assert rules.can_change_options(allowed, CUSTOMER)
    assert not rules.can_renew(allowed, CUSTOMER)  # paying stays the Payer's
    with pytest.raises(NotAllowed):
        rules.require(rules.can_renew(sub, CUSTOMER), "renew it")


def test_auto_renew_toggle_is_recorded_once() -> None:
    sub = gateway()
    off = rules.set_auto_renew(sub, False, by=PAYER, now=NOW)
    assert not off.auto_renew and off.history[-1].details == {"on": False}
    assert rules.set_auto_renew(off, False, by=PAYER, now=NOW) is off


def test_currency_of_a_subscription_never_changes() -> None:
    with pytest.raises(CurrencyMismatch, match="billed in EUR"):
        rules.require_currency(gateway(), Currency.USD)
