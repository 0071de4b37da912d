"""The renewal sweep's work on one subscription (SPEC §5.4-§5.5): remind, renew, expire.

Decided from the subscription's current state every time, each step written with a
condition on the version it read, so a duplicate, late or concurrent queue message is
harmless: a reminder is marked before it is sent (at most once per period), a renewal is
keyed by the period it buys (charged and extended once, in one transaction), a card charge
claims the period before Stripe is called and is resolved at Stripe when its answer was
lost, an expiry is conditional on the subscription still being active and past its expiry.
Whatever refuses an attempt (no funds, a decline, any billing rule) is a failed attempt,
marked and told to the Payer; only transient faults (DynamoDB, a provider that cannot say)
leave the message to the queue's retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from billing.clock import Clock
from billing.domain import renewal
from billing.domain.profile import PaymentMethod, card_for, tax_profile
from billing.domain.renewal import Action, Reminder
from billing.domain.subscription import Subscription
from billing.errors import BillingError, ConcurrentModification, InsufficientFunds
from billing.observability import logger
from billing.providers.errors import ProviderError
from billing.store import reads
from billing.store.subscriptions import SubscriptionsRepository
from billing.store.transactions import StaleWrite

# Only types at import: the use cases (pricing, the ledger, orders, the card charger) load
# when a message turns out to need them, after the subscription is read (billing/runtime.py
# hands them in deferred; tests/unit/test_boundaries.py checks the cold start).
if TYPE_CHECKING:
    from billing.accounts.service import ProfileService
    from billing.domain.tax import TaxProfile
    from billing.ledger.service import Ledger
    from billing.orders.checkout import Checkout
    from billing.orders.saved_card import CardCharge, SavedCardCharger
    from billing.subscriptions.service import Purchase, SubscriptionService

MAX_STEPS = 6  # a message does at most renew + remind + expire; re-reads after a lost race


class Failure(StrEnum):
    NO_FUNDS = "no_funds"
    DECLINED = "declined"
    NEEDS_AUTHENTICATION = "needs_authentication"
    NO_BILLING_COUNTRY = "no_billing_country"
    REFUSED = "refused"  # any other reason, told as it is


class Source(StrEnum):
    """Where the next renewal's money will come from, as a reminder says."""

    WALLET = "wallet"
    CARD = "card"
    NOTHING = "nothing"


@dataclass(frozen=True)
class ReminderFacts:
    kind: Reminder
    total: int
    source: Source


class SweepNotices(Protocol):
    def reminder(self, sub: Subscription, facts: ReminderFacts) -> None: ...

    def renewed(self, sub: Subscription, purchase: Purchase, paid_by: PaymentMethod | None) -> None:
        """`paid_by` None: the balance covered it."""

    def renewal_failed(
        self,
        sub: Subscription,
        failure: Failure,
        total: int,
        pay_url: str | None,
        refusal: BillingError | None = None,
    ) -> None:
        """`refusal`: why the renewal was refused, told in the reader's language; None when
        a payment could not be applied (its money is on the balance)."""

    def expired(self, sub: Subscription) -> None: ...


