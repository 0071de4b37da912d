"""Figure 4: the scheduled renewal sweep, by table size and by the number of due
subscriptions, and the time the queue then takes to drain.

Table size: 1 000 and 10 000 subscriptions of which 100 are due, items shaped as
tests/integration/test_sweep_scale.py writes them (100 000 was as flat, but writing it took
half a minute of this figure). Items read are counted from the Query answers' ScannedCount
with an after-call hook on the pynamodb client (as that test does). moto emulates a Query on
an index by walking every item of the table, so on moto the wall time grows with the table
even when the items read do not. The time moto's backend spends in `Table.query` is measured
too (the server runs in this process), and the sweep's time without it is what real
DynamoDB's constant-time index lookup would leave.

Number due: 10 000 subscriptions of which 100, 1 000 and 10 000 are due. Measured: one
schedule run through the real handler (`functions.renewal_cron.app.lambda_handler` with a
scheduler event), i.e. the due-index queries and the SendMessageBatch calls (counted, and the
queue's depth checked afterwards), against the Timeout template.yaml gives the function;
"well within" is <= 25 % of it. Each run starts with an empty queue. The sends go SENDERS
(billing/store/queue.py) at a time, and one at a time (SENDERS=1) as the code did before.
moto's SendMessage counts the whole queue three times for every message it takes (it reads
`Queue.attributes` for one flag; SQS does nothing of the kind), so n messages cost it O(n^2):
10 000 due took 397 s on it, 0.4 s per SendMessageBatch on average. The runs here skip those
counts (they read 0 while the handler runs); one run at 1 000 due with them is kept in the
JSON for comparison.

moto answers from this process: a SendMessageBatch here costs CPU but no network round trip,
and moto serves one request at a time under the GIL, so concurrent senders cannot be faster
on it. Hence, computed: the round trip per SendMessageBatch the 25 % target still allows,
(25 % of Timeout - the time measured) / ceil(calls / senders); and simulated: 10 000 due once
more with each SendMessageBatch held SIMULATED_ROUND_TRIP in the moto server before it is
served (outside its one-at-a-time lock, so calls in flight wait together) - an assumed round
trip, not an AWS figure.

Draining: a sample of batches of BatchSize (template.yaml) due subscriptions, week-ahead
reminders (a transaction, one Bot API message each) and renewals from the wallet (a
charge, its invoice, two Bot API messages each), set up as benchmarks/operations.py does, on
tables holding only the sample (moto copies each table a TransactWriteItems writes to, for
its rollback), worked through the handler as SQS batch events. The time per invocation is
measured and compared with the Timeout; the drain time is computed from it, not measured (10
000 messages would take many minutes here): ceil(due / BatchSize) invocations x the median
invocation / MaximumConcurrency; so are the Bot API requests per second at that concurrency.
Both leave out the event source's polling and are lower bounds: moto and the fake Bot API
answer from this process, over loopback, faster than DynamoDB and Telegram do.
"""

from __future__ import annotations

import gc
import json
import math
import re
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from benchmarks.report import Figure, Row, median

NAME = "sweep"
SIZES = (1_000, 10_000)
DUE = 100
RUNS = 5
WRITERS = 4
BATCH = 25  # BatchWriteItem's maximum
ITEMS_TOLERANCE = 0.10
TIME_TOLERANCE = 1.5  # "flat": the largest table within 1.5x of the smallest

DUE_TABLE = 10_000
DUE_COUNTS = (100, 1_000, 10_000)
DUE_RUNS = 3
TIMEOUT_SHARE = 0.25  # "well within" the function's timeout
SIMULATED_ROUND_TRIP = 0.020  # seconds; an assumption, see the docstring
WORK_BATCHES = 3  # measured batches of each kind, after one warm-up batch
# The three counts moto's Queue.attributes walks the queue for.
QUEUE_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


