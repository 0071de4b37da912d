"""What an invoice or a payment order says, as plain values (minor units, ISO codes).

Built by the orders code from the stored order, the quote and the Payer's profile; rendered
by `billing.documents.render`. Nothing here knows fpdf or DynamoDB.

A document is written in its reader's (the Payer's) `language`: the texts it carries (line
descriptions, period, how it was paid, the VAT note, the purpose) are built in that language,
and the renderer takes every label from the catalog in it. Documents stored before documents
had a language carry English texts, which is what the default gives them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from billing.i18n import DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Party:
    name: str
    address: str | None = None
    country: str | None = None  # ISO 3166 alpha-2
    vat_id: str | None = None  # tax number as stored in the profile


@dataclass(frozen=True)
class DocumentLine:
    description: str  # e.g. "Softphone: SIP accounts × 5, 12 months"
    amount: int  # minor units, before discount


@dataclass(frozen=True)
class InvoiceDocument:
    number: str  # gapless, e.g. "INV-000042"
    issued_on: date
    seller: Party
    seller_vat_number: str | None  # None for invoices issued before the seller's VAT date
    buyer: Party
    currency: str  # EUR / USD / RUB
    lines: tuple[DocumentLine, ...]
    subtotal: int
    discount_percent: str  # "10" or "0"
    discount: int
    net: int
    vat_rate: str  # "19" / "25.5" / "0"
    vat: int
    vat_note: str | None  # why no VAT is charged: "Reverse charge" / "Not subject to EU VAT"
    total: int
    paid_by: str  # "wallet balance", "card via Stripe", ...
    period: str  # "1 March 2026 – 1 March 2027"
    order_number: str | None = None
    language: str = DEFAULT_LANGUAGE  # "en" / "ru"


@dataclass(frozen=True)
class BankDetails:
    beneficiary: str
    iban: str
    bic: str
    bank_name: str


@dataclass(frozen=True)
class PaymentOrderDocument:
    order_number: str  # the reference the buyer must quote in the transfer
    issued_on: date
    seller: Party
    seller_vat_number: str | None
    bank: BankDetails
    buyer: Party
    currency: str
    amount: int  # minor units to transfer
    minimum: int  # the bank-transfer minimum for this currency (SPEC §4)
    purpose: str  # "Top-up of the SIP.TG balance", "Payment for a SIP.TG subscription"
    valid_until: date
    language: str = DEFAULT_LANGUAGE  # "en" / "ru"
