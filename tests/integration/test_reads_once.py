"""One DynamoDB read per item per operation (billing/store/reads.py), and reads after the
operation's own writes that see them.

The first tests count the reads one real handler invocation makes, on a botocore hook as
benchmarks/stack.py counts them: each would fail with the repeat it names put back. The
others hold the read map to the money rules: a read after our own write sees the write, a
lost race reads again, nothing leaks between operations or threads.
"""

from __future__ import annotations

import contextvars
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.subscription import Subscription
from billing.domain.tax import TaxProfile
from billing.errors import InvalidState
from billing.runtime import runtime
from billing.store import reads
from billing.store.models import AccountModel, SubscriptionModel
from billing.store.transactions import StaleWrite, TxnWriter, run_transaction
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.conftest import put_payment_secrets
from tests.integration.payers import payer

EUR = Currency.EUR
ANN = TgUser(101, "Ann")
BOB = TgUser(202, "Bob")
PRICE = 21_420  # Gateway, 1 line, 6 months, German consumer
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


class DynamoReads:
    """The key of every DynamoDB read while armed: "user#101/profile", "sub#<id>", ..."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.armed = False

    @contextmanager
    def during(self) -> Iterator[list[str]]:
        self.keys = []
        self.armed = True
        try:
            yield self.keys
        finally:
            self.armed = False

    def record(self, operation: str, params: dict[str, Any]) -> None:
        if operation == "GetItem":
            key = params["Key"]
            self.keys.append(
                "/".join(
                    next(iter(key[name].values())) for name in ("pk", "sk", "id") if name in key
                )
            )
        else:
            values = json.dumps(params.get("ExpressionAttributeValues"), sort_keys=True)
            self.keys.append(f"{operation}:{params.get('IndexName')}:{values}")


@pytest.fixture
def dynamo_reads(monkeypatch: pytest.MonkeyPatch) -> DynamoReads:
    log = DynamoReads()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if (
            log.armed
            and operation in READS
            and client.meta.service_model.service_name == "dynamodb"
        ):
            log.record(operation, params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return log


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    put_payment_secrets(lambda_env, "sk_test_unused")
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def repeated(keys: list[str]) -> dict[str, int]:
    return {key: n for key, n in Counter(keys).items() if n > 1}


# --- connect-and-pay: one press of "Pay", one handler invocation ---------------------------


@pytest.fixture
def connect_reads(chat: Chat, dynamo_reads: DynamoReads) -> list[str]:
    """The keys read while the "Pay" press of a Gateway connect is handled."""
    payer(ANN.id, "DE", phone="+49 30 901820")
    runtime().ledger.top_up(ANN.id, EUR, 100_000, cause="seed", reason="top-up")
    chat.say(ANN, "/subscriptions")
    for label in ("Gateway", "Connect", "EUR", "Show the price"):
        chat.press(ANN, label)
    with dynamo_reads.during() as keys:
        assert chat.press(ANN, "Pay")["statusCode"] == 200
    assert "active until 1 Sep 2026" in chat.screen(ANN)
    assert [d["document"]["file_name"] for d in chat.documents(ANN)] == ["INV-000001.pdf"]
    assert runtime().ledger.wallet(ANN.id, EUR).balance == 100_000 - PRICE
    return keys


def test_connect_reads_the_account_once(connect_reads: list[str]) -> None:
    # The router's language, the tax profile, the invoice's buyer: one read.
    assert connect_reads.count("user#101/profile") == 1


def test_connect_reads_the_draft_once(connect_reads: list[str]) -> None:
    # The draft confirmed and the name of a picked customer: one read.
    assert connect_reads.count("user#101/conversation") == 1


def test_connect_does_not_read_back_the_invoice_it_issued(connect_reads: list[str]) -> None:
    assert not [key for key in connect_reads if key.startswith("invoice#")]


def test_connect_reads_the_slot_not_the_requests_subscription(connect_reads: list[str]) -> None:
    assert connect_reads.count("slot#101#gateway") == 1
    assert not [key for key in connect_reads if key.startswith("sub#")]


def test_connect_reads_the_minimum(connect_reads: list[str]) -> None:
    assert repeated(connect_reads) == {}
    assert sorted(connect_reads) == sorted(
        [
            "user#101/profile",
            "user#101/conversation",
            "slot#101#gateway",
            "payer#101/wallet#EUR",
            "counter#invoice",
        ]
    )


# --- the renewal worker: one queue message ------------------------------------------------


def gateway(*, wallet_left: int, user: int = ANN.id) -> Subscription:
    rt = runtime()
    payer(user, "DE", phone="+49 30 901820")
    rt.ledger.top_up(user, EUR, PRICE + wallet_left, cause=f"seed:{user}", reason="top-up")
    return rt.subscriptions.connect(
        request_id=f"r:{user}",
        payer_id=user,
        customer_id=user,
        product="gateway",
        options={"lines": 1},
        months=6,
        currency=EUR,
        tax=TaxProfile.create("DE"),
        has_saved_card=False,
    ).subscription


def work_message(sub: Subscription) -> dict[str, Any]:
    """One renewal-queue message, delivered as Lambda's SQS event source does."""
    from functions.renewal_cron import app as cron_app
    from local.events import FakeContext, sqs_event

    event = sqs_event([(str(uuid.uuid4()), json.dumps({"subscription_id": sub.id}))])
    result: dict[str, Any] = cron_app.lambda_handler(
        event, FakeContext("renewal-cron", timeout_seconds=60)
    )
    assert result == {"batchItemFailures": []}
    return result


