"""What must hold of the money, checked against the providers' own records (the model).

After every step (safety), for every wallet of every Payer in every currency it holds:
- each wallet's balance equals the sum of its entries, each entry's balance_after follows;
- every credit names a payment a provider really took, once, for what it took, in its
  currency (a Stars payment: what its order is worth in the order's currency), and not
  before the provider took it (a pending charge is no payment yet);
- refunds and disputes never took back more of a payment than its provider did;
- no renewal period was charged twice at a provider (Stripe's or YooKassa's saved cards);
- every renewal charge has its extension and every extension its charge; every
  subscription its one connect charge;
- invoice numbers have no gaps;
- each Customer's stored entitlements are exactly the grants of their active subscriptions
  (what the telephony side reads and is sent), and their version never goes back;
- no provider saw our code misuse it (a YooKassa payment or refund without its 54-FZ
  receipt or in another currency, a charge of a method it never saved, a refund of someone
  else's Stars, a Stars invoice asking other Stars than its order is worth), and no forged
  YooKassa notification was accepted or changed anything.
At a checkpoint, once every callback that could arrive has and reconciliation has run
(liveness): every payment is credited and every refund debited, or an open alert names
it; no order is still open past its expiry.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from billing.domain.entitlements import Grant, grant_of
from billing.domain.money import Currency
from billing.domain.subscription import ChangeKind, Subscription
from billing.ledger.model import EntryKind, LedgerEntry, Wallet
from billing.store import connection
from billing.store.balances import BalancesRepository
from billing.store.entitlements import EntitlementsReader
from billing.store.orders import invoice_number
from simulation.actions import PAYERS
from simulation.providers import Payment
from simulation.world import World

TAKEN_BACK = (EntryKind.REFUND, EntryKind.CHARGEBACK, EntryKind.REVERSAL)
# The providers whose saved cards the renewal sweep charges off-session.
CARD_PROVIDERS = ("stripe", "yookassa")

Wallets = dict[tuple[int, Currency], list[LedgerEntry]]


class Checker:
    def __init__(self, world: World) -> None:
        self.world = world
        self.checked: Counter[str] = Counter()
        self._periods: dict[str, str | None] = {}  # order id -> renewal period it buys
        self._invoices_seen = 0
        self._misuse_seen = 0
        self._known: Wallets = {}
        self._wallets_now: dict[tuple[int, Currency], Wallet] = {}
        self._balances = BalancesRepository()
        self._entitlements_reader = EntitlementsReader(connection.bound_settings())
        self._versions: dict[int, int] = {}

    def _payments(self) -> dict[str, Payment]:
        world = self.world
        return {
            **world.stripe.payments,
            **world.cryptopay.payments,
            **world.telegram_payments,
            **world.yookassa.payments,
            **world.stars.payments,
        }

    def _entries(self, *, every: bool = False) -> Wallets:
        """Every entry of every wallet, whatever its currency; read once each (entries are
        immutable). Keyed by (payer, currency), in the order the wallets were first seen.
        A wallet's new entries are read when its seq moved past the last entry known (every
        entry is written with its wallet, in one transaction), or with `every`."""
        for payer in PAYERS:
            for wallet in sorted(self._balances.wallets(payer), key=lambda w: w.currency.value):
                key = (payer, wallet.currency)
                self._wallets_now[key] = wallet
                known = self._known.setdefault(key, [])
                after = known[-1].seq if known else 0
                if every or wallet.seq != after:
                    known += self._balances.entries(payer, wallet.currency, after_seq=after)
        return self._known

    def wallets_checked(self) -> Counter[str]:
        """How many wallets of each currency the run touched."""
        return Counter(currency.value for _payer, currency in self._known)

    def credited_by_provider(self) -> Counter[str]:
        """How many provider payments were credited, by provider (a saved card's
        off-session renewal charges apart)."""
        payments = self._payments()
        return Counter(
            payments[ref].provider
            + (" saved card" if "subscription_id" in payments[ref].metadata else "")
            for ref in self._credited(self._known)
            if ref in payments
        )

    # --- after every step -----------------------------------------------------------------

    def safety(self) -> list[str]:
        """A check that reads DynamoDB runs again only when a table it reads was written
        since the last one (the faults see every write): unwritten, its answer is the same.
        The checks against the providers' records, which change without any write of ours,
        run every time on the entries already read."""
        written = self.world.faults.take_written()
        tables = connection.bound_settings()
        ledger_moved = tables.balances_table in written
        subscriptions_moved = tables.subscriptions_table in written
        entries = self._entries() if ledger_moved else self._known
        payments = self._payments()
        found: list[str] = []
        if ledger_moved:
            found += self._wallets(entries)
        found += self._credits(entries, payments)
        found += self._taken_back(entries, payments)
        found += self._periods_charged_once(payments)
        extensions = ledger_moved or subscriptions_moved
        entitlements = subscriptions_moved or tables.entitlements_table in written
        subscriptions = self._subscriptions() if extensions or entitlements else []
        if extensions:
            found += self._extensions(entries, subscriptions)
        if tables.orders_table in written:
            found += self._invoices()
        if entitlements:
            found += self._entitlements(subscriptions)
        found += self._misuse()
        return found

    def _subscriptions(self) -> list[Subscription]:
        """Every subscription the Payers pay for, read once per check."""
        return [sub for payer in PAYERS for sub in self.world.repository.paid_by(payer)]

    def _wallets(self, entries: Wallets) -> list[str]:
        found = []
        for (payer, currency), items in entries.items():
            self.checked["balance equals its entries"] += 1
            wallet = self._wallets_now[payer, currency]
            total = sum(entry.amount for entry in items)
            name = f"wallet {payer} {currency}"
            if wallet.balance != total:
                found.append(f"{name}: balance {wallet.balance} but entries sum {total}")
            last = items[-1].seq if items else 0
            if wallet.seq != last:
                found.append(f"{name}: at seq {wallet.seq} but its last entry is {last}")
            running = 0
            for entry in items:
                running += entry.amount
                if entry.balance_after != running or entry.currency is not currency:
                    found.append(f"{name}: entry {entry.cause} breaks the running sum")
                    break
        return found

    @staticmethod
    def _credited(entries: Wallets) -> dict[str, list[LedgerEntry]]:
        credits: dict[str, list[LedgerEntry]] = defaultdict(list)
        for items in entries.values():
            for entry in items:
                if entry.kind is EntryKind.TOP_UP:
                    credits[entry.reference or "-"].append(entry)
        return credits

    def _credits(self, entries: Wallets, payments: dict[str, Payment]) -> list[str]:
        found = []
        for reference, credits in self._credited(entries).items():
            self.checked["credit names a payment taken once"] += 1
            payment = payments.get(reference)
            if payment is None:
                found.append(f"credit {credits[0].cause} names no payment a provider took")
            elif (
                len(credits) > 1
                or credits[0].amount != payment.amount
                or credits[0].currency.value != payment.currency
            ):
                amounts = [f"{c.amount} {c.currency}" for c in credits]
                found.append(
                    f"{payment.provider} payment {reference} of {payment.amount}"
                    f" {payment.currency} credited as {amounts}"
                )
            elif payment.taken_at is not None and credits[0].created_at < payment.taken_at:
                found.append(
                    f"{payment.provider} payment {reference} credited at"
                    f" {credits[0].created_at:%Y-%m-%d %H:%M}, before the provider took it"
                    f" at {payment.taken_at:%Y-%m-%d %H:%M}"
                )
        return found

    def _taken(self, entries: Wallets) -> dict[str | None, int]:
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

    def _taken_back(self, entries: Wallets, payments: dict[str, Payment]) -> list[str]:
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
            if payment.provider not in CARD_PROVIDERS or "subscription_id" not in payment.metadata:
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
                found.append(f"period {period} charged {times} times by saved cards")
        return found

    def _extensions(self, entries: Wallets, subscriptions: list[Subscription]) -> list[str]:
        charges: Counter[str] = Counter()
        connects: Counter[str] = Counter()
        for items in entries.values():
            for entry in items:
                if entry.kind is EntryKind.CHARGE and entry.cause.startswith("renew:"):
                    charges[entry.reference or ""] += 1
                if entry.kind is EntryKind.CHARGE and entry.cause.startswith("connect:"):
                    connects[entry.reference or ""] += 1
        found = []
        for sub in subscriptions:
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

    def _entitlements(self, subscriptions: list[Subscription]) -> list[str]:
        held: dict[int, dict[str, Grant]] = defaultdict(dict)
        for sub in subscriptions:
            grants = held[sub.customer_id]
            if (grant := grant_of(sub)) is not None:
                grants[grant.product] = grant
        stored = self._entitlements_reader.read_many(sorted(held))
        found = []
        for customer, grants in sorted(held.items()):
            self.checked["entitlements are the active subscriptions'"] += 1
            state = stored[customer]
            if {grant.product: grant for grant in state.grants} != grants:
                found.append(
                    f"customer {customer}: entitlements {sorted(g.product for g in state.grants)}"
                    f" v{state.version}, active subscriptions {sorted(grants)}"
                )
            if state.version < self._versions.get(customer, 0):
                found.append(f"customer {customer}: entitlements version went back")
            self._versions[customer] = state.version
        return found

    def _misuse(self) -> list[str]:
        """What the providers saw our code do that they refuse (or a forgery achieved)."""
        misuse = self.world.misuse
        self.checked["no provider misused, no forgery accepted"] += 1
        found = misuse[self._misuse_seen :]
        self._misuse_seen = len(misuse)
        return list(found)

    # --- at a checkpoint --------------------------------------------------------------------

    def liveness(self) -> list[str]:
        world = self.world
        entries = self._entries(every=True)
        found = self._wallets(entries)
        payments = self._payments()
        alerted = _alerted(world.orders.alerts())
        credits = self._credited(entries)
        taken = self._taken(entries)
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
        return found + self._misuse()


def _alerted(alerts: list[Any]) -> set[str]:
    """Every id an open alert names (payments, orders, refunds)."""
    named: set[str] = set()
    for alert in alerts:
        for value in alert.details.values():
            if isinstance(value, str):
                named.add(value)
    return named
