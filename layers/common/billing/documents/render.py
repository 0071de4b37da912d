"""Invoice and payment-order PDFs (SPEC §8), drawn with fpdf2 and the bundled fonts.

The layout is built first as plain blocks in the document's language, so what a document says
is decided without fpdf; only `_draw` imports fpdf, lazily, because most Lambdas that load this
layer never render a PDF and fpdf would cost them cold-start time. DejaVu is embedded because
the core PDF fonts have no Cyrillic, and buyers' names and addresses often are Russian. A name
in a script DejaVu lacks (Chinese, Japanese, Korean) is drawn with the Noto Sans CJK fallback,
which is embedded only in a document that needs it. The fonts are subsets (fonts/README.md).

A font file is parsed once per process, on first use (`_face`): fpdf's `add_font` would parse
it for every PDF, which was most of the time of a render. Each document gets its own fpdf font
over that parse, with its own record of the glyphs it uses (`_Face.attach`).
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billing.documents.model import InvoiceDocument, Party, PaymentOrderDocument
from billing.documents.wording import long_date
from billing.domain.countries import country_name
from billing.domain.money import format_minor
from billing.i18n import message

if TYPE_CHECKING:
    from fpdf import FPDF

# The layer ships fpdf2 without Pillow (packaging/Makefile): our PDFs have no images, so
# fpdf's warning about it on every cold start says nothing.
warnings.filterwarnings("ignore", message="Pillow could not be imported", category=UserWarning)

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVu"
REGULAR_FONT = FONTS_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"
FALLBACK_FAMILY = "NotoSansCJK"
FALLBACK_FONT = FONTS_DIR / "NotoSansCJKjp-Fallback.ttf"

MARGIN_MM = 15.0
AMOUNT_COLUMN_MM = 45.0

log = logging.getLogger(__name__)

# fpdf2 logs the characters no font has a glyph for, and fontTools the names of the glyphs it
# subsets: pieces of buyers' names and addresses, which must not reach the log handlers at any
# level. Their errors are about the bundled font files, never about a document's text.
for _library in ("fpdf", "fontTools"):
    logging.getLogger(_library).setLevel(logging.ERROR)


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

    header: tuple[str, str]
    rows: tuple[tuple[str, str], ...]


type _Block = _Text | _Gap | _Lines


def render_invoice(doc: InvoiceDocument) -> bytes:
    """The invoice PDF for one subscription charge."""
    return _draw(
        title=message(doc.language, "doc_invoice_title", number=doc.number),
        author=doc.seller.name,
        issued_on=doc.issued_on,
        language=doc.language,
        blocks=_invoice_blocks(doc),
    )


def render_payment_order(doc: PaymentOrderDocument) -> bytes:
    """The PDF a Payer takes to the bank to pay an order by transfer."""
    return _draw(
        title=message(doc.language, "doc_payment_order_title", number=doc.order_number),
        author=doc.seller.name,
        issued_on=doc.issued_on,
        language=doc.language,
        blocks=_payment_order_blocks(doc),
    )


def _invoice_blocks(doc: InvoiceDocument) -> list[_Block]:
    lang = doc.language

    def money(amount: int) -> str:
        return format_minor(amount, doc.currency)

    def total_line(key: str, **values: object) -> _Text:
        return _Text(message(lang, key, **values), align="R")

    blocks: list[_Block] = [
        _Text(message(lang, "doc_invoice_title", number=doc.number), bold=True, size=18),
        _Gap(2),
        _Text(message(lang, "doc_date", date=long_date(lang, doc.issued_on))),
    ]
    if doc.order_number is not None:
        blocks.append(_Text(message(lang, "doc_order_number", number=doc.order_number)))
    blocks.append(_Text(message(lang, "doc_period", period=doc.period)))
    blocks += [_Gap(), _Text(message(lang, "doc_seller"), bold=True)]
    # The seller's VAT number is the document's own field, never seller.vat_id: invoices dated
    # before the seller's VAT registration must not show one (SPEC §6).
    blocks += _party(lang, doc.seller, "doc_seller_vat_number", doc.seller_vat_number)
    blocks += [_Gap(), _Text(message(lang, "doc_buyer"), bold=True)]
    blocks += _party(lang, doc.buyer, "doc_buyer_tax_number", doc.buyer.vat_id)
    blocks += [
        _Gap(6),
        _Lines(
            (message(lang, "doc_column_description"), message(lang, "doc_column_amount")),
            tuple((line.description, money(line.amount)) for line in doc.lines),
        ),
        _Gap(),
        total_line("doc_subtotal", amount=money(doc.subtotal)),
    ]
    if doc.discount > 0:
        blocks.append(
            total_line("doc_discount", percent=doc.discount_percent, amount=money(-doc.discount))
        )
    blocks += [
        total_line("doc_net", amount=money(doc.net)),
        total_line("doc_vat", rate=doc.vat_rate, amount=money(doc.vat)),
    ]
    # A reverse-charge or not-subject invoice still states its VAT (0 %), and says why.
    if doc.vat_note is not None:
        blocks.append(_Text(doc.vat_note, align="R"))
    blocks += [
        _Text(message(lang, "doc_total", amount=money(doc.total)), bold=True, size=12, align="R"),
        _Gap(6),
        _Text(message(lang, "doc_paid_by", method=doc.paid_by)),
    ]
    return blocks


def _payment_order_blocks(doc: PaymentOrderDocument) -> list[_Block]:
    lang = doc.language
    valid_until = long_date(lang, doc.valid_until)

    def money(amount: int) -> str:
        return format_minor(amount, doc.currency)

    def text(key: str, **values: object) -> _Text:
        return _Text(message(lang, key, **values))

    blocks: list[_Block] = [
        _Text(
            message(lang, "doc_payment_order_title", number=doc.order_number), bold=True, size=18
        ),
        _Gap(2),
        text("doc_date", date=long_date(lang, doc.issued_on)),
        text("doc_valid_until", date=valid_until),
        _Gap(),
        _Text(message(lang, "doc_seller"), bold=True),
    ]
    blocks += _party(lang, doc.seller, "doc_seller_vat_number", doc.seller_vat_number)
    blocks += [
        _Gap(),
        _Text(message(lang, "doc_bank_details"), bold=True),
        text("doc_beneficiary", name=doc.bank.beneficiary),
        text("doc_iban", iban=doc.bank.iban),
        text("doc_bic", bic=doc.bank.bic),
        text("doc_bank", name=doc.bank.bank_name),
        _Gap(),
        _Text(message(lang, "doc_buyer"), bold=True),
    ]
    blocks += _party(lang, doc.buyer, "doc_buyer_tax_number", doc.buyer.vat_id)
    blocks += [
        _Gap(6),
        _Text(message(lang, "doc_amount_to_pay", amount=money(doc.amount)), bold=True, size=12),
        text("doc_transfer_minimum", currency=doc.currency, amount=money(doc.minimum)),
        text("doc_purpose", purpose=doc.purpose),
        _Gap(),
        _Text(message(lang, "doc_reference", reference=doc.order_number), bold=True, size=12),
        text("doc_reference_hint"),
        _Gap(),
        text("doc_credited_when_confirmed", date=valid_until),
    ]
    return blocks


def _party(lang: str, party: Party, tax_key: str, tax_id: str | None) -> list[_Block]:
    blocks: list[_Block] = [_Text(party.name)]
    if party.address:
        blocks.append(_Text(party.address))
    if party.country:
        named = f"{country_name(party.country, lang)} ({party.country})"
        blocks.append(_Text(message(lang, "doc_country", country=named)))
    if tax_id:
        blocks.append(_Text(message(lang, tax_key, number=tax_id)))
    return blocks


def _texts(blocks: list[_Block]) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, _Text):
            yield block.text
        elif isinstance(block, _Lines):
            yield from block.header
            for row in block.rows:
                yield from row


@cache
def _pdf_class() -> type[FPDF]:
    from fpdf import FPDF

    class _PDF(FPDF):
        def _render_styled_text_line(self, *args: Any, **kwargs: Any) -> bool:
            # fpdf2 2.8.9 sets the page's font inside the "q ... Q" of a line that starts with a
            # fallback-font character (a CJK name after a bold heading), so the font is gone
            # after "Q" while fpdf counts it as set, and the next lines are drawn in the
            # heading's font with the other font's glyph codes: garbage. Set it on the page
            # first, as fpdf itself does for a line that starts in the current font.
            if not self.current_font_is_set_on_page and self.current_font is not None:
                self._out(self._set_font_for_page(self.current_font, self.font_size_pt))
            return super()._render_styled_text_line(*args, **kwargs)

    return _PDF


# The tables fpdf2 2.8.9 drops from every font it embeds (fpdf/output.py, _add_fonts), and the
# legacy "kern", which fontTools' subsetter drops there too when the font has a GPOS. fpdf2
# reads them only for text shaping (HarfBuzz, from the font file), which these documents do not
# use. Deleting them from a document's copy of the font before fpdf subsets it gives the same
# embedded font without decoding them for every PDF.
_NOT_EMBEDDED = (
    "FFTM",
    "GDEF",
    "GPOS",
    "GSUB",
    "MATH",
    "hdmx",
    "meta",
    "sbix",
    "CBDT",
    "CBLC",
    "EBDT",
    "EBLC",
    "EBSC",
    "SVG ",
    "CPAL",
    "COLR",
    "kern",
)
_POST_FORMAT_3 = b"\x00\x03\x00\x00"


class _Widths(dict[int, float]):
    """fpdf's glyph widths by character, shared by every document: a character the font lacks
    has the default width, as with fpdf's defaultdict, but is not added to the dict."""

    def __init__(self, widths: dict[int, float], default: float) -> None:
        super().__init__(widths)
        self.default = default

    def __missing__(self, char: int) -> float:
        return self.default


