"""The PDFs' fonts: parsed once per process yet private to each document, and subset to what
the documents can contain (layers/common/billing/documents/fonts/README.md)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from billing.documents import render
from billing.documents.model import Party
from billing.documents.render import render_invoice, render_payment_order
from tests.unit.test_documents import (
    CJK_BUYER,
    CYRILLIC_BUYER,
    embedded_fonts,
    invoice,
    lines_of,
    payment_order,
    text_of,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "billing"
CYRILLIC = range(0x400, 0x530)


@cache
def cmap(path: Path) -> frozenset[int]:
    return frozenset(TTFont(path, lazy=True).getBestCmap())


def dejavu() -> list[frozenset[int]]:
    return [cmap(render.REGULAR_FONT), cmap(render.BOLD_FONT)]


def fonts_of(pdf: bytes) -> dict[str, dict[str, Any]]:
    """Per embedded font (base name without the subset tag): the characters its ToUnicode map
    gives, and the characters and glyph count of the font program itself."""
    found = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            program = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            embedded = TTFont(io.BytesIO(program))
            to_unicode = font["/ToUnicode"].get_object().get_data().decode("latin-1")
            mapped = {
                chr(int(code, 16))
                for code in re.findall(r"<[0-9A-F]{4}> <([0-9A-F]{4})>", to_unicode)
            }
            found[str(font["/BaseFont"]).split("+")[-1]] = {
                "to_unicode": mapped,
                "cmap": {chr(code) for code in embedded.getBestCmap()},
                "glyphs": len(embedded.getGlyphOrder()),
            }
    return found


def buyer(name: str) -> Party:
    return Party(name=name, address="Main Street 1", country="DE")


def test_two_documents_one_after_the_other_each_embed_only_their_own_glyphs() -> None:
    a = render_invoice(invoice(buyer=buyer("Иван")))
    b = render_invoice(invoice(buyer=buyer("Zoë")))

    assert "Иван" in text_of(a)
    assert "Zoë" not in text_of(a)
    assert "Zoë" in text_of(b)
    assert "Иван" not in text_of(b)
    a_fonts, b_fonts = fonts_of(a), fonts_of(b)
    assert set(a_fonts) == set(b_fonts) == {"DejaVuSansBook", "DejaVuSansBold"}
    # The name is in the regular face; its letters are embedded in A's font and not in B's.
    assert set("Иван") <= a_fonts["DejaVuSansBook"]["to_unicode"]
    assert set("Иван") <= a_fonts["DejaVuSansBook"]["cmap"]
    assert "ë" not in a_fonts["DejaVuSansBook"]["to_unicode"] | a_fonts["DejaVuSansBook"]["cmap"]
    assert "ë" in b_fonts["DejaVuSansBook"]["to_unicode"]
    for font in b_fonts.values():
        letters = font["to_unicode"] | font["cmap"]
        assert not [char for char in letters if ord(char) in CYRILLIC]


def test_a_document_renders_the_same_bytes_whatever_was_rendered_before() -> None:
    doc = invoice(buyer=buyer("Zoë"))
    render._face.cache_clear()
    fresh = render_invoice(doc)  # the first PDF of a process

    render_invoice(invoice(buyer=CJK_BUYER))
    render_payment_order(payment_order())
    render_invoice(invoice(buyer=Party("ሰላም Иван 😀", "Addis Ababa", "ET")))

    assert render_invoice(doc) == fresh


def test_the_fallback_font_goes_only_into_documents_that_need_it_in_any_order() -> None:
    for _ in range(2):
        assert "NotoSansCJKJP" in embedded_fonts(render_invoice(invoice(buyer=CJK_BUYER)))
        assert embedded_fonts(render_invoice(invoice(buyer=CYRILLIC_BUYER))) == {
            "DejaVuSansBook",
            "DejaVuSansBold",
        }
    # Characters no bundled font has (Ethiopic) do not bring the fallback in either.
    assert "NotoSansCJKJP" not in embedded_fonts(
        render_invoice(invoice(buyer=Party("ሰላም", "Addis Ababa", "ET")))
    )


def test_each_font_file_is_parsed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from fpdf.fonts import TTFFont

    render_invoice(invoice(buyer=CJK_BUYER))  # all three fonts in use at least once
    parsed: list[object] = []
    original = TTFFont.__init__

    def counting(self: TTFFont, *args: Any, **kwargs: Any) -> None:
        parsed.append(args[1])
        original(self, *args, **kwargs)

    monkeypatch.setattr(TTFFont, "__init__", counting)
    for _ in range(3):
        assert "山田太郎" in text_of(render_invoice(invoice(buyer=CJK_BUYER)))
        assert "ООО «Ромашка»" in text_of(render_payment_order(payment_order()))

    assert parsed == []


def catalog_texts() -> Iterator[str]:
    for po in (PACKAGE / "locale").glob("*/LC_MESSAGES/documents.po"):
        yield po.read_text(encoding="utf-8")
    countries = json.loads((PACKAGE / "data" / "countries.json").read_text(encoding="utf-8"))
    yield json.dumps(countries, ensure_ascii=False)
    yield (PACKAGE / "documents" / "render.py").read_text(encoding="utf-8")


def test_every_character_of_the_document_texts_and_country_names_is_in_both_dejavu_faces() -> None:
    chars = {ord(char) for text in catalog_texts() for char in text if not char.isspace()}
    for face in dejavu():
        assert sorted(map(chr, chars - face)) == []


@pytest.mark.parametrize(
    "text",
    [
        "ООО «Ромашка», ул. Садовая, д. 10 № 5 — «Ёлка» ₽ € … • – × ©",
        "Їжак Ґанна Єлизавета Мар\u02bcяна Ўладзімір Љубиша Џон Қазақстан Өзбек",
        "Zoë Łódź Ærøskøbing Škoda Ţară İstanbul Ğüçlü Ŵrexham Ħamrun Đorđe ẞtraße",
        "Nguyễn Thị Hường Dương Đặng Ελλάδα Αθήνα ΣΙΣΥΦΟΣ µ ½ ² ™ ℃ ← → ≤ ≠ ∑",
        "Jose\u0301 Zoe\u0308",  # typed decomposed: letters and combining marks
    ],
)
def test_european_names_and_signs_are_in_both_dejavu_faces(text: str) -> None:
    for face in dejavu():
        assert [char for char in text if not char.isspace() and ord(char) not in face] == []


def two_byte_set(codec: str, leads: range) -> set[int]:
    chars = set()
    for lead in leads:
        for trail in range(0xA1, 0xFF):
            try:
                text = bytes((lead, trail)).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(text) == 1 and not 0xE000 <= ord(text) <= 0xF8FF:
                chars.add(ord(text))
    return chars


@pytest.mark.parametrize(
    ("codec", "leads", "count"),
    [
        ("gb2312", range(0xA1, 0xF8), 7445),  # GB 2312: 6 763 hanzi and 682 other characters
        ("euc_jp", range(0xA1, 0xFF), 6879),  # JIS X 0208: 6 355 kanji (levels 1 and 2) + 524
        ("euc_kr", range(0xA1, 0xFF), 8225),  # KS X 1001: 2 350 Hangul, 4 888 hanja + 987
    ],
)
def test_every_character_of_the_national_cjk_sets_is_drawn_in_either_weight(
    codec: str, leads: range, count: int
) -> None:
    chars = two_byte_set(codec, leads)
    assert len(chars) == count
    for face in dejavu():
        assert sorted(map(chr, chars - face - cmap(render.FALLBACK_FONT))) == []


def test_a_korean_name_of_syllables_and_kana_print_with_the_fallback_font() -> None:
    name = "김민준 이서연 박지훈 カタカナ ひらがな 〒100-0001 ＡＢＣ"
    pdf = render_invoice(invoice(buyer=Party(name, "서울특별시 강남구", "KR")))

    assert name in text_of(pdf)
    assert "서울특별시 강남구" in text_of(pdf)


def test_a_name_in_a_script_the_subsets_leave_out_is_left_blank_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Armenian, Georgian and Hebrew were in the full DejaVu; the emoji too.
    name = "Արամ Გიორგი דוד 😀"
    with caplog.at_level(logging.WARNING, logger=render.log.name):
        lines = [line for line in lines_of(render_invoice(invoice(buyer=buyer(name)))) if line]

    assert lines[lines.index("Buyer") + 1 :][:2] == ["Main Street 1", "Country: Germany (DE)"]
    left_out = len({char for char in name if not char.isspace()})
    assert caplog.messages == [
        f"Invoice INV-000042: {left_out} characters are in no bundled font, left blank"
    ]


def test_the_bundled_fonts_stay_small() -> None:
    sizes = {path.name: path.stat().st_size for path in render.FONTS_DIR.glob("*.ttf")}

    assert sum(sizes.values()) < 5_000_000, sizes
    assert sizes["DejaVuSans.ttf"] + sizes["DejaVuSans-Bold.ttf"] < 600_000, sizes


def test_the_readme_gives_each_font_files_size_and_sha256() -> None:
    readme = (render.FONTS_DIR / "README.md").read_text(encoding="utf-8")
    for path in sorted(render.FONTS_DIR.glob("*.ttf")):
        data = path.read_bytes()
        assert f"{len(data):,}".replace(",", " ") in readme, path.name
        assert hashlib.sha256(data).hexdigest() in readme, path.name


@pytest.mark.slow
def test_the_bundled_fonts_are_what_scripts_fonts_makes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fonts.py"), "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


LIKE_THE_LAYER = """
import importlib.abc, importlib.machinery, importlib.util, sys

