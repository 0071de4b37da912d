"""Charging the saved card off-session for a renewal (SPEC §5.4), never twice for a period.

The card is the one saved for the subscription's currency: a Stripe card for EUR and USD,
a YooKassa one for RUB (`card_for`); orders/card_gateways.py speaks to each provider.
Each attempt has its own order, for that day's quote (a price or tax change after a decline
gets a new order, never a mismatched old one), and its own idempotency key at the provider
(`charge-<order>-<attempt>`): a redelivered queue message replays the provider's answer.

Before Stripe is called, the attempt claims the period: a mark on the subscription written
with its version condition. While the claim stands, a manual renewal of the period is
refused and the sweep starts no other attempt; a renewal priced before the claim fails its
condition. The claim ends with the attempt's outcome: the settle transaction renews the
subscription (a new period, without the claim), or a failed attempt is recorded. When the
outcome never arrived (a timeout, a crash), `resolve` asks the provider what became of that
very attempt before anything else: settled if it succeeded, recorded if it failed, sent
again with the same key if it never reached the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from billing.accounts.service import ProfileService
from billing.clock import Clock
from billing.domain import renewal
from billing.domain.money import format_minor
from billing.domain.profile import CARD_PROVIDERS, card_for, tax_profile
from billing.domain.subscription import Subscription
from billing.errors import InvalidState
from billing.orders.card_gateways import CardGateway, gateway_for
from billing.orders.model import Order, Purpose, expiry_for
from billing.orders.receipts import FiscalReceipts
from billing.orders.service import PaymentService, Settlement
from billing.providers.registry import Providers
from billing.providers.stripe_gateway import OffSessionResult
from billing.subscriptions.service import SubscriptionService


class CardOutcome(StrEnum):
    PAID = "paid"
    DECLINED = "declined"
    NEEDS_AUTHENTICATION = "needs_authentication"
    NO_CARD = "no_card"
    CREDITED = "credited"  # the card paid but the period was not bought: it is on the balance
    IN_PROGRESS = "in_progress"  # another attempt holds the period; its outcome decides
    MOVED_ON = "moved_on"  # the period is no longer the one to buy: nothing was done


@dataclass(frozen=True)
class CardCharge:
    """What an attempt came to. Every failed outcome (declined, authentication, no card,
    credited) has been recorded on the subscription as the period's failed attempt."""

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
        receipts: FiscalReceipts,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._payments = payments
        self._subscriptions = subscriptions
        self._profiles = profiles
        self._providers = providers
        self._receipts = receipts

    def _gateway(self, provider: str) -> CardGateway:
        return gateway_for(provider, self._providers, self._receipts)

    def forget(self, payer_id: int, provider: str = "stripe") -> None:
        """The Payer removes a saved card: let go at its provider (detached at Stripe),
        then forgotten here, so it can never be charged again. A card the provider no
        longer knows is simply forgotten; the provider being unreachable raises
        ProviderUnavailable and nothing changes."""
        profile = self._profiles.profile(payer_id)
        card = next(
            (c for c in (profile.saved_card, profile.partner_card) if c and c.provider == provider),
            None,
        )
        if card is None:
            return
        self._gateway(card.provider).detach(card)
        self._profiles.remove_saved_card(payer_id, card.provider)

    def renew(
        self, subscription_id: str, *, period_key: str, chat_id: int | None = None
    ) -> CardCharge:
        """A new attempt to charge the Payer's saved card for the period `period_key` names
        (the one the sweep decided to renew) and renew it. Raises StaleWrite when the
        subscription changed before the claim (nothing charged: decide again), and
        ProviderUnavailable when Stripe's answer is unknown (the claim stays for
        `resolve`)."""
        sub = self._subscriptions.get_any(subscription_id)
        if period_key != sub.period_key():
            return CardCharge(CardOutcome.MOVED_ON, None)
        if renewal.marks(sub).claim is not None:
            return CardCharge(CardOutcome.IN_PROGRESS, None)
        profile = self._profiles.profile(sub.payer_id)
        card = card_for(profile, sub.currency)
        if card is None or not self._gateway(card.provider).ready(card):
            self._subscriptions.record_failed_attempt(sub)
            return CardCharge(CardOutcome.NO_CARD, None, message="no saved card")
        method = card.method
        quote = self._subscriptions.quote_renew(sub.id, by=sub.payer_id, tax=tax_profile(profile))
        attempt = renewal.next_charge_attempt(sub)
        now = self._clock.now()
        # The card pays the renewal, and the debt first if the wallet has one (a refund or a
        # chargeback): else the payment would only repay the debt, the period would stay
        # unbought, and the next attempt would charge the card for it again.
        wallet = self._payments.wallet(sub.payer_id, quote.currency)
        amount = max(quote.total, wallet.missing_for(quote.total))
        # Opened before the claim, so every check that can refuse the payment comes first.
        # The key finds it again only for this attempt, amount and day: a redelivery whose
        # claim lost a race, never an older or expired order.
        order = self._payments.open_keyed(
            f"renew-{period_key}#{attempt}-{amount}-{now:%Y%m%d}",
            payer_id=sub.payer_id,
            purpose=Purpose.RENEW,
            amount=amount,
            currency=quote.currency,
            method=method,
            chat_id=chat_id,
            # Payable while the period lasts (or the method's usual window, if longer): a
            # charge whose answer was lost may be resolved days later, after an outage, and
            # the bank's authentication page that a failed attempt offers is this order's.
            expires_at=max(sub.expires_at, expiry_for(method, now)),
            details={
                "subscription_id": sub.id,
                "period_key": period_key,
                "total": quote.total,
                "attempt": attempt,
                # A retry with the attempt's key must send exactly what the first try did.
                "card_provider": card.provider,
                # The 54-FZ receipt's contact as it is now: a resend sends the same body.
                "receipt_contact": profile.receipt_contact,
                "customer": card.customer_ref,
                "payment_method": card.provider_ref,
            },
        )
        claimed = self._subscriptions.claim_card_charge(sub, order_id=order.id)
        return self._charge(claimed, order)

    def resolve(self, subscription_id: str) -> CardCharge:
        """Settle or record the claimed attempt whose outcome is unknown, from what the
        provider holds for it; one that never reached it is sent again with its own key,
        unless the card was removed or the subscription has expired meanwhile (then nothing
        is charged). Raises ProviderUnavailable when the provider cannot say."""
        sub = self._subscriptions.get_any(subscription_id)
        claim = renewal.marks(sub).claim
        if claim is None:
            return CardCharge(CardOutcome.MOVED_ON, None)
        order = self._payments.order(claim.order_id)
        if order is None:
            raise InvalidState(f"order {claim.order_id} of the card payment is missing")
        found = self._gateway(_provider_of(order)).find(order)
        if found is not None:
            return self._outcome(sub, order, found)
        card = card_for(self._profiles.profile(sub.payer_id), order.currency)
        if card is None or card.provider_ref != order.details["payment_method"]:
            reason = "the saved card was removed before the payment was sent"
        elif self._clock.now() >= sub.expires_at:
            reason = "the subscription expired before the payment was sent"
        else:
            return self._charge(sub, order)
        self._payments.fail(order.id, reason)
        self._subscriptions.record_failed_attempt(sub)
        return CardCharge(CardOutcome.NO_CARD, order, message=reason)

    def _charge(self, claimed: Subscription, order: Order) -> CardCharge:
        """The claimed attempt's request to its provider: the same key and parameters every
        time it is sent."""
        result = self._gateway(_provider_of(order)).charge(order, claimed.id)
        return self._outcome(claimed, order, result)

    def _outcome(self, claimed: Subscription, order: Order, result: OffSessionResult) -> CardCharge:
        if result.outcome == "succeeded":
            settlement = self._payments.settle(
                order.id,
                amount=order.amount,
                currency=order.currency.value,
                provider=_provider_of(order),
                provider_ref=result.payment_intent_id,
            )
            # Decided from the subscription, not the settlement: the webhook may have
            # settled the payment first (this one is then ALREADY), as a renewal or not.
            current = self._subscriptions.get_any(claimed.id, fresh=True)
            if current.period_key() != claimed.period_key():
                return CardCharge(CardOutcome.PAID, settlement.order or order, settlement)
            self._subscriptions.record_failed_attempt(current)
            paid = format_minor(order.amount, order.currency)
            why = settlement.reason or (settlement.order or order).note or "it could not be applied"
            return CardCharge(
                CardOutcome.CREDITED,
                settlement.order or order,
                settlement,
                message=f"the card payment of {paid} is on your balance instead ({why})",
            )
        self._payments.fail(order.id, result.message)
        self._subscriptions.record_failed_attempt(claimed)
        outcome = (
            CardOutcome.NEEDS_AUTHENTICATION
            if result.outcome == "requires_action"
            else CardOutcome.DECLINED
        )
        return CardCharge(outcome, self._payments.order(order.id), message=result.message)


def _provider_of(order: Order) -> str:
    """Where the attempt's card is kept (orders before cards for Russia: Stripe)."""
    provider = order.details.get("card_provider")
    return str(provider) if provider in CARD_PROVIDERS.values() else "stripe"
