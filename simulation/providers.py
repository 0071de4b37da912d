"""The payment providers as the simulation sees them: what each one holds (money captured,
refunded, disputed), and the callbacks it owes us, delivered late, twice, out of order or
never. Each is the provider's own record, kept apart from ours: the invariants compare the
two.

The gateways answer the calls the billing code makes (the same method names and result
types as billing.providers.*), with faults injected around the calls that change money:
refused before anything happened, or done at the provider and then lost on the way back
(a timeout), the situation that must never charge twice.

Stripe, Crypto Pay, YooKassa (cards for Russia, RUB: payment pages, saved cards charged
off-session, possibly `pending` first; unsigned notifications from its networks, and now
and then a forged one) and Telegram Stars (the bot's Star transactions; payments arrive as
successful_payment updates, refunds are of whole payments).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.clock import Clock
from billing.config import Settings
from billing.providers.cryptopay import CryptoPayInvoice
from billing.providers.errors import ProviderRejected, ProviderUnavailable
from billing.providers.stars import StarTransaction, refund_id
from billing.providers.stripe_gateway import OffSessionResult, RefundInfo
from billing.providers.stripe_signature import sign_webhook
from billing.providers.yookassa import SavedMethod, YooKassaPayment, YooKassaRefund, amount_text
from simulation.faults import Faults

STRIPE_SECRET = "whsec_simulation"
CRYPTO_TOKEN = "1:simulation-token"
YOOKASSA_SECRET = "yk-simulation-path-secret"
# YooKassa posts from its published networks (the settings' default list) ...
YOOKASSA_NETWORKS = Settings().yookassa_networks
YOOKASSA_SOURCES = ("185.71.76.10", "185.71.77.3", "77.75.153.100", "77.75.156.11", "2a02:5180::42")
# ... and a forger from anywhere else, some of it just outside those networks.
FORGED_SOURCES = ("203.0.113.7", "185.71.76.40", "77.75.156.12", "77.75.154.127", "2a02:5181::1")
IDEMPOTENCE_WINDOW = timedelta(hours=24)  # how long YooKassa keeps an Idempotence-Key
PAGE_CONFIRMATION = timedelta(hours=1)  # an unpaid payment page is canceled after this


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
    taken_at: datetime | None = None  # when the provider took it: no credit may be older

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
    source_ip: str | None = None  # the sender's address as API Gateway sees it (YooKassa)
    path_secret: str | None = None  # the secret segment of the URL it is posted to


class Outbox:
    """The callbacks the providers owe us. A delivery is lost, repeated or delayed as the
    faults say; one answered 5xx is tried again later, up to the provider's limit."""

    MAX_ATTEMPTS = 8

    def __init__(self, faults: Faults, clock: Clock) -> None:
        self._faults = faults
        self._clock = clock
        self.pending: list[Delivery] = []

    def send(
        self,
        provider: str,
        headers: dict[str, str],
        body: bytes,
        *,
        losable: bool = True,
        source_ip: str | None = None,
        path_secret: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """`losable`: whether the provider can give up on it. Telegram keeps an update until
        it is answered 2xx and offers no list to reconcile with, so its are never lost.
        `at`: when the provider sends it (by default now)."""
        copies = max(self._faults.copies_of_callback(), 0 if losable else 1)
        sent = at or self._clock.now()
        for _ in range(copies):
            delay = self._faults.callback_delay()
            self.pending.append(
                Delivery(
                    provider,
                    headers,
                    body,
                    sent + delay,
                    source_ip=source_ip,
                    path_secret=path_secret,
                )
            )

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
        payment.taken_at = self._clock.now()
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
            payment.taken_at = self._clock.now()
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
        payment.taken_at = self._clock.now()
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


class SimYooKassa:
    """YooKassa's record and the client calls billing makes (YooKassaClient's names and
    result types). The shop takes RUB only, and every payment and refund must carry its
    54-FZ receipt: a request without one, or in another currency, is refused as YooKassa
    refuses it and noted as a misuse (our code must never send one).

    - Idempotence-Key: within 24 hours the same key and request answer the first answer
      (an error included); the same key with another request is refused. A request refused
      before it arrived keeps nothing, so its retry is processed.
    - A payment page (create_payment with return_url) stays pending until the Payer pays or
      the bank declines on it, or is canceled an hour later unpaid. An off-session charge of
      a saved method succeeds, is canceled at once (a card that declines), or answers
      `pending` and is decided later. Each outcome is notified (late, twice or never, as the
      Outbox's faults say) from an address inside YooKassa's networks.
    """

    def __init__(self, faults: Faults, clock: Clock, outbox: Outbox, misuse: list[str]) -> None:
        self._faults = faults
        self._clock = clock
        self._outbox = outbox
        self._misuse = misuse
        self.payments: dict[str, Payment] = {}  # the succeeded ones: money taken
        self.cards: dict[str, _SavedAtYooKassa] = {}  # payment_method.id -> the saved method
        self._all: dict[str, _YooKassaPayment] = {}  # every payment, in creation order
        self._refunds: dict[str, tuple[datetime, YooKassaRefund]] = {}
        self._replies: dict[str, _Kept] = {}  # Idempotence-Key -> first answer
        self._later: list[tuple[datetime, int, str, str, tuple[str, str] | None]] = []
        self._seq = 0
        self._sent = 0

    def _next(self, kind: str) -> str:
        """YooKassa-looking ids ("000f" payments and methods, "0015" refunds)."""
        self._seq += 1
        return f"{self._seq:08x}-{kind}-5000-8000-{self._seq:012x}"

    # --- what happens at YooKassa ---------------------------------------------------------

    def customer_pays(
        self, payment_id: str, *, declines: bool = False, card_declines_later: bool = False
    ) -> Payment | None:
        """The Payer pays on the payment page (or the bank declines the card there). A card
        the page was asked to save is saved; `card_declines_later`: its off-session charges
        will be declined."""
        self.advance()
        payment = self._all.get(payment_id)
        if payment is None or not payment.redirect or payment.status != "pending":
            return None
        now = self._clock.now()
        if declines:
            self._decide(payment, "canceled", ("payment_network", "insufficient_funds"), now)
            return None
        payment.method = _card_method(payment.id, saved=payment.save, seq=self._seq)
        if payment.save:
            self.cards[payment.id] = _SavedAtYooKassa(payment.method, card_declines_later)
        return self._decide(payment, "succeeded", None, now)

    def saved_method(self, *, declines: bool) -> str:
        """A card saved by an earlier payment; its payment_method.id."""
        method_id = self._next("000f")
        self.cards[method_id] = _SavedAtYooKassa(
            _card_method(method_id, saved=True, seq=self._seq), declines
        )
        return method_id

    def refund_at_dashboard(self, payment_id: str, amount: int) -> str | None:
        """Someone refunds in YooKassa's merchant dashboard: only the notification (or the
        list) tells us."""
        self.advance()
        payment = self._all.get(payment_id)
        if payment is None or payment.status != "succeeded":
            return None
        amount = min(amount, payment.amount - payment.refunded)
        if amount <= 0:
            return None
        return self._refund(payment, amount, self._clock.now()).id

    def advance(self) -> None:
        """What YooKassa decided by now: pending charges and unpaid pages, at their time."""
        now = self._clock.now()
        due = sorted(item for item in self._later if item[0] <= now)
        if not due:
            return
        self._later = [item for item in self._later if item[0] > now]
        for when, _seq, payment_id, status, cancellation in due:
            payment = self._all[payment_id]
            if payment.status == "pending":
                self._decide(payment, status, cancellation, when)

    def scheduled(self) -> list[datetime]:
        """When the payments still pending will be decided."""
        return [item[0] for item in self._later if self._all[item[2]].status == "pending"]

    def forge(self, rng: random.Random) -> Forgery:
        """A notification YooKassa never sent, as a forger would write it: "succeeded" for
        a payment that is not (a page left unpaid or declined), with its order and exact
        amount. Sent from outside YooKassa's networks, to a wrong secret, or (as if both
        had leaked) with a body that disagrees with YooKassa's record: its status, its
        amount, a payment or refund it never made."""
        self.advance()
        payments = list(self._all.values())
        unpaid = [p for p in payments if p.status in ("pending", "canceled")]
        paid = [p for p in payments if p.status == "succeeded"]
        kind = rng.choice(
            [
                "outside the allow-list",
                "wrong path secret",
                "status disagrees",
                "amount disagrees",
                "unknown payment",
                "refund never made",
            ]
        )
        if (kind == "status disagrees" and not unpaid) or (
            kind in ("amount disagrees", "refund never made") and not paid
        ):
            kind = "unknown payment"
        pool = paid if kind in ("amount disagrees", "refund never made") else unpaid or payments
        target = rng.choice(pool) if pool else None
        order_id = target.metadata.get("order_id") if target is not None else None
        now = _iso(self._clock.now())
        event = "payment.succeeded"
        obj: dict[str, Any]
        if target is None:
            obj = {"id": _forged_id(rng, "000f"), "status": "succeeded", "paid": True}
            obj |= {"amount": _money(10_000, "RUB"), "created_at": now, "test": False}
        elif kind == "refund never made":
            event = "refund.succeeded"
            obj = {"id": _forged_id(rng, "0015"), "payment_id": target.id, "status": "succeeded"}
            obj |= {"amount": _money(target.amount, target.currency), "created_at": now}
        else:
            obj = {**self._json(target), "status": "succeeded", "paid": True}
            obj.pop("cancellation_details", None)
            if kind == "unknown payment":
                obj["id"] = _forged_id(rng, "000f")
            elif kind == "amount disagrees":
                obj["amount"] = _money(target.amount * rng.choice([10, 100]), target.currency)
        body = json.dumps({"type": "notification", "event": event, "object": obj}).encode()
        source, secret = rng.choice(YOOKASSA_SOURCES), YOOKASSA_SECRET
        if kind == "outside the allow-list":
            source = rng.choice(FORGED_SOURCES)
        elif kind == "wrong path secret":
            secret = rng.choice(["", "yk-guess", YOOKASSA_SECRET + "x", YOOKASSA_SECRET.upper()])
        # What the re-fetch finds may rightly be applied when YooKassa's own notification
        # of it was lost: a succeeded payment, or a canceled one its order still waits on.
        fetched_applies = kind == "amount disagrees" or (
            kind == "status disagrees" and target is not None and target.status == "canceled"
        )
        return Forgery(
            kind=kind,
            body=body,
            source_ip=source,
            path_secret=secret,
            authentic=kind not in ("outside the allow-list", "wrong path secret"),
            harmless=not fetched_applies,
            order_id=order_id,
        )

    # --- the client (billing.providers.yookassa.YooKassaClient) -------------------------------

    def create_payment(
        self,
        *,
        idempotence_key: str,
        amount: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
        receipt: Mapping[str, Any],
        return_url: str | None = None,
        save_payment_method: bool = False,
        payment_method_id: str | None = None,
    ) -> YooKassaPayment:
        self.advance()
        call = "yookassa.payment" if payment_method_id is None else "yookassa.charge"
        request = _fingerprint(
            "POST /v3/payments",
            amount=amount,
            currency=currency,
            description=description,
            metadata=dict(metadata),
            receipt=receipt,
            return_url=return_url,
            save_payment_method=save_payment_method,
            payment_method_id=payment_method_id,
        )
        kept = self._replayed(idempotence_key, request)
        if isinstance(kept, YooKassaPayment):
            return kept
        if self._faults.outside_call_fails(call):
            raise ProviderUnavailable("yookassa", "simulated: no answer, nothing created")
        try:
            self._check_request(amount, currency, receipt, f"payment ({description})")
            if payment_method_id is None:
                answer = self._page(amount, currency, metadata, save_payment_method)
            else:
                answer = self._off_session(amount, currency, metadata, payment_method_id)
        except ProviderRejected as refused:
            self._replies[idempotence_key] = _Kept(self._clock.now(), request, refused.message)
            raise
        self._replies[idempotence_key] = _Kept(self._clock.now(), request, answer)
        if self._faults.outside_call_lost(call):
            raise ProviderUnavailable("yookassa", "simulated: created, the answer was lost")
        return answer

    def payment(self, payment_id: str) -> YooKassaPayment | None:
        self._read("yookassa.read")
        payment = self._all.get(payment_id)
        return self._view(payment) if payment is not None else None

    def payments_since(
        self, created_gte: datetime, *, status: str | None = None, limit: int = 100
    ) -> list[YooKassaPayment]:
        self._read("yookassa.list")
        return [
            self._view(payment)
            for payment in reversed(self._all.values())  # newest first
            if payment.created_at >= created_gte and status in (None, payment.status)
        ]

    def create_refund(
        self,
        *,
        idempotence_key: str,
        payment_id: str,
        amount: int,
        currency: str,
        receipt: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> YooKassaRefund:
        self.advance()
        request = _fingerprint(
            "POST /v3/refunds",
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            receipt=receipt,
            description=description,
        )
        kept = self._replayed(idempotence_key, request)
        if isinstance(kept, YooKassaRefund):
            return kept
        if self._faults.outside_call_fails("yookassa.refund"):
            raise ProviderUnavailable("yookassa", "simulated: no answer, nothing refunded")
        try:
            self._check_request(amount, currency, receipt or {}, f"refund of {payment_id}")
            payment = self._refundable(payment_id, amount, currency)
        except ProviderRejected as refused:
            self._replies[idempotence_key] = _Kept(self._clock.now(), request, refused.message)
            raise
        refund = self._refund(payment, amount, self._clock.now())
        self._replies[idempotence_key] = _Kept(self._clock.now(), request, refund)
        if self._faults.outside_call_lost("yookassa.refund"):
            raise ProviderUnavailable("yookassa", "simulated: refunded, the answer was lost")
        return refund

    def refund(self, refund_id: str) -> YooKassaRefund | None:
        self._read("yookassa.read")
        kept = self._refunds.get(refund_id)
        return kept[1] if kept is not None else None

    def refunds_since(
        self,
        created_gte: datetime,
        *,
        status: str | None = None,
        payment_id: str | None = None,
        limit: int = 100,
    ) -> list[YooKassaRefund]:
        self._read("yookassa.list")
        return [
            refund
            for created, refund in reversed(self._refunds.values())
            if created >= created_gte
            and status in (None, refund.status)
            and payment_id in (None, refund.payment_id)
        ]

    # --- internals ------------------------------------------------------------------------

    def _read(self, call: str) -> None:
        self.advance()
        if self._faults.outside_call_fails(call):
            raise ProviderUnavailable("yookassa", "simulated: no answer")

    def _replayed(self, key: str, request: str) -> YooKassaPayment | YooKassaRefund | None:
        """The first answer to this key, if YooKassa still keeps it (raised if it was an
        error); None when the request is new to it."""
        kept = self._replies.get(key)
        if kept is None or self._clock.now() - kept.at >= IDEMPOTENCE_WINDOW:
            return None
        if kept.request != request:
            self._faults.injected["yookassa: idempotence key duplicated"] += 1
            raise ProviderRejected(
                "yookassa", "Idempotence key duplicated", status=400, name="invalid_request"
            )
        if isinstance(kept.answer, str):
            raise ProviderRejected("yookassa", kept.answer, status=400, name="invalid_request")
        return kept.answer

    def _check_request(
        self, amount: int, currency: str, receipt: Mapping[str, Any], what: str
    ) -> None:
        """What YooKassa refuses of a shop working under 54-FZ in RUB."""
        problem = None
        customer = receipt.get("customer") if isinstance(receipt, Mapping) else None
        items = receipt.get("items") if isinstance(receipt, Mapping) else None
        if currency != "RUB":
            problem = f"{currency}: the shop takes RUB only"
        elif not isinstance(customer, Mapping) or not (
            customer.get("email") or customer.get("phone")
        ):
            problem = "no receipt, or a receipt without the Payer's e-mail or phone"
        elif not isinstance(items, list) or _receipt_total(items, currency) != amount:
            problem = f"the receipt's items do not add up to {amount_text(amount, currency)}"
        if problem is not None:
            self._misuse.append(f"YooKassa refused a {what}: {problem}")
            raise ProviderRejected("yookassa", problem, status=400, name="invalid_request")

    def _page(
        self, amount: int, currency: str, metadata: Mapping[str, str], save: bool
    ) -> YooKassaPayment:
        now = self._clock.now()
        payment = _YooKassaPayment(self._next("000f"), amount, currency, dict(metadata), now)
        payment.redirect, payment.save = True, save
        self._all[payment.id] = payment
        cancel = ("yoo_money", "expired_on_confirmation")
        self._later.append((now + PAGE_CONFIRMATION, self._seq, payment.id, "canceled", cancel))
        return self._view(payment)

    def _off_session(
        self, amount: int, currency: str, metadata: Mapping[str, str], method_id: str
    ) -> YooKassaPayment:
        card = self.cards.get(method_id)
        if card is None:
            self._misuse.append(f"YooKassa was asked to charge {method_id}, which it never saved")
            raise ProviderRejected(
                "yookassa",
                "Payment method doesn't exist, isn't saved or is inaccessible",
                status=400,
                name="invalid_request",
            )
        now = self._clock.now()
        payment = _YooKassaPayment(self._next("000f"), amount, currency, dict(metadata), now)
        payment.method = card.method
        self._all[payment.id] = payment
        if card.declines:
            reason = self._faults.rng.choice(["insufficient_funds", "card_expired", "call_issuer"])
            self._decide(payment, "canceled", ("payment_network", reason), now)
        elif self._faults.charge_pending("yookassa.charge"):
            rng = self._faults.rng
            when = now + timedelta(minutes=rng.randint(1, 180))
            if rng.random() < 0.85:
                self._later.append((when, self._seq, payment.id, "succeeded", None))
            else:
                cancel = ("payment_network", rng.choice(["issuer_unavailable", "3d_secure_failed"]))
                self._later.append((when, self._seq, payment.id, "canceled", cancel))
        else:
            self._decide(payment, "succeeded", None, now)
        return self._view(payment)

    def _refundable(self, payment_id: str, amount: int, currency: str) -> _YooKassaPayment:
        payment = self._all.get(payment_id)
        if payment is None or payment.status != "succeeded" or payment.currency != currency:
            self._misuse.append(
                f"YooKassa was asked to refund {payment_id} in {currency}: no such paid payment"
            )
            raise ProviderRejected(
                "yookassa", "the payment is not succeeded", status=400, name="invalid_request"
            )
        if amount > payment.amount - payment.refunded:
            raise ProviderRejected(
                "yookassa",
                "the refund exceeds what is left of the payment",
                status=400,
                name="invalid_request",
            )
        return payment

    def _decide(
        self,
        payment: _YooKassaPayment,
        status: str,
        cancellation: tuple[str, str] | None,
        when: datetime,
    ) -> Payment | None:
        payment.status, payment.cancellation = status, cancellation
        taken = None
        if status == "succeeded":
            taken = Payment(
                "yookassa",
                payment.id,
                payment.metadata.get("order_id", ""),
                payment.amount,
                payment.currency,
            )
            taken.metadata = dict(payment.metadata)
            taken.taken_at = when
            self.payments[payment.id] = taken
        self._notify(f"payment.{status}", self._json(payment), when)
        return taken

    def _refund(self, payment: _YooKassaPayment, amount: int, now: datetime) -> YooKassaRefund:
        refund = YooKassaRefund(
            self._next("0015"), payment.id, "succeeded", amount, payment.currency, _iso(now), None
        )
        payment.refunded += amount
        self.payments[payment.id].refunds[refund.id] = amount
        self._refunds[refund.id] = (now, refund)
        obj = {
            "id": refund.id,
            "payment_id": payment.id,
            "status": refund.status,
            "amount": _money(amount, payment.currency),
            "created_at": refund.created_at,
        }
        self._notify("refund.succeeded", obj, now)
        return refund

    def _notify(self, event: str, obj: dict[str, Any], when: datetime) -> None:
        body = json.dumps({"type": "notification", "event": event, "object": obj}).encode()
        source = YOOKASSA_SOURCES[self._sent % len(YOOKASSA_SOURCES)]
        self._sent += 1
        self._outbox.send(
            "yookassa", {}, body, source_ip=source, path_secret=YOOKASSA_SECRET, at=when
        )

    def _view(self, payment: _YooKassaPayment) -> YooKassaPayment:
        party, reason = payment.cancellation or (None, None)
        url = f"https://yoomoney.ru/checkout/payments/v2/contract?orderId={payment.id}"
        return YooKassaPayment(
            id=payment.id,
            status=payment.status,
            paid=payment.status == "succeeded",
            amount=payment.amount,
            currency=payment.currency,
            metadata=dict(payment.metadata),
            confirmation_url=url if payment.redirect else None,
            payment_method=payment.method,
            cancellation_reason=reason,
            cancellation_party=party,
            created_at=_iso(payment.created_at),
            test=False,
            refunded_amount=payment.refunded,
        )

    def _json(self, payment: _YooKassaPayment) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": payment.id,
            "status": payment.status,
            "paid": payment.status == "succeeded",
            "amount": _money(payment.amount, payment.currency),
            "metadata": dict(payment.metadata),
            "created_at": _iso(payment.created_at),
            "test": False,
        }
        if payment.cancellation is not None:
            party, reason = payment.cancellation
            obj["cancellation_details"] = {"party": party, "reason": reason}
        return obj


@dataclass
class _YooKassaPayment:
    """A payment as YooKassa keeps it, whatever its status."""

    id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    created_at: datetime
    status: str = "pending"
    method: SavedMethod | None = None
    redirect: bool = False  # a payment page (else an off-session charge)
    save: bool = False  # the page was asked to save the card
    cancellation: tuple[str, str] | None = None  # (party, reason)
    refunded: int = 0


@dataclass(frozen=True)
class _SavedAtYooKassa:
    method: SavedMethod
    declines: bool  # its off-session charges are declined


@dataclass(frozen=True)
class _Kept:
    at: datetime
    request: str
    answer: YooKassaPayment | YooKassaRefund | str  # str: the error it was refused with


@dataclass(frozen=True)
class Forgery:
    """A notification YooKassa never sent."""

    kind: str
    body: bytes
    source_ip: str
    path_secret: str
    authentic: bool  # passes the sender checks: only the re-fetch stands in its way
    harmless: bool  # handling it must change nothing at all
    order_id: str | None  # the order its body names


def _card_method(method_id: str, *, saved: bool, seq: int) -> SavedMethod:
    last4 = f"{seq % 10_000:04d}"
    return SavedMethod(
        id=method_id,
        type="bank_card",
        saved=saved,
        title=f"Bank card *{last4}",
        card_type="Mir",
        first6="220220",
        last4=last4,
        expiry_month=12,
        expiry_year=2034,
        issuer_country="RU",
    )


def _forged_id(rng: random.Random, kind: str) -> str:
    """An id YooKassa never gave (its own have "8000" where these have "b000")."""
    return f"{rng.getrandbits(32):08x}-{kind}-5000-b000-{rng.getrandbits(48):012x}"


def _money(amount: int, currency: str) -> dict[str, str]:
    return {"value": amount_text(amount, currency), "currency": currency}


def _iso(moment: datetime) -> str:
    """YooKassa's times: UTC with milliseconds ("2027-01-04T09:00:00.000Z")."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _fingerprint(path: str, **request: Any) -> str:
    return path + json.dumps(request, sort_keys=True, default=str)


def _receipt_total(items: list[Any], currency: str) -> int | None:
    """What a receipt's items add up to, in minor units (None if they are malformed)."""
    total = Decimal(0)
    for item in items:
        money = item.get("amount") if isinstance(item, Mapping) else None
        if not isinstance(money, Mapping) or money.get("currency") != currency:
            return None
        try:
            total += Decimal(str(money.get("value"))) * Decimal(str(item.get("quantity")))
        except ArithmeticError:
            return None
    return int(total * 100) if total == total.quantize(Decimal("0.01")) else None


class SimStars:
    """The bot's Telegram Stars (TelegramStars' names): what Payers paid in Stars, the Star
    transactions as getStarTransactions lists them (oldest first; a refund repeats its
    payment's id), and refunds, of whole payments only. A payment is recorded as the money
    its order is worth in the order's currency, which is what must be credited for it."""

    def __init__(self, faults: Faults, clock: Clock, outbox: Outbox, misuse: list[str]) -> None:
        self._faults = faults
        self._clock = clock
        self._outbox = outbox
        self._misuse = misuse
        self.payments: dict[str, Payment] = {}  # charge id -> the payment
        self._transactions: list[StarTransaction] = []
        self._charges: dict[str, StarTransaction] = {}
        self._seq = 0

    def customer_pays(
        self, order_id: str, *, payer_id: int, stars: int, amount: int, currency: str
    ) -> Payment:
        """The Payer pays the Stars invoice: Telegram takes the Stars and sends the bot a
        successful_payment update (until it is answered 2xx)."""
        self._seq += 1
        charge = f"stxSIM{self._seq:06d}"
        when = int(self._clock.now().timestamp())
        transaction = StarTransaction(charge, stars, when, payer_id, True, order_id)
        self._transactions.append(transaction)
        self._charges[charge] = transaction
        payment = Payment("stars", charge, order_id, amount, currency)
        payment.metadata = {"stars": str(stars)}
        payment.taken_at = self._clock.now()
        self.payments[charge] = payment
        update = {"order": order_id, "currency": "XTR", "amount": stars, "charge": charge}
        self._outbox.send("telegram", {}, json.dumps(update).encode(), losable=False)
        return payment

    # --- the client (billing.providers.stars.TelegramStars) -----------------------------------

    def refund(self, *, user_id: int, charge_id: str) -> bool:
        if self._faults.outside_call_fails("stars.refund"):
            raise ProviderUnavailable("stars", "simulated: no answer, nothing refunded")
        charge = self._charges.get(charge_id)
        if charge is None or charge.user_id != user_id:
            self._misuse.append(f"refundStarPayment of {charge_id} for user {user_id}: not theirs")
            raise ProviderRejected(
                "stars", "Bad Request: CHARGE_NOT_FOUND", status=400, name="refundStarPayment"
            )
        payment = self.payments[charge_id]
        if payment.refunds:
            return False  # CHARGE_ALREADY_REFUNDED, as TelegramStars answers it
        payment.refunds[refund_id(charge_id)] = payment.amount
        when = int(self._clock.now().timestamp())
        self._transactions.append(
            StarTransaction(charge_id, charge.stars, when, user_id, False, charge.payload)
        )
        if self._faults.outside_call_lost("stars.refund"):
            raise ProviderUnavailable("stars", "simulated: refunded, the answer was lost")
        return True

    def transactions(self, offset: int) -> tuple[list[StarTransaction], int]:
        if self._faults.outside_call_fails("stars.list"):
            raise ProviderUnavailable("stars", "simulated: no answer")
        found = self._transactions[offset:]
        return list(found), offset + len(found)


class SimProviders:
    """Stands where billing.providers.registry.Providers does."""

    def __init__(
        self, stripe: SimStripe, cryptopay: SimCryptoPay, yookassa: SimYooKassa, stars: SimStars
    ) -> None:
        self.stripe = stripe
        self.cryptopay = cryptopay
        self.yookassa = yookassa
        self.stars = stars

    def stripe_webhook_secret(self) -> str:
        return STRIPE_SECRET

    def cryptopay_token(self) -> str:
        return CRYPTO_TOKEN

    def yookassa_webhook_secret(self) -> str:
        return YOOKASSA_SECRET

    def yookassa_networks(self) -> tuple[str, ...]:
        return YOOKASSA_NETWORKS

    @property
    def paypal(self) -> Any:
        raise AssertionError("the simulation has no PayPal orders")
