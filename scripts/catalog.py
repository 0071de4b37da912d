"""Compiles and checks the message catalog (billing/locale/<lang>/LC_MESSAGES/<domain>.po).

    python scripts/catalog.py compile   # every .po -> .mo (run after editing a .po)
    python scripts/catalog.py check     # exit 1 when a .mo is missing or differs from its .po

Babel does the work (a development dependency only: the Lambda runtime reads the .mo files
with the standard library). Compiling is deterministic, so `check` compares bytes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "layers/common/billing/locale"


def compiled(po_path: Path) -> bytes:
    with po_path.open("rb") as stream:
        catalog = read_po(stream, locale=po_path.parts[-3])
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "compile"
    stale = []
    for po_path in po_files():
        mo_path = po_path.with_suffix(".mo")
        content = compiled(po_path)
        if command == "compile":
            mo_path.write_bytes(content)
        elif not mo_path.exists() or mo_path.read_bytes() != content:
            stale.append(mo_path)
    for path in stale:
        print(f"{path.relative_to(LOCALE_DIR)} is out of date: run `make catalog`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