@pytest.fixture
def renewal_reads(
    chat: Chat, clock: ManualClock, dynamo_reads: DynamoReads, fake_telegram: FakeBotApi
) -> tuple[Subscription, list[str]]:
    sub = gateway(wallet_left=PRICE)
    assert sub.auto_renew
    clock.set(sub.expires_at - timedelta(days=3))  # the first renewal day
    with dynamo_reads.during() as keys:
        work_message(sub)
    renewed = runtime().subscriptions.get_any(sub.id)
    assert renewed.expires_at == datetime(2027, 3, 1, 12, tzinfo=UTC)
    assert runtime().ledger.wallet(ANN.id, EUR).balance == 0
    assert [d["document"]["file_name"] for d in chat.documents(ANN)] == ["INV-000002.pdf"]
    return sub, keys


def test_renewal_reads_the_subscription_once(
    renewal_reads: tuple[Subscription, list[str]],
) -> None:
    # The worker's decision, the quote, the renewal, the decision after it: one read.
    sub, keys = renewal_reads
    assert keys.count(f"sub#{sub.id}") == 1


def test_renewal_reads_the_account_once(renewal_reads: tuple[Subscription, list[str]]) -> None:
    # The tax profile, the invoice's buyer, the notice's language: one read.
    _, keys = renewal_reads
    assert keys.count("user#101/profile") == 1


def test_renewal_does_not_read_back_the_invoice_it_issued(
    renewal_reads: tuple[Subscription, list[str]],
) -> None:
    _, keys = renewal_reads
    assert not [key for key in keys if key.startswith("invoice#")]


def test_renewal_reads_the_minimum(renewal_reads: tuple[Subscription, list[str]]) -> None:
    sub, keys = renewal_reads
    assert sorted(keys) == sorted(
        [f"sub#{sub.id}", "user#101/profile", "payer#101/wallet#EUR", "counter#invoice"]
    )


def test_reminder_reads_each_item_once(
    chat: Chat, clock: ManualClock, dynamo_reads: DynamoReads, fake_telegram: FakeBotApi
) -> None:
    sub = gateway(wallet_left=0)
    assert not sub.auto_renew
    clock.set(sub.expires_at - timedelta(days=7, hours=-1))  # the week-ahead reminder
    with dynamo_reads.during() as keys:
        work_message(sub)
    # Marked (written) first, then priced and told from the subscription as written.
    assert sorted(keys) == sorted([f"sub#{sub.id}", "user#101/profile", "payer#101/wallet#EUR"])
    assert "ends on" in chat.screen(ANN)


