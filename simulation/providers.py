"""The payment providers as the simulation sees them: what each one holds (money captured,
refunded, disputed), and the callbacks it owes us, delivered late, twice, out of order or
never. Each is the provider's own record, kept apart from ours: the invariants compare the
two.

The gateways answer the calls the billing code makes (the same method names and result
types as billing.providers.*), with faults injected around the calls that change money:
refused before anything happened, or done at the provider and then lost on the way back
(a timeout), the situation that must never charge twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from billing.clock import Clock
from billing.providers.cryptopay import CryptoPayInvoice
from billing.providers.errors import ProviderUnavailable
from billing.providers.stripe_gateway import OffSessionResult, RefundInfo
from billing.providers.stripe_signature import sign_webhook
from simulation.faults import Faults

STRIPE_SECRET = "whsec_simulation"
CRYPTO_TOKEN = "1:simulation-token"


@dataclass
class Payment:
    """Money a provider took, and what it gave back since."""

    provider: str
    id: str  # the provider's payment id, as our orders record it
    order_id: str
    amount: int
    currency: str
    refunds: dict[str, int] = field(default_factory=dict)  # refund id -> amount
    disputed: dict[str, int] = field(default_factory=dict)  # open or lost disputes
    won: dict[str, int] = field(default_factory=dict)  # disputes the seller won
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def net(self) -> int:
        """What the provider holds of it now."""
        return self.amount - sum(self.refunds.values()) - sum(self.disputed.values())

    @property
    def ever_taken(self) -> int:
        """What refunds and disputes took at some point (a won dispute gave it back later)."""
        return sum(self.refunds.values()) + sum(self.disputed.values()) + sum(self.won.values())


@dataclass(eq=False)  # each copy of a callback is its own delivery
class Delivery:
    provider: str
    headers: dict[str, str]
    body: bytes
    due: datetime
    attempts: int = 0


class Outbox:
    """The callbacks the providers owe us. A delivery is lost, repeated or delayed as the
    faults say; one answered 5xx is tried again later, up to the provider's limit."""

    MAX_ATTEMPTS = 8

    def __init__(self, faults: Faults, clock: Clock) -> None:
        self._faults = faults
        self._clock = clock
        self.pending: list[Delivery] = []

    def send(
        self, provider: str, headers: dict[str, str], body: bytes, *, losable: bool = True
    ) -> None:
        """`losable`: whether the provider can give up on it. Telegram keeps an update until
        it is answered 2xx and offers no list to reconcile with, so its are never lost."""
        copies = max(self._faults.copies_of_callback(), 0 if losable else 1)
        for _ in range(copies):
            delay = self._faults.callback_delay()
            self.pending.append(Delivery(provider, headers, body, self._clock.now() + delay))

    def due(self, rng: random.Random) -> list[Delivery]:
        """The deliveries whose time has come, in a random order (providers do not keep it).
        Stripe signs each attempt with the time it is sent."""
        now = self._clock.now()
        ready = [d for d in self.pending if d.due <= now]
        rng.shuffle(ready)
        for delivery in ready:
            if delivery.provider == "stripe":
                signed = sign_webhook(delivery.body, STRIPE_SECRET, int(now.timestamp()))
                delivery.headers = {"stripe-signature": signed}
        return ready

    def answered(self, delivery: Delivery, status: int) -> None:
        self.pending.remove(delivery)
        if status >= 500 and (
            delivery.attempts + 1 < self.MAX_ATTEMPTS or delivery.provider == "telegram"
        ):
            delivery.attempts += 1
            delivery.due = self._clock.now() + timedelta(minutes=5 * 2**delivery.attempts)
            self.pending.append(delivery)