class Finder(importlib.abc.MetaPathFinder):
    # The layer has no Pillow, and fontTools without its compiled modules (packaging/Makefile).
    def find_spec(self, name, path, target=None):
        if name == "PIL" or name.startswith("PIL."):
            raise ModuleNotFoundError(name, name=name)
        if name.startswith("fontTools."):
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec and spec.origin and spec.origin.endswith(".so"):
                source = spec.origin.split(".cpython-")[0] + ".py"
                return importlib.util.spec_from_file_location(name, source)
        return None

sys.meta_path.insert(0, Finder())
from pathlib import Path
from tests.unit.test_documents import CJK_BUYER, CYRILLIC_BUYER, invoice
from billing.documents.render import render_invoice

out = Path(sys.argv[1])
(out / "cyrillic.pdf").write_bytes(render_invoice(invoice(buyer=CYRILLIC_BUYER)))
(out / "cjk.pdf").write_bytes(render_invoice(invoice(buyer=CJK_BUYER)))
assert "PIL" not in sys.modules
compiled = [n for n, m in sys.modules.items() if str(getattr(m, "__file__", "")).endswith(".so")]
assert not [n for n in compiled if n.startswith("fontTools")], compiled
"""


def test_documents_render_without_pillow_and_compiled_fonttools(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"}
    done = subprocess.run(
        [sys.executable, "-c", LIKE_THE_LAYER, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "ООО «Ромашка»" in text_of((tmp_path / "cyrillic.pdf").read_bytes())
    assert "山田太郎" in text_of((tmp_path / "cjk.pdf").read_bytes())