# --- reads after the operation's own writes ------------------------------------------------


@pytest.fixture
def rt(lambda_env: Settings) -> Any:
    return runtime()


def test_outside_an_operation_every_read_goes_to_dynamodb(
    rt: Any, dynamo_reads: DynamoReads
) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys:
        rt.accounts.get(ANN.id)
        rt.accounts.get(ANN.id)
    assert keys == ["user#101/profile", "user#101/profile"]
    assert not reads.active()


def test_a_profile_read_after_its_save_sees_the_save(rt: Any, dynamo_reads: DynamoReads) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys, reads.operation():
        before = rt.accounts.get(ANN.id)
        rt.profiles.set_name(ANN.id, "Ann Example")  # reads (from the map), saves
        after = rt.accounts.get(ANN.id)
    assert keys == ["user#101/profile"]
    assert (before.profile.name, after.profile.name) == (None, "Ann Example")
    assert after.version == before.version + 1
    assert rt.accounts.get(ANN.id) == after  # as DynamoDB holds it


def test_a_language_read_after_it_was_set_sees_it(rt: Any, dynamo_reads: DynamoReads) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys, reads.operation():
        assert rt.accounts.get(ANN.id).language == "en"
        rt.accounts.set_language(ANN.id, "ru")
        assert rt.accounts.get(ANN.id).language == "ru"
    assert keys == ["user#101/profile"]
    assert rt.accounts.get(ANN.id).language == "ru"


def test_start_of_a_known_account_writes_nothing_and_reads_once(
    rt: Any, dynamo_reads: DynamoReads
) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys, reads.operation():
        read = rt.accounts.get(ANN.id)
        account, created = rt.accounts.ensure(
            ANN.id,
            now=rt.clock.now(),
            language="ru",
            first_name="Other",
            username=None,
            start_parameter="x",
        )
    assert (account, created) == (read, False)
    assert keys == ["user#101/profile"]


def test_a_new_account_is_known_once_created(rt: Any, dynamo_reads: DynamoReads) -> None:
    with dynamo_reads.during() as keys, reads.operation():
        assert rt.accounts.get(ANN.id) is None  # remembered as absent
        account, created = rt.accounts.ensure(
            ANN.id, now=rt.clock.now(), language="en", first_name="Ann", username=None,
            start_parameter=None,
        )  # fmt: skip
        assert created
        assert rt.accounts.get(ANN.id) == account
    assert keys == ["user#101/profile"]


def test_a_conversation_read_after_put_and_clear_sees_them(
    rt: Any, dynamo_reads: DynamoReads
) -> None:
    from billing.store.conversations import ConversationRepository

    conversations = ConversationRepository()
    now = rt.clock.now()
    with dynamo_reads.during() as keys, reads.operation():
        assert conversations.get(ANN.id, now) is None
        conversations.put(ANN.id, {"ask": {"field": "name"}}, now)
        assert conversations.get(ANN.id, now) == {"ask": {"field": "name"}}
        assert conversations.get(ANN.id, now + timedelta(days=2)) is None  # expired, as read
        conversations.clear(ANN.id)
        assert conversations.get(ANN.id, now) is None
    assert keys == ["user#101/conversation"]


def test_a_subscription_read_after_its_transaction_sees_it(
    rt: Any, dynamo_reads: DynamoReads
) -> None:
    sub = gateway(wallet_left=PRICE)
    assert sub.auto_renew
    with dynamo_reads.during() as keys, reads.operation():
        switched = rt.subscriptions.set_auto_renew(sub.id, by=ANN.id, on=False)
        seen = rt.subscriptions.get_any(sub.id)
    assert keys == [f"sub#{sub.id}"]
    assert seen == switched and not seen.auto_renew and seen.version == sub.version + 1
    assert rt.subscriptions.get_any(sub.id) == seen  # as DynamoDB holds it


