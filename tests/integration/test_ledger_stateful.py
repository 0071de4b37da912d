"""Property: whatever sequence of money movements happens, the ledger stays consistent.

A hypothesis state machine drives random top-ups, charges, refunds, credit-limit changes,
subscription purchases and renewals, replays of earlier causes, and batches of them run
from several threads at once, against moto server. After every step, for every wallet:
the balance equals the sum of its entries and the model's expectation; no charge took a
wallet below -credit_limit; no cause was applied twice.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.catalog import default_catalog
from billing.domain.money import Currency
from billing.domain.tax import TaxProfile
from billing.errors import InsufficientFunds
from billing.ledger.model import EntryKind
from billing.ledger.service import Ledger, Movement
from billing.store.balances import BalancesRepository
from billing.store.subscriptions import SubscriptionsRepository
from billing.subscriptions.service import Purchase, SubscriptionService

STATS = {"examples": 0, "steps": 0, "concurrent_batches": 0, "threaded_operations": 0}

CURRENCIES = st.sampled_from([Currency.EUR, Currency.USD])
AMOUNTS = st.integers(min_value=1, max_value=40_000)
NOT_SUBJECT = TaxProfile.create("US")  # 0 % VAT keeps the expected charges easy to read


@dataclass(frozen=True)
class Op:
    """One money movement: what to call, and its cause for replays."""

    kind: str  # "top_up" | "charge" | "refund"
    payer: int
    currency: Currency
    amount: int
    cause: str


class LedgerMachine(RuleBasedStateMachine):
    # Set by the test from its fixtures.
    due_shards: int
    start: datetime
    fresh_tables: Callable[[], None]

    def __init__(self) -> None:
        super().__init__()
        STATS["examples"] += 1
        # Empty tables per example: moto copies a table on every transaction, so letting
        # them grow across examples would only slow the run down.
        type(self).fresh_tables()
        self.payers = [101, 102, 103]
        self.clock = ManualClock(self.start)
        self.ledger = Ledger(BalancesRepository(), self.clock)
        self.service = SubscriptionService(
            catalog=default_catalog(),
            subscriptions=SubscriptionsRepository(self.due_shards),
            ledger=self.ledger,
            clock=self.clock,
        )
        self.expected: dict[tuple[int, Currency], int] = {}
        self.limits: dict[tuple[int, Currency], int] = {}
        self.applied: dict[tuple[int, Currency], set[str]] = {}
        self.done: list[Op] = []
        self.subscriptions: list[tuple[str, int]] = []  # (id, payer)
        self.causes = itertools.count(1)

    # --- helpers ----------------------------------------------------------------------

    def _cause(self, kind: str) -> str:
        return f"{kind}:{next(self.causes)}"

    def _perform(self, op: Op) -> Movement | None:
        """Run one op; None when refused for lack of funds."""
        try:
            if op.kind == "top_up":
                return self.ledger.top_up(
                    op.payer, op.currency, op.amount, cause=op.cause, reason="t"
                )
            if op.kind == "charge":
                return self.ledger.charge(
                    op.payer, op.currency, op.amount, cause=op.cause, reason="c"
                )
            return self.ledger.refund(op.payer, op.currency, op.amount, cause=op.cause, reason="r")
        except InsufficientFunds:
            return None

    def _record(self, op: Op, movement: Movement | None) -> None:
        key = (op.payer, op.currency)
        if movement is None or not movement.applied_now:
            return
        assert op.cause not in self.applied.setdefault(key, set()), "cause applied twice"
        self.applied[key].add(op.cause)
        self.expected[key] = self.expected.get(key, 0) + movement.entry.amount
        self.done.append(op)

    def _step(self) -> None:
        STATS["steps"] += 1

    # --- rules ------------------------------------------------------------------------

    @rule(payer=st.integers(0, 2), currency=CURRENCIES, amount=AMOUNTS)
    def top_up(self, payer: int, currency: Currency, amount: int) -> None:
        self._step()
        op = Op("top_up", self.payers[payer], currency, amount, self._cause("top_up"))
        movement = self._perform(op)
        assert movement is not None and movement.applied_now
        self._record(op, movement)

    @rule(payer=st.integers(0, 2), currency=CURRENCIES, amount=AMOUNTS)
    def charge(self, payer: int, currency: Currency, amount: int) -> None:
        self._step()
        op = Op("charge", self.payers[payer], currency, amount, self._cause("charge"))
        key = (op.payer, currency)
        affordable = self.expected.get(key, 0) - amount >= -self.limits.get(key, 0)
        movement = self._perform(op)
        assert (movement is not None) == affordable
        self._record(op, movement)

    @rule(payer=st.integers(0, 2), currency=CURRENCIES, amount=AMOUNTS)
    def refund(self, payer: int, currency: Currency, amount: int) -> None:
        self._step()
        op = Op("refund", self.payers[payer], currency, amount, self._cause("refund"))
        movement = self._perform(op)
        assert movement is not None  # refunds are recorded even as debt
        self._record(op, movement)

    @rule(payer=st.integers(0, 2), currency=CURRENCIES, limit=st.integers(0, 30_000))
    def set_credit_limit(self, payer: int, currency: Currency, limit: int) -> None:
        self._step()
        self.ledger.set_credit_limit(self.payers[payer], currency, limit)
        self.limits[(self.payers[payer], currency)] = limit

    @rule(pick=st.integers(0, 10_000))
    def replay(self, pick: int) -> None:
        """A provider, the queue or the user repeats an earlier cause: nothing changes."""
        self._step()
        # Threads decide which concurrent charges won, so what is replayable varies between
        # runs of the same example: draw an index, never from the list itself, so that
        # hypothesis sees the same data either way.
        if not self.done:
            return
        op = self.done[pick % len(self.done)]
        movement = self._perform(op)
        assert movement is not None and not movement.applied_now
        assert movement.entry.cause == op.cause

    @rule(payer=st.integers(0, 2), lines=st.integers(1, 8))
    def connect_gateway(self, payer: int, lines: int) -> None:
        self._step()
        payer_id = self.payers[payer]
        customer = payer_id * 1000 + next(self.causes)  # a new Customer each time
        try:
            purchase = self.service.connect(
                request_id=f"{payer_id}:{customer}",
                payer_id=payer_id,
                customer_id=customer,
                product="gateway",
                options={"lines": lines},
                months=6,
                currency=Currency.EUR,
                tax=NOT_SUBJECT,
                has_saved_card=False,
            )
        except InsufficientFunds:
            return
        self._record_purchase(purchase, payer_id)
        self.subscriptions.append((purchase.subscription.id, payer_id))

    @rule(pick=st.integers(0, 10_000), twice=st.booleans())
    def renew(self, pick: int, twice: bool) -> None:
        self._step()
        if not self.subscriptions:
            return
        sub_id, payer_id = self.subscriptions[pick % len(self.subscriptions)]
        period = self.service.get(sub_id, viewer=payer_id).period_key()
        for _ in range(2 if twice else 1):
            try:
                purchase = self.service.renew(
                    sub_id, by=payer_id, tax=NOT_SUBJECT, period_key=period
                )
            except InsufficientFunds:
                return
            self._record_purchase(purchase, payer_id)

    def _record_purchase(self, purchase: Purchase, payer_id: int) -> None:
        key = (payer_id, Currency.EUR)
        if purchase.applied_now:
            cause = purchase.movement.entry.cause
            assert cause not in self.applied.setdefault(key, set()), "cause applied twice"
            self.applied[key].add(cause)
            self.expected[key] = self.expected.get(key, 0) - purchase.quote.total

    @rule(
        ops=st.lists(
            st.tuples(
                st.sampled_from(["top_up", "charge", "charge", "replay"]),
                st.integers(0, 1),
                AMOUNTS,
            ),
            min_size=2,
            max_size=6,
        )
    )
    def concurrently(self, ops: list[tuple[str, int, int]]) -> None:
        """Several requests for the same wallets at the same moment, from threads."""
        self._step()
        STATS["concurrent_batches"] += 1
        batch: list[Op] = []
        for kind, payer, amount in ops:
            if kind == "replay" and self.done:
                batch.append(self.done[amount % len(self.done)])
            elif kind != "replay":
                cause = self._cause(kind)
                batch.append(Op(kind, self.payers[payer], Currency.EUR, amount, cause))
        # Half the time, send the same cause from two threads at once.
        if not batch:
            return
        if ops[0][2] % 2 == 0:
            batch.append(batch[0])
        results: list[tuple[Op, Movement | None]] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(batch))

        def worker(op: Op) -> Callable[[], None]:
            def run() -> None:
                barrier.wait()
                movement = self._perform(op)
                with lock:
                    results.append((op, movement))

            return run

        threads = [threading.Thread(target=worker(op)) for op in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        STATS["threaded_operations"] += len(batch)
        seen: set[str] = set()
        for op, movement in results:
            if movement is not None and movement.applied_now:
                assert op.cause not in seen, "the same cause applied by two threads"
                seen.add(op.cause)
            self._record(op, movement)

    # --- invariants -------------------------------------------------------------------

    @invariant()
    def wallets_are_consistent(self) -> None:
        for payer in self.payers:
            for wallet in self.ledger.wallets(payer):
                key = (payer, wallet.currency)
                entries = self.ledger.entries(payer, wallet.currency)
                assert wallet.balance == sum(e.amount for e in entries)
                assert wallet.balance == self.expected.get(key, 0)
                assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
                causes = [e.cause for e in entries]
                assert len(causes) == len(set(causes)), "a cause has two entries"
                assert set(causes) == self.applied.get(key, set())
                for entry in entries:
                    if entry.kind is EntryKind.CHARGE:
                        assert entry.balance_after >= -entry.credit_limit


@pytest.mark.slow
def test_ledger_state_machine(
    tables: Settings,
    fresh_tables: Callable[[], None],
    clock: ManualClock,
    report: Callable[[str], None],
) -> None:
    class Machine(LedgerMachine):
        due_shards = tables.due_shards
        start = clock.now()

    Machine.fresh_tables = staticmethod(fresh_tables)  # type: ignore[assignment]

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert STATS["steps"] > 0
    report(
        f"ledger state machine: {STATS['steps']} steps in {STATS['examples']} examples,"
        f" {STATS['concurrent_batches']} concurrent batches"
        f" ({STATS['threaded_operations']} operations from threads)"
    )
