"""Charging the saved card off-session for a renewal (SPEC §5.4), exactly once per period.

The order and the Stripe idempotency key are both derived from the period being bought,
so the sweep, a queue redelivery or a retry after a timeout reuse the same order and the
same PaymentIntent: Stripe charges once, and `settle` applies it once. A success extends
the subscription in the same transaction that credits and debits the wallet.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import StrEnum

from billing.accounts.service import ProfileService
from billing.clock import Clock
from billing.domain.profile import PaymentMethod, tax_profile
from billing.errors import InvalidState
from billing.orders.model import Order, OrderStatus, Purpose
from billing.orders.service import Outcome, PaymentService, Settlement
from billing.providers.errors import ProviderRejected
from billing.providers.registry import Providers
from billing.subscriptions.service import SubscriptionService


class CardOutcome(StrEnum):
    PAID = "paid"
    DECLINED = "declined"
    NEEDS_AUTHENTICATION = "needs_authentication"
    NO_CARD = "no_card"


@dataclass(frozen=True)
class CardCharge:
    outcome: CardOutcome
    order: Order | None
    settlement: Settlement | None = None
    message: str = ""


class SavedCardCharger:
    def __init__(
        self,
        *,
        payments: PaymentService,
        subscriptions: SubscriptionService,
        profiles: ProfileService,
        providers: Providers,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._payments = payments
        self._subscriptions = subscriptions
        self._profiles = profiles
        self._providers = providers

    def forget(self, payer_id: int) -> None:
        """The Payer removes the saved card: detached at Stripe, then forgotten here, so it
        can never be charged again. A card Stripe no longer knows is simply forgotten;
        Stripe being unreachable raises ProviderUnavailable and nothing changes."""
        card = self._profiles.profile(payer_id).saved_card
        if card is None:
            return
        with contextlib.suppress(ProviderRejected):  # detached or deleted at Stripe already
            self._providers.stripe.detach_payment_method(
                card.provider_ref, idempotency_key=f"detach-{card.provider_ref}"
            )
        self._profiles.remove_saved_card(payer_id)

    def renew(
        self, subscription_id: str, *, period_key: str, chat_id: int | None = None
    ) -> CardCharge:
        """Charge the Payer's saved card for the period `period_key` names (the one the
        sweep decided to renew) and renew it. When that period was bought meanwhile, the
        charge is not repeated. Raises ProviderUnavailable when Stripe cannot say (retry
        later, same key)."""
        sub = self._subscriptions.get_any(subscription_id)
        if period_key != sub.period_key():
            earlier = self._payments.keyed_order(f"renew-{period_key}")
            if earlier is not None and earlier.status is OrderStatus.PAID:
                return CardCharge(CardOutcome.PAID, earlier)
            raise InvalidState(f"subscription {sub.id} moved on from period {period_key}")
        profile = self._profiles.profile(sub.payer_id)
        card = profile.saved_card
        if card is None or card.customer_ref is None:
            return CardCharge(CardOutcome.NO_CARD, None, message="no saved card")
        quote = self._subscriptions.quote_renew(sub.id, by=sub.payer_id, tax=tax_profile(profile))
        period_key = sub.period_key()
        order = self._payments.open_keyed(
            f"renew-{period_key}",
            payer_id=sub.payer_id,
            purpose=Purpose.RENEW,
            amount=quote.total,
            currency=quote.currency,
            method=PaymentMethod.STRIPE_CARD,
            chat_id=chat_id,
            details={"subscription_id": sub.id, "period_key": period_key, "total": quote.total},
        )
        if order.status is OrderStatus.PAID:
            return CardCharge(CardOutcome.PAID, order)
        if order.amount != quote.total:
            raise InvalidState(f"order {order.id} was opened for another amount")
        # One key per order and day: retries the same day (queue redelivery, a timeout)
        # replay Stripe's answer; the next day's attempt after a decline is a new one.
        result = self._providers.stripe.charge_off_session(
            customer=card.customer_ref,
            payment_method=card.provider_ref,
            amount=order.amount,
            currency=order.currency.value,
            idempotency_key=f"charge-{order.id}-{self._clock.now():%Y%m%d}",
            metadata={"order_id": order.id, "subscription_id": sub.id},
        )
        if result.outcome == "succeeded":
            settlement = self._payments.settle(
                order.id,
                amount=order.amount,
                currency=order.currency.value,
                provider="stripe",
                provider_ref=result.payment_intent_id,
            )
            paid = settlement.outcome in (Outcome.APPLIED, Outcome.ALREADY, Outcome.TOPPED_UP)
            return CardCharge(
                CardOutcome.PAID if paid else CardOutcome.DECLINED,
                settlement.order or order,
                settlement,
                message=settlement.reason or "",
            )
        self._payments.fail(order.id, result.message)
        outcome = (
            CardOutcome.NEEDS_AUTHENTICATION
            if result.outcome == "requires_action"
            else CardOutcome.DECLINED
        )
        return CardCharge(outcome, self._payments.order(order.id), message=result.message)
