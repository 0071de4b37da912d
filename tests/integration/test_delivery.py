"""Telegram delivers an update at least once; the webhook makes its effects happen once.

An update's claim is a lease while it is worked on, "done" only once the work completed and
released on any failure (answered 5xx), so a failed attempt never swallows the redelivery:
here a card payment made in Telegram (`successful_payment`) whose first processing fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.errors import ConcurrentModification
from billing.orders.service import PaymentService
from billing.runtime import runtime
from billing.store.dedupe import UpdateDeduplicator
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import set_country

ANN = TgUser(101, "Ann")
RECEIVED = "Payment of 25.00 EUR received"


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def deliver(chat: Chat, update: dict[str, Any]) -> int:
    """The status Telegram sees: a function error is API Gateway's 500."""
    try:
        return int(chat.deliver(update)["statusCode"])
    except Exception:
        return 500


def paid_top_up(chat: Chat, fake: FakeBotApi) -> dict[str, Any]:
    """Ann pays a 25.00 EUR top-up by card in Telegram: the successful_payment update,
    not delivered yet."""
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    chat.say(ANN, contact={"phone_number": "+1 212 555 0100", "first_name": "Ann", "user_id": 101})
    chat.say(ANN, "/balance")
    chat.press(ANN, "Top up")
    chat.press(ANN, "EUR")
    chat.press(ANN, "25.00 EUR")
    chat.press(ANN, "Card in Telegram")
    invoice = chat.invoices(ANN)[-1]
    chat.deliver(fake.pre_checkout(ANN.id, invoice["message_id"]))
    assert fake.calls_of("answerPreCheckoutQuery")[-1]["ok"] is True
    return fake.successful_payment(ANN.id, invoice["message_id"])


def fail_first_settle(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[int]:
    """PaymentService.settle raises `error` on its first call; returns the call count."""
    calls = [0]
    settle = PaymentService.settle

    def flaky(self: PaymentService, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise error
        return settle(self, *args, **kwargs)

    monkeypatch.setattr(PaymentService, "settle", flaky)
    return calls


def balance() -> int:
    return runtime().ledger.wallet(ANN.id, Currency.EUR).balance


def receipts(chat: Chat) -> int:
    return sum(RECEIVED in m["text"] for m in chat.text_messages(ANN))


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            ConcurrentModification("the wallet kept changing"), id="concurrent-modification"
        ),
        pytest.param(RuntimeError("a bug"), id="unexpected-error"),
    ],
)
def test_a_failed_first_attempt_is_answered_5xx_and_the_redelivery_credits_once(
    chat: Chat, fake_telegram: FakeBotApi, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    update = paid_top_up(chat, fake_telegram)
    settles = fail_first_settle(monkeypatch, error)

    assert deliver(chat, update) == 503
    assert runtime().ledger.wallets(ANN.id) == []

    # Telegram delivers it again: now it acts, once.
    assert deliver(chat, update) == 200
    assert balance() == 2_500 and receipts(chat) == 1
    # And once more (a late duplicate): done, answered 200 without acting.
    assert deliver(chat, update) == 200
    assert balance() == 2_500 and receipts(chat) == 1
    assert settles[0] == 2


def test_a_failed_release_lapses_with_the_lease(
    chat: Chat, fake_telegram: FakeBotApi, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    update = paid_top_up(chat, fake_telegram)
    fail_first_settle(monkeypatch, RuntimeError("DynamoDB unreachable"))

    def unavailable(self: UpdateDeduplicator, key: str) -> None:
        raise RuntimeError("DynamoDB unreachable")

    monkeypatch.setattr(UpdateDeduplicator, "release", unavailable)

    assert deliver(chat, update) == 503
    # The claim is still there, but only as a lease for the invocation's time (15 s, the
    # function's Timeout): within it the update is in progress, so not acknowledged.
    clock.advance(timedelta(seconds=10))
    assert deliver(chat, update) == 503
    assert runtime().ledger.wallets(ANN.id) == []

    clock.advance(timedelta(seconds=6))
    assert deliver(chat, update) == 200
    assert balance() == 2_500 and receipts(chat) == 1


def test_a_duplicate_while_in_progress_is_answered_503_not_swallowed(
    chat: Chat, fake_telegram: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    update = paid_top_up(chat, fake_telegram)
    concurrent: list[int] = []
    settle = PaymentService.settle

    def with_a_duplicate(self: PaymentService, *args: Any, **kwargs: Any) -> Any:
        # Lambda runs the same update again while the first invocation is at work.
        if not concurrent:
            concurrent.append(deliver(chat, update))
        return settle(self, *args, **kwargs)

    monkeypatch.setattr(PaymentService, "settle", with_a_duplicate)

    assert deliver(chat, update) == 200
    assert concurrent == [503]
    assert balance() == 2_500 and receipts(chat) == 1
    assert deliver(chat, update) == 200
    assert balance() == 2_500


def test_a_claim_is_a_lease_until_completed(tables: Settings, clock: ManualClock) -> None:
    dedupe = UpdateDeduplicator()
    lease = timedelta(seconds=15)
    assert dedupe.claim("u#1", clock.now(), lease) is True
    assert dedupe.claim("u#1", clock.now(), lease) is False
    assert dedupe.done("u#1") is False  # in progress
    clock.advance(lease + timedelta(seconds=1))
    assert dedupe.claim("u#1", clock.now(), lease) is True  # its holder died

    dedupe.complete("u#1", clock.now())
    clock.advance(timedelta(days=1))
    assert dedupe.claim("u#1", clock.now(), lease) is False
    assert dedupe.done("u#1") is True
    clock.advance(timedelta(days=1, seconds=1))
    assert dedupe.claim("u#1", clock.now(), lease) is True

    dedupe.release("u#1")
    assert dedupe.done("u#1") is False
    assert dedupe.claim("u#1", clock.now(), lease) is True
