"""`python -m benchmarks [--only NAME ...]`: runs the figures (issues 7 and 13) and prints one table
(the median of repeated runs; the baseline and the ratio where there is one, measured in the
same run), and writes it with the machine and the date to benchmarks/results/latest.json.

The handlers' own output (Powertools log lines and EMF metrics, on stdout in Lambda) goes to
benchmarks/results/handlers.log; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from benchmarks import (
    bot_api,
    build_size,
    cold_start,
    documents,
    dynamodb,
    latency,
    setup_time,
    sweep,
)
from benchmarks.report import RESULTS, Figure, Row, machine, table

FIGURES: dict[str, ModuleType] = {
    module.NAME: module
    for module in (cold_start, dynamodb, bot_api, latency, documents, sweep, build_size, setup_time)
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=list(FIGURES),
        metavar="NAME",
        help=f"run only this figure (repeatable): {', '.join(FIGURES)}",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    names = args.only or list(FIGURES)

    RESULTS.mkdir(parents=True, exist_ok=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    out = sys.stdout
    load_before = machine()["load_average_1_5_15"]
    started = time.perf_counter()
    figures: list[Figure] = []
    failed = False
    with (RESULTS / "handlers.log").open("w") as handler_output:
        sys.stdout = handler_output  # before the handler modules are imported
        try:
            for name in names:
                print(f"[bench] {name} ...", file=sys.stderr, flush=True)
                begun = time.perf_counter()
                try:
                    figure = FIGURES[name].run()
                except Exception as error:
                    failed = True
                    traceback.print_exc()
                    message = f"{type(error).__name__}: {error}".splitlines()[0][:100]
                    figure = Figure(name, [Row(name, "FAILED", "", message, ok=False)])
                figure.seconds = time.perf_counter() - begun
                print(f"[bench] {name}: {figure.seconds:.0f} s", file=sys.stderr, flush=True)
                figures.append(figure)
        finally:
            sys.stdout = out
            from benchmarks.stack import stack

            if stack.cache_info().currsize:
                stack().close()
    total = time.perf_counter() - started

    rows = [row for figure in figures for row in figure.rows]
    print(table(rows))
    misses = sum(1 for row in rows if row.ok is False)
    info = machine()
    busy = (
        ": other work shared the CPUs, timings are inflated"
        if max(load_before[0], info["load_average_1_5_15"][0]) > (info["cpu_count"] or 1) / 2 + 0.5
        else ""
    )
    shown = args.output.resolve()
    if shown.is_relative_to(Path.cwd()):
        shown = shown.relative_to(Path.cwd())
    print(
        f"\n{len(rows)} rows, {misses} missing their target; "
        f"{total:.0f} s ({', '.join(f'{f.name} {f.seconds:.0f} s' for f in figures)}); "
        f"JSON: {shown}\nmachine: {info['cpu_count']} x {info['cpu_model']}, Python "
        f"{info['python']}; load average (1 min) {load_before[0]} before, "
        f"{info['load_average_1_5_15'][0]} after{busy}",
        flush=True,
    )
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**info, "load_average_before": load_before},
        "total_seconds": round(total, 1),
        "columns": ["figure", "case", "measure", "median", "baseline", "ratio", "target", "ok"],
        "figures": {
            figure.name: {
                "seconds": round(figure.seconds, 1),
                "rows": [row.as_json() for row in figure.rows],
                "details": figure.details,
            }
            for figure in figures
        },
    }
    args.output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
