"""Figure 2: DynamoDB requests per operation, counted by service and operation on every
botocore client (pynamodb's and boto3's) by patching `BaseClient._make_api_call` (see
benchmarks/stack.py); the median over the runs of benchmarks/operations.py.

Reads are compared with the model's minimum (`Operation.needs`: the reads the operation
cannot do without); the target is that minimum exactly, so a repeated read (the same item
twice in one invocation, listed in the JSON as `repeats`) or a read of what the operation
wrote itself is a MISS. Writes, the total and the transactions are listed as measured."""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks import operations
from benchmarks.report import Figure, Row, median, spread

NAME = "dynamodb"
RUNS = 7


def run() -> Figure:
    ops, samples = operations.samples(RUNS)
    rows: list[Row] = []
    details: dict[str, Any] = {"runs": RUNS}
    for op in ops:
        taken = samples[op.name][:RUNS]
        reads = [s.aws.reads for s in taken]
        writes = [s.aws.writes for s in taken]
        totals = [s.aws.dynamodb() for s in taken]
        transactions = [s.aws.transactions for s in taken]
        items = [s.aws.transact_items for s in taken]
        repeats = [s.repeats for s in taken]
        minimum = len(op.needs)
        by_operation: Counter[str] = Counter()
        others: Counter[str] = Counter()
        for sample in taken:
            for (service, operation), count in sample.aws.counts.items():
                target = by_operation if service == "dynamodb" else others
                target[operation if service == "dynamodb" else f"{service}.{operation}"] += count
        value = (
            f"{median(reads):g}{spread(reads)} vs {minimum} / "
            f"{median(writes):g}{spread(writes)} / "
            f"{median(totals):g}{spread(totals)} / {median(transactions):g} "
            f"({median(items):g} items)"
        )
        rows.append(
            Row(
                NAME,
                op.title,
                "reads vs minimum / writes / total / transact",
                value,
                target=f"reads = {minimum} (minimum)",
                ok=max(reads) == minimum,
                data={
                    "reads": reads,
                    "minimum": minimum,
                    "needs": list(op.needs),
                    "repeats": repeats,
                    "read_items": taken[-1].read_items,
                    "writes": writes,
                    "total": totals,
                    "transact_write_items": transactions,
                    "transact_items": items,
                    "mean_per_run": {k: v / len(taken) for k, v in sorted(by_operation.items())},
                    "other_aws_per_run": {k: v / len(taken) for k, v in sorted(others.items())},
                },
            )
        )
    return Figure(NAME, rows, details=details)
