"""Support's inbox (SPEC §9): open alerts, newest first, read from a sparse index by a
query (never a Scan), each with the order and Payer it concerns and a "Resolved" button;
an admin's /help names /admin; support actions read as sentences. End to end through the
webhook handler, moto and the api.json-enforcing fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
from pynamodb.connection.base import Connection
from pynamodb.exceptions import DoesNotExist

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.orders.model import Purpose
from billing.runtime import runtime
from billing.store.audit import AuditRepository
from billing.store.models import AlertModel
from billing.store.orders import OrdersRepository
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.payers import payer

ADMIN = TgUser(900, "Sam")
ADMIN_RU = TgUser(900, "Sam", "ru")
ANN = TgUser(101, "Ann")

UNKNOWN = "I don't know that command. /help lists what I can do."
STALE = "This button is out of date. Open /subscriptions again."
GONE = "This alert is no longer open; nothing changed."


@pytest.fixture
def no_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("a Scan was made; the IAM policies grant none")

    monkeypatch.setattr(Connection, "scan", refuse)


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi, no_scan: None) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def clock() -> ManualClock:
    moment = runtime().clock
    assert isinstance(moment, ManualClock)
    return moment


def alert_item(alert_id: str) -> AlertModel | None:
    try:
        return AlertModel.get(f"alert#{alert_id}", consistent_read=True)
    except DoesNotExist:
        return None


# --- the repository ------------------------------------------------------------------------


def test_open_alerts_are_queried_newest_first_and_resolved_once(
    tables: Settings, no_scan: None
) -> None:
    repo = OrdersRepository()
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    made = [
        repo.record_alert(f"alert {n}", now=start + timedelta(minutes=n), details={"order": "o"})
        for n in range(5)
    ]
    assert all(alert.state == "open" for alert in made)

    assert [a.reason for a in repo.open_alerts(limit=3)] == ["alert 4", "alert 3", "alert 2"]
    older = repo.open_alerts(limit=3, before=made[2].id)
    assert [a.reason for a in older] == ["alert 1", "alert 0"]

    later = start + timedelta(hours=1)
    resolved = repo.resolve(made[3].id, by_admin=900, now=later)
    assert resolved is not None and resolved.state == "resolved"
    assert (resolved.resolved_by, resolved.resolved_at) == (900, later)
    assert resolved.details == {"order": "o"} and resolved.reason == "alert 3"
    # Only an open alert is resolved: again, unknown or unusable ids change nothing.
    assert repo.resolve(made[3].id, by_admin=901, now=later) is None
    item = alert_item(made[3].id)
    assert item is not None and int(item.resolved_by or 0) == 900
    missing = "2026-03-01T12:00:00.000000Z#00000000"
    assert repo.resolve(missing, by_admin=900, now=later) is None
    assert alert_item(missing) is None  # not created by the conditional update
    assert repo.resolve("", by_admin=900, now=later) is None
    assert repo.resolve("x" * 500, by_admin=900, now=later) is None

    assert [a.reason for a in repo.open_alerts(limit=10)] == [
        "alert 4",
        "alert 2",
        "alert 1",
        "alert 0",
    ]
    # alerts(): every open alert, oldest first (what the tests and the simulation read).
    assert [a.reason for a in repo.alerts()] == ["alert 0", "alert 1", "alert 2", "alert 4"]


# --- the inbox in the bot ------------------------------------------------------------------


def ann_with_order(amount: int = 5_000) -> str:
    payer(ANN.id, "US")
    order = runtime().payments.open(
        payer_id=ANN.id,
        purpose=Purpose.TOP_UP,
        amount=amount,
        currency=Currency.EUR,
        method=PaymentMethod.CRYPTO,
        chat_id=ANN.id,
    )
    return order.id


def test_support_reads_open_alerts_newest_first_and_resolves_them(chat: Chat) -> None:
    order_id = ann_with_order()
    rt = runtime()
    # A mismatching payment (names the order, not the Payer), then an unknown one.
    rt.payments.settle(
        order_id, amount=4_000, currency="EUR", provider="cryptopay", provider_ref="c-1"
    )
    clock().advance(timedelta(minutes=5))
    rt.payments.settle("nope", amount=700, currency="USD", provider="cryptopay", provider_ref="c-2")
    assert len(rt.orders.alerts()) == 2

    # Not an admin: the inbox does not exist for them.
    chat.say(ANN, "/admin inbox")
    assert chat.screen(ANN) == UNKNOWN

    chat.say(ADMIN, "/admin")
    chat.press(ADMIN, "Inbox")
    screen = chat.screen(ADMIN)
    assert screen.startswith("Support inbox: open alerts, newest first")
    unknown_at = screen.index("payment for an unknown order")
    mismatch_at = screen.index("amount mismatch: 40.00 EUR paid for 50.00 EUR")
    assert unknown_at < mismatch_at  # newest first
    mismatch = screen[mismatch_at:]
    assert f"Order {order_id}" in mismatch and "Payer: user101 (id 101)" in mismatch
    assert "Amount: 40.00 EUR" in mismatch
    assert "2. 1 Mar 2026 12:00 UTC — amount mismatch: 40.00 EUR paid for 50.00 EUR" in screen
    assert "1. 1 Mar 2026 12:05 UTC — payment for an unknown order" in screen
    unknown = screen[unknown_at:mismatch_at]
    assert "Order nope" in unknown and "Payer: unknown" in unknown
    assert "Amount: 7.00 USD" in unknown
    assert chat.buttons(ADMIN) == ["Resolved: 1", "Resolved: 2"]

    # Someone else pressing a Resolved button gets what any stale button gets.
    _, data = chat.find_button(ADMIN, "Resolved: 2")
    assert len(data.encode()) <= 64
    chat.press_data(ANN, data)
    assert chat.last_answer()["text"] == STALE
    assert len(rt.orders.alerts()) == 2

    chat.press(ADMIN, "Resolved: 2")  # the mismatch
    assert chat.last_answer()["text"] == "Resolved."
    screen = chat.screen(ADMIN)
    assert "amount mismatch" not in screen and "payment for an unknown order" in screen
    assert [a.reason for a in rt.orders.alerts()] == ["payment for an unknown order"]
    # Written to the audit trail of the Payer it concerns, as a sentence on their screen.
    assert [e.action for e in AuditRepository().for_user(ANN.id)] == ["resolve_alert"]
    chat.say(ADMIN, f"/admin {ANN.id}")
    assert "Alert resolved by you: amount mismatch: 40.00 EUR paid for 50.00 EUR" in (
        chat.screen(ADMIN)
    )

    # The same press again (an old message), or a forged id: a polite answer, no change.
    chat.press_data(ADMIN, data)
    assert chat.last_answer()["text"] == GONE
    for forged in ("ax:zz", "ax:", "ax:0000000000000000000000000:x", "ax:1:2:3"):
        chat.press_data(ADMIN, forged)
        assert chat.last_answer()["text"] == GONE, forged
    assert len(rt.orders.alerts()) == 1

    chat.say(ADMIN, "/admin inbox")
    chat.press(ADMIN, "Resolved: 1")
    assert chat.screen(ADMIN).endswith("No open alerts.")
    assert rt.orders.alerts() == []


def test_the_inbox_pages_by_ten_and_resolving_keeps_the_page(chat: Chat) -> None:
    orders = runtime().orders
    start = runtime().clock.now()
    for n in range(12):
        orders.record_alert(
            f"failed provider call {n:02d}",
            now=start + timedelta(minutes=n),
            provider="paypal",
            details={"payer": ANN.id},
        )

    chat.say(ADMIN, "/admin inbox")
    first = chat.screen(ADMIN)
    assert "call 11" in first and "call 02" in first and "call 01" not in first
    assert "Payer: id 101" in first  # no account: the id alone
    assert chat.buttons(ADMIN)[-1] == "Older »"
    assert len([b for b in chat.buttons(ADMIN) if b.startswith("Resolved")]) == 10

    chat.press(ADMIN, "Older »")
    second = chat.screen(ADMIN)
    assert "call 01" in second and "call 00" in second and "call 02" not in second
    assert "(older)" in second.splitlines()[0]
    assert chat.buttons(ADMIN) == ["Resolved: 1", "Resolved: 2", "« Newest"]

    chat.press(ADMIN, "Resolved: 2")  # call 00: the page stays the older one
    second = chat.screen(ADMIN)
    assert "call 01" in second and "call 00" not in second and "call 02" not in second
    assert len(orders.alerts()) == 11

    chat.press(ADMIN, "« Newest")
    assert "call 11" in chat.screen(ADMIN)


def test_the_inbox_speaks_russian(chat: Chat) -> None:
    chat.say(ADMIN_RU, "/start")
    chat.say(ADMIN_RU, "/admin inbox")
    assert chat.screen(ADMIN_RU).endswith("Открытых оповещений нет.")
    order_id = ann_with_order()
    runtime().payments.settle(
        order_id, amount=4_000, currency="EUR", provider="cryptopay", provider_ref="c-1"
    )
    chat.say(ADMIN_RU, "/admin")
    chat.press(ADMIN_RU, "Входящие")
    screen = chat.screen(ADMIN_RU)
    assert screen.startswith("Входящие поддержки: открытые оповещения, сначала новые")
    assert f"Заказ {order_id}" in screen and "Плательщик: user101 (id 101)" in screen
    assert "Сумма: 40.00 EUR" in screen and "1 мар 2026 12:00 UTC" in screen
    chat.press(ADMIN_RU, "Решено: 1")
    assert chat.last_answer()["text"] == "Отмечено как решённое."


# --- /help and the audit lines -------------------------------------------------------------


def test_an_admins_help_names_admin_and_nobody_elses_does(chat: Chat) -> None:
    chat.say(ANN, "/help")
    assert "/admin" not in chat.screen(ANN) and "/subscriptions" in chat.screen(ANN)
    chat.say(ADMIN, "/help")
    assert "/subscriptions" in chat.screen(ADMIN)
    assert "/admin — support: a user, an order or a payment" in chat.screen(ADMIN)
    assert "/admin inbox — open alerts" in chat.screen(ADMIN)
    chat.say(ADMIN_RU, "/help")
    # Without an account the language comes from Telegram's language_code.
    assert "/admin inbox — открытые оповещения" in chat.screen(ADMIN_RU)


def test_support_actions_read_as_sentences_with_formatted_amounts(chat: Chat) -> None:
    chat.say(ANN, "/start")
    audit = AuditRepository()
    at = runtime().clock.now()
    batches = [
        [
            (900, "credit_limit", {"currency": "EUR", "limit": 5_000, "previous": 0}),
            (901, "adjust", {"currency": "EUR", "amount": -1_050, "reason": "goodwill"}),
            (900, "verify_country", {"country": "DE"}),
        ],
        [
            (900, "bank_transfer_paid", {"order": "o1", "amount": 14_950, "currency": "EUR"}),
            (900, "refund", {"order": "o2", "amount": 300, "currency": "USD", "cause": "x"}),
            (
                900,
                "terminate",
                {"subscription": "s1", "product": "gateway", "credit": 1_234, "currency": "EUR"},
            ),
            (900, "something_new", {"what": 1}),
        ],
    ]
    sentences = [
        [
            "EUR credit limit set to 50.00 EUR (was 0.00 EUR) by you",
            "Balance adjustment of -10.50 EUR («goodwill») by id 901",
            "Country DE verified by you",
        ],
        [
            "Bank transfer for order o1 marked paid (149.50 EUR) by you",
            "3.00 USD of order o2 refunded by you",
            "Gateway (s1) terminated by you; 12.34 EUR credited",
            "something_new by you",
        ],
    ]
    n = 0
    for batch, expected in zip(batches, sentences, strict=True):
        for admin_id, action, details in batch:
            n += 1
            audit.record(admin_id, ANN.id, action, details, at + timedelta(seconds=n))
        chat.say(ADMIN, f"/admin {ANN.id}")
        screen = chat.screen(ADMIN)
        shown = screen.split("Support actions:")[1]
        assert "=" not in shown  # no raw key=value pairs
        for sentence in expected:
            assert sentence in shown, sentence
        if expected is sentences[0]:
            chat.say(ADMIN_RU, f"/admin {ANN.id}")
            assert "Кредитный лимит EUR: 50.00 EUR (был 0.00 EUR). Поддержка: вы" in (
                chat.screen(ADMIN_RU)
            )
