"""Figure: invoice PDFs (billing.documents.render), render time and the bundled fonts' size.

The renders run in a fresh interpreter (`python -S -m benchmarks.documents`) that sees the
x86_64 twin of the built layer (benchmarks/artifact.py): no Pillow, no compiled fontTools
accelerators, bytecode as built, nothing written. Per case, the first render in the process is timed
on its own (it imports fpdf and parses the fonts it needs, once per process), then the wall
time of each of RUNS renders after one warm-up; the CJK case runs after the others, so its
first render parses only the fallback font.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from benchmarks.report import ROOT, Figure, Row, percentile

NAME = "documents"
RUNS = 50
CJK_RUNS = 20
TARGET_MS = 60.0
FONTS = ROOT / "layers" / "common" / "billing" / "documents" / "fonts"


def _timed(render: Callable[[], bytes], runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    render()
    first = (time.perf_counter() - started) * 1000
    wall: list[float] = []
    cpu: list[float] = []
    render()  # the warm-up
    for _ in range(runs):
        started, used = time.perf_counter(), time.process_time()
        pdf = render()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return {"first_ms": first, "ms": wall, "cpu_ms": cpu, "pdf_bytes": len(pdf)}


def probe() -> dict[str, Any]:
    """The measurements, in this process (run by `run` in a fresh one)."""
    from billing.documents.model import DocumentLine, InvoiceDocument, Party
    from billing.documents.render import render_invoice

    seller = Party("SIP.TG UAB", "Gedimino pr. 1, LT-01103 Vilnius", "LT", "LT100018548216")
    russian = InvoiceDocument(
        number="INV-000042",
        issued_on=date(2026, 3, 1),
        seller=seller,
        seller_vat_number="LT100018548216",
        buyer=Party(
            "ООО «Ромашка»",
            "Россия, 123456, г. Москва, ул. Большая Садовая, д. 10, кв. 50",
            "RU",
            "7707083893",
        ),
        currency="EUR",
        lines=(DocumentLine("Софтфон: SIP-аккаунты × 5, 12 месяцев", 30000),),
        subtotal=30000,
        discount_percent="10",
        discount=3000,
        net=27000,
        vat_rate="0",
        vat=0,
        vat_note="Не облагается НДС ЕС",
        total=27000,
        paid_by="картой через Stripe",
        period="1 марта 2026 г. – 1 марта 2027 г.",
        order_number="ORD-000017",
        language="ru",
    )
    english = replace(
        russian,
        buyer=Party("Muster GmbH", "Hauptstraße 5, 10115 Berlin", "DE"),
        lines=(DocumentLine("Softphone: SIP accounts × 5, 12 months", 30000),),
        vat_rate="19",
        vat=5130,
        vat_note=None,
        total=32130,
        paid_by="card via Stripe",
        period="1 March 2026 – 1 March 2027",
        language="en",
    )
    cjk_buyer = Party("山田太郎", "東京都千代田区1-1, 김민준 님 방, ひらがな", "JP")
    cjk = replace(english, buyer=cjk_buyer)
    results = {
        "ru": _timed(lambda: render_invoice(russian), RUNS),
        "en": _timed(lambda: render_invoice(english), RUNS),
        "cjk": _timed(lambda: render_invoice(cjk), CJK_RUNS),
    }
    compiled = sorted(
        name
        for name, module in sys.modules.items()
        if name.startswith("fontTools") and str(getattr(module, "__file__", "")).endswith(".so")
    )
    return {"cases": results, "pil_loaded": "PIL" in sys.modules, "compiled_fonttools": compiled}


def _measure() -> dict[str, Any]:
    from benchmarks import artifact

    artifact.ensure_twin()
    env = artifact.environment(None)
    env["PYTHONPATH"] += os.pathsep + str(ROOT)  # this module, after the layer's billing
    done = subprocess.run(
        [sys.executable, "-S", "-m", "benchmarks.documents"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the render probe failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run() -> Figure:
    measured = _measure()
    if measured["pil_loaded"] or measured["compiled_fonttools"]:
        raise RuntimeError(f"not like the layer: {measured}")
    rows: list[Row] = []
    titles = {
        "ru": "invoice, ru, Cyrillic buyer",
        "en": "invoice, en, German buyer",
        "cjk": "invoice, en, CJK buyer (fallback font)",
    }
    for case, title in titles.items():
        timing = measured["cases"][case]
        times = timing["ms"]
        p50 = percentile(times, 50)
        targeted = case != "cjk"
        rows.append(
            Row(
                NAME,
                title,
                f"render p50 / p90 ms ({len(times)} runs)",
                f"{p50:.1f} / {percentile(times, 90):.1f}",
                target=f"<= {TARGET_MS:g} ms p50" if targeted else "",
                ok=p50 <= TARGET_MS if targeted else None,
                data=timing,
            )
        )
        first_is = "imports fpdf, parses DejaVu" if case == "ru" else "parses the fallback"
        if case != "en":
            rows.append(
                Row(NAME, title, f"first render ms ({first_is})", f"{timing['first_ms']:.0f}")
            )
    sizes = {path.name: path.stat().st_size for path in sorted(FONTS.glob("*.ttf"))}
    for name, size in sizes.items():
        rows.append(Row(NAME, f"font {name}", "bytes", f"{size:,}", data={"bytes": size}))
    rows.append(Row(NAME, "fonts, all", "bytes", f"{sum(sizes.values()):,}", data={"bytes": sizes}))
    return Figure(
        NAME,
        rows,
        details={"runs": RUNS, "cjk_runs": CJK_RUNS, "like_the_layer": "no PIL, pure fontTools"},
    )


if __name__ == "__main__":
    print(json.dumps(probe()))
