"""SPEC §8 PDFs: what a reader (or a text extractor) finds in the invoice and payment order.

Text is extracted with pypdf, so the assertions also prove the embedded font maps glyphs
back to Unicode: a Cyrillic name that only looks right on screen would fail here.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from billing.documents import render
from billing.documents.model import (
    BankDetails,
    DocumentLine,
    InvoiceDocument,
    Party,
    PaymentOrderDocument,
)
from billing.documents.render import render_invoice, render_payment_order

ROOT = Path(__file__).resolve().parents[2]

SELLER = Party(
    name="SIP.TG UAB",
    address="Gedimino pr. 1, LT-01103 Vilnius",
    country="LT",
    vat_id="LT100018548216",
)
CYRILLIC_BUYER = Party(
    name="ООО «Ромашка»",
    address="Россия, 123456, г. Москва, ул. Большая Садовая, д. 10, кв. 50",
    country="RU",
)
GERMAN_BUYER = Party(name="Muster GmbH", address="Hauptstraße 5, 10115 Berlin", country="DE")
FRENCH_COMPANY = Party(
    name="Exemple SARL",
    address="1 rue de Rivoli, 75001 Paris",
    country="FR",
    vat_id="FR40303265045",
)


CJK_BUYER = Party(
    name="山田太郎", address="東京都千代田区1-1, 김민준 님 방, ひらがな", country="JP"
)


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def lines_of(pdf: bytes) -> list[str]:
    return [line.strip() for line in text_of(pdf).splitlines()]


def embedded_fonts(pdf: bytes) -> set[str]:
    """Base names of the fonts the pages use, without the subset tag ("DejaVuSansBook")."""
    return {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for page in PdfReader(io.BytesIO(pdf)).pages
        for font in page["/Resources"]["/Font"].values()
    }


def invoice(**changes: object) -> InvoiceDocument:
    """An EU (DE, 19 %) invoice with a 10 % discount: 300.00 - 30.00 = 270.00 + 51.30 VAT."""
    base = InvoiceDocument(
        number="INV-000042",
        issued_on=date(2026, 3, 1),
        seller=SELLER,
        seller_vat_number="LT100018548216",
        buyer=GERMAN_BUYER,
        currency="EUR",
        lines=(DocumentLine("Softphone: SIP accounts × 5, 12 months", 30000),),
        subtotal=30000,
        discount_percent="10",
        discount=3000,
        net=27000,
        vat_rate="19",
        vat=5130,
        vat_note=None,
        total=32130,
        paid_by="card via Stripe",
        period="1 March 2026 – 1 March 2027",
        order_number="ORD-000017",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def zero_vat_invoice(buyer: Party, note: str) -> InvoiceDocument:
    return invoice(
        buyer=buyer, vat_rate="0", vat=0, vat_note=note, total=27000, paid_by="wallet balance"
    )


def payment_order(**changes: object) -> PaymentOrderDocument:
    base = PaymentOrderDocument(
        order_number="ORD-000007",
        issued_on=date(2026, 3, 2),
        seller=SELLER,
        seller_vat_number="LT100018548216",
        bank=BankDetails(
            beneficiary="SIP.TG UAB",
            iban="LT121000011101001000",
            bic="HABALT22",
            bank_name="Swedbank AB",
        ),
        buyer=replace(CYRILLIC_BUYER, vat_id="7707083893"),
        currency="EUR",
        amount=15000,
        minimum=10000,
        purpose="Top-up of the SIP.TG balance",
        valid_until=date(2026, 3, 16),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_eu_vat_invoice_says_everything_spec_8_lists() -> None:
    lines = lines_of(render_invoice(invoice()))

    for expected in [
        "Invoice INV-000042",
        "Date: 1 March 2026",
        "Order number: ORD-000017",
        "Period: 1 March 2026 – 1 March 2027",
        "SIP.TG UAB",
        "Gedimino pr. 1, LT-01103 Vilnius",
        "VAT number: LT100018548216",
        "Muster GmbH",
        "Hauptstraße 5, 10115 Berlin",
        "Country: Germany (DE)",
        "Softphone: SIP accounts × 5, 12 months 300.00 EUR",
        "Subtotal: 300.00 EUR",
        "Discount 10%: -30.00 EUR",
        "Net: 270.00 EUR",
        "VAT 19%: 51.30 EUR",
        "Total: 321.30 EUR",
        "Paid by: card via Stripe",
    ]:
        assert expected in lines
    assert not any(line.startswith("Tax number") for line in lines)


def test_cyrillic_buyer_name_and_address_extract_exactly() -> None:
    lines = lines_of(render_invoice(invoice(buyer=CYRILLIC_BUYER)))

    assert "ООО «Ромашка»" in lines
    assert "Россия, 123456, г. Москва, ул. Большая Садовая, д. 10, кв. 50" in lines
    assert "Country: Russia (RU)" in lines


def test_reverse_charge_invoice_shows_vat_0_and_the_note() -> None:
    lines = lines_of(render_invoice(zero_vat_invoice(FRENCH_COMPANY, "Reverse charge")))

    vat = lines.index("VAT 0%: 0.00 EUR")
    assert lines[vat + 1] == "Reverse charge"
    assert "Tax number: FR40303265045" in lines
    assert "Total: 270.00 EUR" in lines


def test_not_subject_invoice_shows_vat_0_and_the_note() -> None:
    lines = lines_of(render_invoice(zero_vat_invoice(CYRILLIC_BUYER, "Not subject to EU VAT")))

    vat = lines.index("VAT 0%: 0.00 EUR")
    assert lines[vat + 1] == "Not subject to EU VAT"
    assert "Paid by: wallet balance" in lines


def test_chinese_japanese_and_korean_names_print_with_the_fallback_font() -> None:
    pdf = render_invoice(invoice(buyer=CJK_BUYER))
    lines = lines_of(pdf)

    assert "山田太郎" in lines
    assert "東京都千代田区1-1, 김민준 님 방, ひらがな" in lines
    assert "Country: Japan (JP)" in lines
    assert "NotoSansCJKJP" in embedded_fonts(pdf)


def test_a_payment_order_prints_a_cjk_name_in_a_bold_line_too() -> None:
    pdf = render_payment_order(payment_order(buyer=CJK_BUYER, purpose="山田太郎 様"))

    assert "山田太郎" in lines_of(pdf)
    assert "Purpose: 山田太郎 様" in lines_of(pdf)


def test_a_name_in_a_script_no_bundled_font_has_leaves_only_itself_blank() -> None:
    lines = lines_of(render_invoice(invoice(buyer=Party("ሰላም", "Addis Ababa", "ET"))))

    assert lines[lines.index("Buyer") + 1 :][:2] == ["Addis Ababa", "Country: Ethiopia (ET)"]


def test_the_fallback_font_is_only_embedded_when_a_document_needs_it() -> None:
    assert embedded_fonts(render_invoice(invoice(buyer=CYRILLIC_BUYER))) == {
        "DejaVuSansBook",
        "DejaVuSansBold",
    }


def test_rendering_logs_no_names_addresses_or_their_glyphs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from fontTools.ttLib import TTFont

    # CJK (the fallback font), Cyrillic (DejaVu), an emoji and Ethiopic (in no bundled font).
    buyer = Party(name="山田太郎 Ромашкин 😀", address="ሰላም ул. Садовая, 東京", country="RU")
    secrets = {char for char in buyer.name + (buyer.address or "") if ord(char) > 127}
    glyph_names = set()
    for path in (render.REGULAR_FONT, render.BOLD_FONT, render.FALLBACK_FONT):
        cmap = TTFont(path, lazy=True).getBestCmap()
        glyph_names |= {cmap[ord(char)] for char in secrets if ord(char) in cmap}
    forbidden = (
        secrets
        | glyph_names
        | {f"{ord(char):04x}" for char in secrets}
        | {f"{ord(char):04X}" for char in secrets}
        | {"Садовая", "ሰላም"}
    )

    with caplog.at_level(logging.DEBUG):
        render_invoice(invoice(buyer=buyer))
        render_payment_order(payment_order(buyer=buyer))

    for record in caplog.records:
        logged = f"{record.name} {record.getMessage()} {record.args!r}"
        assert not [word for word in forbidden if word in logged], logged
    # What is left out is still told, as a count: the three Ethiopic letters and the emoji.
    assert [record.getMessage() for record in caplog.records if record.name == render.log.name] == [
        "Invoice INV-000042: 4 characters are in no bundled font, left blank",
        "Payment order ORD-000007: 4 characters are in no bundled font, left blank",
    ]


def test_invoice_before_the_seller_vat_date_shows_no_vat_number() -> None:
    # The seller Party still carries its VAT id; only seller_vat_number decides (SPEC §6).
    doc = invoice(number="INV-000001", issued_on=date(2025, 7, 8), seller_vat_number=None)
    text = text_of(render_invoice(doc))

    assert "Invoice INV-000001" in text
    assert "VAT number" not in text
    assert "LT100018548216" not in text


@pytest.mark.parametrize("percent", ["0", "10"])
def test_no_discount_line_without_a_discount(percent: str) -> None:
    # "10" with nothing taken off: a subtotal too small for 10 % to round to a cent.
    doc = invoice(discount_percent=percent, discount=0, net=30000, vat=5700, total=35700)
    lines = lines_of(render_invoice(doc))

    assert not any(line.startswith("Discount") for line in lines)
    assert "VAT 19%: 57.00 EUR" in lines
    assert "Total: 357.00 EUR" in lines


def test_fractional_vat_rate_is_printed_as_given() -> None:
    lines = lines_of(render_invoice(invoice(vat_rate="25.5", vat=6885, total=33885)))

    assert "VAT 25.5%: 68.85 EUR" in lines


def test_long_address_wraps_inside_the_page() -> None:
    address = ", ".join(["Очень длинная улица имени героев труда, строение 15"] * 6)
    doc = invoice(buyer=replace(CYRILLIC_BUYER, address=address))
    pdf = render_invoice(doc)

    # Wrapped: the address comes back on several lines, and nothing of it is lost.
    assert address not in lines_of(pdf)
    assert " ".join(address.split()) in " ".join(text_of(pdf).split())
    # Each printed line fits between the margins, measured with the same font and size.
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

    meter = FPDF(format="A4")
    meter.add_font(render.FONT_FAMILY, "", render.REGULAR_FONT)
    meter.set_font(render.FONT_FAMILY, "", 10)
    width = meter.w - 2 * render.MARGIN_MM
    printed = [line for line in lines_of(pdf) if "Очень" in line or "строение" in line]
    widths = [meter.get_string_width(line) for line in printed]
    for font in meter.fonts.values():
        if isinstance(font, TTFFont):
            font.close()
    assert len(printed) > 1
    assert max(widths) <= width


def test_many_lines_flow_onto_more_pages() -> None:
    many = tuple(
        DocumentLine(f"Extra number +7 495 000-00-{i:02d}, 12 months", 1200) for i in range(80)
    )
    pdf = render_invoice(invoice(lines=many))

    assert len(PdfReader(io.BytesIO(pdf)).pages) > 1
    text = text_of(pdf)
    assert "Extra number +7 495 000-00-79, 12 months" in text
    assert "Total: 321.30 EUR" in text


def test_rendering_is_deterministic() -> None:
    assert render_invoice(invoice()) == render_invoice(invoice())
    assert render_payment_order(payment_order()) == render_payment_order(payment_order())


def test_payment_order_has_bank_details_amount_minimum_and_reference() -> None:
    pdf = render_payment_order(payment_order())
    lines = lines_of(pdf)

    for expected in [
        "Payment order ORD-000007",
        "Date: 2 March 2026",
        "Valid until: 16 March 2026",
        "SIP.TG UAB",
        "VAT number: LT100018548216",
        "Beneficiary: SIP.TG UAB",
        "IBAN: LT121000011101001000",
        "BIC: HABALT22",
        "Bank: Swedbank AB",
        "ООО «Ромашка»",
        "Россия, 123456, г. Москва, ул. Большая Садовая, д. 10, кв. 50",
        "Country: Russia (RU)",
        "Tax number: 7707083893",
        "Amount to pay: 150.00 EUR",
        "Minimum for a bank transfer in EUR: 100.00 EUR",
        "Purpose: Top-up of the SIP.TG balance",
        "Reference: ORD-000007",
    ]:
        assert expected in lines
    flat = " ".join(text_of(pdf).split())
    assert "credited to your balance when support confirms" in flat


def test_payment_order_in_rubles_without_seller_vat_number() -> None:
    doc = payment_order(seller_vat_number=None, currency="RUB", amount=1500000, minimum=1000000)
    lines = lines_of(render_payment_order(doc))

    assert "Amount to pay: 15000.00 RUB" in lines
    assert "Minimum for a bank transfer in RUB: 10000.00 RUB" in lines
    assert not any(line.startswith("VAT number") for line in lines)


def test_fonts_ship_inside_the_package() -> None:
    package = ROOT / "layers" / "common" / "billing"
    for font in (render.REGULAR_FONT, render.BOLD_FONT, render.FALLBACK_FONT):
        assert font.is_file()
        assert font.is_relative_to(package)
    assert (render.FONTS_DIR / "LICENSE").is_file()
    assert (render.FONTS_DIR / "OFL-NotoSansCJK.txt").is_file()


@pytest.mark.parametrize("module", ["billing.documents.render", "billing.documents"])
def test_importing_the_renderer_does_not_import_fpdf(module: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; assert 'fpdf' not in sys.modules, 'fpdf imported'",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
