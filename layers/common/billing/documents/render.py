"""Invoice and payment-order PDFs (SPEC §8), drawn with fpdf2 and the bundled DejaVu font.

The layout is built first as plain blocks, so what a document says is decided without fpdf;
only `_draw` imports fpdf, lazily, because most Lambdas that load this layer never render a PDF
and fpdf would cost them cold-start time. DejaVu is embedded because the core PDF fonts have
no Cyrillic, and buyers' names and addresses often are Russian.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from billing.documents.model import InvoiceDocument, Party, PaymentOrderDocument
from billing.domain.money import format_minor

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVu"
REGULAR_FONT = FONTS_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"

MARGIN_MM = 15.0
AMOUNT_COLUMN_MM = 45.0


@dataclass(frozen=True)
class _Text:
    """A paragraph that wraps at the right margin (addresses can be long)."""

    text: str
    bold: bool = False
    size: float = 10.0
    align: str = "L"


@dataclass(frozen=True)
class _Gap:
    height: float = 4.0


@dataclass(frozen=True)
class _Lines:
    """The invoice's priced lines: description left (wrapping), amount right."""

    rows: tuple[tuple[str, str], ...]


type _Block = _Text | _Gap | _Lines


def render_invoice(doc: InvoiceDocument) -> bytes:
    """The invoice PDF for one subscription charge."""
    return _draw(
        title=f"Invoice {doc.number}",
        author=doc.seller.name,
        issued_on=doc.issued_on,
        blocks=_invoice_blocks(doc),
    )


def render_payment_order(doc: PaymentOrderDocument) -> bytes:
    """The PDF a Payer takes to the bank to pay an order by transfer."""
    return _draw(
        title=f"Payment order {doc.order_number}",
        author=doc.seller.name,
        issued_on=doc.issued_on,
        blocks=_payment_order_blocks(doc),
    )


def _invoice_blocks(doc: InvoiceDocument) -> list[_Block]:
    def money(amount: int) -> str:
        return format_minor(amount, doc.currency)

    blocks: list[_Block] = [
        _Text(f"Invoice {doc.number}", bold=True, size=18),
        _Gap(2),
        _Text(f"Date: {doc.issued_on.isoformat()}"),
    ]
    if doc.order_number is not None:
        blocks.append(_Text(f"Order number: {doc.order_number}"))
    blocks.append(_Text(f"Period: {doc.period}"))
    blocks += [_Gap(), _Text("Seller", bold=True)]
    # The seller's VAT number is the document's own field, never seller.vat_id: invoices dated
    # before the seller's VAT registration must not show one (SPEC §6).
    blocks += _party(doc.seller, tax_label="VAT number", tax_id=doc.seller_vat_number)
    blocks += [_Gap(), _Text("Buyer", bold=True)]
    blocks += _party(doc.buyer, tax_label="Tax number", tax_id=doc.buyer.vat_id)
    blocks += [
        _Gap(6),
        _Lines(tuple((line.description, money(line.amount)) for line in doc.lines)),
        _Gap(),
        _Text(f"Subtotal: {money(doc.subtotal)}", align="R"),
    ]
    if doc.discount > 0:
        blocks.append(_Text(f"Discount {doc.discount_percent}%: {money(-doc.discount)}", align="R"))
    blocks.append(_Text(f"Net: {money(doc.net)}", align="R"))
    # A reverse-charge or not-subject invoice states why no VAT is charged instead of "VAT 0%".
    if doc.vat_note is None:
        blocks.append(_Text(f"VAT {doc.vat_rate}%: {money(doc.vat)}", align="R"))
    else:
        blocks.append(_Text(doc.vat_note, align="R"))
    blocks += [
        _Text(f"Total: {money(doc.total)}", bold=True, size=12, align="R"),
        _Gap(6),
        _Text(f"Paid by: {doc.paid_by}"),
    ]
    return blocks


