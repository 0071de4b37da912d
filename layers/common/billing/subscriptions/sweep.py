"""The renewal sweep's work on one subscription (SPEC §5.4-§5.5): remind, renew, expire.

Decided from the subscription's current state every time, each step written with a
condition on the version it read, so a duplicate, late or concurrent queue message is
harmless: a reminder is marked before it is sent (at most once per period), a renewal is
keyed by the period it buys (charged and extended once, in one transaction), an expiry is
conditional on the subscription still being active and past its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from billing.accounts.service import ProfileService
from billing.clock import Clock
from billing.domain import renewal
from billing.domain.profile import PaymentMethod, tax_profile
from billing.domain.renewal import Action, Reminder
from billing.domain.subscription import Subscription
from billing.errors import BillingError, InsufficientFunds
from billing.ledger.service import Ledger
from billing.observability import logger
from billing.orders.checkout import Checkout, PaymentLink
from billing.orders.saved_card import CardOutcome, SavedCardCharger
from billing.providers.errors import ProviderError
from billing.store.subscriptions import SubscriptionsRepository
from billing.store.transactions import StaleWrite
from billing.subscriptions.service import Purchase, SubscriptionService

MAX_STEPS = 6  # a message does at most renew + remind + expire; re-reads after a lost race


class Failure(StrEnum):
    NO_FUNDS = "no_funds"
    DECLINED = "declined"
    NEEDS_AUTHENTICATION = "needs_authentication"
    NO_BILLING_COUNTRY = "no_billing_country"


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

    def renewed(self, sub: Subscription, purchase: Purchase, paid_by: str) -> None: ...

    def renewal_failed(
        self, sub: Subscription, failure: Failure, total: int, pay_url: str | None
    ) -> None: ...

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
        propagate, so the queue delivers the message again."""
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
        period = sub.period_key()
        try:
            tax = tax_profile(self._profiles.profile(sub.payer_id))
        except BillingError:
            self._failed(sub, Failure.NO_BILLING_COUNTRY, 0, None)
            return
        total = self._subscriptions.quote_renew(sub.id, by=sub.payer_id, tax=tax).total
        try:
            purchase = self._subscriptions.renew(sub.id, by=None, tax=tax, period_key=period)
        except InsufficientFunds:
            pass
        else:
            if purchase.applied_now:
                self._notices.renewed(purchase.subscription, purchase, "wallet balance")
            return
        charge = self._saved_cards.renew(sub.id, period_key=period, chat_id=sub.payer_id)
        if charge.outcome is CardOutcome.PAID:
            settlement = charge.settlement
            if settlement is not None and settlement.purchase is not None:
                bought = settlement.purchase
                self._notices.renewed(bought.subscription, bought, PaymentMethod.STRIPE_CARD.label)
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
        self._failed(sub, failure, total, pay_url)

    def _failed(self, sub: Subscription, failure: Failure, total: int, pay_url: str | None) -> None:
        # Marked first: one attempt, and one message, per day however often it is retried.
        self._repository.save(
            renewal.with_attempt(sub, self._clock.now()), expected_version=sub.version
        )
        self._notices.renewal_failed(sub, failure, total, pay_url)

    # --- reminders ---------------------------------------------------------------------------

    def _remind(self, sub: Subscription, kind: Reminder) -> None:
        self._repository.save(renewal.with_reminder(sub, kind), expected_version=sub.version)
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
        elif profile.saved_card is not None:
            source = Source.CARD
        else:
            source = Source.NOTHING
        return ReminderFacts(kind, total, source)
