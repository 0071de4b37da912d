"""Figure 5: handler latency in-process on moto (the wall time of the one `lambda_handler`
call of each operation in benchmarks/operations.py, after a warm-up; set-up not counted).
Requests to moto and to the fake Bot API cross loopback HTTP inside this process."""

from __future__ import annotations

from benchmarks import operations
from benchmarks.report import Figure, Row, percentile

NAME = "latency"
RUNS = 50


def run() -> Figure:
    ops, samples = operations.samples(RUNS)
    rows: list[Row] = []
    for op in ops:
        times = [s.ms for s in samples[op.name][:RUNS]]
        rows.append(
            Row(
                NAME,
                op.title,
                f"p50 / p99 ms ({len(times)} runs)",
                f"{percentile(times, 50):.1f} / {percentile(times, 99):.1f}",
                data={"ms": times},
            )
        )
    return Figure(NAME, rows, details={"runs": RUNS})
