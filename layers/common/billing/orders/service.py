"""Payment use cases (SPEC §4, §7): open an order, and apply a paid one exactly once.

A provider's confirmation (webhook, Telegram `successful_payment`, an off-session charge,
support marking a bank transfer paid) ends in `settle`. It checks the order, amount and
currency, then writes in ONE transaction: the payment credited to the wallet (entry keyed
`order:<id>`), the purchase it pays for (entry keyed by subscription and period), the
subscription, the invoice and the order. If the purchase can no longer be made (the price
changed, the period was bought meanwhile), the payment is still credited, so nothing paid
is ever lost, and the Payer is told it is on the balance. The same holds for money that
arrives for an order past its expiry, and for a second real payment (another provider
payment id) for an order already paid: that one becomes a top-up order of its own.

Refunds and disputes are keyed by the provider's own id: the ledger entry and the order's
record of what was taken back are written in one transaction, bounded by what was paid.
A refund reported before its payment is credited is parked for support, never debited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from billing.clock import Clock
from billing.domain.money import Currency, format_minor
from billing.domain.profile import PaymentMethod, card_for, require_can_pay, tax_profile
from billing.errors import BillingError, ConcurrentModification, InvalidState, NotFound
from billing.ledger.model import Reason, Wallet
from billing.ledger.service import (
    Funding,
    FundingAlreadyApplied,
    Ledger,
    Movement,
    RelatedConflict,
    fixed_parts,
)
from billing.orders.model import (
    Order,
    OrderStatus,
    Purpose,
    expiry_for,
    new_order_id,
    require_payable_amount,
)
from billing.store.accounts import AccountsRepository
from billing.store.orders import OrdersRepository
from billing.store.transactions import StaleWrite
from billing.subscriptions.service import Payment, Purchase, SubscriptionService

MAX_ATTEMPTS = 5


class Outcome(StrEnum):
    APPLIED = "applied"  # credited and the purpose applied (or a top-up credited)
    TOPPED_UP = "topped_up"  # credited, but the purchase could not be made any more
    ALREADY = "already"  # this order was settled before: nothing changed
    MISMATCH = "mismatch"  # wrong amount or currency: nothing credited, support alerted
    UNKNOWN = "unknown"  # no such order: nothing credited, support alerted


@dataclass(frozen=True)
class Settlement:
    outcome: Outcome
    order: Order | None
    movement: Movement | None = None
    purchase: Purchase | None = None
    reason: str | None = None  # why the purpose was not applied, or what mismatched

    @property
    def credited_now(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.TOPPED_UP)


class RefundOutcome(StrEnum):
    DEBITED = "debited"  # taken from the wallet now
    REVERSED = "reversed"  # a refund or dispute undone: given back to the wallet now
    ALREADY = "already"  # recorded before: nothing changed
    PARKED = "parked"  # its payment is not credited (yet): support alerted, nothing debited
    UNKNOWN = "unknown"  # no such payment (or another currency): support alerted
    NOTHING_LEFT = "nothing_left"  # all of the payment was taken back already: alerted


@dataclass(frozen=True)
class RefundRecord:
    outcome: RefundOutcome
    order: Order | None
    movement: Movement | None = None

    @property
    def moved_now(self) -> bool:
        return self.outcome in (RefundOutcome.DEBITED, RefundOutcome.REVERSED)


def _confirmed(details: Mapping[str, Any]) -> int | None:
    """The total the Payer confirmed for the purchase an order pays for (SPEC §3: a changed
    price buys nothing; the money stays on the balance)."""
    total = details.get("total")
    return int(total) if isinstance(total, int) and not isinstance(total, bool) else None


def _refund_cause(refund_id: str, chargeback: bool) -> str:
    return f"{'dispute' if chargeback else 'refund'}:{refund_id}"


def _keyed_id(key: str) -> str:
    return "R-" + hashlib.sha256(key.encode()).hexdigest()[:10].upper()


class PaymentService:
    def __init__(
        self,
        *,
        orders: OrdersRepository,
        ledger: Ledger,
        subscriptions: SubscriptionService,
        accounts: AccountsRepository,
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._ledger = ledger
        self._subscriptions = subscriptions
        self._accounts = accounts
        self._clock = clock

    # --- reads ------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def order_of_provider(self, provider_ref: str) -> Order | None:
        return self._orders.by_provider_ref(provider_ref)

    def ledger_entry(self, order: Order, cause: str) -> Any:
        """The Payer's ledger entry of `cause` in the order's currency, or None."""
        return self._ledger.entry(order.payer_id, order.currency, cause)

    def wallet(self, payer_id: int, currency: Currency) -> Wallet:
        """What a payment would be added to (a renewal charge covers its debt too)."""
        return self._ledger.wallet(payer_id, currency)

    # --- opening orders -----------------------------------------------------------------

    def open(
        self,
        *,
        payer_id: int,
        purpose: Purpose,
        amount: int,
        currency: Currency,
        method: PaymentMethod,
        chat_id: int | None,
        details: Mapping[str, Any] | None = None,
        order_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> Order:
        """A pending order, after every check that can refuse the payment up front: the
        method's currencies and limits, the billing profile it needs, country verification.
        It is payable until `expires_at` (by default the method's window, SPEC §7)."""
        account = self._accounts.get(payer_id)
        if account is None:
            raise NotFound("send /start first")
        if account.profile.country is None:
            raise InvalidState(
                "set your billing country in /billing before the first payment", reason="no_country"
            )
        require_can_pay(account.profile, method, currency)
        require_payable_amount(amount, method, currency)
        now = self._clock.now()
        for _ in range(MAX_ATTEMPTS):
            order = Order(
                id=order_id or new_order_id(now),
                payer_id=payer_id,
                purpose=purpose,
                amount=amount,
                currency=currency,
                method=method,
                status=OrderStatus.PENDING,
                created_at=now,
                updated_at=now,
                details=dict(details or {}),
                chat_id=chat_id,
                expires_at=expires_at or expiry_for(method, now),
            )
            try:
                return self._orders.create(order)
            except StaleWrite:
                if order_id is not None:
                    existing = self._orders.get(order_id)
                    if existing is not None:
                        return existing
                continue  # the random part collided: draw again
        raise InvalidState("could not number the order; try again")

    def open_keyed(self, key: str, **order: Any) -> Order:
        """The order named by `key` (e.g. a renewal period), opened once: every retry of
        the same payment finds the same order."""
        existing = self.keyed_order(key)
        if existing is not None:
            return existing
        return self.open(order_id=_keyed_id(key), **order)

    def keyed_order(self, key: str) -> Order | None:
        return self._orders.get(_keyed_id(key))

    def attach_provider_ref(self, order: Order, provider_ref: str, **details: Any) -> Order:
        """Remember the provider's id for this order (checkout session, PayPal order...)."""
        updated = replace(
            order,
            provider_ref=provider_ref,
            details={**order.details, **details},
            updated_at=self._clock.now(),
            version=order.version + 1,
        )
        self._orders.save(updated, expected_version=order.version)
        return updated

    def with_details(self, order: Order, **details: Any) -> Order:
        """Remember more about how the order is being paid (the Stars its invoice asks)."""
        updated = replace(
            order,
            details={**order.details, **details},
            updated_at=self._clock.now(),
            version=order.version + 1,
        )
        self._orders.save(updated, expected_version=order.version)
        return updated

    def is_payable(self, order_id: str, *, amount: int, currency: str) -> Order | None:
        """The order when it still waits for exactly this payment (Telegram pre-checkout):
        its amount in its currency, or for a Stars order the Stars its invoice asked."""
        order = self._orders.get(order_id)
        if order is None or not order.payable_at(self._clock.now()):
            return None
        if (amount, currency) != _asked(order):
            return None
        return order

    # --- applying payments ---------------------------------------------------------------

    def settle(
        self,
        order_id: str,
        *,
        amount: int,
        currency: str,
        provider: str,
        provider_ref: str | None,
        exact: bool = True,
    ) -> Settlement:
        """Apply a confirmed payment once. `exact=False` (a bank transfer marked paid by
        support) credits what arrived; the purpose applies only if it covers the order."""
        order = self._orders.get(order_id) if order_id else None
        if order is None:
            self.alert(
                "payment for an unknown order",
                provider,
                {"order": order_id, "amount": amount, "currency": currency, "ref": provider_ref},
            )
            return Settlement(Outcome.UNKNOWN, None, reason="unknown order")
        mismatch = self._mismatch(order, amount, currency, exact=exact)
        if mismatch is not None:
            self.alert(
                mismatch,
                provider,
                {"order": order.id, "amount": amount, "currency": currency, "ref": provider_ref},
            )
            return Settlement(Outcome.MISMATCH, order, reason=mismatch)
        if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            return self._already(order, amount, provider, provider_ref)
        if order.expired_at(self._clock.now()):
            # Real money for an order that can no longer be what it was for (SPEC §7).
            settlement = self._top_up_only(
                order, amount, provider, provider_ref, "arrived after the order expired"
            )
            if settlement.credited_now:
                self.alert(
                    "payment after the order expired; kept on the balance",
                    provider,
                    {"order": order.id, "amount": amount, "ref": provider_ref},
                )
            return settlement
        return self._apply(order, amount, provider, provider_ref)

    def settle_stars(self, order_id: str, *, stars: int, charge_id: str) -> Settlement:
        """A payment in Telegram Stars (SPEC §7): exactly the Stars its order's invoice
        asked pay the order's amount in the order's currency. Other Stars, or Stars for an
        order not paid by Stars, credit nothing (settle alerts the mismatch)."""
        order = self._orders.get(order_id) if order_id else None
        if order is not None and (stars, "XTR") == _asked(order):
            return self.settle(
                order_id,
                amount=order.amount,
                currency=order.currency.value,
                provider="stars",
                provider_ref=charge_id,
            )
        return self.settle(
            order_id, amount=stars, currency="XTR", provider="stars", provider_ref=charge_id
        )

    def _apply(
        self, order: Order, amount: int, provider: str, provider_ref: str | None
    ) -> Settlement:
        if order.purpose is Purpose.TOP_UP or amount < order.amount:
            reason = None if order.purpose is Purpose.TOP_UP else "less than the order arrived"
            return self._top_up_only(order, amount, provider, provider_ref, reason)
        try:
            purchase = self._purchase(order, amount, provider_ref)
        except FundingAlreadyApplied:
            return self._already(
                self._orders.get(order.id) or order, amount, provider, provider_ref
            )
        except BillingError as refused:
            return self._top_up_only(order, amount, provider, provider_ref, str(refused))
        if purchase.movement.funding_entry is None:
            # The purchase had been made before by other means (paid from the balance):
            # this payment still belongs on the wallet.
            return self._top_up_only(order, amount, provider, provider_ref, "already bought")
        if not purchase.applied_now:
            return self._already(
                self._orders.get(order.id) or order, amount, provider, provider_ref
            )
        return Settlement(
            Outcome.APPLIED, self._orders.get(order.id), purchase.movement, purchase=purchase
        )

    def _already(
        self, order: Order, amount: int, provider: str, provider_ref: str | None
    ) -> Settlement:
        """The order was paid before. By this very payment (a redelivery, the second event
        of one payment): nothing to do. By another one (a Telegram invoice paid twice, a
        late success of an earlier attempt): real money, credited as a top-up (SPEC §7)."""
        credited = self._ledger.entry(order.payer_id, order.currency, f"order:{order.id}")
        paid_by = credited.reference if credited is not None else order.provider_ref
        if provider_ref is None or paid_by is None or provider_ref == paid_by:
            return Settlement(Outcome.ALREADY, order, None)
        return self._second_payment(order, amount, provider, provider_ref)

    def _second_payment(
        self, order: Order, amount: int, provider: str, provider_ref: str
    ) -> Settlement:
        """Another payment for a paid order: a top-up order of its own, named by the
        provider's payment id (so its redelivery, refunds and disputes find it)."""
        now = self._clock.now()
        extra = Order(
            id=_keyed_id(f"payment-{provider}-{provider_ref}"),
            payer_id=order.payer_id,
            purpose=Purpose.TOP_UP,
            amount=amount,
            currency=order.currency,
            method=order.method,
            status=OrderStatus.PENDING,
            created_at=now,
            updated_at=now,
            details={"second_payment_for": order.id},
            provider_ref=provider_ref,
            chat_id=order.chat_id,
            expires_at=None,
        )
        try:
            self._orders.create(extra)
        except StaleWrite:
            found = self._orders.get(extra.id)
            if found is None:  # pragma: no cover - the create failed on its existence
                raise
            extra = found
        if not extra.is_open:
            return Settlement(Outcome.ALREADY, extra)
        settlement = self._top_up_only(
            extra, amount, provider, provider_ref, f"order {order.id} was paid already"
        )
        if settlement.credited_now:
            self.alert(
                "second payment for a paid order; kept on the balance",
                provider,
                {
                    "order": order.id,
                    "top_up_order": extra.id,
                    "amount": amount,
                    "ref": provider_ref,
                },
            )
        return settlement

    def fail(self, order_id: str, reason: str) -> Order | None:
        """A payment attempt failed (card declined): the order stays payable. Returns the
        failed order, or None when there was nothing to change (unknown, paid, or already
        failed: a repeated notice is not told twice)."""
        for _ in range(MAX_ATTEMPTS):
            order = self._orders.get(order_id)
            if order is None or order.status is not OrderStatus.PENDING:
                return None
            failed = replace(
                order,
                status=OrderStatus.FAILED,
                note=reason[:200],
                updated_at=self._clock.now(),
                version=order.version + 1,
            )
            try:
                self._orders.save(failed, expected_version=order.version)
            except StaleWrite:
                continue
            return failed
        return None

    def record_refund(
        self,
        *,
        provider: str,
        provider_ref: str,
        refund_id: str,
        amount: int,
        currency: str,
        chargeback: bool = False,
    ) -> RefundRecord:
        """Money a provider took back (SPEC §4), once per provider refund or dispute id:
        debited even into debt, in the same transaction that records it on the order, and
        never more than what is left of the payment. Support is alerted."""
        what = "chargeback (dispute opened)" if chargeback else "refund"
        cause = _refund_cause(refund_id, chargeback)
        details = {"ref": provider_ref, "refund": refund_id, "amount": amount, "currency": currency}
        for _ in range(MAX_ATTEMPTS):
            order = self._orders.by_provider_ref(provider_ref)
            if order is None or order.currency.value != currency or amount <= 0:
                self.alert(f"{what} for an unknown payment", provider, details)
                return RefundRecord(RefundOutcome.UNKNOWN, order)
            done = self._ledger.entry(order.payer_id, order.currency, cause)
            if done is not None:
                return RefundRecord(RefundOutcome.ALREADY, order, Movement(done, False))
            if order.status not in (OrderStatus.PAID, OrderStatus.REFUNDED):
                # Reported before its payment was credited: debiting now would take money
                # never received. Parked for support; the payment still settles when it
                # arrives, and reconciliation applies the refund after it.
                self.alert(
                    f"{what} before its payment; parked", provider, {**details, "order": order.id}
                )
                return RefundRecord(RefundOutcome.PARKED, order)
            left = order.refundable
            debit = min(amount, left)
            if debit <= 0:
                self.alert(f"{what} beyond the payment", provider, {**details, "order": order.id})
                return RefundRecord(RefundOutcome.NOTHING_LEFT, order)
            updated = order.with_refund(cause, debit, self._clock.now())
            try:
                movement = self._ledger.refund(
                    order.payer_id,
                    order.currency,
                    debit,
                    cause=cause,
                    reason=Reason(
                        f"{what} of order {order.id}",
                        "chargeback" if chargeback else "refund",
                        (("order", order.id),),
                    ),
                    reference=order.id,
                    chargeback=chargeback,
                    related=fixed_parts(
                        self._orders.save_parts(updated, expected_version=order.version)
                    ),
                )
            except RelatedConflict:
                continue  # the order changed (another refund): bound it again
            if not movement.applied_now:
                return RefundRecord(RefundOutcome.ALREADY, order, movement)
            reason = f"{what} debited from the wallet"
            if debit < amount:
                reason += f" (only {format_minor(debit, order.currency)} was left of the payment)"
            self.alert(reason, provider, {**details, "order": order.id})
            return RefundRecord(RefundOutcome.DEBITED, updated, movement)
        raise ConcurrentModification(f"refund {refund_id} kept meeting changes; try again")

    def reverse_refund(
        self, *, provider: str, provider_ref: str, refund_id: str, chargeback: bool
    ) -> RefundRecord:
        """What a refund or dispute took comes back (a dispute the seller won, SPEC §4; a
        refund that failed): exactly what its entry debited, once."""
        cause = _refund_cause(refund_id, chargeback)
        what = "dispute won" if chargeback else "refund failed"
        for _ in range(MAX_ATTEMPTS):
            order = self._orders.by_provider_ref(provider_ref)
            taken = (
                None if order is None else self._ledger.entry(order.payer_id, order.currency, cause)
            )
            if order is None or taken is None:
                # Nothing was debited for it (its opening was never reported): nothing
                # to give back, but support should know the provider's view.
                self.alert(
                    f"{what} for nothing debited",
                    provider,
                    {"ref": provider_ref, "refund": refund_id},
                )
                return RefundRecord(RefundOutcome.UNKNOWN, order)
            back = self._ledger.entry(order.payer_id, order.currency, f"{cause}:reversed")
            if back is not None:
                return RefundRecord(RefundOutcome.ALREADY, order, Movement(back, False))
            updated = order.with_refund(cause, taken.amount, self._clock.now())  # amount < 0
            try:
                movement = self._ledger.reverse(
                    order.payer_id,
                    order.currency,
                    -taken.amount,
                    cause=f"{cause}:reversed",
                    reason=Reason(f"{what}: order {order.id}", "reversal", (("order", order.id),)),
                    reference=order.id,
                    related=fixed_parts(
                        self._orders.save_parts(updated, expected_version=order.version)
                    ),
                )
            except RelatedConflict:
                continue
            if not movement.applied_now:
                return RefundRecord(RefundOutcome.ALREADY, order, movement)
            self.alert(f"{what}; credited back", provider, {"ref": provider_ref, "order": order.id})
            return RefundRecord(RefundOutcome.REVERSED, updated, movement)
        raise ConcurrentModification(f"refund {refund_id} kept meeting changes; try again")

    def expire(self, order_id: str) -> Order | None:
        """An open order stops waiting for money (its time ran out, or the provider ended
        its payment page). None when it is not open. Money that still arrives for it is
        credited as a top-up (settle)."""
        for _ in range(MAX_ATTEMPTS):
            order = self._orders.get(order_id)
            if order is None or not order.is_open:
                return None
            expired = replace(
                order,
                status=OrderStatus.EXPIRED,
                updated_at=self._clock.now(),
                version=order.version + 1,
            )
            try:
                self._orders.save(expired, expected_version=order.version)
            except StaleWrite:
                continue
            return expired
        raise ConcurrentModification(f"order {order_id} kept changing; try again")

    # --- internals -------------------------------------------------------------------------

    @staticmethod
    def _mismatch(order: Order, amount: int, currency: str, *, exact: bool) -> str | None:
        if currency != order.currency.value:
            return f"currency mismatch: {currency} paid for a {order.currency} order"
        if exact and amount != order.amount:
            return (
                f"amount mismatch: {format_minor(amount, order.currency)} paid for"
                f" {format_minor(order.amount, order.currency)}"
            )
        if amount <= 0:
            return "a payment without an amount"
        return None

    def _purchase(self, order: Order, amount: int, provider_ref: str | None) -> Purchase:
        account = self._accounts.get(order.payer_id)
        if account is None:
            raise NotFound(f"payer {order.payer_id} has no account")
        paid = order.paid(
            amount=amount, provider_ref=provider_ref, now=self._clock.now(), note=None
        )
        payment = Payment(
            funding=Funding(
                amount,
                cause=f"order:{order.id}",
                reason=_payment_reason(order),
                reference=provider_ref,
            ),
            paid_by=order.method.label,
            order_id=order.id,
            parts=lambda: self._orders.settle_parts(paid),
        )
        tax = tax_profile(account.profile)
        details = order.details
        if order.purpose is Purpose.CONNECT:
            return self._subscriptions.connect(
                request_id=str(details["request_id"]),
                payer_id=order.payer_id,
                customer_id=int(details["customer_id"]),
                product=str(details["product"]),
                options=dict(details["options"]),
                months=int(details["months"]),
                currency=order.currency,
                tax=tax,
                # The card a Checkout "save card" payment keeps is stored after this
                # transaction; the Payer's choice already counts (SPEC §5.1).
                has_saved_card=card_for(account.profile, order.currency) is not None
                or bool(details.get("save_card")),
                payment=payment,
                expected_total=_confirmed(details),
                customer_name=_text_or_none(details.get("customer_name")),
            )
        return self._subscriptions.renew(
            str(details["subscription_id"]),
            by=order.payer_id,
            tax=tax,
            period_key=str(details["period_key"]),
            currency=order.currency,
            payment=payment,
            expected_total=_confirmed(details),
        )

    def _top_up_only(
        self,
        order: Order,
        amount: int,
        provider: str,
        provider_ref: str | None,
        reason: str | None,
    ) -> Settlement:
        paid = order.paid(
            amount=amount, provider_ref=provider_ref, now=self._clock.now(), note=reason
        )
        movement = self._ledger.top_up(
            order.payer_id,
            order.currency,
            amount,
            cause=f"order:{order.id}",
            reason=_payment_reason(order),
            reference=provider_ref,
            related=fixed_parts(self._orders.settle_parts(paid)),
        )
        if not movement.applied_now:
            # Credited before: by this payment, or by another one that won the race.
            return self._already(
                self._orders.get(order.id) or order, amount, provider, provider_ref
            )
        outcome = Outcome.APPLIED if reason is None else Outcome.TOPPED_UP
        return Settlement(outcome, paid, movement, reason=reason)

    def alert(self, reason: str, provider: str | None, details: Mapping[str, Any]) -> None:
        """Record something support must look at."""
        self._orders.record_alert(reason, now=self._clock.now(), provider=provider, details=details)


def _asked(order: Order) -> tuple[int | None, str]:
    """What the order's payment must bring: Stars for a Stars order, else its amount."""
    if order.method is PaymentMethod.STARS:
        stars = order.details.get("stars")
        return (stars if isinstance(stars, int) and not isinstance(stars, bool) else None), "XTR"
    return order.amount, order.currency.value


def _payment_reason(order: Order) -> Reason:
    return Reason(
        f"payment {order.id} by {order.method.label}",
        "payment",
        (("order", order.id), ("method", order.method.value)),
    )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
