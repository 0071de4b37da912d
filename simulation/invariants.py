"""What must hold of the money, checked against the providers' own records (the model).

After every step (safety):
- each wallet's balance equals the sum of its entries, each entry's balance_after follows;
- every credit names a payment a provider really took, once, for what it took;
- refunds and disputes never took back more of a payment than its provider did;
- no renewal period was charged twice at a provider;
- every renewal charge has its extension and every extension its charge; every
  subscription its one connect charge;
- invoice numbers have no gaps.
At a checkpoint, once every callback that could arrive has and reconciliation has run
(liveness): every payment is credited and every refund debited, or an open alert names
it; no order is still open past its expiry.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from billing.domain.money import Currency
from billing.domain.subscription import ChangeKind
from billing.ledger.model import EntryKind, LedgerEntry
from billing.store.balances import BalancesRepository
from billing.store.orders import invoice_number
from simulation.actions import PAYERS
from simulation.providers import Payment
from simulation.world import World

EUR = Currency.EUR
TAKEN_BACK = (EntryKind.REFUND, EntryKind.CHARGEBACK, EntryKind.REVERSAL)


class Checker:
    def __init__(self, world: World) -> None:
        self.world = world
        self.checked: Counter[str] = Counter()
        self._periods: dict[str, str | None] = {}  # order id -> renewal period it buys
        self._invoices_seen = 0
        self._known: dict[int, list[LedgerEntry]] = {}
        self._balances = BalancesRepository()

    def _payments(self) -> dict[str, Payment]:
        world = self.world
        return {
            **world.stripe.payments,
            **world.cryptopay.payments,
            **world.telegram_payments,
        }

    def _entries(self) -> dict[int, list[LedgerEntry]]:
        """Every entry of every wallet; read once each (entries are immutable)."""
        for payer in PAYERS:
            known = self._known.setdefault(payer, [])
            after = known[-1].seq if known else 0
            known += self._balances.entries(payer, EUR, after_seq=after)
        return self._known

    # --- after every step -----------------------------------------------------------------

    def safety(self) -> list[str]:
        entries = self._entries()
        payments = self._payments()
        found: list[str] = []
        found += self._wallets(entries)
        found += self._credits(entries, payments)
        found += self._taken_back(entries, payments)
        found += self._periods_charged_once(payments)
        found += self._extensions(entries)
        found += self._invoices()
        return found

    def _wallets(self, entries: dict[int, list[LedgerEntry]]) -> list[str]:
        found = []
        for payer, items in entries.items():
            self.checked["balance equals its entries"] += 1
            wallet = self.world.ledger.wallet(payer, EUR)
            total = sum(entry.amount for entry in items)
            if wallet.balance != total:
                found.append(f"wallet {payer}: balance {wallet.balance} but entries sum {total}")
            running = 0
            for entry in items:
                running += entry.amount
                if entry.balance_after != running:
                    found.append(f"wallet {payer}: entry {entry.cause} breaks the running sum")
                    break
        return found

    @staticmethod
    def _credited(entries: dict[int, list[LedgerEntry]]) -> dict[str, list[LedgerEntry]]:
        credits: dict[str, list[LedgerEntry]] = defaultdict(list)
        for items in entries.values():
            for entry in items:
                if entry.kind is EntryKind.TOP_UP:
                    credits[entry.reference or "-"].append(entry)
        return credits

    def _credits(
        self, entries: dict[int, list[LedgerEntry]], payments: dict[str, Payment]
    ) -> list[str]:
        found = []
        for reference, credits in self._credited(entries).items():
            self.checked["credit names a payment taken once"] += 1
            payment = payments.get(reference)
            if payment is None:
                found.append(f"credit {credits[0].cause} names no payment a provider took")
            elif len(credits) > 1 or credits[0].amount != payment.amount:
                amounts = [c.amount for c in credits]
                found.append(f"payment {reference} of {payment.amount} credited as {amounts}")
        return found

    def _taken(self, entries: dict[int, list[LedgerEntry]]) -> dict[str | None, int]:
        """What the ledger took back of each payment, by the payment's id."""
        paid_by: dict[str, str | None] = {}
        for items in entries.values():
            for entry in items:
                if entry.kind is EntryKind.TOP_UP and entry.cause.startswith("order:"):
                    paid_by[entry.cause.removeprefix("order:")] = entry.reference
        taken: dict[str | None, int] = defaultdict(int)
        for items in entries.values():
            for entry in items:
                if entry.kind in TAKEN_BACK:
                    taken[paid_by.get(entry.reference or "")] -= entry.amount
        return taken

    def _taken_back(
        self, entries: dict[int, list[LedgerEntry]], payments: dict[str, Payment]
    ) -> list[str]:
        found = []
        for payment_id, taken in self._taken(entries).items():
            self.checked["refunds within what the provider gave back"] += 1
            payment = payments.get(payment_id or "")
            if payment is None:
                found.append(f"{taken} taken back for an order no payment credited")
            elif not 0 <= taken <= payment.ever_taken:
                found.append(
                    f"payment {payment_id}: {taken} taken back,"
                    f" the provider never gave back more than {payment.ever_taken}"
                )
        return found

    def _periods_charged_once(self, payments: dict[str, Payment]) -> list[str]:
        charged: Counter[str] = Counter()
        for payment in payments.values():
            if payment.provider != "stripe" or "subscription_id" not in payment.metadata:
                continue
            order_id = payment.metadata.get("order_id", "")
            if order_id not in self._periods:
                order = self.world.orders.get(order_id)
                period = order.details.get("period_key") if order is not None else None
                self._periods[order_id] = str(period) if period else None
            period = self._periods[order_id]
            if period is not None:
                charged[period] += 1
        found = []
        for period, times in charged.items():
            self.checked["period charged once at the provider"] += 1
            if times > 1:
                found.append(f"period {period} charged {times} times at Stripe")
        return found

    def _extensions(self, entries: dict[int, list[LedgerEntry]]) -> list[str]:
        charges: Counter[str] = Counter()
        connects: Counter[str] = Counter()
        for items in entries.values():
            for entry in items:
                if entry.kind is EntryKind.CHARGE and entry.cause.startswith("renew:"):
                    charges[entry.reference or ""] += 1
                if entry.kind is EntryKind.CHARGE and entry.cause.startswith("connect:"):
                    connects[entry.reference or ""] += 1
        found = []
        for payer in PAYERS:
            for sub in self.world.repository.paid_by(payer):
                self.checked["each extension has its charge"] += 1
                if connects[sub.id] != 1:
                    found.append(f"subscription {sub.id} has {connects[sub.id]} connect charges")
                if len(sub.history) < 50:  # the history is bounded
                    renewals = sum(r.kind is ChangeKind.RENEW for r in sub.history)
                    if renewals != charges[sub.id]:
                        found.append(
                            f"subscription {sub.id}: {renewals} renewals,"
                            f" {charges[sub.id]} renewal charges"
                        )
        return found

    def _invoices(self) -> list[str]:
        orders = self.world.orders
        last = orders.next_invoice_value() - 1
        found = []
        for value in range(self._invoices_seen + 1, last + 1):
            self.checked["invoice numbers gapless"] += 1
            if orders.invoice(invoice_number(value)) is None:
                found.append(f"invoice {invoice_number(value)} is missing")
        self._invoices_seen = last
        return found

    # --- at a checkpoint --------------------------------------------------------------------

    def liveness(self) -> list[str]:
        world = self.world
        entries = self._entries()
        payments = self._payments()
        alerted = _alerted(world.orders.alerts())
        credits = self._credited(entries)
        taken = self._taken(entries)
        found = []
        for payment in payments.values():
            self.checked["payment credited or alerted"] += 1
            named = payment.id in alerted or payment.order_id in alerted
            if len(credits.get(payment.id, [])) != 1 and not named:
                found.append(f"payment {payment.id} ({payment.provider}) was never credited")
            given = payment.amount - payment.net
            if taken.get(payment.id, 0) != given and not named:
                found.append(
                    f"payment {payment.id}: the provider gave back {given},"
                    f" the ledger took {taken.get(payment.id, 0)}"
                )
        overdue = list(world.orders.open_until(world.clock.now()))
        self.checked["no order open past its expiry"] += 1
        if overdue:
            found.append(f"{len(overdue)} orders still open past their expiry")
        return found


def _alerted(alerts: list[Any]) -> set[str]:
    """Every id an open alert names (payments, orders, refunds)."""
    named: set[str] = set()
    for alert in alerts:
        for value in alert.details.values():
            if isinstance(value, str):
                named.add(value)
    return named
