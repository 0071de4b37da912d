"""Figure 5: handler latency in-process on moto (the wall time of the one `lambda_handler`
call of each operation in benchmarks/operations.py, after a warm-up; set-up not counted).
Requests to moto and to the fake Bot API cross loopback HTTP inside this process.

Issue 13 asked for connect-and-pay and a renewal at half their p50 before it: the baselines
below were measured on this machine on 2026-12-02 with this same figure run on commit
fa2dcde (the code before the issue), with the one-line fix of the local peers' TCP stall
(local/http_peer.py, disable_nagle_algorithm) applied there too, so that the comparison is of
our code alone: `git worktree add /tmp/base fa2dcde && cd /tmp/base && (apply that line) &&
PYTHONPATH=layers/common:. python -m benchmarks --only latency`. Without the fix, fa2dcde
measured 267.4 and 172.0 ms.
"""

from __future__ import annotations

from benchmarks import operations
from benchmarks.report import Figure, Row, percentile

NAME = "latency"
RUNS = 50
BASELINE_COMMIT = "fa2dcde"
BASELINE_P50_MS = {"connect_pay": 177.8, "renewal": 170.7}
TARGET_SHARE = 0.5  # halved


def run() -> Figure:
    ops, samples = operations.samples(RUNS)
    rows: list[Row] = []
    for op in ops:
        times = [s.ms for s in samples[op.name][:RUNS]]
        p50 = percentile(times, 50)
        before = BASELINE_P50_MS.get(op.name)
        rows.append(
            Row(
                NAME,
                op.title,
                f"p50 / p99 ms ({len(times)} runs)",
                f"{p50:.1f} / {percentile(times, 99):.1f}",
                baseline=f"{before:.1f} at {BASELINE_COMMIT}" if before else "",
                ratio=f"{p50 / before:.2f}x" if before else "",
                target=f"<= {TARGET_SHARE}x" if before else "",
                ok=p50 <= before * TARGET_SHARE if before else None,
                data={"ms": times},
            )
        )
    return Figure(NAME, rows, details={"runs": RUNS})
