"""The main operations, driven through the real Lambda handlers in-process on moto with the
test helpers (tests/integration): each has a set-up (not measured) and one handler
invocation (measured: wall time, AWS API calls, Bot API requests).

Figures 2 (DynamoDB requests), 3 (Bot API requests) and 5 (latency) read the same samples:
`samples(runs)` runs every operation until it has `runs` of them, interleaved, so a full
`python -m benchmarks` measures each invocation once.

Each operation names the reads it cannot do without (`needs`: the model's minimum, which
figure 2 compares with the reads measured), and each sample lists the table and key of
every read it made (`read_items`), so a repeat shows as the same item twice.
"""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from types import ModuleType
from typing import Any

from benchmarks.stack import READS, START, AwsCallCount, BenchStack, stack

PRICE = 21_420  # Gateway, 1 line, 6 months, German consumer (as tests/integration)
GERMAN_PHONE = "+49 30 901820"


@dataclass
class Sample:
    ms: float
    aws: AwsCallCount
    bot_http: int  # Bot API requests the handler made itself
    bot_reply: int  # Bot API calls in the webhook response body (0 or 1)
    status: Any
    read_items: list[str] = field(default_factory=list)  # "<operation> <table> <key>" each

    @property
    def repeats(self) -> int:
        """Reads of an item this invocation had read already."""
        return len(self.read_items) - len(set(self.read_items))


@dataclass
class Operation:
    name: str
    title: str
    telegram: bool  # an update to POST /telegram (figure 3)
    setup: Callable[[], Any]
    act: Callable[[Any], Any]
    check: Callable[[Any, Sample], None] = lambda _ctx, _sample: None
    # The reads the model cannot do without, one line each: the minimum figure 2 expects.
    needs: tuple[str, ...] = ()


class ReadLog:
    """Records the table and key of every DynamoDB read while armed (any botocore client),
    by wrapping `BaseClient._make_api_call` once, over the counting of benchmarks/stack.py."""

    _installed = False
    items: list[str] | None = None  # while armed

    @classmethod
    def install(cls) -> None:
        if cls._installed:
            return
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]

        def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if (
                cls.items is not None
                and operation_name in READS
                and client.meta.service_model.service_name == "dynamodb"
            ):
                cls.items.append(read_item(operation_name, api_params))
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = recording  # type: ignore[attr-defined]
        cls._installed = True


def read_item(operation_name: str, params: dict[str, Any]) -> str:
    """What a read asked for: "GetItem <table> <key>", "Query <table> <index> <condition>"."""
    table = params.get("TableName", "")
    if operation_name == "GetItem":
        return f"GetItem {table} {json.dumps(params.get('Key'), sort_keys=True)}"
    if operation_name == "Query":
        values = json.dumps(params.get("ExpressionAttributeValues"), sort_keys=True)
        index = params.get("IndexName") or "-"
        return f"Query {table} {index} {params.get('KeyConditionExpression')} {values}"
    return f"{operation_name} {json.dumps(params, sort_keys=True, default=str)}"


