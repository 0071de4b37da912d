"""Support refunds an order through its provider (SPEC §9): the money goes back to the
card, PayPal account or Stars balance, and the wallet is debited in the same breath (even
into debt).

The provider's refund id names the ledger entry, so the refund webhook that follows
(charge.refunded, PAYMENT.CAPTURE.REFUNDED, YooKassa's refund.succeeded) finds it written
and changes nothing. The idempotency key includes what was refunded before, so a repeated
request refunds once. Telegram refunds a Stars payment whole and gives the refund no id:
it is recorded under the charge's (providers/stars.py), and a refund Telegram had made
already (our write lost after its call) is recorded now, once.
"""

from __future__ import annotations

from billing.domain.money import format_minor
from billing.domain.profile import PaymentMethod
from billing.errors import InvalidAmount, InvalidState, NotAllowed, NotFound
from billing.orders.model import Order, OrderStatus
from billing.orders.receipts import FiscalReceipts
from billing.orders.service import PaymentService, RefundRecord
from billing.providers.registry import Providers

REFUNDABLE = frozenset(
    {
        PaymentMethod.STRIPE_CARD,
        PaymentMethod.PAYPAL,
        PaymentMethod.PARTNER_CARD,
        PaymentMethod.STARS,
    }
)


class Refunds:
    def __init__(
        self, *, payments: PaymentService, providers: Providers, receipts: FiscalReceipts
    ) -> None:
        self._payments = payments
        self._providers = providers
        self._receipts = receipts

    def refund(self, order_id: str, amount: int, *, request: str | None = None) -> RefundRecord:
        """`request` names support's refund action (one question in the admin screen): the
        provider's idempotency key is made from it, so repeating the request after a lost
        answer finds the same refund even when its webhook was recorded meanwhile."""
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
        made = f"r{request}" if request else str(order.refunded_amount)
        key = f"refund-{order.id}-{made}-{amount}"
        provider_ref = order.provider_ref
        match order.method:
            case PaymentMethod.STRIPE_CARD:
                provider = "stripe"
                refund_id = self._providers.stripe.refund(
                    payment_intent_id=provider_ref, amount=amount, idempotency_key=key
                )
            case PaymentMethod.PAYPAL:
                provider = "paypal"
                refund_id = self._providers.paypal.refund_capture(
                    provider_ref, amount=amount, currency=order.currency.value, request_id=key
                )
            case PaymentMethod.PARTNER_CARD:
                provider = "yookassa"
                refund_id = self._yookassa_refund(order, provider_ref, amount, key)
            case _:
                provider = "stars"
                refund_id = self._stars_refund(order.payer_id, provider_ref, amount, order)
        record = self._payments.record_refund(
            provider=provider,
            provider_ref=provider_ref,
            refund_id=refund_id,
            amount=amount,
            currency=order.currency.value,
        )
        if record.movement is None:  # the order changed meanwhile: support was alerted
            raise InvalidState(f"refund {refund_id} was made but not debited ({record.outcome})")
        return record

    def _yookassa_refund(self, order: Order, payment_id: str, amount: int, key: str) -> str:
        """YooKassa may cancel a refund (its balance too low, some SBP refunds): then
        nothing is debited. A pending one is debited now; if YooKassa cancels it later,
        reconciliation gives it back (ProviderWebhooks.apply_yookassa_refund)."""
        # 54-FZ: the refund receipt repeats the item the payment's receipt named.
        title = str(order.details.get("title") or f"Order {order.id}")
        refund = self._providers.yookassa.create_refund(
            idempotence_key=key,
            payment_id=payment_id,
            amount=amount,
            currency=order.currency.value,
            receipt=self._receipts.receipt(order.payer_id, title, amount, order.currency.value),
        )
        if refund.status == "canceled":
            raise InvalidState(
                f"YooKassa canceled refund {refund.id}"
                f" ({refund.cancellation_reason or 'no reason given'}); nothing was debited",
                reason="refund_canceled",
            )
        return refund.id

    def _stars_refund(self, payer_id: int, charge_id: str, amount: int, order: Order) -> str:
        from billing.providers.stars import refund_id

        if amount != order.refundable or order.refunded_amount:
            raise InvalidAmount(
                f"Telegram refunds a Stars payment whole: order {order.id} refunds"
                f" {format_minor(order.refundable, order.currency)} or nothing",
                reason="stars_whole",
                amount=format_minor(order.refundable, order.currency),
            )
        self._providers.stars.refund(user_id=payer_id, charge_id=charge_id)
        return refund_id(charge_id)
