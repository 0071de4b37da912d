"""The providers that keep saved cards, as the off-session renewal needs them (SPEC §5.4).

Stripe keeps the EUR/USD cards, YooKassa the RUB ones (SPEC §7). Each gateway sends one
attempt's charge with a key derived from the order and the attempt (never random), finds
what became of an attempt whose answer was lost, and lets a card go. The charger
(orders/saved_card.py) holds the rules; this module only speaks each provider's language.

An outcome that is not final yet (Stripe's `processing`, YooKassa's `pending`) raises
ProviderUnavailable: the attempt's claim stays, its result arrives by webhook or by the
next `find`.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Protocol

from billing.domain.profile import SavedCard
from billing.orders.model import Order
from billing.orders.receipts import FiscalReceipts
from billing.providers.errors import ProviderRejected, ProviderUnavailable
from billing.providers.registry import Providers
from billing.providers.stripe_gateway import OffSessionOutcome, OffSessionResult

# How far before the order's creation a payment for it may have been created by YooKassa's
# clock (clock skew between us and them).
SKEW = timedelta(minutes=5)


class CardGateway(Protocol):
    provider: str

    def ready(self, card: SavedCard) -> bool:
        """Whether the card can be charged off-session at all."""
        ...

    def charge(self, order: Order, subscription_id: str) -> OffSessionResult: ...

    def find(self, order: Order) -> OffSessionResult | None:
        """The attempt's outcome at the provider, or None when the provider has no charge
        for it (the request never arrived: it may be sent again with its key)."""
        ...

    def detach(self, card: SavedCard) -> None: ...


def attempt_key(order: Order) -> str:
    return f"charge-{order.id}-{order.details['attempt']}"


class StripeCards:
    provider = "stripe"

    def __init__(self, providers: Providers) -> None:
        self._providers = providers

    def ready(self, card: SavedCard) -> bool:
        return card.customer_ref is not None  # off-session charges name the customer

    def charge(self, order: Order, subscription_id: str) -> OffSessionResult:
        attempt = str(order.details["attempt"])
        try:
            return self._providers.stripe.charge_off_session(
                customer=str(order.details["customer"]),
                payment_method=str(order.details["payment_method"]),
                amount=order.amount,
                currency=order.currency.value,
                idempotency_key=attempt_key(order),
                metadata={
                    "order_id": order.id,
                    "subscription_id": subscription_id,
                    "attempt": attempt,
                },
            )
        except ProviderRejected as refused:
            # Refused outright (a card detached at Stripe, a customer gone): nothing was
            # charged, and the same request would be refused again.
            return OffSessionResult("declined", None, refused.message, None)

    def find(self, order: Order) -> OffSessionResult | None:
        return self._providers.stripe.find_off_session_charge(
            customer=str(order.details["customer"]),
            order_id=order.id,
            attempt=int(order.details["attempt"]),
        )

    def detach(self, card: SavedCard) -> None:
        with contextlib.suppress(ProviderRejected):  # detached or deleted at Stripe already
            self._providers.stripe.detach_payment_method(
                card.provider_ref, idempotency_key=f"detach-{card.provider_ref}"
            )


class YooKassaCards:
    provider = "yookassa"

    def __init__(self, providers: Providers, receipts: FiscalReceipts) -> None:
        self._providers = providers
        self._receipts = receipts

    def ready(self, card: SavedCard) -> bool:
        return True

    def charge(self, order: Order, subscription_id: str) -> OffSessionResult:
        description = f"Renewal, order {order.id}"
        contact = order.details.get("receipt_contact")
        amount, currency = order.amount, order.currency.value
        receipt = (
            self._receipts.for_contact(str(contact), description, amount, currency)
            if contact
            else self._receipts.receipt(order.payer_id, description, amount, currency)
        )
        try:
            payment = self._providers.yookassa.create_payment(
                idempotence_key=attempt_key(order),
                amount=amount,
                currency=currency,
                description=description,
                metadata={
                    "order_id": order.id,
                    "subscription_id": subscription_id,
                    "attempt": str(order.details["attempt"]),
                },
                receipt=receipt,
                payment_method_id=str(order.details["payment_method"]),
            )
        except ProviderRejected as refused:
            if "idempotence" in refused.message.lower():
                # The key was used for another body: whatever happened under it is
                # unknown, never a decline (resolve looks the attempt up).
                raise ProviderUnavailable("yookassa", refused.message) from None
            # An unknown or no longer saved method: nothing was charged.
            return OffSessionResult("declined", None, refused.message, None)
        return _result(payment)

    def find(self, order: Order) -> OffSessionResult | None:
        """The attempt's payment among those created since its order (YooKassa has no
        search by metadata, and keeps an Idempotence-Key only 24 hours, so a resend after
        that could charge again: the list is asked, never the key)."""
        attempt = str(order.details["attempt"])
        found = [
            payment
            for payment in self._providers.yookassa.payments_since(order.created_at - SKEW)
            if payment.metadata.get("order_id") == order.id
            and payment.metadata.get("attempt") == attempt
        ]
        if not found:
            return None
        found.sort(key=lambda payment: payment.status != "succeeded")  # money taken first
        return _result(found[0])

    def detach(self, card: SavedCard) -> None:
        """YooKassa's API has no call to delete a saved method: it is simply never named in
        a payment again once forgotten here."""


def _result(payment: object) -> OffSessionResult:
    from billing.providers.yookassa import PROVIDER, YooKassaPayment

    assert isinstance(payment, YooKassaPayment)
    country = payment.payment_method.issuer_country if payment.payment_method else None
    if payment.status == "succeeded" and payment.paid:
        return OffSessionResult("succeeded", payment.id, "succeeded", country)
    if payment.status == "canceled":
        reason = payment.cancellation_reason or "declined"
        outcome: OffSessionOutcome = (
            "requires_action" if reason == "3d_secure_failed" else "declined"
        )
        party = f" by {payment.cancellation_party}" if payment.cancellation_party else ""
        return OffSessionResult(outcome, payment.id, f"canceled{party}: {reason}", country)
    raise ProviderUnavailable(
        PROVIDER,
        f"payment {payment.id} is {payment.status}; its outcome will arrive by notification",
        status=200,
    )


def gateway_for(provider: str, providers: Providers, receipts: FiscalReceipts) -> CardGateway:
    if provider == "yookassa":
        return YooKassaCards(providers, receipts)
    return StripeCards(providers)