class Probe:
    """Wraps the handlers' `lambda_handler` (module attributes, which the test helpers look
    up at call time) to measure the one invocation an operation makes while armed."""

    def __init__(self, bench: BenchStack) -> None:
        self.bench = bench
        self.armed = False
        self.taken: list[Sample] = []
        ReadLog.install()

    @contextmanager
    def wrapping(self, *modules: ModuleType) -> Iterator[Probe]:
        originals = {module: module.lambda_handler for module in modules}
        for module, handler in originals.items():
            module.lambda_handler = self._wrap(handler)  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            for module, handler in originals.items():
                module.lambda_handler = handler  # type: ignore[attr-defined]

    def _wrap(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        def measured(event: Any, context: Any) -> Any:
            if not self.armed:
                return handler(event, context)
            bot_before = len(self.bench.telegram.calls)
            read_items: list[str] = []
            ReadLog.items = read_items
            try:
                with self.bench.calls.counting() as aws:
                    started = time.perf_counter()
                    response = handler(event, context)
                    elapsed = time.perf_counter() - started
            finally:
                ReadLog.items = None
            reply = 0
            if isinstance(response, dict) and isinstance(response.get("body"), str):
                try:
                    reply = int(bool(json.loads(response["body"]).get("method")))
                except (ValueError, AttributeError):
                    reply = 0
            status = response.get("statusCode") if isinstance(response, dict) else None
            self.taken.append(
                Sample(
                    ms=elapsed * 1000,
                    aws=aws,
                    bot_http=len(self.bench.telegram.calls) - bot_before,
                    bot_reply=reply,
                    status=status if status is not None else response,
                    read_items=read_items,
                )
            )
            return response

        return measured

    def measure(self, act: Callable[[], Any]) -> Sample:
        # moto's tables and the fakes' chats live in this process, not in the Lambda's: a
        # full collection walking them took 0.3-0.7 s in the middle of a handler. Frozen
        # objects are left out of collections; the handler's own garbage is still collected.
        gc.freeze()
        self.taken = []
        self.armed = True
        try:
            act()
        finally:
            self.armed = False
        if len(self.taken) != 1:
            raise RuntimeError(f"expected one handler invocation, saw {len(self.taken)}")
        return self.taken[0]


class Scenarios:
    """State shared by the operations of one stack generation (after `reset()`)."""

    def __init__(self, bench: BenchStack) -> None:
        # The handler modules are imported here, not at the top: after __main__ has sent
        # their stdout (log lines, EMF metrics) to the log file.
        from tests.integration.chat import WEBHOOK_SECRET, Chat

        self.bench = bench
        self.chat = Chat(bench.telegram, WEBHOOK_SECRET)
        self._next_user = 10_000
        self.regular = self.new_user()
        # A returning user with one subscription, as most /subscriptions readers are.
        self.bench.clock.set(START)
        self.chat.say(self.regular, "/start")
        self._connect_from_chat(self.regular)
        self.chat.press(self.regular, "Pay")

    def new_user(self) -> Any:
        from tests.integration.chat import TgUser

        self._next_user += 1
        return TgUser(self._next_user, f"user{self._next_user}")

    def _connect_from_chat(self, user: Any) -> None:
        """A Payer with a country and money, on the priced Gateway screen (before "Pay")."""
        from tests.integration.payers import payer
        from tests.integration.test_bot_flows import top_up

        payer(user.id, "DE", phone=GERMAN_PHONE)
        top_up(user, 100_000)
        self.chat.say(user, "/subscriptions")
        for label in ("Gateway", "Connect", "EUR", "Show the price"):
            self.chat.press(user, label)

    # -- bot operations ---------------------------------------------------------------

    def start_setup(self) -> Any:
        self.bench.clock.set(START)
        return self.new_user()

    def start_act(self, user: Any) -> Any:
        return self.chat.say(user, "/start")

    def subscriptions_setup(self) -> Any:
        self.bench.clock.set(START)
        return self.regular

    def subscriptions_act(self, user: Any) -> Any:
        return self.chat.say(user, "/subscriptions")

    def open_product_setup(self) -> Any:
        self.bench.clock.set(START)
        self.chat.say(self.regular, "/subscriptions")
        return self.regular

    def open_product_act(self, user: Any) -> Any:
        return self.chat.press(user, "Softphone")

    def connect_pay_setup(self) -> Any:
        self.bench.clock.set(START)
        user = self.new_user()
        self._connect_from_chat(user)
        return user

    def connect_pay_act(self, user: Any) -> Any:
        return self.chat.press(user, "Pay")

    # -- payment webhook --------------------------------------------------------------

    def crypto_paid_setup(self) -> Any:
        from billing.domain.profile import PaymentMethod
        from tests.integration.test_provider_webhooks import crypto_invoice_id, open_order

        self.bench.clock.set(START)
        order, _ = open_order(PaymentMethod.CRYPTO)
        return self.bench.cryptopay.pay(crypto_invoice_id(order))

    @staticmethod
    def crypto_paid_act(delivery: tuple[dict[str, str], bytes]) -> Any:
        from tests.integration.test_provider_webhooks import deliver

        return deliver("cryptopay", *delivery)

    # -- renewal worker ---------------------------------------------------------------

    def _subscription(self, *, wallet_left: int) -> Any:
        """A Gateway subscription paid from the wallet (as test_renewal_sweep.connect, for a
        new Payer each time); `wallet_left` > 0 turns auto-renewal on."""
        from billing.domain.money import Currency
        from billing.domain.tax import TaxProfile
        from billing.runtime import runtime
        from tests.integration.payers import payer

        self.bench.clock.set(START)
        user = self.new_user()
        payer(user.id, "DE", phone=GERMAN_PHONE)
        rt = runtime()
        rt.ledger.top_up(
            user.id, Currency.EUR, PRICE + wallet_left, cause=f"seed:{user.id}", reason="top-up"
        )
        return rt.subscriptions.connect(
            request_id=f"bench:{user.id}",
            payer_id=user.id,
            customer_id=user.id,
            product="gateway",
            options={"lines": 1},
            months=6,
            currency=Currency.EUR,
            tax=TaxProfile.create("DE"),
            has_saved_card=False,
        ).subscription

    def renewal_setup(self) -> Any:
        sub = self._subscription(wallet_left=PRICE)
        assert sub.auto_renew
        self.bench.clock.set(sub.expires_at - timedelta(days=3))  # the first renewal day
        return sub

    def reminder_setup(self) -> Any:
        sub = self._subscription(wallet_left=0)
        assert not sub.auto_renew
        self.bench.clock.set(sub.expires_at - timedelta(days=7, hours=-1))  # week-ahead
        return sub

    @staticmethod
    def worker_act(sub: Any) -> Any:
        """One renewal-queue message for the subscription, delivered as Lambda's SQS event
        source does (the body RenewalQueue.send writes)."""
        from functions.renewal_cron import app as cron_app
        from local.events import FakeContext, sqs_event

        body = json.dumps({"subscription_id": sub.id})
        event = sqs_event([(str(uuid.uuid4()), body)])
        return cron_app.lambda_handler(event, FakeContext("renewal-cron", timeout_seconds=60))

    # -- entitlements read API (the telephony side) -------------------------------------

    def entitlements_setup(self) -> Any:
        """The regular user (one Gateway subscription, so a paid answer)."""
        self.bench.clock.set(START)
        return self.regular.id

    @staticmethod
    def entitlements_one_act(telegram_id: int) -> Any:
        from functions.entitlements_api import app as entitlements_app
        from local.events import FakeContext, http_api_event

        event = http_api_event(
            "GET",
            f"/entitlements/{telegram_id}",
            headers={},
            body=b"",
            route_key="GET /entitlements/{telegram_id}",
            path_parameters={"telegram_id": str(telegram_id)},
            iam_caller=READER_ARN,
        )
        return entitlements_app.lambda_handler(event, FakeContext("entitlements-api"))

    @staticmethod
    def entitlements_batch_act(telegram_id: int) -> Any:
        """A batch of the most ids allowed: the regular user and 99 others."""
        from functions.entitlements_api import app as entitlements_app
        from local.events import FakeContext, http_api_event

        ids = [telegram_id, *range(20_001, 20_100)]
        event = http_api_event(
            "POST",
            "/entitlements/batch",
            headers={"content-type": "application/json"},
            body=json.dumps({"telegram_ids": ids}).encode(),
            iam_caller=READER_ARN,
        )
        return entitlements_app.lambda_handler(event, FakeContext("entitlements-api"))


READER_ARN = "arn:aws:sts::123456789012:assumed-role/EntitlementsReaderRole/bench"


def _ok_http(_ctx: Any, sample: Sample) -> None:
    if sample.status != 200:
        raise RuntimeError(f"handler answered {sample.status}")


def _worker_ok(_ctx: Any, sample: Sample) -> None:
    if not isinstance(sample.status, dict) or sample.status.get("batchItemFailures"):
        raise RuntimeError(f"renewal worker failed: {sample.status}")


# What each operation must read, whatever the code (the model's minimum). Not needed: an
# item read before in the same operation, an item the operation wrote (the subscription a
# renewal or reminder wrote is decided on again as written; the invoice just issued is sent
# as issued), and the connect request's own subscription before the charge (the slot says
# whether it is active, the entry's condition whether this request bought it before).
LANGUAGE = "account: the language to answer in"
NEEDS: dict[str, tuple[str, ...]] = {
    "start": (LANGUAGE,),  # then created with attribute_not_exists: no read
    "subscriptions": (
        LANGUAGE,
        "subscriptions held (by_customer query)",
        "subscriptions paid for (by_payer query)",
    ),
    "open_product": (LANGUAGE,),  # the catalog is in memory
    "connect_pay": (
        "account: language, billing profile (tax), the invoice's buyer",
        "conversation: the draft being confirmed, the name of a picked customer",
        "slot: one active subscription per customer and product (and a repeated request)",
        "wallet: balance, seq and credit limit the charge is conditional on",
        "invoice counter: the next gapless number, advanced in the same transaction",
    ),
    "crypto_paid": (
        "order: what the payment is for, its amount and state",
        "wallet: balance and seq the top-up is conditional on",
        "account: the language of the notice",
        "conversation: whether the payer is on a quote to come back to",
    ),
    "renewal": (
        "subscription: what is due",
        "account: tax profile, the invoice's buyer, the language of the notice",
        "wallet: balance, seq and credit limit the charge is conditional on",
        "invoice counter: the next gapless number, advanced in the same transaction",
    ),
    "reminder": (
        "subscription: what is due",
        "account: tax profile for the price, the language of the notice",
        "wallet: whether the balance covers the renewal",
    ),
    "entitlements_one": ("entitlements: the user's item (GetItem)",),
    "entitlements_batch": ("entitlements: the 100 users' items (one BatchGetItem)",),
}


def operations(s: Scenarios) -> list[Operation]:
    ops = [
        Operation("start", "/start (new user)", True, s.start_setup, s.start_act, _ok_http),
        Operation(
            "subscriptions",
            "/subscriptions",
            True,
            s.subscriptions_setup,
            s.subscriptions_act,
            _ok_http,
        ),
        Operation(
            "open_product",
            "button: open a product",
            True,
            s.open_product_setup,
            s.open_product_act,
            _ok_http,
        ),
        Operation(
            "connect_pay",
            "button: connect, pay from wallet",
            True,
            s.connect_pay_setup,
            s.connect_pay_act,
            _ok_http,
        ),
        Operation(
            "crypto_paid",
            "Crypto Pay invoice_paid webhook",
            False,
            s.crypto_paid_setup,
            s.crypto_paid_act,
            _ok_http,
        ),
        Operation(
            "renewal", "renewal from the wallet", False, s.renewal_setup, s.worker_act, _worker_ok
        ),
        Operation(
            "reminder", "reminder (week ahead)", False, s.reminder_setup, s.worker_act, _worker_ok
        ),
        Operation(
            "entitlements_one",
            "entitlements read API: one user",
            False,
            s.entitlements_setup,
            s.entitlements_one_act,
            _ok_http,
        ),
        Operation(
            "entitlements_batch",
            "entitlements read API: batch of 100",
            False,
            s.entitlements_setup,
            s.entitlements_batch_act,
            _ok_http,
        ),
    ]
    for op in ops:
        op.needs = NEEDS[op.name]
    return ops


@dataclass
class _State:
    generation: int = -1
    ops: list[Operation] = field(default_factory=list)
    samples: dict[str, list[Sample]] = field(default_factory=dict)


_STATE = _State()


def samples(runs: int) -> tuple[list[Operation], dict[str, list[Sample]]]:
    """At least `runs` samples of every operation (after one unmeasured warm-up each)."""
    from functions.entitlements_api import app as entitlements_app
    from functions.payment_webhook import app as payment_app
    from functions.renewal_cron import app as cron_app
    from functions.telegram_webhook import app as telegram_app

    bench = stack()
    if _STATE.generation != bench.generation:
        bench.reset()
        scenarios = Scenarios(bench)
        _STATE.generation = bench.generation
        _STATE.ops = operations(scenarios)
        _STATE.samples = {op.name: [] for op in _STATE.ops}
        for op in _STATE.ops:  # warm-up: lazy imports, caches, first clients
            op.act(op.setup())
    probe = Probe(bench)
    with probe.wrapping(telegram_app, payment_app, cron_app, entitlements_app):
        rounds = 0
        while min(len(taken) for taken in _STATE.samples.values()) < runs:
            rounds += 1
            if rounds % 10 == 0:  # what froze meanwhile may be garbage: collect, unmeasured
                gc.unfreeze()
                gc.collect()
            for op in _STATE.ops:  # interleaved, so drift hits every operation alike
                context = op.setup()
                sample = probe.measure(partial(op.act, context))
                op.check(context, sample)
                _STATE.samples[op.name].append(sample)
    gc.unfreeze()
    gc.collect()
    if bench.telegram.violations:
        raise RuntimeError(f"Bot API contract violations: {bench.telegram.violations[:3]}")
    return _STATE.ops, _STATE.samples