def test_an_updated_item_is_read_again_after_the_transaction(rt: Any) -> None:
    # An update in a transaction returns no attributes: its item is forgotten, not guessed.
    payer(ANN.id, "DE")
    with reads.operation():
        rt.accounts.get(ANN.id)
        assert reads.known(AccountModel, "user#101", "profile")[0]

        def touch(txn: TxnWriter) -> None:
            txn.update(
                AccountModel("user#101", "profile"),
                [AccountModel.username.set("ann")],
                AccountModel.pk.exists(),
            )

        run_transaction([touch])
        assert not reads.known(AccountModel, "user#101", "profile")[0]
        assert rt.accounts.get(ANN.id).username == "ann"


def elsewhere[T](work: Callable[[], T]) -> T:
    """`work` as another Lambda invocation would do it: outside this operation."""
    return contextvars.Context().run(work)


def test_a_lost_race_reads_again(rt: Any, dynamo_reads: DynamoReads) -> None:
    sub = gateway(wallet_left=PRICE)
    assert sub.auto_renew and not sub.customer_may_change
    with reads.operation():
        with dynamo_reads.during() as keys:
            assert rt.subscriptions.get_any(sub.id).auto_renew
        # Another invocation changes it after this operation read it.
        elsewhere(lambda: rt.subscriptions.set_customer_may_change(sub.id, by=ANN.id, allowed=True))
        with dynamo_reads.during() as keys_after:
            # The save conditional on the version read fails; the retry reads it again.
            switched = rt.subscriptions.set_auto_renew(sub.id, by=ANN.id, on=False)
    assert keys == keys_after == [f"sub#{sub.id}"]
    assert not switched.auto_renew and switched.customer_may_change
    assert switched.version == sub.version + 2
    assert rt.subscriptions.get_any(sub.id) == switched


def test_a_renewal_that_lost_a_race_reads_again_and_charges_once(rt: Any) -> None:
    sub = gateway(wallet_left=PRICE)
    tax = TaxProfile.create("DE")
    with reads.operation():
        rt.subscriptions.get_any(sub.id)
        elsewhere(lambda: rt.subscriptions.set_auto_renew(sub.id, by=ANN.id, on=False))
        purchase = rt.subscriptions.renew(sub.id, by=ANN.id, tax=tax)
    assert purchase.applied_now
    assert purchase.subscription.version == sub.version + 2
    assert rt.ledger.wallet(ANN.id, EUR).balance == 0
    assert rt.subscriptions.get_any(sub.id) == purchase.subscription


def test_a_renewal_bought_elsewhere_meanwhile_reports_it_as_it_is_now(rt: Any) -> None:
    sub = gateway(wallet_left=PRICE)
    tax = TaxProfile.create("DE")
    period = sub.period_key()
    with reads.operation():
        assert rt.subscriptions.get_any(sub.id) == sub
        bought = elsewhere(lambda: rt.subscriptions.renew(sub.id, by=None, tax=tax))
        # The wallet no longer covers it: the entry of the period says it was bought.
        again = rt.subscriptions.renew(sub.id, by=None, tax=tax, period_key=period)
    assert not again.applied_now
    assert again.subscription == bought.subscription  # read again, not the map's copy
    assert rt.ledger.wallet(ANN.id, EUR).balance == 0


def test_a_failed_write_forgets_everything_read(rt: Any, dynamo_reads: DynamoReads) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys, reads.operation():
        account = rt.accounts.get(ANN.id)
        with pytest.raises(StaleWrite):
            rt.accounts.save_profile(ANN.id, account.profile, expected_version=account.version + 7)
        rt.accounts.get(ANN.id)
    assert keys == ["user#101/profile", "user#101/profile"]


def test_a_crash_in_a_transaction_forgets_everything_read(rt: Any) -> None:
    class Crash(BaseException):
        pass

    sub = gateway(wallet_left=PRICE)

    def crash(_txn: TxnWriter) -> None:
        raise Crash

    with reads.operation():
        rt.subscriptions.get_any(sub.id)
        with pytest.raises(Crash):
            run_transaction([crash])
        assert not reads.known(SubscriptionModel, f"sub#{sub.id}")[0]


