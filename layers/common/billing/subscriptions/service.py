"""Subscription use cases (SPEC §1, §5).

Each use case validates everything first (typed errors, nothing written), then performs
one DynamoDB transaction: when money moves, the ledger entry, the wallet and the
subscription are written together, so a charge without its extension (or the reverse)
cannot happen, and a retried request finds its entry and changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from billing.clock import Clock
from billing.domain import renewal
from billing.domain import subscription as rules
from billing.domain.catalog import Catalog, OptionValue
from billing.domain.money import Currency, format_minor
from billing.domain.pricing import Quote, build_quote, monthly_price
from billing.domain.subscription import ChangePlan, Subscription
from billing.domain.tax import TaxProfile
from billing.errors import ConcurrentModification, InvalidState, NotAllowed, NotFound
from billing.ledger.model import Reason, Wallet
from billing.ledger.service import (
    Funding,
    Ledger,
    Movement,
    RelatedConflict,
    RelatedParts,
    fixed_parts,
)
from billing.orders.invoices import InvoiceIssuer, InvoiceSubject
from billing.store.subscriptions import SubscriptionsRepository
from billing.store.transactions import StaleWrite, TxnPart

MAX_ATTEMPTS = 5


class QuoteChanged(InvalidState):
    """The price is no longer the one confirmed (catalog, tax profile, options):
    nothing was charged; `quote` is the new price, to be shown for a new confirmation."""

    code = "quote_changed"

    def __init__(self, message: str, *, quote: Quote) -> None:
        super().__init__(message)
        self.quote = quote


class RenewalInProgress(InvalidState):
    """A card charge holds the period: its outcome decides the renewal."""

    code = "renewal_in_progress"


class SlotTaken(InvalidState):
    """The Customer holds another active subscription of the product (SPEC §5)."""

    code = "slot_taken"


@dataclass(frozen=True)
class Purchase:
    """A subscription after a charge, with the quote it was charged on."""

    subscription: Subscription
    quote: Quote
    movement: Movement
    invoice_number: str | None = None  # issued with this charge (None for a retry)

    @property
    def applied_now(self) -> bool:
        return self.movement.applied_now


@dataclass(frozen=True)
class Payment:
    """A paid order funding a purchase: credited, charged and marked paid together."""

    funding: Funding
    paid_by: str  # written on the invoice: "card via Stripe", "PayPal", ...
    order_id: str
    parts: Callable[[], list[TxnPart]]  # the order's own update, rebuilt on every attempt


def subscription_id_for(request_id: str) -> str:
    """The same connect request always names the same subscription (idempotent retries)."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:16]


