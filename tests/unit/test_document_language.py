"""SPEC §8, §10: invoices and payment orders come out in the Payer's language (English or
Russian), labels from the `documents` catalog, texts built in that language; documents stored
before they had a language still render, in English."""

from __future__ import annotations

import json
import re
import string
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from babel.messages.pofile import read_po

from billing import i18n
from billing.config import Settings
from billing.documents.model import DocumentLine, InvoiceDocument
from billing.documents.render import render_invoice, render_payment_order
from billing.documents.wording import long_date
from billing.domain.catalog import default_catalog
from billing.domain.money import Currency
from billing.domain.pricing import build_quote
from billing.domain.profile import BillingProfile, PaymentMethod
from billing.domain.tax import TaxProfile
from billing.orders.checkout import Checkout, PaymentDocument
from billing.orders.invoices import (
    WALLET_BALANCE,
    InvoiceIssuer,
    InvoiceSubject,
    document_from_json,
    document_to_json,
)
from billing.orders.model import Order, OrderStatus, Purpose
from billing.store.accounts import Account
from tests.unit.test_documents import (
    CYRILLIC_BUYER,
    GERMAN_BUYER,
    invoice,
    lines_of,
    payment_order,
    text_of,
)

PAYER = 11
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

RUSSIAN_INVOICE = invoice(
    language="ru",
    buyer=CYRILLIC_BUYER,
    lines=(DocumentLine("Софтфон: SIP-аккаунты × 5, 12 месяцев", 30000),),
    period="1 марта 2026 г. – 1 марта 2027 г.",
    paid_by="картой через Stripe",
)
RUSSIAN_ORDER = payment_order(language="ru", purpose="Пополнение баланса SIP.TG")


def english_label_words() -> set[str]:
    """Words of the English document texts that the Russian ones do not share (IBAN, SIP.TG
    and the providers' names are the same in both)."""

    def words(lang: str) -> set[str]:
        path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "documents.po"
        with path.open("rb") as stream:
            catalog = read_po(stream, locale=lang)
        found = set()
        for entry in (entry for entry in catalog if entry.id):
            for text in entry.string if isinstance(entry.string, tuple) else (entry.string,):
                plain = "".join(part for part, *_ in string.Formatter().parse(text))
                found |= set(re.findall(r"[A-Za-z]{2,}", plain))
        return found

    return words("en") - words("ru")


def latin_words(pdf: bytes) -> set[str]:
    return set(re.findall(r"[A-Za-z]{2,}", text_of(pdf)))


def test_a_russian_invoice_has_russian_labels_and_no_english_ones() -> None:
    pdf = render_invoice(RUSSIAN_INVOICE)
    lines = lines_of(pdf)

    for expected in [
        "Счёт № INV-000042",
        "Дата: 1 марта 2026 г.",
        "Номер заказа: ORD-000017",
        "Период: 1 марта 2026 г. – 1 марта 2027 г.",
        "Продавец",
        "Номер плательщика НДС: LT100018548216",
        "Покупатель",
        "ООО «Ромашка»",
        "Страна: Россия (RU)",
        "Наименование Сумма",
        "Софтфон: SIP-аккаунты × 5, 12 месяцев 300.00 EUR",
        "Сумма без скидки: 300.00 EUR",
        "Скидка 10%: -30.00 EUR",
        "Сумма без НДС: 270.00 EUR",
        "НДС 19%: 51.30 EUR",
        "Итого: 321.30 EUR",
        "Оплачено: картой через Stripe",
    ]:
        assert expected in lines
    assert not latin_words(pdf) & english_label_words()


def test_a_russian_reverse_charge_invoice_shows_vat_0_and_the_russian_note() -> None:
    doc = replace(
        RUSSIAN_INVOICE, vat_rate="0", vat=0, vat_note="Обратное начисление НДС", total=27000
    )
    lines = lines_of(render_invoice(doc))

    vat = lines.index("НДС 0%: 0.00 EUR")
    assert lines[vat + 1] == "Обратное начисление НДС"