@dataclass(frozen=True)
class CronConfig:
    """RenewalCronFunction as template.yaml configures it."""

    timeout: float  # seconds
    batch_size: int
    concurrency: int  # the SQS event source's MaximumConcurrency
    schedule: str
    schedule_seconds: float | None  # None: not a rate()


def cron_config() -> CronConfig:
    from local.template_tables import DEFAULT_TEMPLATE, load_template

    template = load_template(DEFAULT_TEMPLATE)
    function = template["Resources"]["RenewalCronFunction"]["Properties"]
    timeout = function.get("Timeout", template.get("Globals", {}).get("Function", {})["Timeout"])
    events = function["Events"].values()
    (sqs,) = [event["Properties"] for event in events if event["Type"] == "SQS"]
    (schedule,) = [event["Properties"] for event in events if event["Type"] == "ScheduleV2"]
    expression = schedule["ScheduleExpression"]
    if isinstance(expression, dict):
        expression = template["Parameters"][expression["Ref"]]["Default"]
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", str(expression))
    unit = {"minute": 60, "hour": 3_600, "day": 86_400}
    return CronConfig(
        timeout=float(timeout),
        batch_size=int(sqs.get("BatchSize", 10)),
        concurrency=int(sqs["ScalingConfig"]["MaximumConcurrency"]),
        schedule=str(expression),
        schedule_seconds=int(rate[1]) * unit[rate[2]] if rate else None,
    )


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


@contextmanager
def moto_queue_counts_skipped() -> Iterator[None]:
    """While inside, moto's three message counts of a queue read 0 instead of walking every
    message (for each message SendMessage takes, see the docstring)."""
    from moto.sqs.models import Queue

    saved = {name: Queue.__dict__[name] for name in QUEUE_COUNTS}
    for name in QUEUE_COUNTS:
        setattr(Queue, name, property(lambda _queue: 0))
    try:
        yield
    finally:
        for name, count in saved.items():
            setattr(Queue, name, count)