def _payment_order_blocks(doc: PaymentOrderDocument) -> list[_Block]:
    def money(amount: int) -> str:
        return format_minor(amount, doc.currency)

    blocks: list[_Block] = [
        _Text(f"Payment order {doc.order_number}", bold=True, size=18),
        _Gap(2),
        _Text(f"Date: {doc.issued_on.isoformat()}"),
        _Text(f"Valid until: {doc.valid_until.isoformat()}"),
        _Gap(),
        _Text("Seller", bold=True),
    ]
    blocks += _party(doc.seller, tax_label="VAT number", tax_id=doc.seller_vat_number)
    blocks += [
        _Gap(),
        _Text("Bank details", bold=True),
        _Text(f"Beneficiary: {doc.bank.beneficiary}"),
        _Text(f"IBAN: {doc.bank.iban}"),
        _Text(f"BIC: {doc.bank.bic}"),
        _Text(f"Bank: {doc.bank.bank_name}"),
        _Gap(),
        _Text("Buyer", bold=True),
    ]
    blocks += _party(doc.buyer, tax_label="VAT id", tax_id=doc.buyer.vat_id)
    blocks += [
        _Gap(6),
        _Text(f"Amount to pay: {money(doc.amount)}", bold=True, size=12),
        _Text(f"Minimum for a bank transfer in {doc.currency}: {money(doc.minimum)}"),
        _Text(f"Purpose: {doc.purpose}"),
        _Gap(),
        _Text(f"Reference: {doc.order_number}", bold=True, size=12),
        _Text(
            "Quote this reference in the payment details of the transfer, exactly as written, "
            "so that the payment can be matched to this order."
        ),
        _Gap(),
        _Text(
            f"Valid until: {doc.valid_until.isoformat()}. The payment is credited to your "
            "balance when support confirms that the money has been received."
        ),
    ]
    return blocks


def _party(party: Party, *, tax_label: str, tax_id: str | None) -> list[_Block]:
    blocks: list[_Block] = [_Text(party.name)]
    if party.address:
        blocks.append(_Text(party.address))
    if party.country:
        blocks.append(_Text(f"Country: {party.country}"))
    if tax_id:
        blocks.append(_Text(f"{tax_label}: {tax_id}"))
    return blocks


def _draw(*, title: str, author: str, issued_on: date, blocks: list[_Block]) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos
    from fpdf.fonts import TTFFont

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    try:
        pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
        pdf.add_font(FONT_FAMILY, "", REGULAR_FONT)
        pdf.add_font(FONT_FAMILY, "B", BOLD_FONT)
        # A fixed creation date (the document's own) makes the same document render to the same
        # bytes, so a re-sent invoice is byte-identical to the stored one.
        pdf.set_creation_date(datetime.combine(issued_on, time(), tzinfo=UTC))
        pdf.set_title(title)
        pdf.set_author(author)
        pdf.set_creator("SIP.TG billing")
        pdf.set_lang("en")
        pdf.add_page()
        for block in blocks:
            if isinstance(block, _Gap):
                pdf.ln(block.height)
            elif isinstance(block, _Text):
                pdf.set_font(FONT_FAMILY, "B" if block.bold else "", block.size)
                pdf.multi_cell(
                    0,
                    block.size * 0.5,
                    block.text,
                    align=block.align,
                    new_x=XPos.LMARGIN,
                    new_y=YPos.NEXT,
                )
            else:
                pdf.set_font(FONT_FAMILY, "", 10)
                with pdf.table(
                    col_widths=(pdf.epw - AMOUNT_COLUMN_MM, AMOUNT_COLUMN_MM),
                    width=pdf.epw,
                    text_align=("LEFT", "RIGHT"),
                    borders_layout="HORIZONTAL_LINES",
                    line_height=5,
                ) as table:
                    table.row(("Description", "Amount"))
                    for description, amount in block.rows:
                        table.row((description, amount))
        return bytes(pdf.output())
    finally:
        # fpdf reads the TTF files lazily and never closes them; a warm Lambda that renders
        # many documents would otherwise leak a file handle per font per PDF.
        for font in pdf.fonts.values():
            if isinstance(font, TTFFont):
                font.close()