class SubscriptionService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        subscriptions: SubscriptionsRepository,
        ledger: Ledger,
        clock: Clock,
        admin_ids: frozenset[int] = frozenset(),
        invoices: InvoiceIssuer | None = None,
    ) -> None:
        self._invoices = invoices
        self._catalog = catalog
        self._subscriptions = subscriptions
        self._ledger = ledger
        self._clock = clock
        self._admin_ids = admin_ids

    # --- reads ------------------------------------------------------------------------

    def get(self, subscription_id: str, *, viewer: int) -> Subscription:
        """The subscription if `viewer` is its Payer or Customer; NotFound otherwise, so a
        forged id reveals nothing."""
        sub = self._subscriptions.get(subscription_id)
        if sub is None or not (rules.can_view(sub, viewer) or viewer in self._admin_ids):
            raise NotFound(f"subscription {subscription_id} not found")
        return sub

    def get_any(self, subscription_id: str, *, fresh: bool = False) -> Subscription:
        """For the system's own work (sweep, renewal charges): no viewer check. `fresh`:
        read from DynamoDB even if this operation read it already (what others did)."""
        sub = self._subscriptions.get(subscription_id, fresh=fresh)
        if sub is None:
            raise NotFound(f"subscription {subscription_id} not found")
        return sub

    def visible_to(self, user_id: int) -> list[Subscription]:
        """What the user pays for and what is registered for them, each once."""
        seen: dict[str, Subscription] = {}
        for sub in [*self._subscriptions.held_by(user_id), *self._subscriptions.paid_by(user_id)]:
            seen.setdefault(sub.id, sub)
        return sorted(seen.values(), key=lambda s: s.created_at)

    # --- connect ----------------------------------------------------------------------

    def quote_connect(
        self,
        *,
        product: str,
        options: Mapping[str, object],
        months: int,
        currency: Currency,
        tax: TaxProfile,
    ) -> Quote:
        return build_quote(self._catalog, product, options, months, currency, tax)

    def connect(
        self,
        *,
        request_id: str,
        payer_id: int,
        customer_id: int,
        product: str,
        options: Mapping[str, object],
        months: int,
        currency: Currency,
        tax: TaxProfile,
        has_saved_card: bool,
        payment: Payment | None = None,
        expected_total: int | None = None,
        customer_name: str | None = None,
    ) -> Purchase:
        """Charge the quote to the Payer's wallet and activate the subscription (SPEC §5.1).

        `request_id` names this purchase (the confirmed quote); repeating it returns the
        subscription it created instead of charging again. `expected_total`, the total the
        Payer confirmed: any other price raises QuoteChanged and nothing is charged (SPEC §3).
        """
        quote = self.quote_connect(
            product=product, options=options, months=months, currency=currency, tax=tax
        )
        if expected_total is not None and quote.total != expected_total:
            raise QuoteChanged(
                f"this now costs {format_minor(quote.total, quote.currency)}, not the"
                f" {format_minor(expected_total, quote.currency)} confirmed; nothing was charged",
                quote=quote,
            )
        subscription_id = subscription_id_for(request_id)
        cause = f"connect:{subscription_id}"
        # The slot answers whether this request was bought before: while its subscription
        # is active it holds the slot; once that has ended, the charge below finds the
        # cause's entry written and changes nothing. So the subscription is read only then.
        holder = self._subscriptions.slot_holder(customer_id, product)
        if holder is not None:
            entry = self._ledger.entry(payer_id, currency, cause)
            existing = self._subscriptions.get(subscription_id) if entry is not None else None
            if entry is not None and existing is not None:
                return Purchase(existing, quote, Movement(entry, applied_now=False))
            raise InvalidState(
                f"this user already has an active {product} subscription ({holder});"
                " change or renew it instead",
                reason="already_active",
            )
        now = self._clock.now()
        created: list[Subscription] = []
        issued: list[str] = []
        funding = payment.funding if payment is not None else None

        def related(wallet: Wallet) -> list[TxnPart]:
            left = wallet.balance + (funding.amount if funding else 0) - quote.total
            sub = rules.connect(
                subscription_id=subscription_id,
                product=product,
                customer_id=customer_id,
                payer_id=payer_id,
                options=quote.options,
                months=months,
                currency=currency,
                paid=quote.total,
                # SPEC §5.1: on after the first payment when renewal can be paid for.
                auto_renew=has_saved_card or left > 0,
                now=now,
                customer_name=customer_name,
            )
            created[:] = [sub]
            return [
                *self._subscriptions.create_parts(sub),
                *self._invoice_parts(
                    sub,
                    quote,
                    period_start=sub.started_at,
                    payment=payment,
                    now=now,
                    issued=issued,
                ),
                *(payment.parts() if payment is not None else ()),
            ]

        try:
            movement = self._ledger.charge(
                payer_id,
                currency,
                quote.total,
                cause=cause,
                reason=Reason(
                    f"{product} for {months} months",
                    "connect",
                    (("product", product), ("months", str(months))),
                ),
                reference=subscription_id,
                related=related,
                funding=funding,
            )
        except RelatedConflict as conflict:
            raise InvalidState(
                f"this user already has an active {product} subscription", reason="already_active"
            ) from conflict
        if not movement.applied_now:
            stored = self._subscriptions.get(subscription_id, fresh=True)
            if stored is None:  # pragma: no cover - the entry and the item are written together
                raise InvalidState(f"subscription {subscription_id} is missing its record")
            return Purchase(stored, quote, movement)
        return Purchase(created[0], quote, movement, issued[0] if issued else None)

    def _purchase_parts(
        self,
        own_parts: list[TxnPart],
        sub: Subscription,
        quote: Quote,
        *,
        period_start: datetime,
        payment: Payment | None,
        now: datetime,
        issued: list[str],
    ) -> RelatedParts:
        """The subscription's parts, then its invoice, then the paying order's update."""

        def build(_wallet: Wallet) -> list[TxnPart]:
            return [
                *own_parts,
                *self._invoice_parts(
                    sub, quote, period_start=period_start, payment=payment, now=now, issued=issued
                ),
                *(payment.parts() if payment is not None else ()),
            ]

        return build

    def _invoice_parts(
        self,
        sub: Subscription,
        quote: Quote,
        *,
        period_start: datetime,
        payment: Payment | None,
        now: datetime,
        issued: list[str],
    ) -> list[TxnPart]:
        if self._invoices is None:
            return []
        subject = InvoiceSubject(
            payer_id=sub.payer_id,
            quote=quote,
            subscription_id=sub.id,
            period_start=period_start,
            period_end=sub.expires_at,
            paid_by=payment.paid_by if payment is not None else "wallet balance",
            order_id=payment.order_id if payment is not None else None,
        )
        return self._invoices.parts(subject, now, issued)

    # --- renew ------------------------------------------------------------------------

    def quote_renew(self, subscription_id: str, *, by: int, tax: TaxProfile) -> Quote:
        sub = self.get(subscription_id, viewer=by)
        rules.require(rules.can_renew(sub, by), "renew it")
        self._require_slot(sub)
        return self._renewal_quote(sub, tax)

    @staticmethod
    def _require_no_card_charge(sub: Subscription, unless_paid_by: Payment | None = None) -> None:
        """While a card charge holds the period, only its own payment may buy it."""
        claim = renewal.marks(sub).claim
        if claim is not None and (
            unless_paid_by is None or unless_paid_by.order_id != claim.order_id
        ):
            raise RenewalInProgress(
                "a card payment for this renewal is in progress; try again in a few minutes"
            )

    def _require_slot(self, sub: Subscription) -> None:
        """An ended subscription comes back only into a free slot (SPEC §5.4)."""
        if sub.is_active:
            return
        holder = self._subscriptions.slot_holder(sub.customer_id, sub.product)
        if holder is not None and holder != sub.id:
            raise SlotTaken(
                f"this user already has another active {sub.product} subscription;"
                " renew or change that one instead"
            )

    def _renewal_quote(self, sub: Subscription, tax: TaxProfile) -> Quote:
        # Same options and period length, today's catalog price, the subscription's currency.
        return build_quote(self._catalog, sub.product, sub.options, sub.months, sub.currency, tax)

    def renew(
        self,
        subscription_id: str,
        *,
        by: int | None,
        tax: TaxProfile,
        period_key: str | None = None,
        currency: Currency | None = None,
        payment: Payment | None = None,
        expected_total: int | None = None,
    ) -> Purchase:
        """Charge one more period and extend from the current expiry (SPEC §5.2).

        `by` is the Payer pressing Renew, or None for the sweep's auto-renewal. The ledger
        cause is the period being bought, so a manual renewal and an auto-renewal of the
        same period, or any retry of either, charge once. `period_key` (from the button or
        the queue message) pins the period: if it has been bought already, the earlier
        purchase is returned; if the subscription moved on otherwise, the request is stale.
        `currency`, when the caller is paying in a specific one, must be the subscription's.
        `expected_total` is the total the Payer confirmed: any other price raises
        QuoteChanged with the new quote (SPEC §3). While a card charge holds the period,
        only that charge's own payment may buy it (RenewalInProgress). An ended
        subscription takes its product slot back in the same transaction (SlotTaken when
        another subscription holds it).
        """
        for _ in range(MAX_ATTEMPTS):
            sub = self._subscriptions.get(subscription_id)
            if sub is None or (by is not None and not rules.can_view(sub, by)):
                raise NotFound(f"subscription {subscription_id} not found")
            if by is not None:
                rules.require(rules.can_renew(sub, by), "renew it")
            if sub.status is rules.Status.TERMINATED:
                raise InvalidState(
                    f"subscription {sub.id} was terminated; it cannot be renewed",
                    reason="terminated",
                )
            if currency is not None:
                rules.require_currency(sub, currency)
            quote = self._renewal_quote(sub, tax)
            if period_key is not None and period_key != sub.period_key():
                entry = self._ledger.entry(sub.payer_id, sub.currency, f"renew:{period_key}")
                if entry is None:
                    raise InvalidState(
                        "this renewal offer is out of date; open the subscription again",
                        reason="offer_stale",
                    )
                return Purchase(sub, quote, Movement(entry, applied_now=False))
            self._require_no_card_charge(sub, unless_paid_by=payment)
            if expected_total is not None and quote.total != expected_total:
                raise QuoteChanged(
                    f"the renewal now costs {format_minor(quote.total, quote.currency)}, not"
                    f" the {format_minor(expected_total, quote.currency)} confirmed;"
                    " nothing was charged",
                    quote=quote,
                )
            self._require_slot(sub)
            now = self._clock.now()
            renewed = rules.renew(sub, paid=quote.total, by=by, now=now)
            issued: list[str] = []
            # The period bought starts at the old expiry, or now when it has passed.
            period_start = max(sub.expires_at, now)

            related = self._purchase_parts(
                self._subscriptions.update_parts(renewed, before=sub, take_slot=not sub.is_active),
                renewed,
                quote,
                period_start=period_start,
                payment=payment,
                now=now,
                issued=issued,
            )

            try:
                movement = self._ledger.charge(
                    sub.payer_id,
                    sub.currency,
                    quote.total,
                    cause=f"renew:{sub.period_key()}",
                    reason=Reason(
                        f"{sub.product} renewal for {sub.months} months",
                        "renew",
                        (("product", sub.product), ("months", str(sub.months))),
                    ),
                    reference=sub.id,
                    related=related,
                    funding=payment.funding if payment is not None else None,
                )
            except RelatedConflict:
                continue  # changed meanwhile (options, auto-renewal): price it again
            if movement.applied_now:
                return Purchase(renewed, quote, movement, issued[0] if issued else None)
            # Bought by another writer since `sub` was read: its state now.
            current = self._subscriptions.get(subscription_id, fresh=True)
            return Purchase(current or renewed, quote, movement)
        raise ConcurrentModification(f"subscription {subscription_id} kept changing; try again")

    # --- change options -----------------------------------------------------------------

    def plan_change(
        self, subscription_id: str, *, by: int, new_options: Mapping[str, object]
    ) -> tuple[Subscription, dict[str, OptionValue], ChangePlan]:
        """What the change would do (shown before confirming): expand or reduce, new expiry."""
        sub = self.get(subscription_id, viewer=by)
        if not rules.can_change_options(sub, by):
            raise NotAllowed(
                "only the payer of this subscription can change its options", reason="payer_only"
            )
        # An expansion moves the expiry, so the period the card charge buys would vanish.
        self._require_no_card_charge(sub)
        normalized = self._catalog.normalize_options(sub.product, new_options)
        plan = rules.plan_change(
            sub,
            normalized,
            old_monthly=monthly_price(self._catalog, sub.product, sub.options, sub.currency),
            new_monthly=monthly_price(self._catalog, sub.product, normalized, sub.currency),
            now=self._clock.now(),
        )
        return sub, dict(normalized), plan

    def change(
        self, subscription_id: str, *, by: int, new_options: Mapping[str, object]
    ) -> tuple[Subscription, ChangePlan]:
        """Apply a change of options (SPEC §5.3); no money moves."""
        for _ in range(MAX_ATTEMPTS):
            sub, normalized, plan = self.plan_change(
                subscription_id, by=by, new_options=new_options
            )
            changed = rules.apply_change(
                sub,
                self._catalog.normalize_options(sub.product, normalized),
                plan,
                by=by,
                now=self._clock.now(),
            )
            try:
                self._subscriptions.save(changed, before=sub)
            except StaleWrite:
                continue
            return changed, plan
        raise ConcurrentModification(f"subscription {subscription_id} kept changing; try again")

    # --- switches ---------------------------------------------------------------------

    def set_auto_renew(self, subscription_id: str, *, by: int, on: bool) -> Subscription:
        def toggle(sub: Subscription) -> Subscription:
            rules.require(rules.can_toggle_auto_renew(sub, by), "switch auto-renewal")
            return rules.set_auto_renew(sub, on, by=by, now=self._clock.now())

        return self._update(subscription_id, by, toggle)

    def set_customer_may_change(
        self, subscription_id: str, *, by: int, allowed: bool
    ) -> Subscription:
        def switch(sub: Subscription) -> Subscription:
            rules.require(sub.payer_id == by, "let the customer change options")
            return rules.set_customer_may_change(sub, allowed, by=by, now=self._clock.now())

        return self._update(subscription_id, by, switch)

    def _update(
        self,
        subscription_id: str,
        by: int,
        step: Callable[[Subscription], Subscription],
    ) -> Subscription:
        for _ in range(MAX_ATTEMPTS):
            sub = self.get(subscription_id, viewer=by)
            updated = step(sub)
            if updated is sub:
                return sub
            try:
                self._subscriptions.save(updated, before=sub)
            except StaleWrite:
                continue
            return updated
        raise ConcurrentModification(f"subscription {subscription_id} kept changing; try again")

    # --- the renewal sweep's marks --------------------------------------------------------

    def claim_card_charge(self, sub: Subscription, *, order_id: str) -> Subscription:
        """Hold the period for a card charge of `order_id` before the provider is called;
        StaleWrite when `sub` changed since it was read (then nothing is charged)."""
        claimed = renewal.with_claim(sub, order_id=order_id, now=self._clock.now())
        self._subscriptions.save(claimed, before=sub)
        return claimed

    def record_failed_attempt(self, sub: Subscription) -> Subscription:
        """A renewal attempt of the period failed (ending any card claim); the next one is
        due tomorrow. StaleWrite when `sub` changed since it was read."""
        failed = renewal.with_attempt(sub, self._clock.now())
        self._subscriptions.save(failed, before=sub)
        return failed

    # --- ending -----------------------------------------------------------------------

    def expire(self, subscription_id: str) -> Subscription | None:
        """Ends an active subscription whose expiry has passed; the Customer is on Free.
        Returns None when there is nothing to do (not due, already ended: a late or
        duplicate sweep message)."""
        for _ in range(MAX_ATTEMPTS):
            sub = self._subscriptions.get(subscription_id)
            now = self._clock.now()
            if sub is None or not sub.is_active or now < sub.expires_at:
                return None
            if renewal.marks(sub).claim is not None:
                return None  # a card charge of the period may have bought it: resolved first
            ended = rules.expire(sub, now=now)
            try:
                self._subscriptions.save(ended, before=sub)
            except StaleWrite:
                continue
            return ended
        raise ConcurrentModification(f"subscription {subscription_id} kept changing; try again")

    def terminate_with_credit(
        self, subscription_id: str, *, admin_id: int
    ) -> tuple[Subscription, Movement | None]:
        """Support ends a subscription now and credits the unused value (SPEC §5.6)."""
        if admin_id not in self._admin_ids:
            raise NotAllowed("only support can terminate a subscription")
        for _ in range(MAX_ATTEMPTS):
            sub = self._subscriptions.get(subscription_id)
            if sub is None:
                raise NotFound(f"subscription {subscription_id} not found")
            ended, credit = rules.terminate(sub, by=admin_id, now=self._clock.now())
            parts = self._subscriptions.update_parts(ended, before=sub)
            if credit == 0:
                try:
                    self._subscriptions.save(ended, before=sub)
                except StaleWrite:
                    continue
                return ended, None
            try:
                movement = self._ledger.credit(
                    sub.payer_id,
                    sub.currency,
                    credit,
                    cause=f"terminate:{sub.id}",
                    reason=Reason(
                        f"unused part of {sub.product} returned by support",
                        "termination_credit",
                        (("product", sub.product),),
                    ),
                    reference=sub.id,
                    related=fixed_parts(parts),
                )
            except RelatedConflict:
                continue
            return ended, movement
        raise ConcurrentModification(f"subscription {subscription_id} kept changing; try again")