def test_a_russian_payment_order_has_russian_labels_and_no_english_ones() -> None:
    pdf = render_payment_order(RUSSIAN_ORDER)
    lines = lines_of(pdf)

    for expected in [
        "Счёт на оплату № ORD-000007",
        "Дата: 2 марта 2026 г.",
        "Действителен до: 16 марта 2026 г.",
        "Банковские реквизиты",
        "Получатель: SIP.TG UAB",
        "IBAN: LT121000011101001000",
        "SWIFT-код: HABALT22",
        "Банк получателя: Swedbank AB",
        "Налоговый номер: 7707083893",
        "Сумма к оплате: 150.00 EUR",
        "Минимальная сумма банковского перевода в EUR: 100.00 EUR",
        "Назначение платежа: Пополнение баланса SIP.TG",
        "Номер заказа для перевода: ORD-000007",
    ]:
        assert expected in lines
    flat = " ".join(text_of(pdf).split())
    assert "зачисляется на ваш баланс, когда поддержка подтвердит получение денег." in flat
    assert flat.endswith("Счёт действителен до 16 марта 2026 г.")
    assert not latin_words(pdf) & english_label_words()


def test_english_documents_have_english_labels_only() -> None:
    for pdf in (
        render_invoice(invoice()),
        render_payment_order(payment_order(buyer=GERMAN_BUYER)),
    ):
        assert {"Seller", "Buyer", "Date"} <= latin_words(pdf) & english_label_words()
        assert not re.search(r"[А-яЁё]", text_of(pdf))


def test_an_invoice_stored_before_documents_had_a_language_renders_in_english() -> None:
    # As InvoiceIssuer stored it then: no "language", ISO dates in the period, English texts.
    stored = json.loads(
        """{"number": "INV-000007", "issued_on": "2026-03-01",
        "seller": {"name": "SIP.TG UAB", "address": "Vilnius, Lithuania", "country": "LT",
                   "vat_id": null},
        "seller_vat_number": "LT100018548216",
        "buyer": {"name": "Exemple SARL", "address": null, "country": "FR",
                  "vat_id": "FR40303265045"},
        "currency": "EUR",
        "lines": [{"description": "Softphone: SIP accounts x 5, 12 months", "amount": 30000}],
        "subtotal": 30000, "discount_percent": "10", "discount": 3000, "net": 27000,
        "vat_rate": "0", "vat": 0, "vat_note": "reverse charge", "total": 27000,
        "paid_by": "card via Stripe", "period": "2026-03-01 – 2027-03-01",
        "order_number": "260301-ABC123"}"""
    )
    doc = document_from_json(stored)
    lines = lines_of(render_invoice(doc))

    assert doc.language == "en"
    for expected in [
        "Invoice INV-000007",
        "Date: 1 March 2026",
        "Period: 2026-03-01 – 2027-03-01",
        "VAT 0%: 0.00 EUR",
        "reverse charge",
        "Total: 270.00 EUR",
        "Paid by: card via Stripe",
    ]:
        assert expected in lines
    assert document_from_json(document_to_json(RUSSIAN_INVOICE)) == RUSSIAN_INVOICE


@pytest.mark.parametrize(
    ("lang", "day", "written"),
    [
        ("en", date(2027, 3, 1), "1 March 2027"),
        ("ru", date(2027, 3, 1), "1 марта 2027 г."),
        ("ru", date(2026, 8, 31), "31 августа 2026 г."),
        ("de", date(2026, 12, 24), "24 December 2026"),
    ],
)
def test_dates_are_written_out_in_the_language(lang: str, day: date, written: str) -> None:
    assert long_date(lang, day) == written


# --- building the documents for a Payer --------------------------------------------------


class OneAccount:
    """The accounts repository as the document builders use it: one Payer."""

    def __init__(self, language: str, profile: BillingProfile) -> None:
        self.account = Account(
            user_id=PAYER,
            created_at=NOW,
            language=language,
            first_name="Ivan",
            username=None,
            start_parameter=None,
            profile=profile,
        )

    def get(self, user_id: int) -> Account | None:
        return self.account if user_id == PAYER else None


