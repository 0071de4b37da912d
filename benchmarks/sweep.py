"""Figure 4: the scheduled sweep (query the due index, queue the due ones) against table size:
1 000, 10 000 and 100 000 subscriptions of which 100 are due, items shaped as
tests/integration/test_sweep_scale.py writes them. Items read are counted from the Query
answers' ScannedCount with an after-call hook on the pynamodb client (as that test does).

moto emulates a Query on an index by walking every item of the table, so on moto the wall
time grows with the table even when the items read do not. The time moto's backend spends
in `Table.query` is measured too (the server runs in this process), and the sweep's time
without it is what real DynamoDB's constant-time index lookup would leave.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from benchmarks.report import Figure, Row, median

NAME = "sweep"
SIZES = (1_000, 10_000, 100_000)
DUE = 100
RUNS = 5
WRITERS = 4
BATCH = 25  # BatchWriteItem's maximum
ITEMS_TOLERANCE = 0.10
TIME_TOLERANCE = 1.5  # "flat": the largest table within 1.5x of the smallest


@contextmanager
def moto_query_time() -> Iterator[list[float]]:
    """Seconds moto's DynamoDB backend spends in Table.query, per call, while inside."""
    from moto.dynamodb.models.table import Table

    spent: list[float] = []
    original = Table.query

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    Table.query = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        Table.query = original  # type: ignore[method-assign]


def write_subscriptions(bench: Any, table: str, first: int, last: int, now: Any) -> float:
    """Subscriptions first..last-1 (the first DUE due now, the rest in 30 days) with
    BatchWriteItem from WRITERS threads; returns the seconds it took."""
    from billing.runtime import runtime
    from billing.store.codec import epoch
    from billing.store.subscriptions import due_shard

    shards = runtime().settings.due_shards
    due_at, later = epoch(now - timedelta(hours=1)), epoch(now + timedelta(days=30))
    local = threading.local()

    def put(start: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = bench.client("dynamodb")
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"sub#{number:016x}"},
                        "due_shard": {"S": due_shard(f"{number:016x}", shards)},
                        "next_action_at": {"N": str(due_at if number < DUE else later)},
                    }
                }
            }
            for number in range(start, min(start + BATCH, last))
        ]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])

    started = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(put, range(first, last, BATCH)))
    return time.perf_counter() - started


def sweep_once(bench: Any) -> dict[str, Any]:
    from billing.store.models import SubscriptionModel
    from functions.renewal_cron import app as cron_app
    from local.events import FakeContext, scheduled_event
    from local.stack import create_renewal_queues

    # moto's SendMessageBatch slows down as a queue fills up: each sweep starts with an empty
    # queue (deleted and created again under its name, so its URL stays; moto allows one
    # PurgeQueue a minute, as SQS does).
    sqs = bench.client("sqs")
    sqs.delete_queue(QueueUrl=bench.queue_url)
    if create_renewal_queues(sqs)[0] != bench.queue_url:
        raise RuntimeError("the renewal queue came back under another URL")
    returned = {"items": 0, "scanned": 0, "queries": 0}

    def count(parsed: dict[str, Any], **_: Any) -> None:
        returned["items"] += parsed.get("Count", 0)
        returned["scanned"] += parsed.get("ScannedCount", 0)
        returned["queries"] += 1

    client = SubscriptionModel._get_connection().connection.client
    client.meta.events.register("after-call.dynamodb.Query", count)
    # moto's 100 000 items live in this process: keep full collections of them out of the
    # measured sweep (see benchmarks/operations.py).
    gc.collect()
    gc.freeze()
    try:
        with moto_query_time() as in_moto, bench.calls.counting() as calls:
            started = time.perf_counter()
            result = cron_app.lambda_handler(
                scheduled_event(bench.clock.now()), FakeContext("renewal-cron", timeout_seconds=60)
            )
            elapsed = time.perf_counter() - started
    finally:
        gc.unfreeze()
        client.meta.events.unregister("after-call.dynamodb.Query", count)
    if result != {"due": DUE}:
        raise RuntimeError(f"the sweep found {result}, expected {DUE} due")
    return {
        **returned,
        "ms": elapsed * 1000,
        "moto_query_ms": sum(in_moto) * 1000,
        "sqs_requests": calls.counts[("sqs", "SendMessageBatch")],
    }


def run() -> Figure:
    from benchmarks.stack import stack
    from billing.runtime import runtime

    bench = stack()
    settings = bench.reset()
    now = bench.clock.now()
    rt = runtime()
    rows: list[Row] = []
    details: dict[str, Any] = {"due": DUE, "runs": RUNS, "shards": rt.settings.due_shards}
    base: dict[str, float] = {}
    written = 0
    for size in SIZES:
        seconds = write_subscriptions(bench, settings.subscriptions_table, written, size, now)
        details[f"write_{size}"] = {
            "items": size - written,
            "seconds": round(seconds, 1),
            "items_per_second": round((size - written) / seconds),
        }
        written = size
        sweep_once(bench)  # warm: the SQS client, the model's connection
        runs = [sweep_once(bench) for _ in range(RUNS)]
        scanned = median([r["scanned"] for r in runs])
        wall = median([r["ms"] for r in runs])
        ours = median([r["ms"] - r["moto_query_ms"] for r in runs])
        base = base or {"wall": wall, "ours": ours}
        details[f"sweep_{size}"] = runs
        case = f"{size:,}".replace(",", " ") + f" subs, {DUE} due"
        queries = statistics.median([r["queries"] for r in runs])
        rows.append(
            Row(
                NAME,
                case,
                f"items read ({queries:g} queries)",
                f"{scanned:g}",
                baseline=f"{DUE} due",
                ratio=f"{scanned / DUE:.2f}x",
                target=f"<= {DUE * (1 + ITEMS_TOLERANCE):g}",
                ok=DUE <= scanned <= DUE * (1 + ITEMS_TOLERANCE),
                data={"scanned": [r["scanned"] for r in runs]},
            )
        )
        rows.append(
            Row(
                NAME,
                case,
                "ms query+queue (w/o moto index walk)",
                f"{wall:.0f} ({ours:.0f})",
                baseline=f"{base['wall']:.0f} ({base['ours']:.0f}) @1k",
                ratio=f"{wall / base['wall']:.2f}x ({ours / base['ours']:.2f}x)",
                target=f"flat (<= {TIME_TOLERANCE}x)",
                ok=ours / base["ours"] <= TIME_TOLERANCE,
                data={
                    "ms": [r["ms"] for r in runs],
                    "moto_query_ms": [r["moto_query_ms"] for r in runs],
                },
            )
        )
    seconds = sum(details[f"write_{size}"]["seconds"] for size in SIZES)
    rows.append(
        Row(
            NAME,
            f"writing {SIZES[-1]:,} items".replace(",", " "),
            f"s, BatchWriteItem x {WRITERS} threads",
            f"{seconds:.1f} ({SIZES[-1] / seconds:.0f} items/s)",
        )
    )
    return Figure(NAME, rows, details=details)