@contextmanager
def sqs_round_trip(seconds: float) -> Iterator[None]:
    """While inside, each SendMessageBatch request waits `seconds` in the moto server
    before it is served, outside the server's one-at-a-time lock."""
    from local.moto_server import _Serialized

    original = _Serialized.__call__

    def delayed(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.SendMessageBatch":
            time.sleep(seconds)
        return original(self, environ, start_response)

    _Serialized.__call__ = delayed  # type: ignore[method-assign]
    try:
        yield
    finally:
        _Serialized.__call__ = original  # type: ignore[method-assign]


@contextmanager
def senders(count: int) -> Iterator[None]:
    """RenewalQueue.send with `count` SendMessageBatch calls in flight at most."""
    from billing.store import queue

    saved = queue.SENDERS
    queue.SENDERS = count
    try:
        yield
    finally:
        queue.SENDERS = saved


def write_subscriptions(
    bench: Any, table: str, first: int, last: int, now: Any, *, due: int = DUE
) -> float:
    """Subscriptions first..last-1 (numbers below `due` due now, the rest in 30 days) with
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
                        "next_action_at": {"N": str(due_at if number < due else later)},
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


def sweep_once(bench: Any, due: int = DUE, *, moto_counts: bool = False) -> dict[str, Any]:
    """One schedule invocation on an empty queue; checks it queued `due` messages.
    `moto_counts`: with moto's per-message walks of the queue (not skipped)."""
    from billing.runtime import runtime
    from billing.store.models import SubscriptionModel
    from functions.renewal_cron import app as cron_app
    from local.events import FakeContext, scheduled_event
    from local.stack import create_renewal_queues

    # An empty queue (deleted and created again under its name, so its URL stays; moto
    # allows one PurgeQueue a minute, as SQS does).
    sqs = bench.client("sqs")
    sqs.delete_queue(QueueUrl=bench.queue_url)
    if create_renewal_queues(sqs)[0] != bench.queue_url:
        raise RuntimeError("the renewal queue came back under another URL")
    returned = {"items": 0, "scanned": 0, "queries": 0, "sqs_requests": 0}
    lock = threading.Lock()

    def count(parsed: dict[str, Any], **_: Any) -> None:
        returned["items"] += parsed.get("Count", 0)
        returned["scanned"] += parsed.get("ScannedCount", 0)
        returned["queries"] += 1

    def sent(**_: Any) -> None:  # from the sender threads
        with lock:
            returned["sqs_requests"] += 1

    runtime().bind_models()  # as the handler will (new clients), before one is counted
    client = SubscriptionModel._get_connection().connection.client
    client.meta.events.register("after-call.dynamodb.Query", count)
    sqs_client = runtime().renewal_queue._client
    sqs_client.meta.events.register("before-call.sqs.SendMessageBatch", sent)
    # moto's 100 000 items live in this process: keep full collections of them out of the
    # measured sweep (see benchmarks/operations.py).
    gc.collect()
    gc.freeze()
    try:
        with (
            moto_query_time() as in_moto,
            nullcontext() if moto_counts else moto_queue_counts_skipped(),
        ):
            started = time.perf_counter()
            result = cron_app.lambda_handler(
                scheduled_event(bench.clock.now()),
                FakeContext("renewal-cron", timeout_seconds=60),
            )
            elapsed = time.perf_counter() - started
    finally:
        gc.unfreeze()
        client.meta.events.unregister("after-call.dynamodb.Query", count)
        sqs_client.meta.events.unregister("before-call.sqs.SendMessageBatch", sent)
    if result != {"due": due}:
        raise RuntimeError(f"the sweep found {result}, expected {due} due")
    depth = sqs.get_queue_attributes(
        QueueUrl=bench.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    if int(depth) != due:
        raise RuntimeError(f"the sweep queued {depth} messages, expected {due}")
    return {
        **returned,
        "ms": elapsed * 1000,
        "moto_query_ms": sum(in_moto) * 1000,
    }


def table_size_rows(bench: Any, settings: Any, details: dict[str, Any]) -> list[Row]:
    now = bench.clock.now()
    rows: list[Row] = []
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
    return rows


def _number(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def due_rows(bench: Any, settings: Any, config: CronConfig, details: dict[str, Any]) -> list[Row]:
    from billing.store import queue
    from billing.store.queue import BATCH as SQS_BATCH

    now = bench.clock.now()
    budget = config.timeout * TIMEOUT_SHARE
    ways = ((1, "1 sender (before)"), (queue.SENDERS, f"{queue.SENDERS} senders"))

    def timed_row(
        case: str, measure: str, runs: list[dict[str, Any]], value: str, judged: bool = True
    ) -> Row:
        """`judged` False: the old one-sender path, shown for comparison, without a verdict."""
        seconds = median([r["ms"] for r in runs]) / 1000
        return Row(
            NAME,
            case,
            measure,
            f"{seconds:.2f}{value}",
            baseline=f"Timeout {config.timeout:g} s",
            ratio=f"{seconds / config.timeout:.1%}",
            target=f"<= {TIMEOUT_SHARE:.0%}" if judged else "",
            ok=seconds <= budget if judged else None,
            data={
                "ms": [r["ms"] for r in runs],
                "moto_query_ms": [r["moto_query_ms"] for r in runs],
            },
        )

    rows: list[Row] = []
    for number, due in enumerate(DUE_COUNTS):
        # Numbers below `due` are due now: the first write makes the table, the later ones
        # only turn more of it due.
        end = due if number else DUE_TABLE
        write_subscriptions(bench, settings.subscriptions_table, 0, end, now, due=due)
        if not number:
            sweep_once(bench, due)  # warm: the SQS client, the model's connection
        calls = math.ceil(due / SQS_BATCH)
        case = f"{_number(DUE_TABLE)} subs, {_number(due)} due"
        for count, label in ways:
            with senders(count):
                runs = [sweep_once(bench, due) for _ in range(DUE_RUNS)]
            if any(r["sqs_requests"] != calls for r in runs):
                raise RuntimeError(f"expected {calls} SendMessageBatch calls: {runs}")
            details[f"due_{due}_senders_{count}"] = runs
            rows.append(
                timed_row(
                    case,
                    f"s find+queue: {calls} SendMessageBatch, {label}",
                    runs,
                    "",
                    judged=count != 1,
                )
            )
        if due == 1_000:  # moto as it is, for comparison (see the docstring)
            walked = sweep_once(bench, due, moto_counts=True)
            details["moto_queue_counts_1000_due"] = {
                "ms_with_moto_counts": walked["ms"],
                "ms_without": median([r["ms"] for r in runs]),
            }
    # The last `due`: the round trip left to each SendMessageBatch, computed; then simulated.
    budgets = []
    for count, _ in ways:
        seconds = median([r["ms"] for r in details[f"due_{due}_senders_{count}"]]) / 1000
        left = (budget - seconds) / math.ceil(calls / count) * 1000
        details[f"round_trip_budget_ms_senders_{count}"] = left
        budgets.append(f"{left:.0f} ms" if left > 0 else "none")
    rows.append(
        Row(
            NAME,
            case,
            f"computed: round trip per SendMessageBatch within {TIMEOUT_SHARE:.0%}",
            f"{budgets[0]} (1 sender) / {budgets[1]} ({queue.SENDERS})",
            data={"formula": "(25 % of Timeout - measured s) / ceil(calls / senders)"},
        )
    )
    trip = f"{SIMULATED_ROUND_TRIP * 1000:.0f} ms"
    for count, label in ways:
        with senders(count), sqs_round_trip(SIMULATED_ROUND_TRIP):
            run = sweep_once(bench, due)
        details[f"due_{due}_senders_{count}_round_trip"] = run
        measure = f"simulated +{trip} per SendMessageBatch: s find+queue, {label}"
        rows.append(timed_row(case, measure, [run], " (1 run)", judged=count != 1))
    return rows


def work_samples(bench: Any, config: CronConfig) -> dict[str, list[dict[str, Any]]]:
    """Per kind, WORK_BATCHES batches of `batch_size` due subscriptions worked through the
    handler as one SQS event each (after one warm-up batch)."""
    from benchmarks.operations import PRICE, Scenarios
    from billing.runtime import runtime
    from functions.renewal_cron import app as cron_app
    from local.events import FakeContext, sqs_event

    scenarios = Scenarios(bench)
    rt = runtime()
    kinds = {
        # wallet left after the first period; the clock where the kind is due
        "reminder": (0, timedelta(days=7, hours=-1)),
        "renewal": (PRICE, timedelta(days=3)),
    }
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for kind, (wallet_left, before_expiry) in kinds.items():
        for number in range(1 + WORK_BATCHES):
            subs = [
                scenarios._subscription(wallet_left=wallet_left) for _ in range(config.batch_size)
            ]
            bench.clock.set(subs[0].expires_at - before_expiry)
            event = sqs_event(
                [(str(uuid.uuid4()), json.dumps({"subscription_id": sub.id})) for sub in subs]
            )
            bot_before = len(bench.telegram.calls)
            gc.collect()
            gc.freeze()
            try:
                with bench.calls.counting() as calls:
                    started = time.perf_counter()
                    result = cron_app.lambda_handler(
                        event, FakeContext("renewal-cron", timeout_seconds=config.timeout)
                    )
                    elapsed = time.perf_counter() - started
            finally:
                gc.unfreeze()
            bot = len(bench.telegram.calls) - bot_before
            if result != {"batchItemFailures": []} or bot < len(subs):
                raise RuntimeError(f"{kind} batch: {result}, {bot} Bot API requests")
            if kind == "renewal" and any(
                rt.subscriptions.get_any(sub.id).expires_at <= sub.expires_at for sub in subs
            ):
                raise RuntimeError("a renewal batch left a subscription unrenewed")
            if number:
                samples[kind].append(
                    {
                        "ms": elapsed * 1000,
                        "bot_requests": bot,
                        "aws": {f"{s}.{op}": n for (s, op), n in calls.counts.items()},
                    }
                )
    if bench.telegram.violations:
        raise RuntimeError(f"Bot API contract violations: {bench.telegram.violations[:3]}")
    return samples


def drain_rows(bench: Any, config: CronConfig, details: dict[str, Any]) -> list[Row]:
    samples = work_samples(bench, config)
    details["work"] = samples
    rows: list[Row] = []
    per_batch: dict[str, float] = {}
    bot_rate: dict[str, float] = {}
    titles = {"reminder": "week-ahead reminders", "renewal": "renewals from the wallet"}
    for kind, taken in samples.items():
        seconds = median([s["ms"] for s in taken]) / 1000
        per_batch[kind] = seconds
        bot_rate[kind] = config.concurrency * median([s["bot_requests"] for s in taken]) / seconds
        rows.append(
            Row(
                NAME,
                f"queue: batch of {config.batch_size} {titles[kind]}",
                f"s per invocation ({len(taken)} batches)",
                f"{seconds:.2f} ({seconds / config.batch_size * 1000:.0f} ms/message)",
                baseline=f"Timeout {config.timeout:g} s",
                ratio=f"{seconds / config.timeout:.1%}",
                target=f"<= {TIMEOUT_SHARE:.0%}",
                ok=seconds <= config.timeout * TIMEOUT_SHARE,
                data={"ms": [s["ms"] for s in taken]},
            )
        )
    drains: dict[str, dict[str, float]] = {}
    for due in DUE_COUNTS:
        invocations = math.ceil(due / config.batch_size)
        drain = {
            kind: invocations * seconds / config.concurrency for kind, seconds in per_batch.items()
        }
        drains[str(due)] = drain
        schedule = config.schedule_seconds
        rows.append(
            Row(
                NAME,
                f"queue: {_number(due)} due, concurrency {config.concurrency}",
                "computed: s to drain, reminders / renewals",
                f"{drain['reminder']:.0f} / {drain['renewal']:.0f}",
                baseline=f"schedule {config.schedule}" if schedule else "",
                ratio=(
                    f"{drain['reminder'] / schedule:.2f}x / {drain['renewal'] / schedule:.2f}x"
                    if schedule
                    else ""
                ),
            )
        )
    rows.append(
        Row(
            NAME,
            f"queue: at concurrency {config.concurrency}",
            "computed: Bot API requests/s, reminders / renewals",
            f"{bot_rate['reminder']:.0f} / {bot_rate['renewal']:.0f}",
            baseline="about 30/s per bot (Telegram)",
        )
    )
    details["drain_seconds"] = drains
    details["bot_api_requests_per_second_at_concurrency"] = bot_rate
    return rows


def run() -> Figure:
    from benchmarks.stack import stack
    from billing.runtime import runtime

    bench = stack()
    config = cron_config()
    settings = bench.reset()
    rt = runtime()
    details: dict[str, Any] = {
        "due": DUE,
        "runs": RUNS,
        "due_runs": DUE_RUNS,
        "shards": rt.settings.due_shards,
        "template": config.__dict__,
    }
    parts: dict[str, float] = {}
    started = time.perf_counter()
    rows = table_size_rows(bench, settings, details)
    parts["table_size"] = time.perf_counter() - started
    started = time.perf_counter()
    settings = bench.reset()
    rows += due_rows(bench, settings, config, details)
    parts["due"] = time.perf_counter() - started
    # On tables holding only the sample (see the docstring): the 10 000 items above made
    # moto's TransactWriteItems, and so each message, several times slower.
    started = time.perf_counter()
    bench.reset()
    rows += drain_rows(bench, config, details)
    parts["drain"] = time.perf_counter() - started
    details["part_seconds"] = {part: round(seconds, 1) for part, seconds in parts.items()}
    return Figure(NAME, rows, details=details)
