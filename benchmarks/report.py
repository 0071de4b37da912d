"""Rows of the one table, its text form, statistics and the machine description."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = ("figure", "case", "measure", "median", "baseline", "ratio", "target", "ok")


@dataclass
class Row:
    figure: str
    case: str
    measure: str
    value: str  # the median (or the one value), formatted
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None  # None: no target
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers, for the JSON

    def cells(self) -> tuple[str, ...]:
        verdict = "" if self.ok is None else ("yes" if self.ok else "MISS")
        return (
            self.figure,
            self.case,
            self.measure,
            self.value,
            self.baseline,
            self.ratio,
            self.target,
            verdict,
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Figure:
    name: str
    rows: list[Row]
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: int) -> float:
    """Interpolated percentile (statistics.quantiles, inclusive); with 50 runs, p99 lies
    between the two slowest."""
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[pct - 1])


def spread(values: Sequence[float]) -> str:
    """ "" when every run gave the same count, else " (a-b)"."""
    low, high = min(values), max(values)
    return "" if low == high else f" ({low:g}-{high:g})"


def table(rows: Sequence[Row]) -> str:
    cells = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    out: list[str] = []
    last_figure = None
    for number, line in enumerate(cells):
        shown = list(line)
        if number > 0:
            if line[0] == last_figure:
                shown[0] = ""
            elif last_figure is not None:
                out.append("-+-".join("-" * w for w in widths))
            last_figure = line[0]
        out.append(" | ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip())
        if number == 0:
            out.append("-+-".join("=" * w for w in widths))
    return "\n".join(out)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