def test_connecting_again_while_the_subscription_is_active_returns_it(rt: Any) -> None:
    sub = gateway(wallet_left=PRICE)
    again = rt.subscriptions.connect(
        request_id=f"r:{ANN.id}", payer_id=ANN.id, customer_id=ANN.id, product="gateway",
        options={"lines": 1}, months=6, currency=EUR, tax=TaxProfile.create("DE"),
        has_saved_card=False,
    )  # fmt: skip
    assert (again.subscription, again.applied_now) == (sub, False)
    assert rt.ledger.wallet(ANN.id, EUR).balance == PRICE


def test_connecting_again_after_the_subscription_ended_charges_nothing(
    rt: Any, clock: ManualClock
) -> None:
    sub = gateway(wallet_left=PRICE)
    clock.set(sub.expires_at + timedelta(days=1))
    ended = rt.subscriptions.expire(sub.id)
    assert ended is not None and not ended.is_active  # the slot is free again

    def connect(request: str) -> Any:
        return rt.subscriptions.connect(
            request_id=request, payer_id=ANN.id, customer_id=ANN.id, product="gateway",
            options={"lines": 1}, months=6, currency=EUR, tax=TaxProfile.create("DE"),
            has_saved_card=False,
        )  # fmt: skip

    with reads.operation():
        again = connect(f"r:{ANN.id}")  # the old request: its entry says it was bought
    assert (again.subscription, again.applied_now) == (ended, False)
    assert rt.ledger.wallet(ANN.id, EUR).balance == PRICE
    # A new request takes the free slot; the old request, repeated while the slot is taken
    # by another subscription, still returns what it bought, and a third is refused.
    new = connect("r:new")
    assert new.applied_now and new.subscription.id != sub.id
    repeated_old = connect(f"r:{ANN.id}")
    assert (repeated_old.subscription, repeated_old.applied_now) == (ended, False)
    with pytest.raises(InvalidState, match="already has an active gateway"):
        connect("r:third")
    assert rt.ledger.wallet(ANN.id, EUR).balance == 0


# --- nothing leaks ------------------------------------------------------------------------


def test_an_operation_sees_what_others_wrote_before_it(rt: Any) -> None:
    payer(ANN.id, "DE")
    with reads.operation():
        assert rt.accounts.get(ANN.id).profile.name is None
    rt.profiles.set_name(ANN.id, "Ann Example")  # another invocation, in between
    with reads.operation():
        assert rt.accounts.get(ANN.id).profile.name == "Ann Example"


def test_a_nested_operation_is_part_of_the_enclosing_one(
    rt: Any, dynamo_reads: DynamoReads
) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys, reads.operation():
        rt.accounts.get(ANN.id)
        with reads.operation():
            rt.profiles.set_name(ANN.id, "Ann Example")
        assert rt.accounts.get(ANN.id).profile.name == "Ann Example"
    assert keys == ["user#101/profile"]


def test_operations_in_threads_do_not_share_what_they_read(rt: Any) -> None:
    """The local stack runs handlers in threads: each has its own map."""
    payer(ANN.id, "DE")
    first_read = threading.Event()
    changed = threading.Event()
    seen: dict[str, str | None] = {}

    def first() -> None:
        with reads.operation():
            seen["first, before"] = rt.accounts.get(ANN.id).profile.name
            first_read.set()
            assert changed.wait(10)
            seen["first, after"] = rt.accounts.get(ANN.id).profile.name  # its own read

    def second() -> None:
        assert first_read.wait(10)
        with reads.operation():
            rt.profiles.set_name(ANN.id, "Ann Example")
            seen["second"] = rt.accounts.get(ANN.id).profile.name
        changed.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == {"first, before": None, "first, after": None, "second": "Ann Example"}
    assert not reads.active()
    assert rt.accounts.get(ANN.id).profile.name == "Ann Example"


def test_each_update_is_its_own_operation(chat: Chat, dynamo_reads: DynamoReads) -> None:
    payer(ANN.id, "DE")
    with dynamo_reads.during() as keys:
        chat.say(ANN, "/balance")
        chat.say(ANN, "/balance")
    # Read by each update, never carried from one to the next.
    assert keys.count("user#101/profile") == 2
    assert not reads.active()
