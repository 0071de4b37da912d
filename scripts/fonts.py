"""Subsets the fonts the invoice PDFs embed (layers/common/billing/documents/fonts/README.md).

    python scripts/fonts.py                # subset the fonts in the fonts folder, in place
    python scripts/fonts.py --source DIR   # ... reading the full fonts from DIR instead
    python scripts/fonts.py --out DIR      # ... writing the subsets to DIR instead
    python scripts/fonts.py check          # exit 1 when the files differ from what this makes
    python scripts/fonts.py sizes          # the CJK fallback's size for each choice of sets

Run it with the project's fontTools (.venv: the version layers/common/requirements.txt pins). It is
deterministic, and running it on its own output gives the same bytes, so `check` can run on
the subsets themselves; the full fonts it was first run on are described in the README.

DejaVu Sans (regular and bold) keeps what a European or Russian invoice can contain: the
Unicode blocks of `EUROPEAN` (Latin, Greek, Cyrillic, punctuation, currency and letterlike
symbols, arrows, mathematical operators) and the symbols of the CJK sets below that it has
(box drawing, geometric shapes, circled digits: the fallback has none of them), with hinting,
glyph names, kerning (GPOS and the legacy kern table) and the other OpenType layout tables,
but not MATH (formula layout).

The Noto Sans CJK fallback keeps the characters of the everyday national standard sets, read
from Python's codecs so that the list is the same on any machine: GB 2312 (Simplified Chinese),
JIS X 0208 (Japanese, levels 1 and 2) and KS X 1001 (Korean: the 2 350 modern Hangul
syllables and 4 888 hanja), plus kana, Hangul compatibility jamo, CJK punctuation and full-width
forms, less what both DejaVu faces have (the fallback only draws what DejaVu lacks). `sizes`
tells what each set adds: the hanja are kept, as most are also Japanese kanji.
"""

from __future__ import annotations

import argparse
import io
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

FONTS = Path(__file__).resolve().parent.parent / "layers/common/billing/documents/fonts"
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"
FALLBACK = "NotoSansCJKjp-Fallback.ttf"

# Unicode blocks (first, last, name) of a European or Russian invoice: English and Russian
# texts, Cyrillic and other Latin-script names and addresses (SPEC §8).
EUROPEAN: tuple[tuple[int, int, str], ...] = (
    (0x0020, 0x007E, "Basic Latin"),
    (0x00A0, 0x00FF, "Latin-1 Supplement"),
    (0x0100, 0x017F, "Latin Extended-A"),
    (0x0180, 0x024F, "Latin Extended-B"),
    # Not IPA Extensions (0250-02AF). Spacing modifiers include the apostrophe U+02BC of
    # Ukrainian and Belarusian names, and the combining marks draw a name typed decomposed.
    (0x02B0, 0x02FF, "Spacing Modifier Letters"),
    (0x0300, 0x036F, "Combining Diacritical Marks"),
    (0x0370, 0x03FF, "Greek and Coptic"),
    (0x0400, 0x04FF, "Cyrillic"),
    (0x0500, 0x052F, "Cyrillic Supplement"),
    (0x1E00, 0x1EFF, "Latin Extended Additional"),
    (0x2000, 0x206F, "General Punctuation"),
    (0x2070, 0x209F, "Superscripts and Subscripts"),
    (0x20A0, 0x20CF, "Currency Symbols"),
    (0x2100, 0x214F, "Letterlike Symbols"),
    (0x2150, 0x218F, "Number Forms"),
    (0x2190, 0x21FF, "Arrows"),
    (0x2200, 0x22FF, "Mathematical Operators"),
    (0xFFFD, 0xFFFD, "the replacement character"),
)

# Blocks added to the national sets whole (those sets have only part of them).
CJK_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x3000, 0x303F, "CJK Symbols and Punctuation"),
    (0x3040, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"),
    (0x3130, 0x318F, "Hangul Compatibility Jamo"),
    (0x31F0, 0x31FF, "Katakana Phonetic Extensions"),
    (0xFF00, 0xFFEF, "Halfwidth and Fullwidth Forms"),
)

# EUC lead bytes of KS X 1001's hanja rows (42-93).
KSX1001_HANJA = range(0xCA, 0xFE)


def blocks(ranges: Iterable[tuple[int, int, str]]) -> set[int]:
    return {char for first, last, _ in ranges for char in range(first, last + 1)}


def two_byte_set(codec: str, leads: Iterable[int]) -> set[int]:
    """The characters an EUC codec decodes from two bytes, each 0xA1-0xFE, with these leads
    (private-use mappings left out)."""
    chars: set[int] = set()
    for lead in leads:
        for trail in range(0xA1, 0xFF):
            try:
                text = bytes((lead, trail)).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(text) == 1 and not 0xE000 <= ord(text) <= 0xF8FF:
                chars.add(ord(text))
    return chars