class SimStripe:
    """Stripe's record and the gateway calls billing makes (StripeGateway's names)."""

    def __init__(self, faults: Faults, clock: Clock, outbox: Outbox) -> None:
        self._faults = faults
        self._clock = clock
        self._outbox = outbox
        self.payments: dict[str, Payment] = {}
        self.events: list[dict[str, Any]] = []
        self._replies: dict[str, OffSessionResult] = {}  # idempotency key -> first answer
        self._seq = 0
        self.cards: dict[str, bool] = {}  # payment method -> declines

    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_{self._seq:06d}"

    # --- what happens at Stripe -------------------------------------------------------------

    def customer_pays(self, order_id: str, amount: int, currency: str) -> Payment:
        """The Payer pays on Stripe's page: captured, and its event owed to us."""
        payment = Payment("stripe", self._next("pi"), order_id, amount, currency)
        payment.metadata = {"order_id": order_id}
        self.payments[payment.id] = payment
        self._emit("payment_intent.succeeded", self._intent(payment))
        return payment

    def refund_at_dashboard(self, payment_id: str, amount: int) -> str | None:
        """Support refunds at Stripe's dashboard (not through the bot)."""
        return self._refund(payment_id, amount)

    def open_dispute(self, payment_id: str) -> str | None:
        payment = self.payments.get(payment_id)
        if payment is None or payment.net <= 0:
            return None
        dispute_id = self._next("dp")
        payment.disputed[dispute_id] = payment.net
        self._emit("charge.dispute.created", self._dispute(payment, dispute_id, "needs_response"))
        return dispute_id

    def win_dispute(self, payment_id: str) -> None:
        payment = self.payments.get(payment_id)
        if payment is None or not payment.disputed:
            return
        dispute_id, amount = next(iter(payment.disputed.items()))
        del payment.disputed[dispute_id]
        payment.won[dispute_id] = amount
        event = self._dispute(payment, dispute_id, "won", amount)
        self._emit("charge.dispute.funds_reinstated", event)
        self._emit("charge.dispute.closed", event)

    # --- the gateway (billing.providers.stripe_gateway.StripeGateway) ------------------------

    def charge_off_session(
        self,
        *,
        customer: str,
        payment_method: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> OffSessionResult:
        if idempotency_key in self._replies:  # Stripe replays its first answer
            return self._replies[idempotency_key]
        if self._faults.outside_call_fails("stripe.charge"):
            raise ProviderUnavailable("stripe", "simulated: no answer, nothing charged")
        if self.cards.get(payment_method, False):
            result = OffSessionResult("declined", self._next("pi"), "card declined", "US")
        else:
            payment = Payment(
                "stripe", self._next("pi"), str(metadata.get("order_id")), amount, currency
            )
            payment.metadata = dict(metadata)
            self.payments[payment.id] = payment
            self._emit("payment_intent.succeeded", self._intent(payment))
            result = OffSessionResult("succeeded", payment.id, "", "US")
        self._replies[idempotency_key] = result
        if self._faults.outside_call_lost("stripe.charge"):
            raise ProviderUnavailable("stripe", "simulated: charged, the answer was lost")
        return result

    def find_off_session_charge(self, *, customer: str, order_id: str, attempt: int) -> Any:
        for payment in self.payments.values():
            meta = payment.metadata
            if meta.get("order_id") == order_id and meta.get("attempt", str(attempt)) == str(
                attempt
            ):
                return OffSessionResult("succeeded", payment.id, "", "US")
        return None

    def refund(self, *, payment_intent_id: str, amount: int, idempotency_key: str) -> str:
        if idempotency_key in self._replies:
            return str(self._replies[idempotency_key].payment_intent_id)
        if self._faults.outside_call_fails("stripe.refund"):
            raise ProviderUnavailable("stripe", "simulated: no answer, nothing refunded")
        refund_id = self._refund(payment_intent_id, amount)
        if refund_id is None:
            from billing.providers.errors import ProviderRejected

            raise ProviderRejected(
                "stripe", "simulated: nothing left to refund", status=400, name="invalid_request"
            )
        self._replies[idempotency_key] = OffSessionResult("succeeded", refund_id, "", None)
        if self._faults.outside_call_lost("stripe.refund"):
            raise ProviderUnavailable("stripe", "simulated: refunded, the answer was lost")
        return refund_id

    def refunds_of(self, payment_intent_id: str) -> list[RefundInfo]:
        payment = self.payments.get(payment_intent_id)
        if payment is None:
            return []
        return [
            RefundInfo(rid, amount, payment.currency, "succeeded", payment.id)
            for rid, amount in payment.refunds.items()
        ]

    def events_since(self, created_from: int, *, limit: int = 1_000) -> list[dict[str, Any]]:
        return [e for e in self.events if int(e["created"]) >= created_from][-limit:]

    def card_details(self, payment_method: str) -> Any:
        from billing.providers.stripe_gateway import CardDetails

        return CardDetails("visa", "4242", 12, 2034, "US", payment_method)

    # --- internals ------------------------------------------------------------------------

    def _refund(self, payment_id: str, amount: int) -> str | None:
        payment = self.payments.get(payment_id)
        if payment is None:
            return None
        amount = min(amount, payment.net)
        if amount <= 0:
            return None
        refund_id = self._next("re")
        payment.refunds[refund_id] = amount
        charge = {
            "id": f"ch_{payment.id}",
            "object": "charge",
            "payment_intent": payment.id,
            "currency": payment.currency.lower(),
            "amount": payment.amount,
            "amount_refunded": sum(payment.refunds.values()),
        }
        self._emit("charge.refunded", charge)
        return refund_id

    def _intent(self, payment: Payment) -> dict[str, Any]:
        return {
            "id": payment.id,
            "object": "payment_intent",
            "amount": payment.amount,
            "amount_received": payment.amount,
            "currency": payment.currency.lower(),
            "status": "succeeded",
            "metadata": dict(payment.metadata),
        }

    def _dispute(
        self, payment: Payment, dispute_id: str, status: str, amount: int | None = None
    ) -> dict[str, Any]:
        return {
            "id": dispute_id,
            "object": "dispute",
            "payment_intent": payment.id,
            "amount": amount if amount is not None else payment.disputed[dispute_id],
            "currency": payment.currency.lower(),
            "status": status,
        }

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        now = int(self._clock.now().timestamp())
        event = {
            "id": self._next("evt"),
            "object": "event",
            "type": kind,
            "created": now,
            "data": {"object": obj},
        }
        self.events.append(event)
        self._outbox.send("stripe", {}, json.dumps(event).encode())  # signed when sent


class SimCryptoPay:
    """Crypto Pay's record and the client calls billing makes (CryptoPayClient's names)."""

    def __init__(self, clock: Clock, outbox: Outbox) -> None:
        self._clock = clock
        self._outbox = outbox
        self.payments: dict[str, Payment] = {}
        self._invoices: list[CryptoPayInvoice] = []
        self._seq = 0

    def customer_pays(self, order_id: str, amount: int, currency: str) -> Payment:
        self._seq += 1
        invoice_id = self._seq
        paid_at = self._clock.now().isoformat()
        invoice = CryptoPayInvoice(
            invoice_id, "paid", order_id, amount, currency, None, paid_at, "USDT", "1"
        )
        self._invoices.insert(0, invoice)  # newest first, as getInvoices answers
        payment = Payment("cryptopay", f"crypto-{invoice_id}", order_id, amount, currency)
        self.payments[payment.id] = payment
        update = {
            "update_id": invoice_id,
            "update_type": "invoice_paid",
            "request_date": paid_at,
            "payload": {
                "invoice_id": invoice_id,
                "status": "paid",
                "currency_type": "fiat",
                "fiat": currency,
                "amount": f"{amount // 100}.{amount % 100:02d}",
                "payload": order_id,
                "paid_at": paid_at,
                "paid_asset": "USDT",
                "paid_amount": "1",
            },
        }
        body = json.dumps(update).encode()
        key = hashlib.sha256(CRYPTO_TOKEN.encode()).digest()
        headers = {"crypto-pay-api-signature": hmac.new(key, body, hashlib.sha256).hexdigest()}
        self._outbox.send("cryptopay", headers, body)
        return payment

    def paid_invoices(self, *, count: int = 100, offset: int = 0) -> list[CryptoPayInvoice]:
        return self._invoices[offset : offset + count]


class SimProviders:
    """Stands where billing.providers.registry.Providers does."""

    def __init__(self, stripe: SimStripe, cryptopay: SimCryptoPay) -> None:
        self.stripe = stripe
        self.cryptopay = cryptopay

    def stripe_webhook_secret(self) -> str:
        return STRIPE_SECRET

    def cryptopay_token(self) -> str:
        return CRYPTO_TOKEN

    @property
    def paypal(self) -> Any:
        raise AssertionError("the simulation has no PayPal orders")
