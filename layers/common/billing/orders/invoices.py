"""Issuing invoices (SPEC §8): a gapless number taken inside the charge's transaction, and
the document as issued, kept so it can be sent again and rendered identically later.

The number comes from a counter item advanced in the same TransactWriteItems as the ledger
entry, so a charge that does not happen takes no number, and two concurrent charges cannot
take the same one (one transaction is cancelled, reads the counter again and retries).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from billing.config import Settings
from billing.documents.model import DocumentLine, InvoiceDocument, Party
from billing.documents.wording import date_range
from billing.domain.catalog import Catalog
from billing.domain.pricing import Quote
from billing.domain.profile import PaymentMethod
from billing.domain.tax import NOT_SUBJECT, REVERSE_CHARGE
from billing.i18n import DEFAULT_LANGUAGE, message, plural
from billing.ledger.service import RetryablePart
from billing.store.accounts import AccountsRepository
from billing.store.orders import OrdersRepository, invoice_number
from billing.store.transactions import TxnPart


@dataclass(frozen=True)
class InvoiceSubject:
    """What a charge for a subscription bought: written on its invoice."""

    payer_id: int
    quote: Quote
    subscription_id: str
    period_start: datetime
    period_end: datetime
    paid_by: str  # a payment method's `label`, or WALLET_BALANCE
    order_id: str | None = None


WALLET_BALANCE = "wallet balance"  # paid_by of a charge the balance covered without an order

# The invoice names how it was paid and why it charges no VAT in the Payer's language.
_PAID_BY_KEYS = {method.label: f"doc_paid_by_{method.value}" for method in PaymentMethod} | {
    WALLET_BALANCE: "doc_paid_by_wallet"
}
_VAT_NOTE_KEYS = {REVERSE_CHARGE: "doc_vat_reverse_charge", NOT_SUBJECT: "doc_vat_not_subject"}


class InvoiceIssuer:
    def __init__(
        self,
        *,
        orders: OrdersRepository,
        accounts: AccountsRepository,
        catalog: Catalog,
        settings: Settings,
    ) -> None:
        self._orders = orders
        self._accounts = accounts
        self._catalog = catalog
        self._settings = settings

    def parts(self, subject: InvoiceSubject, now: datetime, issued: list[str]) -> list[TxnPart]:
        """Transaction parts that issue the next invoice for `subject`; its number is put
        in `issued`. Called again on every attempt, so a lost race takes the next number."""
        value = self._orders.next_invoice_value()
        number = invoice_number(value)
        document = self.document(subject, number, now.date())
        issued[:] = [number]
        return [
            RetryablePart(part)
            for part in self._orders.invoice_parts(
                value,
                payer_id=subject.payer_id,
                created_at=now,
                total=subject.quote.total,
                currency=subject.quote.currency,
                subscription_id=subject.subscription_id,
                order_id=subject.order_id,
                document=document_to_json(document),
            )
        ]

    def document(self, subject: InvoiceSubject, number: str, issued_on: date) -> InvoiceDocument:
        config = self._settings
        account = self._accounts.get(subject.payer_id)
        profile = account.profile if account is not None else None
        lang = profile.language if profile is not None else DEFAULT_LANGUAGE
        fallback_name = (account.first_name if account is not None else None) or message(
            lang, "doc_buyer_unnamed", id=subject.payer_id
        )
        quote = subject.quote
        product = self._catalog.product(quote.product)
        line_titles = {line.id: line.titles[lang] for line in product.lines}
        months = plural(lang, "doc_months", quote.months)
        lines = tuple(
            DocumentLine(
                message(
                    lang,
                    "doc_line",
                    product=product.titles[lang],
                    item=line_titles[line.option],
                    quantity=line.quantity,
                    months=months,
                ),
                line.amount,
            )
            for line in quote.lines
        )
        with_vat_number = issued_on >= config.seller_vat_number_from
        return InvoiceDocument(
            number=number,
            issued_on=issued_on,
            seller=Party(config.seller_name, config.seller_address, "LT"),
            seller_vat_number=config.seller_vat_number if with_vat_number else None,
            buyer=Party(
                name=(profile.name if profile is not None else None) or fallback_name,
                address=profile.address if profile is not None else None,
                country=profile.country if profile is not None else None,
                vat_id=profile.vat_id if profile is not None else None,
            ),
            currency=quote.currency.value,
            lines=lines,
            subtotal=quote.subtotal,
            discount_percent=_plain(quote.discount_percent),
            discount=quote.discount,
            net=quote.net,
            vat_rate=_plain(quote.vat_rate),
            vat=quote.vat,
            vat_note=None if quote.note is None else message(lang, _VAT_NOTE_KEYS[quote.note]),
            total=quote.total,
            paid_by=message(lang, _PAID_BY_KEYS[subject.paid_by]),
            period=date_range(lang, subject.period_start.date(), subject.period_end.date()),
            order_number=subject.order_id,
            language=lang,
        )


def _plain(value: object) -> str:
    text = format(value, "f") if not isinstance(value, str) else value
    return text.rstrip("0").rstrip(".") if "." in text else text


def document_to_json(document: InvoiceDocument) -> dict[str, Any]:
    data = asdict(document)
    data["issued_on"] = document.issued_on.isoformat()
    return data


def document_from_json(data: dict[str, Any]) -> InvoiceDocument:
    return InvoiceDocument(
        **{
            **data,
            "issued_on": date.fromisoformat(data["issued_on"]),
            "seller": Party(**data["seller"]),
            "buyer": Party(**data["buyer"]),
            "lines": tuple(DocumentLine(**line) for line in data["lines"]),
        }
    )