def gb2312() -> set[int]:
    return two_byte_set("gb2312", range(0xA1, 0xF8))


def jis_x_0208() -> set[int]:
    # EUC-JP's two-byte code set is JIS X 0208 (0x8E is half-width kana, 0x8F JIS X 0212).
    return two_byte_set("euc_jp", range(0xA1, 0xFF))


def ks_x_1001(*, hanja: bool) -> set[int]:
    leads = [lead for lead in range(0xA1, 0xFF) if hanja or lead not in KSX1001_HANJA]
    return two_byte_set("euc_kr", leads)


def cjk_chars(*, hanja: bool = True) -> set[int]:
    return gb2312() | jis_x_0208() | ks_x_1001(hanja=hanja) | blocks(CJK_BLOCKS)


def load(path: Path) -> TTFont:
    return TTFont(path, recalcTimestamp=False)


def dejavu_subset(font: TTFont) -> TTFont:
    options = subset.Options()
    options.layout_features = ["*"]
    options.legacy_kern = True
    options.glyph_names = True  # fpdf2 knows glyphs by name; derived ones cost time to make
    options.notdef_outline = True
    options.name_IDs = ["*"]  # the copyright and licence notices
    options.name_languages = ["*"]
    options.drop_tables += ["FFTM", "MATH"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=blocks(EUROPEAN) | cjk_chars())
    subsetter.subset(font)
    return font


def cjk_subset(font: TTFont, chars: set[int], dejavu: Iterable[TTFont]) -> TTFont:
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.glyph_names = True  # else fontTools derives 16 000 names each time it opens it
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.drop_tables += ["BASE", "DSIG", "GDEF", "GPOS", "GSUB", "VORG", "vhea", "vmtx"]
    drawn_by_dejavu = set.intersection(*(set(face.getBestCmap()) for face in dejavu))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=chars - drawn_by_dejavu)
    subsetter.subset(font)
    return font


def compiled(font: TTFont) -> bytes:
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def make(source: Path) -> dict[str, bytes]:
    """The three subsets, by file name, from the fonts in `source`."""
    regular = dejavu_subset(load(source / REGULAR))
    bold = dejavu_subset(load(source / BOLD))
    fallback = cjk_subset(load(source / FALLBACK), cjk_chars(), (regular, bold))
    return {REGULAR: compiled(regular), BOLD: compiled(bold), FALLBACK: compiled(fallback)}


def sizes(source: Path) -> None:
    dejavu = [dejavu_subset(load(source / name)) for name in (REGULAR, BOLD)]
    sets = {
        "GB 2312": gb2312(),
        "JIS X 0208": jis_x_0208(),
        "KS X 1001 without hanja": ks_x_1001(hanja=False),
        "KS X 1001 hanja": ks_x_1001(hanja=True) - ks_x_1001(hanja=False),
        "the added blocks": {
            char for char in blocks(CJK_BLOCKS) if unicodedata.name(chr(char), "")
        },
    }
    for name, chars in sets.items():
        print(f"{name}: {len(chars)} characters")
    for title, chars in (
        ("with KS X 1001 hanja (bundled)", cjk_chars()),
        ("without KS X 1001 hanja", cjk_chars(hanja=False)),
        ("GB 2312 and JIS X 0208 only", gb2312() | jis_x_0208() | blocks(CJK_BLOCKS)),
    ):
        font = cjk_subset(load(source / FALLBACK), chars, dejavu)
        data = compiled(font)
        print(f"{title}: {len(font.getBestCmap())} characters, {len(data)} bytes")
    drawn = set.union(*(set(font.getBestCmap()) for font in [*dejavu, load(source / FALLBACK)]))
    undrawn = sorted(char for char in cjk_chars() - drawn if unicodedata.name(chr(char), ""))
    print(f"in the sets but in no bundled font: {' '.join(map(chr, undrawn)) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/fonts.py", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["write", "check", "sizes"], default="write")
    parser.add_argument("--source", type=Path, default=FONTS, help="folder of the full fonts")
    parser.add_argument("--out", type=Path, default=FONTS, help="folder to write the subsets to")
    args = parser.parse_args(argv)
    if args.command == "sizes":
        sizes(args.source)
        return 0
    made = make(args.source)
    if args.command == "check":
        stale = [name for name, data in made.items() if (args.out / name).read_bytes() != data]
        for name in stale:
            print(f"{args.out / name} differs from what scripts/fonts.py makes", file=sys.stderr)
        return 1 if stale else 0
    for name, data in made.items():
        (args.out / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