@dataclass(frozen=True, eq=False)
class _Face:
    """A font file as fpdf's `add_font` parses it, done once per process (per warm Lambda).

    `add_font` reads the cmap, the widths and the glyph names of the whole font. What fpdf 2.8.9
    changes while it draws and writes one document is made anew by `attach` for each: the
    glyphs the document uses and their codes (fpdf's SubsetMap, which also decides the glyphs
    embedded), the characters it lacks, the size it records, the PDF font descriptor (fpdf
    numbers it and links the font file to it), and the fontTools font that fpdf subsets in
    place to write the PDF (opened on the file's bytes, kept here: nothing is read from the
    disk again). What the documents share, they only read.
    """

    data: bytes
    parsed: Any  # fpdf.fonts.TTFFont, never itself given to a document
    glyph_order: tuple[str, ...]
    post_header: bytes  # the "post" table without its glyph names (format 3)

    @property
    def cmap(self) -> dict[int, str]:
        cmap: dict[int, str] = self.parsed.cmap
        return cmap

    def attach(self, pdf: FPDF) -> Any:
        """This font as a new font of `pdf`, as if added with `add_font`; the new fpdf font."""
        from fpdf.fonts import SubsetMap, TTFFont

        font = TTFFont.__new__(TTFFont)
        for name in TTFFont.__slots__:
            if hasattr(self.parsed, name):
                # Read-only for a document: the cmap, widths, glyph ids, names and metrics.
                setattr(font, name, getattr(self.parsed, name))
        font.i = len(pdf.fonts) + 1
        font.desc = copy.copy(self.parsed.desc)
        font.ttfont = self._working_copy()
        font._hbfont = None
        font.biggest_size_pt = 0
        font.missing_glyphs = []
        font.subset = SubsetMap(font)
        pdf.fonts[font.fontkey] = font
        return font

    def _working_copy(self) -> Any:
        from fontTools.ttLib import TTFont, newTable  # type: ignore[import-untyped]

        # recalcBBoxes=False: fontTools copies the glyphs it keeps as they are in the file instead
        # of decoding and re-encoding each to recompute the font's bounds (a third of fpdf's time
        # on a font); the subset's head, hhea and maxp keep the whole font's bounds and maxima,
        # true of any subset. The PDF's font descriptor is fpdf's own, from the whole font.
        font = TTFont(io.BytesIO(self.data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
        # The glyph names fpdf knows the glyphs by, without decoding them from "post" again;
        # and "post" as the subset will have it (fontTools writes format 3, without names).
        font.setGlyphOrder(list(self.glyph_order))
        post = newTable("post")
        post.decompile(self.post_header, font)
        font["post"] = post
        for tag in _NOT_EMBEDDED:
            if tag in font:
                del font[tag]
        return font


@cache
def _face(path: Path, family: str, style: str) -> _Face:
    """The font file at `path`, parsed on first use by fpdf's `add_font` (into a PDF that is
    never written)."""
    from fontTools.ttLib import TTFont
    from fpdf import FPDF

    data = path.read_bytes()
    host = FPDF()
    host.render_color_fonts = False
    host.add_font(family, style, path)
    parsed: Any = host.fonts[f"{family.lower()}{style}"]
    try:
        glyph_order = tuple(parsed.ttfont.getGlyphOrder())
    finally:
        parsed.ttfont.close()
    # Each document gets its own (`attach`): this one, with the tables fpdf decoded, would
    # only hold memory.
    parsed.ttfont = None
    parsed.cw = _Widths(parsed.cw, parsed.desc.missing_width)
    header = TTFont(io.BytesIO(data), lazy=True).reader["post"][:32]
    return _Face(data, parsed, glyph_order, _POST_FORMAT_3 + header[4:])


def _draw(
    *, title: str, author: str, issued_on: date, language: str, blocks: list[_Block]
) -> bytes:
    from fpdf.enums import XPos, YPos

    pdf = _pdf_class()(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
    faces = [_face(REGULAR_FONT, FONT_FAMILY, ""), _face(BOLD_FONT, FONT_FAMILY, "B")]
    dejavu = [face.attach(pdf) for face in faces]
    chars = {ord(char) for text in _texts(blocks) for char in text if not char.isspace()}
    lacking = {char for char in chars if any(char not in face.cmap for face in faces)}
    if lacking:
        # Only its regular weight is bundled: bold text in a CJK script is drawn regular.
        # A document whose lacking characters are in neither font (only an Ethiopic name,
        # say) does not embed it.
        fallback = _face(FALLBACK_FONT, FALLBACK_FAMILY, "")
        if not lacking.isdisjoint(fallback.cmap):
            fallback.attach(pdf)
            pdf.set_fallback_fonts([FALLBACK_FAMILY], exact_match=False)
    # A fixed creation date (the document's own) makes the same document render to the same
    # bytes, so a re-sent invoice is byte-identical to the stored one.
    pdf.set_creation_date(datetime.combine(issued_on, time(), tzinfo=UTC))
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creator("SIP.TG billing")
    pdf.set_lang(language)
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
                table.row(block.header)
                for row in block.rows:
                    table.row(row)
    content = bytes(pdf.output())
    # What fpdf would have logged, without the characters themselves (see the loggers above).
    missing = {char for font in dejavu for char in font.missing_glyphs}
    if missing:
        log.warning("%s: %d characters are in no bundled font, left blank", title, len(missing))
    return content
