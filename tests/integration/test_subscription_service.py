"""Subscription use cases on DynamoDB (moto server): SPEC §1 and §5, exact amounts and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain import renewal
from billing.domain.money import Currency
from billing.domain.pricing import Quote
from billing.domain.subscription import ChangeKind, Status, Subscription
from billing.domain.tax import TaxProfile
from billing.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InvalidOptionValue,
    InvalidPeriod,
    InvalidState,
    NotAllowed,
    NotFound,
    UnknownOption,
)
from billing.ledger.service import Ledger
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import (
    QuoteChanged,
    RenewalInProgress,
    SlotTaken,
    SubscriptionService,
)

EUR = Currency.EUR
PAYER, CUSTOMER, STRANGER, ADMIN = 11, 22, 33, 900
LT = TaxProfile.create("LT")
US = TaxProfile.create("US")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

SOFTPHONE_5_REC = {"sip_accounts": 5, "recording": "on"}


def item_count(settings: Settings) -> int:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    return sum(
        client.scan(TableName=name, Select="COUNT")["Count"]
        for name in (settings.subscriptions_table, settings.balances_table)
    )


def connect_gateway(
    service: SubscriptionService, *, lines: int = 1, customer: int = PAYER, request: str = "r1"
) -> str:
    purchase = service.connect(
        request_id=request,
        payer_id=PAYER,
        customer_id=customer,
        product="gateway",
        options={"lines": lines},
        months=6,
        currency=EUR,
        tax=US,
        has_saved_card=False,
    )
    return purchase.subscription.id


def test_connect_charges_the_quote_and_activates(
    service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 40_000, cause="t1", reason="top-up")
    purchase = service.connect(
        request_id="quote-1",
        payer_id=PAYER,
        customer_id=PAYER,
        product="softphone",
        options=SOFTPHONE_5_REC,
        months=12,
        currency=EUR,
        tax=LT,
        has_saved_card=False,
    )
    # 25 EUR x 12 = 300.00, -10 % = 270.00 net, +21 % VAT 56.70 = 326.70
    assert (purchase.quote.subtotal, purchase.quote.discount) == (30_000, 3_000)
    assert (purchase.quote.net, purchase.quote.vat, purchase.quote.total) == (27_000, 5_670, 32_670)
    sub = purchase.subscription
    assert sub.status is Status.ACTIVE
    assert sub.expires_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert sub.auto_renew  # 73.30 EUR left on the wallet
    assert ledger.wallet(PAYER, EUR).balance == 40_000 - 32_670
    assert service.get(sub.id, viewer=PAYER) == sub


def test_auto_renewal_is_off_without_card_or_balance_left(
    service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 18_000, cause="t1", reason="top-up")
    sub = service.get(connect_gateway(service), viewer=PAYER)
    assert ledger.wallet(PAYER, EUR).balance == 0
    assert not sub.auto_renew


def test_connect_without_funds_writes_nothing(
    service: SubscriptionService, ledger: Ledger, tables: Settings
) -> None:
    ledger.top_up(PAYER, EUR, 17_999, cause="t1", reason="top-up")
    before = item_count(tables)
    with pytest.raises(InsufficientFunds) as refused:
        connect_gateway(service)
    assert refused.value.missing == 1
    assert item_count(tables) == before


def test_repeating_a_connect_request_charges_once(
    service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    first = connect_gateway(service, request="same")
    again = connect_gateway(service, request="same")
    assert first == again
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 18_000


def test_one_active_subscription_per_customer_and_product(
    service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    connect_gateway(service, request="a")
    with pytest.raises(InvalidState, match="already has an active gateway"):
        connect_gateway(service, request="b")
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 18_000


def test_payer_pays_for_customer_who_sees_but_cannot_manage(
    service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service, customer=CUSTOMER)
    assert [s.id for s in service.visible_to(CUSTOMER)] == [sub_id]
    assert [s.id for s in service.visible_to(PAYER)] == [sub_id]
    assert service.visible_to(STRANGER) == []
    with pytest.raises(NotFound):
        service.get(sub_id, viewer=STRANGER)
    with pytest.raises(NotAllowed):
        service.renew(sub_id, by=CUSTOMER, tax=US)
    with pytest.raises(NotAllowed):
        service.set_auto_renew(sub_id, by=CUSTOMER, on=True)
    with pytest.raises(NotAllowed):
        service.change(sub_id, by=CUSTOMER, new_options={"lines": 2})
    # Once the Payer allows it, the Customer may change options (but still not renew).
    service.set_customer_may_change(sub_id, by=PAYER, allowed=True)
    changed, _ = service.change(sub_id, by=CUSTOMER, new_options={"lines": 2})
    assert changed.options["lines"] == 2
    with pytest.raises(NotAllowed):
        service.renew(sub_id, by=CUSTOMER, tax=US)
    assert service.set_auto_renew(sub_id, by=PAYER, on=True).auto_renew


def test_manual_renewal_extends_from_expiry_once_per_period(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    clock.advance(timedelta(days=100))
    before = service.get(sub_id, viewer=PAYER)
    renewed = service.renew(sub_id, by=PAYER, tax=US, period_key=before.period_key())
    assert renewed.subscription.expires_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert renewed.quote.total == 18_000 and renewed.applied_now
    # The same button pressed again (or the sweep for the same period): no second charge.
    again = service.renew(sub_id, by=PAYER, tax=US, period_key=before.period_key())
    assert not again.applied_now
    assert again.subscription.expires_at == datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 2 * 18_000
    with pytest.raises(InvalidState, match="out of date"):
        service.renew(sub_id, by=PAYER, tax=US, period_key=f"{sub_id}@20990101T000000Z")
    with pytest.raises(CurrencyMismatch, match="billed in EUR"):
        service.renew(sub_id, by=PAYER, tax=US, currency=Currency.USD)
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 2 * 18_000
    assert ledger.wallets(PAYER) == [ledger.wallet(PAYER, EUR)]  # no USD wallet appeared


def test_renewal_after_expiry_starts_now(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    clock.set(datetime(2026, 9, 10, 9, 0, tzinfo=UTC))
    assert service.expire(sub_id) is not None
    renewed = service.renew(sub_id, by=PAYER, tax=US)
    assert renewed.subscription.status is Status.ACTIVE
    assert renewed.subscription.expires_at == datetime(2027, 3, 10, 9, 0, tzinfo=UTC)


def test_renewing_an_expired_subscription_takes_its_product_slot_back(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock, tables: Settings
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    clock.set(datetime(2026, 9, 10, 9, 0, tzinfo=UTC))
    assert service.expire(sub_id) is not None
    repository = SubscriptionsRepository(tables.due_shards)
    assert repository.slot_holder(PAYER, "gateway") is None

    service.renew(sub_id, by=PAYER, tax=US)

    assert repository.slot_holder(PAYER, "gateway") == sub_id
    with pytest.raises(InvalidState, match="already has an active gateway"):
        connect_gateway(service, request="second")  # one active Gateway, paid once
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 2 * 18_000


def test_renewing_an_expired_subscription_is_refused_while_another_is_active(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock, tables: Settings
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    old = connect_gateway(service)
    clock.set(datetime(2026, 9, 10, 9, 0, tzinfo=UTC))
    assert service.expire(old) is not None
    new = connect_gateway(service, request="second")

    with pytest.raises(SlotTaken, match="already has another active gateway"):
        service.quote_renew(old, by=PAYER, tax=US)
    with pytest.raises(SlotTaken, match="already has another active gateway"):
        service.renew(old, by=PAYER, tax=US)

    assert service.get(old, viewer=PAYER).status is Status.EXPIRED
    assert SubscriptionsRepository(tables.due_shards).slot_holder(PAYER, "gateway") == new
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 2 * 18_000


def test_renewal_at_another_total_than_confirmed_takes_nothing_and_carries_the_new_quote(
    service: SubscriptionService, ledger: Ledger
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    confirmed = service.quote_renew(sub_id, by=PAYER, tax=US).total  # 180.00, no VAT
    assert confirmed == 18_000

    # The billing country changed between the screen and the press: 180.00 + 19 % DE VAT.
    with pytest.raises(QuoteChanged) as changed:
        service.renew(sub_id, by=PAYER, tax=TaxProfile.create("DE"), expected_total=confirmed)

    assert changed.value.quote.total == 21_420
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 18_000
    renewed = service.renew(
        sub_id, by=PAYER, tax=TaxProfile.create("DE"), expected_total=changed.value.quote.total
    )
    assert renewed.applied_now and renewed.quote.total == 21_420


def test_a_manual_renewal_is_refused_while_a_card_payment_holds_the_period(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock, tables: Settings
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    repository = SubscriptionsRepository(tables.due_shards)
    sub = service.get(sub_id, viewer=PAYER)
    repository.save(renewal.with_claim(sub, order_id="R-CARD", now=clock.now()), before=sub)

    with pytest.raises(RenewalInProgress, match="a card payment for this renewal is in progress"):
        service.renew(sub_id, by=PAYER, tax=US)
    # An expansion would move the period the card is buying; expiry waits for the outcome.
    with pytest.raises(RenewalInProgress):
        service.change(sub_id, by=PAYER, new_options={"lines": 2})
    clock.set(datetime(2026, 9, 2, 12, 0, tzinfo=UTC))
    assert service.expire(sub_id) is None

    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 18_000


def test_a_renewal_priced_before_a_card_claim_fails_its_condition_and_is_refused(
    service: SubscriptionService,
    ledger: Ledger,
    clock: ManualClock,
    tables: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    repository = SubscriptionsRepository(tables.due_shards)
    price = service._renewal_quote
    claimed: list[Subscription] = []

    def sweep_claims_meanwhile(sub: Subscription, tax: TaxProfile) -> Quote:
        # The sweep claims the period for a card charge after this renewal read it.
        if not claimed:
            current = repository.get(sub_id)
            assert current is not None
            claim = renewal.with_claim(current, order_id="R-CARD", now=clock.now())
            repository.save(claim, before=current)
            claimed.append(claim)
        return price(sub, tax)

    monkeypatch.setattr(service, "_renewal_quote", sweep_claims_meanwhile)

    with pytest.raises(RenewalInProgress):
        service.renew(sub_id, by=PAYER, tax=US)

    assert claimed and ledger.wallet(PAYER, EUR).balance == 100_000 - 18_000


def test_expanding_change_shortens_expiry_exactly(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service, lines=2)  # 45 EUR/month, until 2026-09-01 12:00
    clock.set(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))  # 123 days = 10_627_200 s left
    _, _, plan = service.plan_change(sub_id, by=PAYER, new_options={"lines": 4})
    # 75 EUR/month: 10_627_200 x 4500 / 7500 = 6_376_320 s = 73 d 19 h 12 min
    assert plan.expands
    assert plan.new_expiry == datetime(2026, 7, 14, 7, 12, tzinfo=UTC)
    assert service.get(sub_id, viewer=PAYER).expires_at == datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    changed, _ = service.change(sub_id, by=PAYER, new_options={"lines": 4})
    assert changed.expires_at == datetime(2026, 7, 14, 7, 12, tzinfo=UTC)
    record = changed.history[-1]
    assert record.kind is ChangeKind.CHANGE
    assert record.details["changed"] == {"lines": [2, 4]}
    assert (record.old_expiry, record.new_expiry) == (
        datetime(2026, 9, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 7, 14, 7, 12, tzinfo=UTC),
    )
    assert ledger.wallet(PAYER, EUR).balance == 100_000 - 27_000  # no payment taken


def test_reducing_change_keeps_expiry(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service, lines=4)
    clock.advance(timedelta(days=10))
    changed, plan = service.change(sub_id, by=PAYER, new_options={"lines": 1})
    assert not plan.expands
    assert changed.expires_at == datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    assert changed.options["lines"] == 1


def test_mixed_change_is_decided_by_the_monthly_totals(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 500_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service, lines=6)  # 90 + 150 surcharge + 15 main = 255 EUR
    clock.set(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))  # 92 days = 7_948_800 s left
    # Fewer lines (no surcharge) but an extra session: 15 + 75 + 150 = 240 EUR -> reduce.
    _, _, plan = service.plan_change(
        sub_id, by=PAYER, new_options={"lines": 5, "extra_sessions": 1}
    )
    assert not plan.expands and plan.new_expiry == datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    # Fewer lines and two sessions: 15 + 75 + 300 = 390 EUR -> expand.
    # 7_948_800 x 25_500 / 39_000 = 5_197_292.3 s -> 5_197_292 s = 60 d 3 h 41 min 32 s
    changed, plan = service.change(sub_id, by=PAYER, new_options={"lines": 5, "extra_sessions": 2})
    assert plan.expands
    assert changed.expires_at == datetime(2026, 7, 31, 15, 41, 32, tzinfo=UTC)
    assert plan.changed == {"lines": (6, 5), "extra_sessions": (0, 2)}


def test_terminate_with_credit_after_expansion_conserves_value(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 18_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)  # 180.00 EUR for 184 days
    clock.advance(timedelta(days=92))  # half used: 90.00 EUR of value left
    service.change(sub_id, by=PAYER, new_options={"lines": 3})
    with pytest.raises(NotAllowed):
        service.terminate_with_credit(sub_id, admin_id=PAYER)
    ended, movement = service.terminate_with_credit(sub_id, admin_id=ADMIN)
    assert ended.status is Status.TERMINATED
    assert movement is not None and movement.entry.amount == 9_000
    assert ledger.wallet(PAYER, EUR).balance == 9_000
    # The slot is free again: the Customer can take a new Gateway.
    ledger.top_up(PAYER, EUR, 9_000, cause="t2", reason="top-up")
    connect_gateway(service, request="again")


def test_expire_only_when_due_and_only_once(
    service: SubscriptionService, ledger: Ledger, clock: ManualClock
) -> None:
    ledger.top_up(PAYER, EUR, 18_000, cause="t1", reason="top-up")
    sub_id = connect_gateway(service)
    assert service.expire(sub_id) is None
    clock.set(datetime(2026, 9, 1, 12, 0, tzinfo=UTC))
    ended = service.expire(sub_id)
    assert ended is not None and ended.status is Status.EXPIRED
    assert service.expire(sub_id) is None  # a duplicate sweep message changes nothing
    with pytest.raises(InvalidState):
        service.set_auto_renew(sub_id, by=PAYER, on=False)


@pytest.mark.parametrize(
    ("options", "months", "error"),
    [
        ({"lines": 1, "fax": "on"}, 6, UnknownOption),
        ({"lines": 0}, 6, InvalidOptionValue),
        ({"lines": 101}, 6, InvalidOptionValue),
        ({"lines": 1}, 3, InvalidPeriod),
    ],
)
def test_bad_input_raises_a_typed_error_and_writes_nothing(
    service: SubscriptionService,
    ledger: Ledger,
    tables: Settings,
    options: dict[str, object],
    months: int,
    error: type[Exception],
) -> None:
    ledger.top_up(PAYER, EUR, 100_000, cause="t1", reason="top-up")
    before = item_count(tables)
    with pytest.raises(error):
        service.connect(
            request_id="bad",
            payer_id=PAYER,
            customer_id=PAYER,
            product="gateway",
            options=options,
            months=months,
            currency=EUR,
            tax=US,
            has_saved_card=False,
        )
    assert item_count(tables) == before