class RenewalWorker:
    def __init__(
        self,
        *,
        subscriptions: SubscriptionService,
        repository: SubscriptionsRepository,
        profiles: ProfileService,
        ledger: Ledger,
        saved_cards: SavedCardCharger,
        checkout: Checkout,
        notices: SweepNotices,
        clock: Clock,
    ) -> None:
        self._subscriptions = subscriptions
        self._repository = repository
        self._profiles = profiles
        self._ledger = ledger
        self._saved_cards = saved_cards
        self._checkout = checkout
        self._notices = notices
        self._clock = clock

    def process(self, subscription_id: str) -> list[Action]:
        """Do what is due now; returns what was done (nothing for a message that is late,
        repeated or about a subscription that moved on). Provider and DynamoDB faults
        propagate, so the queue delivers the message again. One message is one operation
        of the store's read map (store/reads.py): each item is read from DynamoDB once, and
        the subscription is decided on again as this worker wrote it."""
        with reads.operation():
            return self._process(subscription_id)

    def _process(self, subscription_id: str) -> list[Action]:
        done: list[Action] = []
        for _ in range(MAX_STEPS):
            sub = self._repository.get(subscription_id)
            if sub is None:
                return done
            now = self._clock.now()
            actions = renewal.due_actions(sub, now)
            if not actions:
                return done
            try:
                self._do(actions[0], sub)
            except StaleWrite:
                continue  # it changed under us: decide again from what it is now
            done.append(actions[0])
        return done

    def _do(self, action: Action, sub: Subscription) -> None:
        match action:
            case Action.RENEW:
                self._renew(sub)
            case Action.RESOLVE_CHARGE:
                self._attempt(sub, lambda: self._resolve(sub))
            case Action.REMIND_WEEK:
                self._remind(sub, Reminder.WEEK)
            case Action.REMIND_DAY:
                self._remind(sub, Reminder.DAY)
            case Action.EXPIRE:
                ended = self._subscriptions.expire(sub.id)
                if ended is not None:
                    self._notices.expired(ended)

    # --- renewal ---------------------------------------------------------------------------

    def _renew(self, sub: Subscription) -> None:
        """Wallet first (within the credit limit), then the saved card off-session."""
        try:
            tax = tax_profile(self._profiles.profile(sub.payer_id))
        except BillingError:
            self._failed(sub, Failure.NO_BILLING_COUNTRY, 0)
            return
        self._attempt(sub, lambda: self._from_wallet_or_card(sub, tax))

    def _attempt(self, sub: Subscription, attempt: Callable[[], None]) -> None:
        """A refusal of the attempt is its failure, never an exception into the queue."""
        from billing.subscriptions.service import RenewalInProgress

        try:
            attempt()
        except RenewalInProgress:
            return  # a card charge of the period (another message's) decides
        except ConcurrentModification:
            raise  # lost races, not a refusal: the queue delivers the message again
        except BillingError as refused:
            self._failed(sub, Failure.REFUSED, 0, refusal=refused)

    def _from_wallet_or_card(self, sub: Subscription, tax: TaxProfile) -> None:
        period = sub.period_key()
        total = self._subscriptions.quote_renew(sub.id, by=sub.payer_id, tax=tax).total
        try:
            purchase = self._subscriptions.renew(sub.id, by=None, tax=tax, period_key=period)
        except InsufficientFunds:
            pass
        else:
            if purchase.applied_now:
                self._notices.renewed(purchase.subscription, purchase, None)
            return
        charge = self._saved_cards.renew(sub.id, period_key=period, chat_id=sub.payer_id)
        self._card_result(sub, charge, total)

    def _resolve(self, sub: Subscription) -> None:
        charge = self._saved_cards.resolve(sub.id)
        self._card_result(sub, charge, charge.order.amount if charge.order else 0)

    def _card_result(self, sub: Subscription, charge: CardCharge, total: int) -> None:
        """Tells the Payer what a card attempt came to; the charger recorded a failure."""
        from billing.orders.checkout import PaymentLink
        from billing.orders.saved_card import CardOutcome

        if charge.outcome is CardOutcome.PAID:
            settlement = charge.settlement
            if settlement is not None and settlement.purchase is not None:
                bought = settlement.purchase
                paid_by = charge.order.method if charge.order is not None else None
                self._notices.renewed(bought.subscription, bought, paid_by)
            return
        if charge.outcome in (CardOutcome.IN_PROGRESS, CardOutcome.MOVED_ON):
            return
        if charge.outcome is CardOutcome.CREDITED:
            # Money moved: the Payer hears where it is, even after expiry.
            self._notices.renewal_failed(sub, Failure.REFUSED, total, None)
            return
        failure = {
            CardOutcome.NO_CARD: Failure.NO_FUNDS,
            CardOutcome.DECLINED: Failure.DECLINED,
            CardOutcome.NEEDS_AUTHENTICATION: Failure.NEEDS_AUTHENTICATION,
        }[charge.outcome]
        pay_url = None
        if failure is Failure.NEEDS_AUTHENTICATION and charge.order is not None:
            # The bank wants the Payer present: the same order, paid on Stripe's page.
            try:
                start = self._checkout.start(charge.order, title=f"{sub.product} renewal")
            except ProviderError as error:  # the Pay button still leads to every method
                logger.warning("no payment page for the renewal", extra={"error": str(error)})
            else:
                pay_url = start.url if isinstance(start, PaymentLink) else None
        self._tell_failure(sub, failure, total, pay_url, None)

    def _failed(
        self,
        sub: Subscription,
        failure: Failure,
        total: int,
        *,
        refusal: BillingError | None = None,
    ) -> None:
        # Marked first: one attempt, and one message, per day however often it is retried.
        self._repository.save(renewal.with_attempt(sub, self._clock.now()), before=sub)
        self._tell_failure(sub, failure, total, None, refusal)

    def _tell_failure(
        self,
        sub: Subscription,
        failure: Failure,
        total: int,
        pay_url: str | None,
        refusal: BillingError | None,
    ) -> None:
        if self._clock.now() >= sub.expires_at:
            return  # an unknown charge resolved after expiry: the expiry notice follows
        self._notices.renewal_failed(sub, failure, total, pay_url, refusal)

    # --- reminders ---------------------------------------------------------------------------

    def _remind(self, sub: Subscription, kind: Reminder) -> None:
        self._repository.save(renewal.with_reminder(sub, kind), before=sub)
        self._notices.reminder(sub, self._facts(sub, kind))

    def _facts(self, sub: Subscription, kind: Reminder) -> ReminderFacts:
        profile = self._profiles.profile(sub.payer_id)
        try:
            total = self._subscriptions.quote_renew(
                sub.id, by=sub.payer_id, tax=tax_profile(profile)
            ).total
        except BillingError:
            return ReminderFacts(kind, 0, Source.NOTHING)
        if self._ledger.wallet(sub.payer_id, sub.currency).can_pay(total):
            source = Source.WALLET
        elif card_for(profile, sub.currency) is not None:
            source = Source.CARD
        else:
            source = Source.NOTHING
        return ReminderFacts(kind, total, source)
