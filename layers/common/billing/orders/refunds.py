"""Support refunds an order through its provider (SPEC §9): the money goes back to the
card or PayPal account, and the wallet is debited in the same breath (even into debt).

The provider's refund id names the ledger entry, so the refund webhook that follows
(charge.refunded, PAYMENT.CAPTURE.REFUNDED) finds it written and changes nothing. The
idempotency key includes what was refunded before, so a repeated request refunds once.
"""

from __future__ import annotations

from billing.domain.money import format_minor
from billing.domain.profile import PaymentMethod
from billing.errors import InvalidAmount, InvalidState, NotAllowed, NotFound
from billing.orders.model import OrderStatus
from billing.orders.service import PaymentService, RefundRecord
from billing.providers.registry import Providers

REFUNDABLE = frozenset({PaymentMethod.STRIPE_CARD, PaymentMethod.PAYPAL})


class Refunds:
    def __init__(self, *, payments: PaymentService, providers: Providers) -> None:
        self._payments = payments
        self._providers = providers

    def refund(self, order_id: str, amount: int) -> RefundRecord:
        order = self._payments.order(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        if order.status is not OrderStatus.PAID or order.provider_ref is None:
            raise InvalidState(f"order {order.id} is {order.status.value}; only paid orders refund")
        if order.method not in REFUNDABLE:
            raise NotAllowed(
                f"{order.method.label} payments are refunded by hand at the provider;"
                " then record it with a balance adjustment"
            )
        left = order.refundable
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= left:
            raise InvalidAmount(
                f"a refund of order {order.id} is from 0.01 to {format_minor(left, order.currency)}"
            )
        key = f"refund-{order.id}-{order.refunded_amount}-{amount}"
        if order.method is PaymentMethod.STRIPE_CARD:
            provider = "stripe"
            refund_id = self._providers.stripe.refund(
                payment_intent_id=order.provider_ref, amount=amount, idempotency_key=key
            )
        else:
            provider = "paypal"
            refund_id = self._providers.paypal.refund_capture(
                order.provider_ref,
                amount=amount,
                currency=order.currency.value,
                request_id=key,
            )
        record = self._payments.record_refund(
            provider=provider,
            provider_ref=order.provider_ref,
            refund_id=refund_id,
            amount=amount,
            currency=order.currency.value,
        )
        if record.movement is None:  # the order changed meanwhile: support was alerted
            raise InvalidState(f"refund {refund_id} was made but not debited ({record.outcome})")
        return record
