"""Reconciliation (SPEC §7): ask each provider what it really has, apply what a lost
callback missed, and end the orders whose time is up.

A webhook can be lost (our outage outlasting the provider's retries, a misconfigured
endpoint). So on a schedule, for a recent window:
- Stripe: its own list of events (`GET /v1/events`), each replayed through the webhook's
  handler under the same claim, so a delivery before or after it applies nothing twice;
- PayPal: every order still open here is read at PayPal (`GET /v2/checkout/orders/{id}`):
  approved but not captured -> captured, each capture settled, each refund debited;
- Crypto Pay: its paid invoices (`getInvoices status=paid`), settled as `invoice_paid` is;
- YooKassa: its payments and refunds created in the window (`GET /v3/payments`, `/v3/refunds`),
  applied as the notifications' re-fetched objects are;
- Telegram Stars: the bot's Star transactions (`getStarTransactions`, chronological, read on
  from the offset the last run reached, less an overlap): payments settled as
  successful_payment is, refunds recorded as an admin's refund is.
Then each open order past its expiry is marked expired; money that still comes for it is a
top-up (PaymentService.settle). Everything goes through the callbacks' own code, whose
effects are keyed by provider ids, so running it twice, or beside a late webhook, is
harmless. A provider that cannot be reached is reported and skipped until the next run;
a payment that matches no order, or mismatches its order, is alerted by `settle` as a
callback's would be.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from billing.clock import Clock
from billing.domain.profile import PaymentMethod
from billing.observability import logger
from billing.orders.service import PaymentService
from billing.orders.webhooks import ProviderWebhooks
from billing.providers.errors import ProviderError
from billing.providers.registry import Providers
from billing.store.codec import epoch
from billing.store.orders import FAR_FUTURE, OrdersRepository

# Each run reads from where the last successful one got to, less an overlap, and at least
# this far back: Stripe retries a webhook for up to 3 days, so a little longer covers every
# event a delivery could still be missing. After an outage of the job itself it reads back
# to its cursor, up to what the providers keep (Stripe's events: 30 days).
WINDOW = timedelta(days=4)
OVERLAP = timedelta(hours=1)
LONGEST = timedelta(days=30)
CRYPTO_PAGE = 100
# Star transactions are read by position; re-reading the last ones again is harmless (every
# effect is keyed) and covers a run that stopped between reading and applying.
STARS_OVERLAP = 100
STRIPE_EVENTS = (
    "checkout.session.",
    "payment_intent.",
    "charge.refunded",
    "charge.refund.",
    "refund.",
    "charge.dispute.",
)


@dataclass
class ReconcileReport:
    seen: Counter[str] = field(default_factory=Counter)  # provider -> records looked at
    unreachable: list[str] = field(default_factory=list)  # providers that could not answer
    expired: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "seen": dict(self.seen),
            "unreachable": list(self.unreachable),
            "expired": self.expired,
        }


class Reconciler:
    def __init__(
        self,
        *,
        webhooks: ProviderWebhooks,
        payments: PaymentService,
        orders: OrdersRepository,
        providers: Providers,
        clock: Clock,
        window: timedelta = WINDOW,
    ) -> None:
        self._webhooks = webhooks
        self._payments = payments
        self._orders = orders
        self._providers = providers
        self._clock = clock
        self._window = window

    def run(self) -> ReconcileReport:
        report = ReconcileReport()
        for name, step in (
            ("stripe", self._stripe),
            ("paypal", self._paypal),
            ("cryptopay", self._cryptopay),
            ("yookassa", self._yookassa),
            ("stars", self._stars),
        ):
            try:
                step(report)
            except ProviderError as error:
                # The next run tries again; support hears of it only when it lasts (alarms).
                logger.warning("reconciliation: provider unreachable", extra={"error": str(error)})
                report.unreachable.append(name)
        self._expire_overdue(report)
        logger.info("reconciliation", extra=report.as_dict())
        return report

    def _since(self, provider: str) -> datetime:
        now = self._clock.now()
        cursor = self._orders.reconciled_until(provider)
        since = now - self._window if cursor is None else min(now - self._window, cursor - OVERLAP)
        return max(since, now - LONGEST)

    def _stripe(self, report: ReconcileReport) -> None:
        began = self._clock.now()
        events = self._providers.stripe.events_since(epoch(self._since("stripe")))
        applied = True
        # Oldest first, as they happened: a payment before its refund.
        for event in sorted(events, key=lambda e: int(e.get("created") or 0)):
            kind = str(event.get("type") or "")
            if kind.startswith(STRIPE_EVENTS):
                report.seen["stripe"] += 1
                applied = self._webhooks.replay_stripe_event(event) and applied
        if applied:  # else the cursor stays: the next run reads the same events again
            self._orders.set_reconciled_until("stripe", began)

    def _paypal(self, report: ReconcileReport) -> None:
        for order in self._orders.open_until(FAR_FUTURE):
            if order.method is not PaymentMethod.PAYPAL or order.provider_ref is None:
                continue
            state = self._providers.paypal.order_status(order.provider_ref)
            report.seen["paypal"] += 1
            if state is not None:
                self._webhooks.apply_paypal_order(state)

    def _cryptopay(self, report: ReconcileReport) -> None:
        """Paid invoices, newest first, page by page until one is older than the window."""
        began = self._clock.now()
        since = self._since("cryptopay")
        offset = 0
        while True:
            page = self._providers.cryptopay.paid_invoices(count=CRYPTO_PAGE, offset=offset)
            for invoice in page:
                report.seen["cryptopay"] += 1
                self._webhooks.apply_crypto_invoice(invoice)
            paid = [moment for i in page if (moment := _moment(i.paid_at)) is not None]
            if len(page) < CRYPTO_PAGE or (paid and min(paid) < since):
                break
            offset += CRYPTO_PAGE
        self._orders.set_reconciled_until("cryptopay", began)

    def _yookassa(self, report: ReconcileReport) -> None:
        """The shop's payments and refunds of the window. The shop may be the partner's and
        sell other things: payments no order of ours names, and their refunds, are not ours
        to judge (a callback for them alerts support once; a run every 30 minutes would
        alert again and again)."""
        began = self._clock.now()
        since = self._since("yookassa")
        yookassa = self._providers.yookassa
        applied = True
        # Payments before refunds: a refund of a payment settled in this very run is kept.
        for payment in sorted(yookassa.payments_since(since), key=lambda p: p.created_at):
            order_id = payment.metadata.get("order_id")
            if payment.status not in ("succeeded", "canceled") or not order_id:
                continue
            if self._payments.order(order_id) is None:
                continue
            report.seen["yookassa"] += 1
            applied = (
                self._each(partial(self._webhooks.apply_yookassa_payment, payment)) and applied
            )
        for refund in sorted(yookassa.refunds_since(since), key=lambda r: r.created_at):
            if self._payments.order_of_provider(refund.payment_id) is None:
                continue
            report.seen["yookassa"] += 1
            applied = self._each(partial(self._webhooks.apply_yookassa_refund, refund)) and applied
        if applied:  # else the next run reads the same window again
            self._orders.set_reconciled_until("yookassa", began)

    def _stars(self, report: ReconcileReport) -> None:
        start = max(0, self._orders.reconciled_offset("stars") - STARS_OVERLAP)
        transactions, end = self._providers.stars.transactions(start)
        applied = True
        for transaction in transactions:
            if transaction.incoming and (
                transaction.payload is None or self._payments.order(transaction.payload) is None
            ):
                continue  # no order of ours: its successful_payment alerted support already
            report.seen["stars"] += 1
            applied = (
                self._each(partial(self._webhooks.apply_star_transaction, transaction)) and applied
            )
        if applied:
            self._orders.set_reconciled_offset("stars", end)

    @staticmethod
    def _each(apply: Callable[[], None]) -> bool:
        """One provider record applied: a fault on it (a lost race, a throttled write) is
        logged and leaves the cursor where it was, without stopping the others."""
        try:
            apply()
        except ProviderError:
            raise  # the provider itself: reported as unreachable for this run
        except Exception:
            logger.exception("reconciliation: a record could not be applied; the next run retries")
            return False
        return True

    def _expire_overdue(self, report: ReconcileReport) -> None:
        """After the providers were asked (so nothing they hold is lost), what is still open
        past its time stops being payable."""
        for order in self._orders.open_until(self._clock.now()):
            if self._payments.expire(order.id) is not None:
                report.expired += 1


def _moment(text: str | None) -> datetime | None:
    """Crypto Pay's ISO 8601 times ("2026-12-01T10:00:00.123Z"); None when absent or odd."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
