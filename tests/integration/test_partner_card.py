"""The card for Russia through the partner (SPEC §7, YooKassa API v3), against the fake
YooKassa: the payment page with test cards (success, 3-D Secure, decline), the card saved
and charged off-session by the renewal sweep on the test clock, unsigned notifications
authenticated by source address, secret path and re-fetch, the 54-FZ receipt with the
Payer's e-mail on every payment and refund, refunds by support, reconciliation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.domain.subscription import Status
from billing.orders.checkout import PaymentLink
from billing.orders.model import Order, OrderStatus, Purpose
from billing.runtime import runtime
from functions.payment_webhook import app as payment_app
from functions.reconcile import app as reconcile_app
from local.events import FakeContext, scheduled_event
from local.fake_bot_api import FakeBotApi
from local.fake_yookassa import (
    DECLINE_CARD,
    SUCCESS_CARD,
    THREE_DS_CARD,
    FakeYooKassa,
)
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.conftest import YOOKASSA_PATH_SECRET, Sweeper
from tests.integration.http_events import call, http_event
from tests.integration.payers import payer

PAVEL = TgUser(5150, "Pavel")
ADMIN = TgUser(900, "Sam")
RUB = Currency.RUB
INSIDE = "185.71.76.10"  # in YooKassa's published 185.71.76.0/27
OUTSIDE = "203.0.113.7"
EMAIL = "pavel@example.com"


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def deliver(
    notification: tuple[dict[str, str], bytes],
    *,
    source_ip: str = INSIDE,
    secret: str = YOOKASSA_PATH_SECRET,
) -> int:
    """A notification as API Gateway hands it to the function: the source address is the
    one API Gateway saw (requestContext), whatever the headers say."""
    _headers, body = notification  # no header authenticates a notification
    event = http_event(f"/payments/yookassa/{secret}", body, {"x-forwarded-for": INSIDE})
    event["requestContext"]["http"]["sourceIp"] = source_ip
    response = call(payment_app.lambda_handler, event)
    return int(response["statusCode"])


def reconcile() -> dict[str, Any]:
    result: dict[str, Any] = reconcile_app.lambda_handler(
        scheduled_event(runtime().clock.now()), FakeContext("reconcile", timeout_seconds=300)
    )
    return result


def rub_payer(user_id: int = PAVEL.id) -> None:
    payer(user_id, "RU", phone="+7 912 345-67-89")
    runtime().profiles.set_receipt_contact(user_id, EMAIL)


def top_up_order(amount: int = 150_000) -> tuple[Order, str]:
    """A top-up by the partner card, started: (the order, YooKassa's payment id)."""
    rt = runtime()
    order = rt.payments.open(
        payer_id=PAVEL.id,
        purpose=Purpose.TOP_UP,
        amount=amount,
        currency=RUB,
        method=PaymentMethod.PARTNER_CARD,
        chat_id=PAVEL.id,
    )
    link = rt.bot.deps.checkout.start(order, title="Пополнение")
    assert isinstance(link, PaymentLink)
    assert link.order.provider_ref is not None
    return link.order, link.order.provider_ref


def paid_top_up(fake_yookassa: FakeYooKassa) -> tuple[Order, str]:
    """A 1 500 RUB top-up paid on YooKassa's page, its notification delivered."""
    rub_payer()
    order, payment_id = top_up_order(150_000)
    fake_yookassa.pay(payment_id, SUCCESS_CARD)
    assert deliver(fake_yookassa.notify(payment_id)) == 200
    return order, payment_id


def credits() -> list[int]:
    return [
        e.amount for e in runtime().ledger.entries(PAVEL.id, RUB) if e.cause.startswith("order:")
    ]


def payment_id_of(url: str) -> str:
    return urlsplit(url).path.split("/")[2]  # /payments/<id>/pay


def test_connect_with_a_saved_card_then_the_sweep_renews_from_it(
    chat: Chat, fake_yookassa: FakeYooKassa, sweeper: Sweeper, clock: ManualClock
) -> None:
    chat.say(PAVEL, "/start")
    rub_payer()
    chat.say(PAVEL, "/subscriptions")
    for label in ("Gateway", "Connect", "RUB", "Show the price"):
        chat.press(PAVEL, label)
    pay = next(b for b in chat.buttons(PAVEL) if b.startswith("Pay") and "by card" in b)
    chat.press(PAVEL, pay)
    assert "Card for Russia, save for auto-renewal" in chat.buttons(PAVEL)
    assert "Card via Stripe" not in " ".join(chat.buttons(PAVEL))  # no Stripe for RUB
    chat.press(PAVEL, "Card for Russia, save for auto-renewal")
    url = chat.text_messages(PAVEL)[-1]["reply_markup"]["inline_keyboard"][0][0]["url"]
    payment_id = payment_id_of(url)
    assert url.startswith(fake_yookassa.base_url)

    fake_yookassa.pay(payment_id, SUCCESS_CARD)
    assert deliver(fake_yookassa.notify(payment_id)) == 200

    rt = runtime()
    [sub] = rt.subscriptions.visible_to(PAVEL.id)
    assert (sub.status, sub.currency, sub.auto_renew) == (Status.ACTIVE, RUB, True)
    card = rt.profiles.profile(PAVEL.id).partner_card
    assert card is not None and (card.provider, card.last4) == ("yookassa", "4444")
    stored = fake_yookassa.payment(payment_id)
    assert (
        stored["payment_method"]["saved"] is True
        and card.provider_ref == stored["payment_method"]["id"]
    )
    # 54-FZ: the receipt went with the payment, to the Payer's e-mail.
    [receipt] = [r["receipt"] for r in fake_yookassa.receipts_of(payment_id)]
    assert receipt["customer"] == {"email": EMAIL}
    assert receipt["items"][0]["payment_subject"] == "service"
    assert receipt["items"][0]["payment_mode"] == "full_payment"
    assert chat.screen(PAVEL).startswith("Payment of")

    # The test clock moves to the renewal: the wallet is empty, so the saved card pays,
    # off-session, with its own receipt, and the period is bought once.
    clock.set(sub.expires_at - timedelta(days=1))
    assert sweeper.run(deliveries=2) == 0
    [renewed] = rt.subscriptions.visible_to(PAVEL.id)
    assert renewed.expires_at > sub.expires_at
    charges = [p for p in fake_yookassa.payments() if p["id"] != payment_id]
    assert [(c["status"], c["payment_method"]["id"]) for c in charges] == [
        ("succeeded", card.provider_ref)
    ]
    assert "confirmation" not in charges[0]
    assert fake_yookassa.receipts_of(charges[0]["id"])[0]["receipt"]["customer"] == {"email": EMAIL}
    renewal_order = rt.payments.order_of_provider(charges[0]["id"])
    assert renewal_order is not None and renewal_order.purpose is Purpose.RENEW
    assert renewal_order.method is PaymentMethod.PARTNER_CARD
    # Its notification, late, and the sweep again: nothing more.
    assert deliver(fake_yookassa.notify(charges[0]["id"])) == 200
    assert sweeper.run() == 0
    assert len([p for p in fake_yookassa.payments() if p["id"] != payment_id]) == 1
    assert len(credits()) == 2


def test_a_3_d_secure_card_pays_and_a_declined_card_credits_nothing(
    chat: Chat, fake_yookassa: FakeYooKassa, fake_telegram: FakeBotApi
) -> None:
    rub_payer()
    declined, declined_id = top_up_order()
    fake_yookassa.pay(declined_id, DECLINE_CARD)
    assert deliver(fake_yookassa.notify(declined_id)) == 200
    stored = runtime().payments.order(declined.id)
    assert stored is not None and stored.status is OrderStatus.FAILED
    assert "insufficient_funds" in (stored.note or "")
    assert credits() == []

    order, payment_id = top_up_order()
    fake_yookassa.pay(payment_id, THREE_DS_CARD, three_d_secure="pass")
    assert deliver(fake_yookassa.notify(payment_id)) == 200
    assert credits() == [150_000]
    stored = runtime().payments.order(order.id)
    assert stored is not None and stored.status is OrderStatus.PAID


def test_notifications_from_outside_the_networks_or_forged_credit_nothing_and_a_duplicate_once(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    rub_payer()
    _, payment_id = top_up_order()

    # Forged: says succeeded while the payment waits on its page. The re-fetch disagrees:
    # nothing done, and 503 (a genuine one ahead of the API is delivered again).
    forged = fake_yookassa.forged_notification(payment_id, "payment.succeeded")
    assert deliver(forged) == 503
    assert credits() == []

    fake_yookassa.pay(payment_id, SUCCESS_CARD)
    genuine = fake_yookassa.notify(payment_id)
    # From an address outside YooKassa's networks (a header saying otherwise counts for
    # nothing), or to the wrong secret path: refused unread.
    assert deliver(genuine, source_ip=OUTSIDE) == 401
    assert deliver(genuine, secret="guessed") == 401
    assert credits() == []

    # The genuine one (the forged one used up nothing), then its duplicate.
    assert deliver(genuine) == 200
    assert deliver(genuine) == 200
    assert deliver(fake_yookassa.notify(payment_id)) == 200
    assert credits() == [150_000]


def test_a_forged_amount_is_not_believed_the_api_answer_is(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    rub_payer()
    _, payment_id = top_up_order(150_000)
    fake_yookassa.pay(payment_id, SUCCESS_CARD)
    headers, body = fake_yookassa.notify(payment_id)
    notification = json.loads(body)
    notification["object"]["amount"]["value"] = "99999.00"
    assert deliver((headers, json.dumps(notification).encode())) == 200
    assert credits() == [150_000]  # what YooKassa's API says was paid


def test_support_refunds_through_yookassa_with_a_receipt_and_the_wallet_is_debited_once(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    order, payment_id = paid_top_up(fake_yookassa)

    chat.say(ADMIN, f"/admin {order.id}")
    chat.press(ADMIN, "Refund")
    chat.say(ADMIN, "RUB 500.00")
    assert "500.00 RUB refunded" in chat.screen(ADMIN)

    [refund] = fake_yookassa.refunds()
    assert refund["payment_id"] == payment_id and refund["amount"]["value"] == "500.00"
    receipts = fake_yookassa.receipts_of(payment_id)
    assert [(r["type"], r["receipt"]["customer"]) for r in receipts] == [
        ("payment", {"email": EMAIL}),
        ("refund", {"email": EMAIL}),
    ]
    # The notification of that refund, and reconciliation: recorded already.
    assert deliver(fake_yookassa.notify(refund["id"])) == 200
    reconcile()
    rt = runtime()
    refunds = [e.amount for e in rt.ledger.entries(PAVEL.id, RUB) if e.kind.value == "refund"]
    assert refunds == [-50_000]
    assert rt.ledger.wallet(PAVEL.id, RUB).balance == 100_000


def test_reconciliation_credits_a_payment_whose_notification_was_lost_once(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    rub_payer()
    _, payment_id = top_up_order(150_000)
    fake_yookassa.pay(payment_id, SUCCESS_CARD)  # its notification never arrives
    report = reconcile()
    assert report["seen"]["yookassa"] >= 1 and "yookassa" not in report["unreachable"]
    reconcile()
    assert deliver(fake_yookassa.notify(payment_id)) == 200
    assert credits() == [150_000]


def test_the_partner_card_needs_an_email_or_phone_for_receipts_asked_once_in_billing(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    chat.say(PAVEL, "/start")
    payer(PAVEL.id, "RU", phone="+7 912 345-67-89")
    chat.say(PAVEL, "/balance")
    for label in ("Top up", "RUB", "1000.00 RUB", "Card for Russia (Mir"):
        chat.press(PAVEL, label)
    assert "fiscal receipt" in chat.screen(PAVEL)
    chat.press(PAVEL, "Add the missing details")
    assert "e-mail address or phone number" in chat.screen(PAVEL)
    chat.say(PAVEL, "not an address")
    assert "neither an e-mail address nor a phone number" in chat.screen(PAVEL)
    chat.say(PAVEL, "+7 912 345 67 89")
    # Back to the payment methods, which now take the partner card.
    chat.press(PAVEL, "Card for Russia (Mir")
    assert fake_yookassa.payments()[-1]["status"] == "pending"
    assert runtime().profiles.profile(PAVEL.id).receipt_contact == "+79123456789"
    [receipt] = fake_yookassa.receipts_of(fake_yookassa.payments()[-1]["id"])
    assert receipt["receipt"]["customer"] == {"phone": "79123456789"}
    chat.say(PAVEL, "/billing")
    assert "Receipts to: +79123456789" in chat.screen(PAVEL)


def rub_subscription_with_saved_card(fake_yookassa: FakeYooKassa) -> tuple[str, str]:
    """Pavel's Gateway in RUB, paid from the wallet, auto-renewing from a card saved at
    YooKassa (as a "save card" payment leaves it). Returns (subscription id, method id)."""
    from billing.domain.profile import SavedCard
    from billing.domain.tax import TaxProfile

    rub_payer()
    rt = runtime()
    method = fake_yookassa.add_saved_method(SUCCESS_CARD)
    rt.profiles.save_card(
        PAVEL.id,
        SavedCard("MasterCard", "4444", 12, 2034, provider_ref=method, provider="yookassa"),
    )
    quote = rt.subscriptions.quote_connect(
        product="gateway", options={"lines": 1}, months=6, currency=RUB, tax=TaxProfile.create("RU")
    )
    rt.ledger.top_up(PAVEL.id, RUB, quote.total, cause="seed", reason="seed")
    sub = rt.subscriptions.connect(
        request_id="gw-rub",
        payer_id=PAVEL.id,
        customer_id=PAVEL.id,
        product="gateway",
        options={"lines": 1},
        months=6,
        currency=RUB,
        tax=TaxProfile.create("RU"),
        has_saved_card=True,
    ).subscription
    assert sub.auto_renew
    return sub.id, method


def charges_of(fake_yookassa: FakeYooKassa, method: str) -> list[dict[str, Any]]:
    return [
        p for p in fake_yookassa.payments() if (p.get("payment_method") or {}).get("id") == method
    ]


def test_a_pending_renewal_charge_is_resolved_before_any_new_attempt(
    chat: Chat, fake_yookassa: FakeYooKassa, sweeper: Sweeper, clock: ManualClock
) -> None:
    sub_id, method = rub_subscription_with_saved_card(fake_yookassa)
    rt = runtime()
    expires = rt.subscriptions.get_any(sub_id).expires_at
    fake_yookassa.set_off_session_outcome(method, "pending")
    clock.set(expires - timedelta(days=1))
    # Pending is no answer yet: the message is left for the queue to deliver again.
    assert sweeper.run() == 1
    [charge] = charges_of(fake_yookassa, method)
    assert charge["status"] == "pending"
    assert rt.subscriptions.get_any(sub_id, fresh=True).expires_at == expires

    # Later sweeps ask YooKassa about that very attempt; none starts another.
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        sweeper.run()
    assert len(charges_of(fake_yookassa, method)) == 1

    fake_yookassa.complete(charge["id"], "succeeded")
    clock.advance(timedelta(hours=1))
    assert sweeper.run() == 0
    assert rt.subscriptions.get_any(sub_id, fresh=True).expires_at > expires
    assert deliver(fake_yookassa.notify(charge["id"])) == 200  # its notification, late
    assert len(charges_of(fake_yookassa, method)) == 1
    assert credits() == [charge_amount(charge)]


def charge_amount(payment: dict[str, Any]) -> int:
    return int(payment["amount"]["value"].replace(".", ""))


def test_a_renewal_charge_whose_answer_was_lost_is_found_not_sent_again(
    chat: Chat, fake_yookassa: FakeYooKassa, sweeper: Sweeper, clock: ManualClock
) -> None:
    sub_id, method = rub_subscription_with_saved_card(fake_yookassa)
    rt = runtime()
    expires = rt.subscriptions.get_any(sub_id).expires_at
    clock.set(expires - timedelta(days=2))
    fake_yookassa.fail_next(500, processed=True)  # charged at YooKassa, the answer lost
    sweeper.run()
    [charge] = charges_of(fake_yookassa, method)
    assert charge["status"] == "succeeded"
    assert rt.subscriptions.get_any(sub_id, fresh=True).expires_at == expires

    # After YooKassa forgot the Idempotence-Key (24 hours): resending it would charge
    # again, so the attempt is looked up among the payments instead.
    clock.advance(timedelta(hours=25))
    assert sweeper.run() == 0
    assert rt.subscriptions.get_any(sub_id, fresh=True).expires_at > expires
    assert len(charges_of(fake_yookassa, method)) == 1
    assert credits() == [charge_amount(charge)]


def test_a_declined_renewal_charge_is_told_and_the_removed_card_is_never_charged(
    chat: Chat, fake_yookassa: FakeYooKassa, sweeper: Sweeper, clock: ManualClock
) -> None:
    sub_id, method = rub_subscription_with_saved_card(fake_yookassa)
    rt = runtime()
    expires = rt.subscriptions.get_any(sub_id).expires_at
    fake_yookassa.set_off_session_outcome(method, "canceled", reason="insufficient_funds")
    clock.set(expires - timedelta(days=2))
    assert sweeper.run() == 0
    assert [c["status"] for c in charges_of(fake_yookassa, method)] == ["canceled"]
    assert credits() == []

    chat.say(PAVEL, "/billing")
    assert "MasterCard •••• 4444" in chat.screen(PAVEL)
    chat.press(PAVEL, "Remove saved card")
    assert rt.profiles.profile(PAVEL.id).partner_card is None
    assert "Saved card: none" in chat.screen(PAVEL)
    clock.advance(timedelta(days=1))
    assert sweeper.run() == 0
    assert len(charges_of(fake_yookassa, method)) == 1  # nothing charged after removal


def test_a_card_from_another_country_than_the_declared_one_flags_the_payer(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    payer(PAVEL.id, "KZ", phone="+7 701 123 4567")  # Kazakhstan; the test card is Russian
    runtime().profiles.set_receipt_contact(PAVEL.id, EMAIL)
    _, payment_id = top_up_order()
    fake_yookassa.pay(payment_id, SUCCESS_CARD)
    assert deliver(fake_yookassa.notify(payment_id)) == 200
    assert credits() == [150_000]  # the money is real: kept, and support looks
    flag = runtime().profiles.profile(PAVEL.id).flagged_for_support
    assert flag == "card country RU contradicts billing country KZ"


def test_a_removed_card_is_not_brought_back_by_a_redelivery_or_reconciliation(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    rub_payer()
    rt = runtime()
    order = rt.payments.open(
        payer_id=PAVEL.id,
        purpose=Purpose.TOP_UP,
        amount=150_000,
        currency=RUB,
        method=PaymentMethod.PARTNER_CARD,
        chat_id=PAVEL.id,
    )
    link = rt.bot.deps.checkout.start(order, title="Top-up", save_card=True)
    assert isinstance(link, PaymentLink) and link.order.provider_ref
    fake_yookassa.pay(link.order.provider_ref, SUCCESS_CARD)
    assert deliver(fake_yookassa.notify(link.order.provider_ref)) == 200
    assert rt.profiles.profile(PAVEL.id).partner_card is not None

    rt.saved_cards.forget(PAVEL.id, "yookassa")
    assert deliver(fake_yookassa.notify(link.order.provider_ref)) == 200  # YooKassa repeats
    reconcile()  # the payment is in the window, its method still "saved" at YooKassa
    assert rt.profiles.profile(PAVEL.id).partner_card is None
    assert credits() == [150_000]


def test_a_refund_yookassa_cancels_debits_nothing_and_a_later_cancel_gives_it_back(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    order, _ = paid_top_up(fake_yookassa)
    rt = runtime()

    fake_yookassa.next_refund("canceled", "insufficient_funds")
    chat.say(ADMIN, f"/admin {order.id}")
    chat.press(ADMIN, "Refund")
    chat.say(ADMIN, "RUB 500.00")
    assert "canceled refund" in chat.screen(ADMIN) and "nothing was debited" in chat.screen(ADMIN)
    assert rt.ledger.wallet(PAVEL.id, RUB).balance == 150_000

    # Pending: debited now; YooKassa cancels it later and reconciliation gives it back.
    fake_yookassa.next_refund("pending")
    chat.say(ADMIN, "RUB 400.00")
    assert "400.00 RUB refunded" in chat.screen(ADMIN)
    assert rt.ledger.wallet(PAVEL.id, RUB).balance == 110_000
    pending = [r for r in fake_yookassa.refunds() if r["status"] == "pending"]
    fake_yookassa.finish_refund(pending[0]["id"], "canceled")
    reconcile()
    reconcile()
    assert rt.ledger.wallet(PAVEL.id, RUB).balance == 150_000


def test_a_refund_whose_answer_was_lost_is_asked_again_under_the_same_key(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    order, _ = paid_top_up(fake_yookassa)
    chat.say(ADMIN, f"/admin {order.id}")
    chat.press(ADMIN, "Refund")

    fake_yookassa.fail_next(500, processed=True)  # refunded at YooKassa, the answer lost
    chat.say(ADMIN, "RUB 500.00")
    assert "Not done" in chat.screen(ADMIN)
    [refund] = fake_yookassa.refunds()
    assert deliver(fake_yookassa.notify(refund["id"])) == 200  # recorded by its notification
    chat.say(ADMIN, "RUB 500.00")  # support tries again: the same refund, not a second
    assert "500.00 RUB refunded" in chat.screen(ADMIN)
    assert len(fake_yookassa.refunds()) == 1
    rt = runtime()
    assert [e.amount for e in rt.ledger.entries(PAVEL.id, RUB) if e.kind.value == "refund"] == [
        -50_000
    ]


def test_payments_of_the_shop_that_are_not_ours_raise_no_alert_on_every_run(
    chat: Chat, fake_yookassa: FakeYooKassa
) -> None:
    """The partner's shop sells other things too: reconciliation leaves those alone."""
    rt = runtime()
    foreign = rt.providers.yookassa.create_payment(
        idempotence_key="partner-own-sale-1",
        amount=99_900,
        currency="RUB",
        description="Something the partner sells",
        metadata={},
        receipt=rt.receipts.for_contact("buyer@example.com", "Something", 99_900, "RUB"),
        return_url="https://partner.example/",
    )
    fake_yookassa.pay(foreign.id, SUCCESS_CARD)
    before = len(rt.orders.alerts())
    reconcile()
    reconcile()
    assert len(rt.orders.alerts()) == before
