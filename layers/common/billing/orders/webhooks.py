"""Provider callbacks (SPEC §7): authenticate, dedupe, find the order, apply it once.

Every request is authenticated before anything is read or written (Stripe-Signature with a
5-minute tolerance, PayPal's verify-webhook-signature API, Crypto Pay's HMAC; YooKassa signs
nothing, see `_yookassa`): a failure is 401 and no write. An authentic event is claimed by
its provider event id, so a redelivery is answered 200 without acting; the ledger's keys
make a payment apply once even when two events name the same payment
(checkout.session.completed and payment_intent.succeeded). An event we cannot act on is
answered 200 (recorded and alerted when it concerns money), so the provider stops retrying;
any failure is 503 after releasing the claim, and a claim held by another invocation still
at work is 503 too (store/dedupe.py says why).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from billing import deadline
from billing.clock import Clock, SystemClock
from billing.errors import BillingError
from billing.observability import logger
from billing.providers.errors import ProviderRejected, ProviderUnavailable
from billing.store import reads
from billing.store.codec import epoch

# Only types at import: the payment use cases (orders.service and everything under it) load
# once an event is authentic and claimed, so a cold start reaches DynamoDB without them
# (billing/runtime.py hands them in deferred; tests/unit/test_boundaries.py checks it).
if TYPE_CHECKING:
    from billing.accounts.service import ProfileService
    from billing.orders.model import Order
    from billing.orders.service import PaymentService, RefundRecord, Settlement
    from billing.providers.cryptopay import CryptoPayInvoice
    from billing.providers.paypal import PayPalOrderState
    from billing.providers.registry import Providers
    from billing.providers.stars import StarTransaction
    from billing.providers.yookassa import YooKassaPayment, YooKassaRefund
    from billing.store.dedupe import UpdateDeduplicator

PROVIDERS = frozenset({"stripe", "paypal", "cryptopay", "yookassa"})


class Notices(Protocol):
    """How the Payer (and support) hear about what a callback did."""

    def settled(self, settlement: Settlement) -> None: ...

    def payment_failed(self, order: Order, reason: str) -> None: ...

    def refunded(self, record: RefundRecord) -> None: ...

    def alert(self, reason: str) -> None: ...


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, Any]


# What parsing a hostile body can raise beyond the parsers' own errors: nesting deeper than
# the interpreter's recursion limit, numbers too large for Decimal, lone surrogates.
UNREADABLE = (ValueError, RecursionError, ArithmeticError, UnicodeError)
MAX_KEY_BYTES = 512  # DynamoDB allows 2 KB; provider event ids are a few dozen bytes

OK = WebhookAnswer(200, {"received": True})
UNAUTHORIZED = WebhookAnswer(401, {"error": "unauthorized"})
RETRY = WebhookAnswer(503, {"error": "temporarily unavailable"})


class ProviderWebhooks:
    def __init__(
        self,
        *,
        payments: PaymentService,
        providers: Providers,
        profiles: ProfileService,
        dedupe: UpdateDeduplicator,
        clock: Clock,
        notices: Notices,
        signature_clock: Clock | None = None,
    ) -> None:
        # A signature's age is a matter of real time, whatever the business clock says
        # (tests and the local stack move that one, as Stripe's test clocks do).
        self._signature_clock: Clock = signature_clock or SystemClock()
        self._payments = payments
        self._providers = providers
        self._profiles = profiles
        self._dedupe = dedupe
        self._clock = clock
        self._notices = notices

    def handle(
        self,
        provider: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        source_ip: str | None = None,
        path_secret: str | None = None,
    ) -> WebhookAnswer:
        """`headers` must be lower-cased names (API Gateway HTTP API gives them so);
        `source_ip` is the address API Gateway saw (requestContext), `path_secret` the
        route's last segment where the provider's URL has one. One event is one operation
        of the store's read map: each item is read once."""
        with reads.operation():
            if provider == "yookassa":
                return self._yookassa(source_ip, path_secret, body)
            return self._handle(provider, headers, body)

    def _handle(self, provider: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        if provider == "stripe":
            return self._stripe(headers, body)
        if provider == "paypal":
            return self._paypal(headers, body)
        if provider == "cryptopay":
            return self._cryptopay(headers, body)
        return WebhookAnswer(404, {"error": "not found"})

    # --- Stripe ---------------------------------------------------------------------------

    def _stripe(self, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        from billing.providers.stripe_signature import InvalidSignature, verify_webhook

        try:
            event = verify_webhook(
                body,
                headers.get("stripe-signature"),
                self._providers.stripe_webhook_secret(),
                now=epoch(self._signature_clock.now()),
            )
        except (InvalidSignature, *UNREADABLE):  # a body that is no event is refused too
            return UNAUTHORIZED
        event_id, kind = event.get("id"), event.get("type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(event_id, str) or not isinstance(kind, str) or not isinstance(obj, dict):
            logger.warning("stripe event without id, type or object; ignored")
            return OK
        return self._once(f"stripe#{event_id}", lambda: self._stripe_event(kind, obj))

    def _stripe_event(self, kind: str, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        order_id = str((metadata or {}).get("order_id") or obj.get("client_reference_id") or "")
        currency = str(obj.get("currency", "")).upper()
        if kind == "checkout.session.completed":
            if obj.get("payment_status") != "paid":
                return  # asynchronous methods confirm later, with payment_intent.succeeded
            settlement = self._settle(
                order_id,
                _int(obj.get("amount_total")),
                currency,
                "stripe",
                _str(obj.get("payment_intent")),
            )
            intent = _str(obj.get("payment_intent"))
            from billing.orders.service import Outcome

            paid = settlement.credited_now or settlement.outcome is Outcome.ALREADY
            if paid and intent is not None:
                # Whichever event credited the order, the session is what says the card
                # is to be kept; the country is checked by the event that credits.
                try:
                    method = self._providers.stripe.payment_intent(intent).payment_method
                except ProviderRejected as rejected:  # the money part is done already
                    logger.warning("payment intent not readable", extra={"error": str(rejected)})
                    return
                self._keep_card(settlement, method, _str(obj.get("customer")))
                self._check_card_country(settlement, method)
        elif kind == "payment_intent.succeeded":
            amount = _int(obj.get("amount_received")) or _int(obj.get("amount"))
            settlement = self._settle(order_id, amount, currency, "stripe", _str(obj.get("id")))
            self._check_card_country(settlement, _str(obj.get("payment_method")))
        elif kind == "payment_intent.payment_failed":
            last_error = obj.get("last_payment_error")
            reason = (
                str(last_error.get("message")) if isinstance(last_error, dict) else "card declined"
            )
            failed = self._payments.fail(order_id, reason)
            if failed is not None:
                self._notices.payment_failed(failed, reason)
        elif kind == "checkout.session.expired":
            self._checkout_expired(order_id, _str(obj.get("id")))
        elif kind == "charge.refunded":
            self._stripe_charge_refunded(obj)
        elif kind in ("refund.created", "refund.updated", "charge.refund.updated"):
            self._stripe_refund(obj, _str(obj.get("payment_intent")))
        elif kind.startswith("charge.dispute."):
            self._stripe_dispute(kind, obj)
        else:
            logger.info("stripe event not used", extra={"type": kind})

    def _checkout_expired(self, order_id: str, session_id: str | None) -> None:
        """Stripe ended the payment page: the order ends with it, unless it has moved on to
        another page (its provider reference names the session it waits on)."""
        order = self._payments.order(order_id)
        if order is not None and session_id is not None and order.provider_ref == session_id:
            self._payments.expire(order.id)

    def _stripe_charge_refunded(self, charge: dict[str, Any]) -> None:
        """Each refund of the charge, by its own id. Since API version 2022-11-15 the charge
        carries no `refunds` list: then Stripe is asked for them."""
        intent = _str(charge.get("payment_intent"))
        refunds = charge.get("refunds")
        listed = refunds.get("data") if isinstance(refunds, dict) else None
        complete = isinstance(listed, list) and not (
            isinstance(refunds, dict) and refunds.get("has_more")
        )
        if not complete and intent is not None:
            listed = [
                {"id": r.id, "amount": r.amount, "currency": r.currency, "status": r.status}
                for r in self._providers.stripe.refunds_of(intent)
            ]
        currency = charge.get("currency")
        for refund in listed or []:
            if isinstance(refund, dict):
                self._stripe_refund({"currency": currency, **refund}, intent)

    def _stripe_refund(self, refund: dict[str, Any], intent: str | None) -> None:
        status = refund.get("status")
        currency = str(refund.get("currency", "")).upper()
        refund_id = _str(refund.get("id"))
        if status in ("failed", "canceled"):
            # A refund that did not go through gives back what it debited, if anything.
            if intent is not None and refund_id is not None:
                self._reverse("stripe", intent, refund_id, chargeback=False)
        elif status in ("succeeded", "pending", None):
            self._refund("stripe", intent, refund_id, _int(refund.get("amount")), currency)

    def _stripe_dispute(self, kind: str, dispute: dict[str, Any]) -> None:
        """A dispute takes the money when opened (an inquiry, `warning_*`, takes nothing
        yet) and gives it back when the seller wins (SPEC §4)."""
        intent, dispute_id = _str(dispute.get("payment_intent")), _str(dispute.get("id"))
        status = str(dispute.get("status") or "")
        won = kind == "charge.dispute.funds_reinstated" or (
            kind == "charge.dispute.closed" and status in ("won", "warning_closed")
        )
        if won:
            if intent is not None and dispute_id is not None:
                self._reverse("stripe", intent, dispute_id, chargeback=True)
            return
        if status.startswith("warning_") or kind == "charge.dispute.updated":
            return
        # created, funds_withdrawn, closed as lost: the money is gone (one debit per id).
        self._refund(
            "stripe",
            intent,
            dispute_id,
            _int(dispute.get("amount")),
            str(dispute.get("currency", "")).upper(),
            chargeback=True,
        )

    def _keep_card(self, settlement: Settlement, method: str | None, customer: str | None) -> None:
        """The Payer ticked "save card": keep its reference for off-session renewals."""
        order = settlement.order
        if order is None or not order.details.get("save_card") or method is None:
            return
        from billing.domain.profile import SavedCard

        card = self._providers.stripe.card_details(method)
        try:
            self._profiles.save_card(
                order.payer_id,
                SavedCard(
                    brand=card.brand,
                    last4=card.last4,
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                    provider_ref=card.payment_method_id,
                    customer_ref=customer,
                ),
            )
        except BillingError as refused:
            logger.warning("card not saved", extra={"reason": str(refused)})

    def _check_card_country(self, settlement: Settlement | None, method: str | None) -> None:
        """SPEC §6: a card country that contradicts the declared one flags the Payer, once
        per Payer, and only a Payer whose tax status needed the country verification (no
        valid EU VAT id). Once flagged, or verified by support by hand, nothing more: support
        has (or had) it in front of them. Stripe is asked only when the answer matters."""
        if method is None:
            return

        def country() -> str | None:
            try:
                return self._providers.stripe.card_details(method).country
            except ProviderRejected as rejected:
                logger.warning("card not readable", extra={"error": str(rejected)})
                return None

        self._flag_contradicting_card(settlement, country, "stripe")

    def _flag_contradicting_card(
        self, settlement: Settlement | None, card_country: Callable[[], str | None], provider: str
    ) -> None:
        from billing.domain.profile import Verification, verification_for

        order = settlement.order if settlement is not None else None
        if order is None or not settlement or not settlement.credited_now:
            return
        profile = self._profiles.profile(order.payer_id)
        if profile.flagged_for_support is not None or profile.verified_by_support:
            return
        if verification_for(profile, order.method) is Verification.NOT_NEEDED:
            return
        country = card_country()
        declared = profile.country
        if country and declared and country != declared:
            reason = f"card country {country} contradicts billing country {declared}"
            self._profiles.flag(order.payer_id, reason)
            self._payments.alert(reason, provider, {"order": order.id, "payer": order.payer_id})
            self._notices.alert(f"{reason} (order {order.id}, payer {order.payer_id})")

    # --- PayPal ---------------------------------------------------------------------------

    def _paypal(self, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        from billing.providers.paypal import PayPalWebhookError, parse_webhook

        paypal = self._providers.paypal
        # A cheap local look first: a forged delivery costs no call to PayPal.
        if not paypal.plausible_webhook(headers, body, self._signature_clock.now()):
            return UNAUTHORIZED
        try:
            authentic = paypal.verify_webhook_signature(
                headers=headers, body=body, webhook_id=self._providers.paypal_webhook_id()
            )
        except ProviderUnavailable as unavailable:
            logger.warning("paypal verification unavailable", extra={"error": str(unavailable)})
            return RETRY
        except UNREADABLE:  # cannot even be sent to PayPal for verification
            return UNAUTHORIZED
        if not authentic:
            return UNAUTHORIZED
        try:
            event = parse_webhook(body)
        except (PayPalWebhookError, *UNREADABLE) as error:
            logger.info("paypal event not used", extra={"reason": str(error)[:200]})
            return OK

        def act() -> None:
            if event.event_type == "CHECKOUT.ORDER.APPROVED" and event.paypal_order_id:
                self._paypal_capture(event.paypal_order_id, event.order_id)
            elif event.event_type == "PAYMENT.CAPTURE.COMPLETED":
                self._settle(
                    event.order_id or "",
                    event.amount,
                    event.currency,
                    "paypal",
                    event.capture_id,
                )
            elif event.event_type in ("PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"):
                self._refund(
                    "paypal",
                    event.capture_id,
                    event.refund_id or event.event_id,
                    event.amount,
                    event.currency,
                    chargeback=event.event_type == "PAYMENT.CAPTURE.REVERSED",
                )

        return self._once(f"paypal#{event.event_id}", act)

    def _paypal_capture(self, paypal_order_id: str, order_id: str | None) -> None:
        """The Payer approved: take the money (PayPal captures once per order) and settle."""
        try:
            capture = self._providers.paypal.capture_order(paypal_order_id)
        except ProviderRejected as rejected:  # PayPal says no: retrying cannot help
            self._payments.alert(
                "PayPal approval could not be captured",
                "paypal",
                {"paypal_order": paypal_order_id, "error": str(rejected)[:200]},
            )
            return
        if capture.status == "COMPLETED":
            self._settle(
                capture.order_id or order_id or "",
                capture.amount,
                capture.currency,
                "paypal",
                capture.capture_id,
            )

    # --- reconciliation: what a provider says happened, through the callbacks' own code --------

    def replay_stripe_event(self, event: Mapping[str, Any]) -> bool:
        """An event from Stripe's own list (GET /v1/events), handled as its webhook would
        be, under the same claim: a delivery before or after it changes nothing more.
        False when it could not be applied now (the next run tries again)."""
        event_id, kind = event.get("id"), event.get("type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(event_id, str) or not isinstance(kind, str) or not isinstance(obj, dict):
            return True
        answer = self._once(f"stripe#{event_id}", lambda: self._stripe_event(kind, obj))
        return answer.status == 200

    def apply_paypal_order(self, state: PayPalOrderState) -> None:
        """An order as PayPal has it now: approved and not captured -> capture it; each
        completed capture settled; each refund of it debited (all keyed as the webhooks)."""
        if state.status == "APPROVED":
            self._paypal_capture(state.paypal_order_id, state.order_id)
            return
        for capture in state.captures:
            if capture.status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
                self._settle(
                    capture.order_id or state.order_id or "",
                    capture.amount,
                    capture.currency,
                    "paypal",
                    capture.capture_id,
                )
        for refund in state.refunds:
            if refund.status in ("COMPLETED", "PENDING"):
                self._refund(
                    "paypal", refund.capture_id, refund.refund_id, refund.amount, refund.currency
                )

    def apply_crypto_invoice(self, invoice: CryptoPayInvoice) -> None:
        """A paid Crypto Pay invoice, settled as its invoice_paid update would be."""
        if invoice.status == "paid" and invoice.order_id:
            self._settle(
                invoice.order_id,
                invoice.amount,
                invoice.currency,
                "cryptopay",
                f"crypto-{invoice.invoice_id}",
            )

    # --- Crypto Pay ---------------------------------------------------------------------------

    def _cryptopay(self, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        from billing.providers.cryptopay import (
            CryptoPayWebhookError,
            parse_webhook,
            verify_signature,
        )

        if not verify_signature(
            body, headers.get("crypto-pay-api-signature"), self._providers.cryptopay_token()
        ):
            return UNAUTHORIZED
        try:
            update = parse_webhook(body)
        except (CryptoPayWebhookError, *UNREADABLE) as error:
            logger.info("crypto pay update not used", extra={"reason": str(error)[:200]})
            return OK
        return self._once(
            f"cryptopay#{update.update_id}",
            lambda: self._settle(
                update.order_id,
                update.amount,
                update.currency,
                "cryptopay",
                f"crypto-{update.invoice_id}",
            ),
        )

    # --- YooKassa -----------------------------------------------------------------------------

    def _yookassa(
        self, source_ip: str | None, path_secret: str | None, body: bytes
    ) -> WebhookAnswer:
        """YooKassa signs no notification. Three checks stand in: the secret segment of our
        notification URL, the source address against YooKassa's published networks (as
        API Gateway saw it, not a header anyone can write), and above all the payment or
        refund re-read from YooKassa's API: only what that answer says is acted on, so a
        forged body can at most make us ask.

        No event claim: a notification has no id of its own, and a claim keyed by an
        unauthenticated body would let a forged one use up the real one's key. Every
        effect is keyed by YooKassa's ids instead (the order's payment, the refund), so a
        duplicate changes nothing."""
        import hmac

        from billing.providers.yookassa import YooKassaNotificationError, parse_notification

        expected = self._providers.yookassa_webhook_secret()
        if not (
            expected
            and isinstance(path_secret, str)
            and hmac.compare_digest(path_secret.encode(), expected.encode())
            and _from_networks(source_ip, self._providers.yookassa_networks())
        ):
            return UNAUTHORIZED
        try:
            notification = parse_notification(body)
        except (YooKassaNotificationError, *UNREADABLE) as error:
            logger.info("yookassa notification not used", extra={"reason": str(error)[:200]})
            return OK
        found: YooKassaPayment | YooKassaRefund | None
        try:
            if notification.event.startswith("refund."):
                found = refund = self._providers.yookassa.refund(notification.object_id)
                if refund is not None:
                    self.apply_yookassa_refund(refund)
            else:
                found = payment = self._providers.yookassa.payment(notification.payment_id)
                if payment is not None:
                    self.apply_yookassa_payment(payment)
        except Exception:
            logger.exception("yookassa notification failed; YooKassa will retry")
            return RETRY
        if found is not None and found.status != _NOTIFIED_STATUS.get(notification.event):
            # The API does not say (yet) what the notification says: nothing was done, and
            # YooKassa delivers it again (a forged body from inside its networks can only
            # make us ask again).
            logger.info("yookassa notification ahead of its object", extra={"status": found.status})
            return RETRY
        return OK

    def apply_yookassa_payment(self, payment: YooKassaPayment) -> None:
        """A payment as YooKassa's API has it now: succeeded -> settled (its card kept
        first, if the Payer asked, so that what the Payer is told next is all true);
        canceled -> the order it was for told of the failure."""
        order_id = payment.metadata.get("order_id", "")
        if payment.status == "succeeded" and payment.paid:
            self._keep_partner_card(order_id, payment)
            settlement = self._settle(
                order_id, payment.amount, payment.currency, "yookassa", payment.id
            )
            issuer = payment.payment_method.issuer_country if payment.payment_method else None
            self._flag_contradicting_card(settlement, lambda: issuer, "yookassa")
        elif payment.status == "canceled":
            order = self._payments.order(order_id)
            # Only the payment the order waits on: a canceled earlier page changes nothing.
            if order is None or order.provider_ref != payment.id:
                return
            reason = payment.cancellation_reason or "declined"
            failed = self._payments.fail(order.id, reason)
            # A page the Payer left unpaid ends so: nothing failed that they tried.
            if failed is not None and reason != "expired_on_confirmation":
                self._notices.payment_failed(failed, reason)

    def apply_yookassa_refund(self, refund: YooKassaRefund) -> None:
        """Debited once when it succeeds (or when support made it pending); a refund
        YooKassa canceled gives back what it debited, if anything."""
        if refund.status == "succeeded":
            self._refund("yookassa", refund.payment_id, refund.id, refund.amount, refund.currency)
        elif refund.status == "canceled":
            order = self._payments.order_of_provider(refund.payment_id)
            cause = f"refund:{refund.id}"
            if order is not None and self._payments.ledger_entry(order, cause) is not None:
                self._reverse("yookassa", refund.payment_id, refund.id, chargeback=False)

    def _keep_partner_card(self, order_id: str, payment: YooKassaPayment) -> None:
        """The Payer ticked "save card" and YooKassa saved the method of this very payment:
        keep its reference for off-session renewals of RUB subscriptions."""
        method = payment.payment_method
        if method is None or not method.saved or method.last4 is None:
            return  # not saved, or saved without a card (SBP): not chargeable by our renewal
        order = self._payments.order(order_id)
        if order is None or order.provider_ref != payment.id or not order.details.get("save_card"):
            return
        if not order.is_open:
            # Kept when the payment is first applied only: a redelivery or reconciliation
            # must not bring back a card the Payer has removed since.
            return
        from billing.domain.profile import SavedCard

        card = SavedCard(
            brand=method.card_type or method.type,
            last4=method.last4,
            exp_month=method.expiry_month or 12,
            exp_year=method.expiry_year or 2099,
            provider_ref=method.id,
            provider="yookassa",
        )
        try:
            self._profiles.save_card(order.payer_id, card)  # a redelivery writes nothing
        except BillingError as refused:
            logger.warning("card not saved", extra={"reason": str(refused)})

    # --- Telegram Stars (reconciliation: the payments arrive as Bot API updates) ----------------

    def apply_star_transaction(self, transaction: StarTransaction) -> None:
        """A Star payment settled as its successful_payment update would be; a refund
        (Telegram repeats the payment's id) recorded as the admin's refund would be."""
        from billing.providers.stars import refund_id

        if transaction.incoming:
            if transaction.payload is None:
                return
            settlement = self._payments.settle_stars(
                transaction.payload, stars=transaction.stars, charge_id=transaction.id
            )
            if settlement.credited_now:
                self._notices.settled(settlement)
            return
        order = self._payments.order_of_provider(transaction.id)
        if order is None:
            self._payments.alert(
                "Stars refunded for no payment we know", "stars", {"charge": transaction.id}
            )
        else:
            self._refund(
                "stars",
                transaction.id,
                refund_id(transaction.id),
                order.paid_amount or order.amount,
                order.currency.value,
            )

    # --- shared -------------------------------------------------------------------------------

    def _once(self, key: str, act: Any) -> WebhookAnswer:
        if not _storable(key):
            # An authentic event no provider would send; DynamoDB would refuse its key and
            # the refusal would look transient. Acknowledge it so it is not retried.
            logger.warning("provider event id unusable; ignored")
            return OK
        claim = f"provider-event#{key}"
        if not self._dedupe.claim(claim, self._clock.now(), deadline.current().lease()):
            if self._dedupe.done(claim):
                logger.info("provider event already handled", extra={"event": key})
                return OK
            # Another invocation holds it and may still fail: a 2xx now could lose it.
            return RETRY
        try:
            act()
        except Exception:
            # Not acted on: let the provider deliver it again (and again act once). If the
            # release fails too, the claim's lease lapses on its own.
            logger.exception("provider event failed; the provider will retry")
            try:
                self._dedupe.release(claim)
            except Exception:
                logger.exception("claim not released; it lapses with its lease")
            return RETRY
        # Effects are keyed by provider ids: if this write fails, a redelivery after the
        # lease acts again and changes nothing.
        self._dedupe.complete(claim, self._clock.now())
        return OK

    def _settle(
        self, order_id: str, amount: int, currency: str, provider: str, ref: str | None
    ) -> Settlement:
        from billing.orders.service import Outcome

        settlement = self._payments.settle(
            order_id, amount=amount, currency=currency, provider=provider, provider_ref=ref
        )
        logger.info(
            "payment settled",
            extra={"order": order_id, "outcome": settlement.outcome.value, "provider": provider},
        )
        if settlement.credited_now:
            self._notices.settled(settlement)
        elif settlement.outcome in (Outcome.MISMATCH, Outcome.UNKNOWN):
            self._notices.alert(f"{provider}: {settlement.reason} (order {order_id or '-'})")
        return settlement

    def _refund(
        self,
        provider: str,
        payment_ref: str | None,
        refund_id: str | None,
        amount: int,
        currency: str,
        *,
        chargeback: bool = False,
    ) -> None:
        if not payment_ref or not refund_id:
            self._payments.alert("refund without a payment reference", provider, {})
            return
        record = self._payments.record_refund(
            provider=provider,
            provider_ref=payment_ref,
            refund_id=refund_id,
            amount=amount,
            currency=currency,
            chargeback=chargeback,
        )
        self._told(provider, record, "chargeback" if chargeback else "refund", refund_id)

    def _reverse(
        self, provider: str, payment_ref: str, refund_id: str, *, chargeback: bool
    ) -> None:
        record = self._payments.reverse_refund(
            provider=provider, provider_ref=payment_ref, refund_id=refund_id, chargeback=chargeback
        )
        self._told(provider, record, "dispute won" if chargeback else "refund reversed", refund_id)

    def _told(self, provider: str, record: RefundRecord, what: str, refund_id: str) -> None:
        """The Payer hears of every refund and reversal (SPEC §9), support of each too."""
        if record.moved_now and record.movement is not None:
            self._notices.refunded(record)
            self._notices.alert(
                f"{provider} {what} {refund_id}: {record.movement.entry.amount:+d} minor units"
                f" for payer {record.movement.entry.payer_id}"
            )
        elif record.outcome in _needs_support():
            self._notices.alert(f"{provider} {what} {refund_id}: {record.outcome.value}")


def _needs_support() -> frozenset[Any]:
    """Refund reports that moved no money but that support must look at."""
    from billing.orders.service import RefundOutcome

    return frozenset({RefundOutcome.PARKED, RefundOutcome.UNKNOWN, RefundOutcome.NOTHING_LEFT})


def _from_networks(source_ip: str | None, networks: tuple[str, ...]) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(source_ip or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:185.71.76.1 is 185.71.76.1
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


# The status a notification's object has when YooKassa's API agrees with it.
_NOTIFIED_STATUS = {
    "payment.succeeded": "succeeded",
    "payment.canceled": "canceled",
    "payment.waiting_for_capture": "waiting_for_capture",
    "refund.succeeded": "succeeded",
}


def _storable(key: str) -> bool:
    try:
        return len(key.encode("utf-8")) <= MAX_KEY_BYTES
    except UnicodeEncodeError:  # a lone surrogate
        return False


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
