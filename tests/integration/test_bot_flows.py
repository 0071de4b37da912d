"""The bot end to end: Lambda handler <- API Gateway events, moto, the api.json-enforcing
fake Bot API. Each test reads what the user sees."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser

ANN = TgUser(101, "Ann")
BOB = TgUser(202, "Bob")
IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    # Every call the bot made, in a response body or through the client, met api.json.
    assert fake_telegram.violations == []


def items_in_all_tables() -> int:
    settings = runtime().settings
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    names = client.list_tables()["TableNames"]
    return sum(client.scan(TableName=name, Select="COUNT")["Count"] for name in names)


def top_up(user: TgUser, amount: int, currency: Currency = Currency.EUR) -> None:
    # Payment methods arrive with the payments issue; the ledger is the same either way.
    runtime().ledger.top_up(
        user.id, currency, amount, cause=f"test:{user.id}:{amount}", reason="top-up"
    )


def set_country(chat: Chat, user: TgUser, country: str) -> None:
    chat.say(user, "/billing")
    chat.press(user, "Country" if user.language_code == "en" else "Страна")
    chat.say(user, country)


def connect_softphone_5_with_recording_12_months(chat: Chat, user: TgUser) -> None:
    chat.say(user, "/subscriptions")
    chat.press(user, "Softphone")
    chat.press(user, "Connect")
    chat.press(user, "SIP accounts")
    chat.say(user, "5")
    chat.press(user, "Call recording")
    chat.press(user, "on")
    chat.press(user, "12 months")
    chat.press(user, "EUR")
    chat.press(user, "Show the price")


def test_new_user_connects_softphone_and_pays_from_the_wallet(chat: Chat) -> None:
    chat.say(ANN, "/start")
    assert "Free" in chat.screen(ANN)
    set_country(chat, ANN, "DE")
    assert "Country: Germany (DE)" in chat.screen(ANN)
    top_up(ANN, 40_000)
    connect_softphone_5_with_recording_12_months(chat, ANN)
    quote = chat.screen(ANN)
    # 25 EUR x 12 = 300.00, -10 % = 270.00 net, German VAT 19 % = 51.30, total 321.30
    assert "Subtotal: 300.00 EUR" in quote
    assert "Discount 10%: -30.00 EUR" in quote
    assert "Net: 270.00 EUR" in quote
    assert "VAT 19%: 51.30 EUR" in quote
    assert "Total: 321.30 EUR" in quote
    chat.press(ANN, "Pay 321.30 EUR from balance")
    assert "active until 1 Mar 2027 12:00 UTC" in chat.screen(ANN)
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == 40_000 - 32_130
    chat.say(ANN, "/subscriptions")
    assert "Softphone for you — until 1 Mar 2027" in chat.screen(ANN)
    chat.press(ANN, "Softphone for you")
    view = chat.screen(ANN)
    assert "SIP accounts: 5" in view and "Call recording (all accounts): on" in view
    assert "Auto-renewal: on" in view  # 78.70 EUR stayed on the balance


def connect_gateway_for(chat: Chat, payer: TgUser, customer: TgUser) -> str:
    chat.say(payer, "/subscriptions")
    chat.press(payer, "Connect for another user")
    keyboard = chat.fake.reply_keyboard(payer.id)
    assert keyboard is not None and "request_users" in keyboard["keyboard"][0][0]
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


def test_payer_connects_for_another_user_who_sees_but_cannot_manage(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    sub_id = connect_gateway_for(chat, ANN, BOB)
    assert "Gateway for Bob" in chat.screen(ANN)
    chat.say(BOB, "/subscriptions")
    chat.press(BOB, "Gateway for you")
    view = chat.screen(BOB)
    assert "Payer: Ann" in view
    assert chat.buttons(BOB) == ["« Back"]  # no Change, Renew or Auto-renewal
    before = runtime().subscriptions.get(sub_id, viewer=ANN.id)
    period = before.expires_at.strftime("%Y%m%dT%H%M%SZ")
    for forged in (
        f"sa:{sub_id}:0",
        f"sc:{sub_id}",
        f"sR:{sub_id}:{period}",
        f"sr:{sub_id}:{period}",
    ):
        chat.press_data(BOB, forged)
        assert chat.last_answer()["text"] == "Only the payer of this subscription can do that."
    assert runtime().subscriptions.get(sub_id, viewer=ANN.id) == before
    # The Payer can.
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway for Bob")
    # On by default: a positive balance was left after the first payment (SPEC §5.1).
    assert chat.buttons(ANN)[:3] == ["Change", "Renew", "Auto-renewal: on ✓"]
    chat.press(ANN, "Auto-renewal: on")
    assert "Auto-renewal: off" in chat.screen(ANN)
    assert not runtime().subscriptions.get(sub_id, viewer=ANN.id).auto_renew


def test_forwarded_message_picks_the_customer_and_payer_lets_them_change(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    chat.say(
        ANN,
        "hi from Bob",
        forward_origin={"type": "hidden_user", "date": 0, "sender_user_name": "B"},
    )
    assert "hides their account" in chat.screen(ANN)
    bob = {"id": BOB.id, "is_bot": False, "first_name": "Bob"}
    chat.say(ANN, "hi from Bob", forward_origin={"type": "user", "date": 0, "sender_user": bob})
    chat.press(ANN, "Gateway")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    chat.press(ANN, "Pay")
    sub = runtime().subscriptions.visible_to(BOB.id)[0]
    assert (sub.customer_id, sub.payer_id) == (BOB.id, ANN.id)
    chat.press(ANN, "Subscriptions")
    chat.press(ANN, "User may change options: no")
    assert runtime().subscriptions.get(sub.id, viewer=BOB.id).customer_may_change
    chat.say(BOB, "/subscriptions")
    chat.press(BOB, "Gateway for you")
    assert chat.buttons(BOB) == ["Change", "« Back"]  # still no Renew or Auto-renewal


def test_expanding_change_shows_then_applies_the_shorter_expiry(chat: Chat, clock) -> None:  # type: ignore[no-untyped-def]
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    chat.press(ANN, "Pay")  # 1 line, 30 EUR/month, until 1 Sep 2026 12:00
    clock.set(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))  # 123 days left
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway for you")
    chat.press(ANN, "Change")
    chat.press(ANN, "Lines")
    chat.say(ANN, "3")  # 60 EUR/month: the 123 days become 61.5
    chat.press(ANN, "Show the price")
    plan = chat.screen(ANN)
    assert "expiry moves from 1 Sep 2026 12:00 UTC to 2 Jul 2026 00:00 UTC" in plan
    chat.press(ANN, "Confirm the change")
    assert "valid until 2 Jul 2026 00:00 UTC" in chat.screen(ANN)
    # Reducing back keeps that expiry.
    chat.press(ANN, "« Back")
    chat.press(ANN, "Change")
    chat.press(ANN, "Lines")
    chat.say(ANN, "1")
    chat.press(ANN, "Show the price")
    assert "The expiry stays 2 Jul 2026 00:00 UTC" in chat.screen(ANN)
    chat.press(ANN, "Confirm the change")
    assert "valid until 2 Jul 2026 00:00 UTC" in chat.screen(ANN)
    history = (
        runtime()
        .subscriptions.get(runtime().subscriptions.visible_to(ANN.id)[0].id, viewer=ANN.id)
        .history
    )
    assert [h.kind.value for h in history] == ["connect", "change", "change"]


def test_forged_and_stale_buttons_change_nothing(chat: Chat) -> None:
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")
    _, old_currency = chat.find_button(ANN, "EUR")
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway")
    chat.press(ANN, "Connect")  # a new draft: the old one's buttons are stale
    chat.press_data(ANN, old_currency)
    assert chat.last_answer()["text"] == "This button is out of date. Open /subscriptions again."
    chat.press(ANN, "EUR")
    chat.press(ANN, "Show the price")
    chat.press(ANN, "Pay")
    sub = runtime().subscriptions.visible_to(ANN.id)[0]
    # Bob forges Ann's subscription id.
    chat.say(BOB, "/subscriptions")
    for forged in (f"sv:{sub.id}", f"sa:{sub.id}:0", f"sc:{sub.id}"):
        chat.press_data(BOB, forged)
        assert chat.last_answer()["text"] == "This subscription is not available to you."
    chat.press_data(BOB, "zz:nonsense")
    assert chat.last_answer()["text"].startswith("This button is out of date")
    # Ann's Renew button from before a renewal cannot buy a second period.
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway for you")
    _, renew = chat.find_button(ANN, "Renew")
    chat.press(ANN, "Renew")
    chat.press(ANN, "Pay")
    balance = runtime().ledger.wallet(ANN.id, Currency.EUR).balance
    chat.press_data(ANN, renew)
    assert chat.last_answer()["text"].startswith("This button is out of date")
    chat.press_data(ANN, "sR:" + renew.split(":", 1)[1])
    assert runtime().ledger.wallet(ANN.id, Currency.EUR).balance == balance
    assert runtime().subscriptions.get(sub.id, viewer=ANN.id).version == sub.version + 1


def pay_gateway_in_russian(chat: Chat, user: TgUser) -> None:
    """A Russian reader connects Gateway for themself, 6 months in EUR, and presses «Pay»."""
    chat.say(user, "/subscriptions")
    for label in ("Шлюз", "Подключить", "EUR", "Показать цену", "Оплатить"):
        chat.press(user, label)


def connect_gateway_for_self(chat: Chat, user: TgUser) -> str:
    chat.say(user, "/subscriptions")
    chat.press(user, "Gateway")
    chat.press(user, "Connect")
    chat.press(user, "EUR")
    chat.press(user, "Show the price")
    chat.press(user, "Pay")
    return runtime().subscriptions.visible_to(user.id)[0].id


def test_renew_takes_the_confirmed_amount_or_shows_the_new_quote(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    connect_gateway_for_self(chat, ANN)  # 180.00 EUR, no VAT outside the EU
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Gateway for you")
    chat.press(ANN, "Renew")
    assert "Total: 180.00 EUR" in chat.screen(ANN)
    _, confirm = chat.find_button(ANN, "Pay 180.00 EUR from balance")
    set_country(chat, ANN, "DE")  # between the screen and the press: + 19 % VAT

    chat.press_data(ANN, confirm)

    screen = chat.screen(ANN)
    assert "The price changed since you confirmed it; nothing was charged." in screen
    assert "Total: 214.20 EUR" in screen
    wallet = runtime().ledger.wallet
    assert wallet(ANN.id, Currency.EUR).balance == 100_000 - 18_000
    chat.press(ANN, "Pay 214.20 EUR from balance")  # the new confirmation
    assert "Renewed: Gateway is now valid until 1 Mar 2027 12:00 UTC" in chat.screen(ANN)
    assert wallet(ANN.id, Currency.EUR).balance == 100_000 - 18_000 - 21_420


def test_the_renew_screen_of_an_expired_subscription_says_it_starts_now(chat: Chat, clock) -> None:  # type: ignore[no-untyped-def]
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    sub_id = connect_gateway_for_self(chat, ANN)  # until 1 Sep 2026 12:00
    clock.set(datetime(2026, 9, 10, 9, 0, tzinfo=UTC))
    assert runtime().subscriptions.expire(sub_id) is not None

    chat.say(ANN, "/subscriptions")  # lists active ones only: Ann follows an older button
    chat.press_data(ANN, f"sv:{sub_id}")
    chat.press(ANN, "Renew")

    assert chat.screen(ANN).startswith(
        "Renewal: this subscription ended on 1 Sep 2026 12:00 UTC, so the new period starts"
        " now (10 Sep 2026 09:00 UTC) and ends 10 Mar 2027 09:00 UTC."
    )
    chat.press(ANN, "Pay 180.00 EUR from balance")
    assert "valid until 10 Mar 2027 09:00 UTC" in chat.screen(ANN)


def test_bad_answers_get_clear_replies_and_change_nothing(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "hello?")
    assert chat.screen(ANN) == "I wasn't waiting for a message. Use the buttons or /help."
    chat.say(ANN, "/subscriptions")
    chat.press(ANN, "Softphone")
    chat.press(ANN, "Connect")
    chat.press(ANN, "SIP accounts")
    chat.say(ANN, "5000")
    assert chat.screen(ANN) == (
        "«SIP accounts» is a whole number from 1 to 1000. Send it again, or press Cancel."
    )
    chat.say(ANN, "many")
    assert chat.screen(ANN).startswith("«SIP accounts» is a whole number")
    chat.say(ANN, "7")
    assert any(b == "SIP accounts: 7" for b in chat.buttons(ANN))
    chat.say(ANN, "/billing")
    chat.press(ANN, "Country")
    chat.say(ANN, "DE")
    chat.press(ANN, "VAT id")
    chat.say(ANN, "DE123")
    assert "That doesn't fit" in chat.screen(ANN)
    assert runtime().profiles.profile(ANN.id).vat_id is None
    chat.say(ANN, "DE136695976")
    assert "VAT id: DE136695976" in chat.screen(ANN)


def test_secret_body_type_and_duplicates(chat: Chat) -> None:
    update = chat.fake.user_message(ANN.id, "/start", first_name="Ann")
    assert chat.deliver(update, secret="wrong")["statusCode"] == 401
    assert chat.deliver(update, secret="")["statusCode"] == 401
    assert runtime().accounts.get(ANN.id) is None
    assert chat.deliver({"update_id": 5, "poll": {"id": "1"}})["statusCode"] == 200
    assert chat.deliver({"nonsense": True})["statusCode"] == 200
    assert chat.deliver({"update_id": "x", "message": []})["statusCode"] == 200
    assert items_in_all_tables() == 0  # nothing read as an update was written
    first = chat.deliver(update)
    again = chat.deliver(update)
    assert first["statusCode"] == again["statusCode"] == 200
    welcomes = [m for m in chat.bot_messages(ANN) if "Free" in m.get("text", "")]
    assert len(welcomes) == 1  # the same update_id acted once


def test_russian_user_gets_russian_texts(chat: Chat) -> None:
    chat.say(IVAN, "/start")
    assert chat.screen(IVAN).startswith("Добро пожаловать")
    chat.say(IVAN, "/subscriptions")
    assert chat.screen(IVAN).startswith("Ваши подписки")
    chat.say(IVAN, "/language")
    chat.press(IVAN, "English")
    chat.say(IVAN, "/help")
    assert chat.screen(IVAN).startswith("Commands:")


def test_phone_share_confirms_the_country(chat: Chat) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    chat.press(ANN, "Share my phone number")
    keyboard = chat.fake.reply_keyboard(ANN.id)
    assert keyboard is not None and keyboard["keyboard"][0][0]["request_contact"] is True
    chat.say(ANN, contact={"phone_number": "+4930123456", "first_name": "Ann", "user_id": BOB.id})
    assert "own contact" in chat.screen(ANN)
    chat.say(ANN, contact={"phone_number": "+4930123456", "first_name": "Ann", "user_id": ANN.id})
    assert "Country check: confirmed" in chat.screen(ANN)


@pytest.mark.parametrize("handler", ["telegram_webhook", "payment_webhook", "renewal_cron"])
def test_handlers_do_not_import_stripe_or_fpdf(handler: str) -> None:
    """Both load only in the code paths that use them (a card charge, a PDF): cold start."""
    code = (
        f"import sys, functions.{handler}.app;"
        "bad = [m for m in ('stripe', 'fpdf') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_balance_shows_wallets_limit_and_last_entries(chat: Chat) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "/balance")
    assert "Your balance is empty" in chat.screen(ANN)
    top_up(ANN, 5_000)
    runtime().ledger.set_credit_limit(ANN.id, Currency.EUR, 2_000)
    runtime().ledger.charge(ANN.id, Currency.EUR, 1_250, cause="c1", reason="softphone")
    chat.say(ANN, "/balance")
    screen = chat.screen(ANN)
    assert "EUR: 37.50 EUR (credit limit 20.00 EUR)" in screen
    assert "-12.50 EUR — softphone" in screen and "+50.00 EUR — top-up" in screen
    chat.press(ANN, "Top up")
    assert "Which balance would you like to top up?" in chat.screen(ANN)


def test_a_transient_fault_is_503_and_the_redelivery_acts(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    bot = runtime().bot
    handle = bot.handle
    faults = [ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Query")]

    def flaky(update):  # type: ignore[no-untyped-def]
        if faults:
            raise faults.pop()
        return handle(update)

    monkeypatch.setattr(bot, "handle", flaky)
    update = chat.fake.user_message(ANN.id, "/start", first_name="Ann")
    assert chat.deliver(update)["statusCode"] == 503
    assert chat.deliver(update)["statusCode"] == 200  # Telegram's retry is not deduplicated away
    assert "Free" in chat.screen(ANN)