def issued(
    language: str, *, tax: TaxProfile, paid_by: str, name: str | None = "Иван"
) -> InvoiceDocument:
    catalog = default_catalog()
    issuer = InvoiceIssuer(
        orders=None,  # type: ignore[arg-type]
        accounts=OneAccount(language, BillingProfile(country=tax.country, name=name)),  # type: ignore[arg-type]
        catalog=catalog,
        settings=Settings(),
    )
    subject = InvoiceSubject(
        payer_id=PAYER,
        quote=build_quote(catalog, "softphone", {"sip_accounts": 5}, 12, "EUR", tax),
        subscription_id="sub-1",
        period_start=NOW,
        period_end=datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
        paid_by=paid_by,
        order_id="260301-ABC123",
    )
    return issuer.document(subject, "INV-000042", NOW.date())


def test_a_russian_payers_invoice_is_built_in_russian() -> None:
    doc = issued("ru", tax=TaxProfile("FR", "FR40303265045"), paid_by="card via Stripe")

    assert doc.language == "ru"
    assert doc.lines == (DocumentLine("Софтфон: SIP-аккаунты × 5, 12 месяцев", 18000),)
    assert doc.period == "1 марта 2026 г. – 1 марта 2027 г."
    assert doc.paid_by == "картой через Stripe"
    assert doc.vat_note == "Обратное начисление НДС"
    lines = lines_of(render_invoice(doc))
    assert "НДС 0%: 0.00 EUR" in lines and "Обратное начисление НДС" in lines


def test_an_english_payers_invoice_is_built_in_english() -> None:
    doc = issued("en", tax=TaxProfile("US"), paid_by=WALLET_BALANCE, name=None)

    assert doc.language == "en"
    assert doc.lines == (DocumentLine("Softphone: SIP accounts × 5, 12 months", 18000),)
    assert doc.period == "1 March 2026 – 1 March 2027"
    assert doc.paid_by == "wallet balance"
    assert doc.vat_note == "Not subject to EU VAT"
    assert doc.buyer.name == "Ivan"


@pytest.mark.parametrize("method", list(PaymentMethod))
def test_every_payment_method_is_named_on_the_invoice_in_both_languages(
    method: PaymentMethod,
) -> None:
    english = issued("en", tax=TaxProfile("DE"), paid_by=method.label)
    russian = issued("ru", tax=TaxProfile("DE"), paid_by=method.label)

    assert english.paid_by == method.label
    assert not re.search(r"\b(card|via|in|crypto|bank|transfer)\b", russian.paid_by)


def payment_document(language: str, purpose: Purpose) -> PaymentDocument:
    profile = BillingProfile(country="RU", name="ООО «Ромашка»", vat_id="7707083893")
    checkout = Checkout(
        payments=None,  # type: ignore[arg-type]
        providers=None,  # type: ignore[arg-type]
        accounts=OneAccount(language, profile),  # type: ignore[arg-type]
        settings=Settings(),
        clock=None,  # type: ignore[arg-type]
    )
    order = Order(
        id="260301-ABC123",
        payer_id=PAYER,
        purpose=purpose,
        amount=1_500_000,
        currency=Currency.RUB,
        method=PaymentMethod.BANK_TRANSFER,
        status=OrderStatus.PENDING,
        created_at=NOW,
        updated_at=NOW,
    )
    started = checkout.start(order, title="Softphone, 12 mo")
    assert isinstance(started, PaymentDocument)
    return started


def test_a_russian_payers_payment_order_is_in_russian() -> None:
    lines = lines_of(payment_document("ru", Purpose.CONNECT).content)

    assert "Счёт на оплату № 260301-ABC123" in lines
    assert "Назначение платежа: Оплата подписки SIP.TG" in lines
    assert "Сумма к оплате: 15000.00 RUB" in lines


def test_an_english_payers_payment_order_is_in_english() -> None:
    lines = lines_of(payment_document("en", Purpose.TOP_UP).content)

    assert "Payment order 260301-ABC123" in lines
    assert "Purpose: Top-up of the SIP.TG balance" in lines
    assert "Amount to pay: 15000.00 RUB" in lines
