"""Starting a payment for an order with its method (SPEC §7): what the Payer gets next.

- card in Telegram: a Bot API invoice (the bot sends it; Telegram collects the card);
- card via Stripe: a Checkout page, optionally saving the card for auto-renewal;
- PayPal: an Orders v2 approval link; crypto: a Crypto Pay invoice link;
- card for Russia: a YooKassa payment page (optionally saving the card), with its 54-FZ
  receipt;
- Telegram Stars: a Bot API invoice in XTR, the order's total converted to whole Stars;
- bank transfer: a payment-order PDF with the order number as the reference.
Each provider's id is stored on the order, so support can find the order from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billing.clock import Clock
from billing.config import Settings
from billing.documents.model import BankDetails, Party, PaymentOrderDocument
from billing.domain.money import Currency
from billing.domain.periods import whole_seconds
from billing.domain.profile import PaymentMethod
from billing.errors import InvalidAmount, InvalidState
from billing.i18n import DEFAULT_LANGUAGE, message
from billing.orders.model import Order, minimum_for
from billing.orders.receipts import FiscalReceipts
from billing.orders.service import PaymentService
from billing.providers.registry import Providers
from billing.store.accounts import AccountsRepository

PAYMENT_ORDER_VALID = timedelta(days=14)


@dataclass(frozen=True)
class PaymentLink:
    url: str
    order: Order


@dataclass(frozen=True)
class TelegramInvoice:
    params: dict[str, Any]  # sendInvoice parameters but chat_id
    order: Order


@dataclass(frozen=True)
class PaymentDocument:
    filename: str
    content: bytes
    order: Order


PaymentStart = PaymentLink | TelegramInvoice | PaymentDocument


class Checkout:
    def __init__(
        self,
        *,
        payments: PaymentService,
        providers: Providers,
        accounts: AccountsRepository,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._payments = payments
        self._providers = providers
        self._accounts = accounts
        self._settings = settings
        self._receipts = FiscalReceipts(accounts=accounts, settings=settings)

    def start(self, order: Order, *, title: str, save_card: bool = False) -> PaymentStart:
        started: PaymentStart
        match order.method:
            case PaymentMethod.TELEGRAM_CARD:
                started = self._telegram_invoice(order, title)
            case PaymentMethod.STARS:
                started = self._stars_invoice(order, title)
            case PaymentMethod.STRIPE_CARD:
                started = self._stripe_checkout(order, title, save_card=save_card)
            case PaymentMethod.PARTNER_CARD:
                started = self._yookassa_payment(order, title, save_card=save_card)
            case PaymentMethod.PAYPAL:
                started = self._paypal_order(order, title)
            case PaymentMethod.CRYPTO:
                started = self._crypto_invoice(order, title)
            case PaymentMethod.BANK_TRANSFER:
                started = self._payment_order(order)
        return started

    def _paypal_order(self, order: Order, title: str) -> PaymentLink:
        paypal = self._providers.paypal.create_order(
            order_id=order.id,
            amount=order.amount,
            currency=order.currency.value,
            description=title,
            return_url=self._settings.payment_return_url,
            cancel_url=self._settings.payment_return_url,
        )
        order = self._payments.attach_provider_ref(order, paypal.id)
        if paypal.approve_url is None:  # a repeated create of an approved order
            raise InvalidState(f"order {order.id} is being paid already", reason="being_paid")
        return PaymentLink(paypal.approve_url, order)

    def _crypto_invoice(self, order: Order, title: str) -> PaymentLink:
        invoice = self._providers.cryptopay.create_invoice(
            order_id=order.id,
            amount=order.amount,
            currency=order.currency.value,
            description=title,
            # The invoice ends with its order (SPEC §7), not an hour after opening.
            expires_in=_seconds_left(order, self._clock.now()),
        )
        order = self._payments.attach_provider_ref(order, f"crypto-{invoice.invoice_id}")
        return PaymentLink(invoice.pay_url, order)

    def _telegram_invoice(self, order: Order, title: str) -> TelegramInvoice:
        lang = self._language(order)
        params = {
            "title": title[:32],
            "description": message(lang, "invoice_description", order=order.id, title=title)[:255],
            "payload": order.id,
            "provider_token": self._providers.telegram_provider_token(order.currency.value),
            "currency": order.currency.value,
            "prices": [{"label": title[:32], "amount": order.amount}],
        }
        return TelegramInvoice(params, order)

    def stars_for(self, amount: int, currency: Currency) -> int:
        """What `amount` costs in Telegram Stars at the configured rate (SPEC §7)."""
        from billing.domain.money import stars_for

        return stars_for(amount, currency, self._settings.stars_rate(currency.value))

    @property
    def stars_maximum(self) -> int:
        return self._settings.stars_max_per_invoice

    def stars_payable(self, amount: int, currency: Currency) -> bool:
        """Whether one Stars invoice may ask what `amount` costs in Stars."""
        return self.stars_for(amount, currency) <= self.stars_maximum

    def _stars_invoice(self, order: Order, title: str) -> TelegramInvoice:
        """The Stars are fixed on the order before the invoice goes out: the pre-checkout
        and the payment are checked against them, whatever the rate is by then."""
        from billing.domain.money import format_minor

        stars = order.details.get("stars")
        if not isinstance(stars, int):
            stars = self.stars_for(order.amount, order.currency)
            if stars > self.stars_maximum:
                raise InvalidAmount(
                    f"{stars} Stars is more than one invoice may ask ({self.stars_maximum})",
                    reason="stars_maximum",
                    stars=self.stars_maximum,
                )
            order = self._payments.with_details(order, stars=stars)
        lang = self._language(order)
        description = message(
            lang,
            "invoice_description_stars",
            order=order.id,
            title=title,
            amount=format_minor(order.amount, order.currency),
            stars=stars,
        )
        params = {
            "title": title[:32],
            "description": description[:255],
            "payload": order.id,
            "provider_token": "",  # Stars need none (Bot API: "Pass an empty string")
            "currency": "XTR",
            "prices": [{"label": title[:32], "amount": stars}],
        }
        return TelegramInvoice(params, order)

    def _yookassa_payment(self, order: Order, title: str, *, save_card: bool) -> PaymentLink:
        """YooKassa's payment page. The Idempotence-Key is the order's: starting the same
        order again replays the same payment instead of opening a second one."""
        payment = self._providers.yookassa.create_payment(
            idempotence_key=f"payment-{order.id}",
            amount=order.amount,
            currency=order.currency.value,
            description=title,
            metadata={"order_id": order.id},
            receipt=self._receipts.receipt(
                order.payer_id, title, order.amount, order.currency.value
            ),
            return_url=self._settings.payment_return_url,
            save_payment_method=save_card,
        )
        order = self._payments.attach_provider_ref(
            order, payment.id, save_card=save_card, title=title[:128]
        )
        if payment.confirmation_url is None:  # that payment went on: paid or declined
            raise InvalidState(f"order {order.id} is being paid already", reason="being_paid")
        return PaymentLink(payment.confirmation_url, order)

    def _language(self, order: Order) -> str:
        account = self._accounts.get(order.payer_id)
        return account.profile.language if account is not None else DEFAULT_LANGUAGE

    def _stripe_checkout(self, order: Order, title: str, *, save_card: bool) -> PaymentLink:
        stripe = self._providers.stripe
        customer = None
        if save_card:
            account = self._accounts.get(order.payer_id)
            card = account.profile.saved_card if account is not None else None
            customer = stripe.ensure_customer(
                payer_id=order.payer_id,
                existing=card.customer_ref if card is not None else None,
                idempotency_key=f"customer-{order.payer_id}",
            )
        link = stripe.create_checkout_session(
            order_id=order.id,
            amount=order.amount,
            currency=order.currency.value,
            description=title,
            customer=customer,
            save_card=save_card,
            success_url=self._settings.payment_return_url,
            cancel_url=self._settings.payment_return_url,
            idempotency_key=f"checkout-{order.id}",
        )
        order = self._payments.attach_provider_ref(
            order, link.session_id, save_card=save_card, customer=customer
        )
        return PaymentLink(link.url, order)

    def _payment_order(self, order: Order) -> PaymentDocument:
        """The payment order in the Payer's language. Its purpose is worded from the order's
        purpose, not from `start`'s title, which is the caller's text for payment providers."""
        from billing.documents.render import render_payment_order

        config = self._settings
        account = self._accounts.get(order.payer_id)
        profile = account.profile if account is not None else None
        lang = profile.language if profile is not None else DEFAULT_LANGUAGE
        issued_on = order.created_at.date()
        document = PaymentOrderDocument(
            order_number=order.id,
            issued_on=issued_on,
            seller=Party(config.seller_name, config.seller_address, "LT"),
            seller_vat_number=(
                config.seller_vat_number if issued_on >= config.seller_vat_number_from else None
            ),
            bank=BankDetails(
                config.seller_bank_beneficiary,
                config.seller_iban,
                config.seller_bic,
                config.seller_bank_name,
            ),
            buyer=Party(
                name=(profile.name if profile else None)
                or message(lang, "doc_buyer_unnamed", id=order.payer_id),
                address=profile.address if profile else None,
                country=profile.country if profile else None,
                vat_id=profile.vat_id if profile else None,
            ),
            currency=order.currency.value,
            amount=order.amount,
            minimum=minimum_for(PaymentMethod.BANK_TRANSFER, order.currency),
            purpose=message(lang, f"doc_purpose_{order.purpose.value}"),
            valid_until=issued_on + PAYMENT_ORDER_VALID,
            language=lang,
        )
        return PaymentDocument(
            f"payment-order-{order.id}.pdf", render_payment_order(document), order
        )


def _seconds_left(order: Order, now: datetime) -> int:
    """How long a crypto invoice may stay open: until its order expires."""
    from billing.providers.cryptopay import MAX_EXPIRES_IN  # loaded only to pay by crypto

    if order.expires_at is None:
        return MAX_EXPIRES_IN
    return max(1, min(MAX_EXPIRES_IN, whole_seconds(now, order.expires_at)))
