"""The wallet ledger on DynamoDB (moto server): SPEC §4."""

from __future__ import annotations

import threading

import pytest

from billing.clock import ManualClock
from billing.domain.money import Currency
from billing.errors import InsufficientFunds, InvalidAmount
from billing.ledger.model import EntryKind
from billing.ledger.service import Ledger

EUR = Currency.EUR
PAYER = 501


def balance_equals_entries(ledger: Ledger, payer: int, currency: Currency) -> int:
    wallet = ledger.wallet(payer, currency)
    entries = ledger.entries(payer, currency)
    assert wallet.balance == sum(e.amount for e in entries)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    if entries:
        assert entries[-1].balance_after == wallet.balance
    return wallet.balance


def test_top_up_then_charge_moves_exact_minor_units(ledger: Ledger) -> None:
    ledger.top_up(PAYER, EUR, 10_000, cause="stripe:evt_1", reason="top-up")
    moved = ledger.charge(PAYER, EUR, 2_550, cause="connect:s1", reason="softphone")
    assert moved.applied_now
    assert moved.entry.amount == -2_550 and moved.entry.balance_after == 7_450
    assert moved.entry.kind is EntryKind.CHARGE
    assert balance_equals_entries(ledger, PAYER, EUR) == 7_450


def test_a_retried_cause_changes_nothing(ledger: Ledger) -> None:
    first = ledger.top_up(PAYER, EUR, 5_000, cause="stripe:evt_1", reason="top-up")
    again = ledger.top_up(PAYER, EUR, 5_000, cause="stripe:evt_1", reason="top-up")
    assert first.applied_now and not again.applied_now
    assert again.entry == first.entry
    assert balance_equals_entries(ledger, PAYER, EUR) == 5_000


def test_a_charge_beyond_balance_and_limit_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    ledger.top_up(PAYER, EUR, 1_000, cause="t1", reason="top-up")
    with pytest.raises(InsufficientFunds) as refused:
        ledger.charge(PAYER, EUR, 1_500, cause="c1", reason="x")
    assert refused.value.missing == 500
    assert ledger.entry(PAYER, EUR, "c1") is None
    assert balance_equals_entries(ledger, PAYER, EUR) == 1_000


def test_credit_limit_allows_debt_down_to_minus_the_limit(ledger: Ledger) -> None:
    ledger.set_credit_limit(PAYER, EUR, 2_000)
    ledger.charge(PAYER, EUR, 2_000, cause="c1", reason="x")
    assert ledger.wallet(PAYER, EUR).balance == -2_000
    with pytest.raises(InsufficientFunds) as refused:
        ledger.charge(PAYER, EUR, 1, cause="c2", reason="x")
    assert refused.value.missing == 1
    # A top-up repays the debt first, simply by being added.
    ledger.top_up(PAYER, EUR, 2_500, cause="t1", reason="top-up")
    assert balance_equals_entries(ledger, PAYER, EUR) == 500


def test_refunds_and_chargebacks_may_go_below_the_limit(ledger: Ledger) -> None:
    ledger.top_up(PAYER, EUR, 3_000, cause="t1", reason="top-up")
    ledger.charge(PAYER, EUR, 3_000, cause="c1", reason="x")
    refund = ledger.refund(PAYER, EUR, 3_000, cause="refund:re_1", reason="card refund")
    dispute = ledger.refund(PAYER, EUR, 100, cause="dispute:dp_1", reason="x", chargeback=True)
    assert refund.entry.balance_after == -3_000 and refund.entry.credit_limit == 0
    assert dispute.entry.kind is EntryKind.CHARGEBACK
    assert balance_equals_entries(ledger, PAYER, EUR) == -3_100


def test_wallets_are_per_currency(ledger: Ledger) -> None:
    ledger.top_up(PAYER, EUR, 1_000, cause="t1", reason="top-up")
    ledger.top_up(PAYER, Currency.RUB, 100_000, cause="t1", reason="top-up")
    with pytest.raises(InsufficientFunds):
        ledger.charge(PAYER, Currency.USD, 1, cause="c1", reason="x")
    assert {(w.currency, w.balance) for w in ledger.wallets(PAYER)} == {
        (Currency.EUR, 1_000),
        (Currency.RUB, 100_000),
    }


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_bad_amounts_raise_and_write_nothing(ledger: Ledger, amount: object) -> None:
    with pytest.raises(InvalidAmount):
        ledger.top_up(PAYER, EUR, amount, cause="t1", reason="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        ledger.charge(PAYER, EUR, amount, cause="c1", reason="x")  # type: ignore[arg-type]
    assert ledger.wallets(PAYER) == []


def test_adjustments_need_a_reason_and_a_nonzero_amount(ledger: Ledger) -> None:
    with pytest.raises(InvalidAmount, match="reason"):
        ledger.adjust(PAYER, EUR, 100, cause="admin:1", reason=" ")
    with pytest.raises(InvalidAmount, match="move money"):
        ledger.adjust(PAYER, EUR, 0, cause="admin:1", reason="fix")
    ledger.adjust(PAYER, EUR, -700, cause="admin:1", reason="goodwill reversed")
    assert balance_equals_entries(ledger, PAYER, EUR) == -700


def test_last_entries_are_newest_first(ledger: Ledger, clock: ManualClock) -> None:
    for n in range(1, 5):
        ledger.top_up(PAYER, EUR, n * 100, cause=f"t{n}", reason="top-up")
    assert [e.amount for e in ledger.last_entries(PAYER, EUR, limit=3)] == [400, 300, 200]


def test_concurrent_charges_never_overdraw(ledger: Ledger) -> None:
    # 10 EUR in the wallet, 8 threads each try to take 3 EUR: exactly 3 succeed.
    ledger.top_up(PAYER, EUR, 1_000, cause="t1", reason="top-up")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def buy(n: int) -> None:
        barrier.wait()
        try:
            ledger.charge(PAYER, EUR, 300, cause=f"c{n}", reason="x")
            outcomes.append("ok")
        except InsufficientFunds:
            outcomes.append("refused")

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert balance_equals_entries(ledger, PAYER, EUR) == 100
