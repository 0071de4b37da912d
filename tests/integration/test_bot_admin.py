"""Support actions in the bot (SPEC §9), end to end through the webhook handler, moto and the
api.json-enforcing fake Bot API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from billing.bot import admin
from billing.bot.deps import BotDeps
from billing.bot.turn import Turn
from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.subscription import Status, remaining_value
from billing.ledger.model import EntryKind
from billing.runtime import runtime
from billing.store.audit import AuditRepository
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser

ADMIN = TgUser(900, "Sam")
ANN = TgUser(101, "Ann")
BOB = TgUser(202, "Bob")

UNKNOWN = "I don't know that command. /help lists what I can do."
STALE = "This button is out of date. Open /subscriptions again."
NOTHING_ASKED = "I wasn't waiting for a message. Use the buttons or /help."

audit = AuditRepository()


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    # Every call the bot made, in a response body or through the client, met api.json.
    assert fake_telegram.violations == []


def deps() -> BotDeps:
    return runtime().bot.deps


def top_up(user: TgUser, amount: int, currency: Currency = Currency.EUR) -> None:
    runtime().ledger.top_up(
        user.id, currency, amount, cause=f"test:{user.id}:{amount}", reason="top-up"
    )


def set_country(chat: Chat, user: TgUser, country: str) -> None:
    chat.say(user, "/billing")
    chat.press(user, "Country")
    chat.say(user, country)


def connect_gateway_for(chat: Chat, payer: TgUser, customer: TgUser) -> str:
    chat.say(payer, "/subscriptions")
    chat.press(payer, "Connect for another user")
    chat.say(
        payer,
        users_shared={
            "request_id": 1,
            "users": [{"user_id": customer.id, "first_name": customer.first_name}],
        },
    )
    chat.press(payer, "Gateway")
    chat.press(payer, "EUR")
    chat.press(payer, "Show the price")
    chat.press(payer, "Pay")
    subs = runtime().subscriptions.visible_to(customer.id)
    assert len(subs) == 1
    return subs[0].id


def actions(user: TgUser) -> list[str]:
    return [entry.action for entry in audit.for_user(user.id)]


def test_a_non_admin_gets_what_an_unknown_command_or_button_gets(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(BOB, "/start")
    for text in ("/admin", f"/admin {BOB.id}"):
        chat.say(ANN, text)
        assert chat.screen(ANN) == UNKNOWN
    # Forged admin buttons: the same answer as any stale button, and nothing happens.
    for data in (f"au:{BOB.id}", f"al:{BOB.id}", f"aa:{BOB.id}", f"av:{BOB.id}", "aT:x"):
        chat.press_data(ANN, data)
        assert chat.last_answer()["text"] == STALE
    # Even with an admin question planted in their conversation, their text is not taken.
    deps().conversations.put(
        ANN.id, {"ask": {"admin": "adjust", "user": ANN.id}}, runtime().clock.now()
    )
    chat.say(ANN, "EUR 100.00 free money")
    assert chat.screen(ANN) == NOTHING_ASKED
    assert runtime().ledger.wallets(ANN.id) == []
    assert runtime().ledger.wallets(BOB.id) == []
    assert actions(ANN) == [] and actions(BOB) == []


def test_admin_looks_up_a_user_and_sets_a_credit_limit(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ADMIN, "/admin")
    assert chat.screen(ADMIN) == (
        "Send a Telegram user id, an order number or a provider's payment id."
    )
    chat.say(ADMIN, "Ann")
    assert chat.screen(ADMIN) == "No user, order or provider payment id «Ann»."
    chat.say(ADMIN, str(ANN.id))
    screen = chat.screen(ADMIN)
    assert "Support: user 101" in screen and "Name: Ann" in screen
    assert "Wallets:\n• none" in screen
    chat.press(ADMIN, "Set credit limit")
    assert "send the credit limit" in chat.screen(ADMIN)

    # Bad amounts: a clear message, the question stays open, nothing written.
    for bad, why in (
        ("fifty euros", "like «EUR 50.00»"),
        ("EUR 50.001", "more decimal places"),
        ("XYZ 50", "not supported"),
        ("-5 EUR", "cannot be negative"),
        ("EUR 50 extra", "like «EUR 50.00»"),
    ):
        chat.say(ADMIN, bad)
        assert chat.screen(ADMIN).startswith("Not applied:"), bad
        assert why in chat.screen(ADMIN), bad
    assert runtime().ledger.wallets(ANN.id) == []
    assert actions(ANN) == []

    chat.say(ADMIN, "50 eur")
    assert chat.screen(ADMIN) == "User 101: EUR credit limit set to 50.00 EUR."
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).credit_limit == 5_000
    chat.press(ADMIN, "« Back to the user")
    screen = chat.screen(ADMIN)
    assert "• EUR: 0.00 EUR, credit limit 50.00 EUR" in screen
    assert "EUR credit limit set to 50.00 EUR (was 0.00 EUR) by you" in screen
    # The question was answered: the next message is not taken as another limit.
    chat.say(ADMIN, "EUR 70")
    assert chat.screen(ADMIN) == NOTHING_ASKED
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).credit_limit == 5_000
    # The user sees the limit in /balance.
    chat.say(ANN, "/balance")
    assert "50.00 EUR" in chat.screen(ANN)
    assert actions(ANN) == ["credit_limit"]

    # "/admin <id>" goes straight to the screen.
    chat.say(ADMIN, f"/admin {ANN.id}")
    assert "Support: user 101" in chat.screen(ADMIN)


def test_admin_adjusts_a_balance_with_a_reason_once(chat: Chat) -> None:
    chat.say(ANN, "/start")
    top_up(ANN, 1_000)
    chat.say(ADMIN, f"/admin {ANN.id}")
    chat.press(ADMIN, "Adjust balance")
    for bad, why in (
        ("EUR -10.00", "needs a reason"),
        ("EUR 0 nothing", "must move money"),
        ("EUR ten refund", "like «EUR 50.00»"),
        ("EUR", "like «EUR 50.00»"),
    ):
        chat.say(ADMIN, bad)
        assert chat.screen(ADMIN).startswith("Not applied:"), bad
        assert why in chat.screen(ADMIN), bad
    assert len(runtime().ledger.entries(ANN.id, Currency.EUR)) == 1  # the top-up only
    assert actions(ANN) == []

    answer = chat.fake.user_message(ADMIN.id, "EUR -12.50 double charge on 2 March")
    chat.deliver(answer)
    assert chat.screen(ADMIN) == (
        "User 101: -12.50 EUR (double charge on 2 March). Balance now -2.50 EUR."
    )
    # Telegram delivers the same update again: applied once.
    chat.deliver(answer)
    wallet = runtime().ledger.wallet(ANN.id, Currency.EUR)
    assert wallet.balance == 1_000 - 1_250
    adjustments = [
        e for e in runtime().ledger.entries(ANN.id, Currency.EUR) if e.kind is EntryKind.ADJUSTMENT
    ]
    assert [(e.amount, e.reason) for e in adjustments] == [(-1_250, "double charge on 2 March")]
    cause = f"admin-adjust:{ADMIN.id}:{answer['message']['message_id']}"
    assert adjustments[0].cause == cause

    # Even past the webhook's dedupe (another update carrying the same message, with the
    # question still open), the cause derived from the message id stops a second movement.
    d = deps()
    turn = Turn(user_id=ADMIN.id, chat_id=ADMIN.id, lang="en")
    state = {"ask": {"admin": "adjust", "user": ANN.id}}
    assert admin.on_admin_text(
        turn,
        d,
        state,
        "EUR -12.50 double charge on 2 March",
        message_id=answer["message"]["message_id"],
    )
    for call in turn.finish():
        status, _ = chat.fake.handle(call.method, call.params, {})
        assert status == 200
    assert chat.screen(ADMIN) == "This adjustment was already applied; nothing changed."
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == -250

    entries = audit.for_user(ANN.id)
    assert [e.action for e in entries] == ["adjust"]
    assert entries[0].details == {
        "currency": "EUR",
        "amount": -1_250,
        "reason": "double charge on 2 March",
        "cause": cause,
    }
    chat.say(ANN, "/balance")
    assert "double charge on 2 March" in chat.screen(ANN)


def test_admin_verifies_a_country(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ADMIN, f"/admin {ANN.id}")
    chat.press(ADMIN, "Verify country")
    assert chat.last_answer()["text"] == "The user has not declared a country yet."
    assert actions(ANN) == []
    set_country(chat, ANN, "DE")
    chat.say(ADMIN, f"/admin {ANN.id}")
    assert "Country: DE" in chat.screen(ADMIN)
    assert "(by support)" not in chat.screen(ADMIN)
    chat.press(ADMIN, "Verify country")
    assert chat.last_answer()["text"] == "Country verified."
    assert "Country check: confirmed (by support)" in chat.screen(ADMIN)
    profile = runtime().profiles.profile(ANN.id)
    assert profile.verified_by_support
    chat.press(ADMIN, "Verify country")  # again: nothing changes, nothing more recorded
    assert actions(ANN) == ["verify_country"]
    assert audit.for_user(ANN.id)[0].details == {"country": "DE"}


def test_admin_terminates_a_subscription_with_credit(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    sub_id = connect_gateway_for(chat, ANN, BOB)
    clock = runtime().clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=40))
    before = runtime().ledger.wallet(ANN.id, Currency.EUR).balance
    sub = runtime().subscriptions.get(sub_id, viewer=ANN.id)
    credit = remaining_value(sub, clock.now())
    assert 0 < credit < sub.value_amount
    shown = f"{credit // 100}.{credit % 100:02d} EUR"

    chat.say(ADMIN, f"/admin {BOB.id}")
    screen = chat.screen(ADMIN)
    assert f"{sub_id} Gateway, held, paid by 101" in screen and "active" in screen
    chat.press(ADMIN, "Terminate Gateway with credit")
    confirm = chat.screen(ADMIN)
    assert f"The unused value, {shown}, goes to the wallet of the payer" in confirm
    assert runtime().subscriptions.get(sub_id, viewer=ANN.id).status is Status.ACTIVE
    chat.press(ADMIN, f"Terminate, credit {shown}")
    assert chat.screen(ADMIN) == f"Gateway ({sub_id}) terminated; {shown} credited to user 101."
    ended = runtime().subscriptions.get(sub_id, viewer=ANN.id)
    assert ended.status is Status.TERMINATED
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == before + credit
    entry = runtime().ledger.entry(ANN.id, Currency.EUR, f"terminate:{sub_id}")
    assert entry is not None and entry.amount == credit
    # Pressing the old Terminate button again: the subscription is no longer active.
    chat.press_data(ADMIN, f"aT:{sub_id}")
    assert chat.last_answer()["text"] == "That subscription is no longer active."
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == before + credit
    for user in (ANN, BOB):
        entries = audit.for_user(user.id)
        assert [e.action for e in entries] == ["terminate"]
        assert entries[0].details == {
            "subscription": sub_id,
            "product": "gateway",
            "credit": credit,
            "currency": "EUR",
            "cause": f"terminate:{sub_id}",
        }
    chat.press(ADMIN, "« Back to the user")
    screen = chat.screen(ADMIN)
    assert "terminated" in screen and "Terminate Gateway" not in " ".join(chat.buttons(ADMIN))
