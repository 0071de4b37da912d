"""The renewal sweep on a simulated timeline (SPEC §5.4-§5.5): the clock moves a day at a
time and the sweep runs as AWS runs it (schedule -> due index -> queue -> worker). Exact
amounts, dates and messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import respx

from billing.domain.money import Currency
from billing.domain.subscription import ChangeKind, Status
from billing.domain.tax import TaxProfile
from billing.errors import InvalidState
from billing.ledger.model import EntryKind
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration.conftest import Sweeper
from tests.integration.payers import payer, saved_card

EUR = Currency.EUR
ANN, BOB = 101, 202
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRY = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
# Gateway, 1 line, 6 months, for a German consumer: 180.00 net + 19 % = 214.20 EUR.
PRICE = 21_420


@pytest.fixture
def chats(sweeper: Sweeper, fake_telegram: FakeBotApi) -> Iterator[FakeBotApi]:
    yield fake_telegram
    assert fake_telegram.violations == []


def connect(
    *,
    customer: int = ANN,
    wallet: int = PRICE,
    card: str | None = None,
    localstripe: LocalStripe | None = None,
    auto_renew: bool | None = None,
) -> str:
    rt = runtime()
    payer(ANN, "DE", phone="+49 30 901820")
    if customer != ANN:
        rt.accounts.ensure(
            customer,
            now=rt.clock.now(),
            language="en",
            first_name="Bob",
            username=None,
            start_parameter=None,
        )
    if card is not None and localstripe is not None:
        saved_card(localstripe, ANN, card)
    # The first period is paid from the wallet; `wallet` is what stays on it.
    rt.ledger.top_up(ANN, EUR, PRICE + wallet, cause="seed", reason="top-up")
    sub = rt.subscriptions.connect(
        request_id="r1",
        payer_id=ANN,
        customer_id=customer,
        product="gateway",
        options={"lines": 1},
        months=6,
        currency=EUR,
        tax=TaxProfile.create("DE"),
        has_saved_card=card is not None,
    ).subscription
    if auto_renew is not None and sub.auto_renew != auto_renew:
        sub = rt.subscriptions.set_auto_renew(sub.id, by=ANN, on=auto_renew)
    return sub.id


def live_through(sweeper: Sweeper, first: datetime, last: datetime) -> None:
    """Moves the clock a day at a time, running the sweep at each day's 12:00."""
    day = first
    while day <= last:
        sweeper.clock.set(day)
        assert sweeper.run() == 0
        day += timedelta(days=1)


def texts(fake: FakeBotApi, chat_id: int, since: int = 0) -> list[str]:
    return [
        message.get("text") or f"[document {message['document']['file_name']}]"
        for message in fake.messages(chat_id)[since:]
        if (message.get("from") or {}).get("is_bot")
    ]


def buttons(fake: FakeBotApi, chat_id: int, index: int) -> list[str]:
    bot = [m for m in fake.messages(chat_id) if (m.get("from") or {}).get("is_bot")]
    markup = bot[index].get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def entries() -> list[tuple[str, int]]:
    return [(e.kind.value, e.amount) for e in runtime().ledger.entries(ANN, EUR)]


def test_auto_renewal_from_the_wallet(sweeper: Sweeper, chats: FakeBotApi) -> None:
    sub_id = connect(wallet=PRICE)

    live_through(
        sweeper, datetime(2026, 8, 20, 12, tzinfo=UTC), datetime(2026, 9, 3, 12, tzinfo=UTC)
    )

    assert texts(chats, ANN) == [
        "Gateway for you ends on 1 Sep 2026 12:00 UTC. Auto-renewal is on: 214.20 EUR will be"
        " charged from your balance on 29 Aug 2026 12:00 UTC.",
        "Gateway for you was renewed until 1 Mar 2027 12:00 UTC: 214.20 EUR paid from the"
        " balance. The invoice follows.",
        "[document INV-000002.pdf]",
    ]
    sub = runtime().subscriptions.get_any(sub_id)
    assert (sub.status, sub.expires_at) == (Status.ACTIVE, datetime(2027, 3, 1, 12, tzinfo=UTC))
    assert entries() == [("top_up", 2 * PRICE), ("charge", -PRICE), ("charge", -PRICE)]


def test_wallet_short_then_the_saved_card(
    sweeper: Sweeper, chats: FakeBotApi, localstripe: LocalStripe
) -> None:
    sub_id = connect(wallet=0, card="4242424242424242", localstripe=localstripe)

    live_through(
        sweeper, datetime(2026, 8, 25, 12, tzinfo=UTC), datetime(2026, 9, 2, 12, tzinfo=UTC)
    )

    assert texts(chats, ANN) == [
        "Gateway for you ends on 1 Sep 2026 12:00 UTC. Auto-renewal is on: 214.20 EUR will be"
        " charged from your saved card on 29 Aug 2026 12:00 UTC.",
        "Gateway for you was renewed until 1 Mar 2027 12:00 UTC: 214.20 EUR paid by card"
        " (Stripe). The invoice follows.",
        "[document INV-000002.pdf]",
    ]
    assert runtime().subscriptions.get_any(sub_id).expires_at == datetime(
        2027, 3, 1, 12, tzinfo=UTC
    )
    assert entries() == [
        ("top_up", PRICE),
        ("charge", -PRICE),
        ("top_up", PRICE),
        ("charge", -PRICE),
    ]


def test_card_declined_three_days_running_then_expiry_and_free(
    sweeper: Sweeper, chats: FakeBotApi, localstripe: LocalStripe
) -> None:
    sub_id = connect(wallet=0, card="4000000000000341", localstripe=localstripe)

    live_through(
        sweeper, datetime(2026, 8, 26, 12, tzinfo=UTC), datetime(2026, 9, 3, 12, tzinfo=UTC)
    )

    declined = (
        "Could not renew Gateway for you: the card was declined. It ends on 1 Sep 2026 12:00"
        " UTC; top up or pay another way to keep it."
    )
    assert texts(chats, ANN) == [
        # 26 Aug: the week-ahead reminder was due since the 25th
        "Gateway for you ends on 1 Sep 2026 12:00 UTC. Auto-renewal is on: 214.20 EUR will be"
        " charged from your saved card on 29 Aug 2026 12:00 UTC.",
        declined,  # 29 Aug
        declined,  # 30 Aug
        declined,  # 31 Aug, then the last reminder
        "Gateway for you ends on 1 Sep 2026 12:00 UTC and the automatic renewal did not go"
        " through. Renew now to keep it (214.20 EUR for 6 months).",
        "Gateway for you has expired; the account is on Free now. Open /subscriptions to"
        " connect it again.",
    ]
    assert buttons(chats, ANN, 1) == ["Top up", "Pay"]
    assert buttons(chats, ANN, 4) == ["Renew"]
    sub = runtime().subscriptions.get_any(sub_id)
    assert sub.status is Status.EXPIRED
    assert runtime().subscriptions_repo.slot_holder(ANN, "gateway") is None  # on Free
    assert entries() == [("top_up", PRICE), ("charge", -PRICE)]


def test_auto_renewal_off_reminds_with_renew_then_expires(
    sweeper: Sweeper, chats: FakeBotApi
) -> None:
    sub_id = connect(wallet=0, auto_renew=False)

    live_through(
        sweeper, datetime(2026, 8, 20, 12, tzinfo=UTC), datetime(2026, 9, 3, 12, tzinfo=UTC)
    )

    manual = (
        "Gateway for you ends on 1 Sep 2026 12:00 UTC. Auto-renewal is off: renew now to keep"
        " it (214.20 EUR for 6 months)."
    )
    assert texts(chats, ANN) == [
        manual,  # 25 Aug
        manual,  # 31 Aug
        "Gateway for you has expired; the account is on Free now. Open /subscriptions to"
        " connect it again.",
    ]
    assert buttons(chats, ANN, 0) == ["Renew"] and buttons(chats, ANN, 1) == ["Renew"]
    assert runtime().subscriptions.get_any(sub_id).status is Status.EXPIRED


def test_renewed_early_by_hand_means_no_automatic_charge(
    sweeper: Sweeper, chats: FakeBotApi
) -> None:
    sub_id = connect(wallet=PRICE)
    sweeper.clock.set(datetime(2026, 8, 20, 12, tzinfo=UTC))
    runtime().subscriptions.renew(sub_id, by=ANN, tax=TaxProfile.create("DE"))

    live_through(
        sweeper, datetime(2026, 8, 21, 12, tzinfo=UTC), datetime(2026, 9, 3, 12, tzinfo=UTC)
    )

    assert texts(chats, ANN) == []
    sub = runtime().subscriptions.get_any(sub_id)
    assert sub.expires_at == datetime(2027, 3, 1, 12, tzinfo=UTC)
    assert [r.kind for r in sub.history] == [ChangeKind.CONNECT, ChangeKind.RENEW]
    assert entries() == [("top_up", 2 * PRICE), ("charge", -PRICE), ("charge", -PRICE)]


def test_payer_and_customer_are_each_told(sweeper: Sweeper, chats: FakeBotApi) -> None:
    connect(customer=BOB, wallet=0, auto_renew=False)

    live_through(
        sweeper, datetime(2026, 8, 24, 12, tzinfo=UTC), datetime(2026, 9, 2, 12, tzinfo=UTC)
    )

    manual = (
        "Gateway for Bob ends on 1 Sep 2026 12:00 UTC. Auto-renewal is off: renew"
        " now to keep it (214.20 EUR for 6 months)."
    )
    assert texts(chats, ANN) == [
        manual,
        manual,
        "Gateway for Bob has expired; the account is on Free now. Open"
        " /subscriptions to connect it again.",
    ]
    customer = "Your Gateway ends on 1 Sep 2026 12:00 UTC; user101 pays for it."
    assert texts(chats, BOB) == [
        customer,
        customer,
        "Your Gateway has expired; your account is on Free now.",
    ]


def test_duplicate_messages_and_sweeps_act_once(sweeper: Sweeper, chats: FakeBotApi) -> None:
    sub_id = connect(wallet=PRICE)
    for day in (datetime(2026, 8, 25, 12, tzinfo=UTC), datetime(2026, 8, 29, 12, tzinfo=UTC)):
        sweeper.clock.set(day)
        # Two schedules in the same minute, every message delivered twice.
        assert sweeper.run(schedules=2, deliveries=2) == 0

    assert len(texts(chats, ANN)) == 3  # one reminder, one renewal notice, one invoice
    assert entries() == [("top_up", 2 * PRICE), ("charge", -PRICE), ("charge", -PRICE)]
    sub = runtime().subscriptions.get_any(sub_id)
    assert [r.kind for r in sub.history] == [ChangeKind.CONNECT, ChangeKind.RENEW]
    assert [e.kind for e in runtime().ledger.entries(ANN, EUR)].count(EntryKind.CHARGE) == 2


def test_a_payer_who_blocked_the_bot_is_still_renewed(sweeper: Sweeper, chats: FakeBotApi) -> None:
    sub_id = connect(wallet=PRICE)
    chats.block(ANN)

    live_through(
        sweeper, datetime(2026, 8, 25, 12, tzinfo=UTC), datetime(2026, 8, 30, 12, tzinfo=UTC)
    )

    sub = runtime().subscriptions.get_any(sub_id)
    assert sub.expires_at == datetime(2027, 3, 1, 12, tzinfo=UTC)
    assert entries() == [("top_up", 2 * PRICE), ("charge", -PRICE), ("charge", -PRICE)]
    assert sweeper.dead_letters() == 0


def test_a_card_that_needs_authentication_gets_a_pay_link(
    sweeper: Sweeper, chats: FakeBotApi, localstripe: LocalStripe
) -> None:
    sub_id = connect(wallet=0, card="4000002500003155", localstripe=localstripe)
    checkout = {
        "id": "cs_test_renewal",
        "object": "checkout.session",
        "url": "https://checkout.stripe.com/c/pay/cs_test_renewal",
        "status": "open",
        "payment_status": "unpaid",
    }
    # localstripe has no Checkout: only that call is answered here, Stripe-shaped.
    with respx.mock(assert_all_called=False) as stripe_checkout:
        route = stripe_checkout.post(f"{localstripe.base_url}/v1/checkout/sessions").respond(
            200, json=checkout
        )
        stripe_checkout.route().pass_through()
        live_through(
            sweeper, datetime(2026, 8, 29, 12, tzinfo=UTC), datetime(2026, 8, 29, 12, tzinfo=UTC)
        )

    assert route.called
    assert texts(chats, ANN) == [
        "Could not renew Gateway for you: your bank asks you to confirm the payment. Open the"
        " payment page to pay; it ends on 1 Sep 2026 12:00 UTC otherwise.",
        # The week-ahead reminder was still due: it names the next attempt.
        "Gateway for you ends on 1 Sep 2026 12:00 UTC. Auto-renewal is on: 214.20 EUR will be"
        " charged from your saved card on 30 Aug 2026 12:00 UTC.",
    ]
    bot = [m for m in chats.messages(ANN) if (m.get("from") or {}).get("is_bot")]
    keyboard = bot[0]["reply_markup"]["inline_keyboard"]
    assert keyboard[0] == [{"text": "Confirm the payment", "url": checkout["url"]}]
    assert runtime().subscriptions.get_any(sub_id).expires_at == EXPIRY


def test_a_price_change_after_a_declined_attempt_is_a_new_attempt_not_a_dead_letter(
    sweeper: Sweeper, chats: FakeBotApi, localstripe: LocalStripe
) -> None:
    sub_id = connect(wallet=0, card="4000000000000341", localstripe=localstripe)
    live_through(
        sweeper, datetime(2026, 8, 29, 12, tzinfo=UTC), datetime(2026, 8, 29, 12, tzinfo=UTC)
    )
    # Ann moves to France: the renewal is now 180.00 + 20 % = 216.00 EUR.
    payer(ANN, "FR", phone="+33 1 42 68 53 00")

    live_through(
        sweeper, datetime(2026, 8, 30, 12, tzinfo=UTC), datetime(2026, 8, 30, 12, tzinfo=UTC)
    )

    declined = (
        "Could not renew Gateway for you: the card was declined. It ends on 1 Sep 2026 12:00"
        " UTC; top up or pay another way to keep it."
    )
    assert [text for text in texts(chats, ANN) if text.startswith("Could not")] == [
        declined,
        declined,
    ]
    amounts = sorted(o.amount for o in runtime().orders.of_payer(ANN) if o.purpose.value == "renew")
    assert amounts == [PRICE, 21_600]  # each attempt's order is for the quote of its day
    assert runtime().subscriptions.get_any(sub_id).sweep.attempts == 2
    assert sweeper.dead_letters() == 0


def test_any_refusal_of_a_renewal_attempt_is_a_failed_attempt_with_its_reason(
    sweeper: Sweeper, chats: FakeBotApi, localstripe: LocalStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub_id = connect(wallet=0, card="4242424242424242", localstripe=localstripe)

    def refuse(*args: object, **kwargs: object) -> None:
        raise InvalidState("card payments in EUR are paused", reason="method_unavailable")

    monkeypatch.setattr("billing.orders.saved_card.SavedCardCharger.renew", refuse)
    for _ in range(2):  # the same message twice: one attempt, one notice
        live_through(
            sweeper, datetime(2026, 8, 29, 12, tzinfo=UTC), datetime(2026, 8, 29, 12, tzinfo=UTC)
        )

    # Told in the Payer's words (the catalog's sentence for the refusal), not the code's.
    refused = (
        "Could not renew Gateway for you. This payment method does not take this currency."
        " Choose another. It ends on 1 Sep 2026 12:00 UTC; top up or pay another way to keep it."
    )
    assert [text for text in texts(chats, ANN) if text.startswith("Could not")] == [refused]
    assert texts(chats, ANN)[0] == refused and buttons(chats, ANN, 0) == ["Top up", "Pay"]
    sub = runtime().subscriptions.get_any(sub_id)
    assert sub.sweep.attempts == 1 and sub.expires_at == EXPIRY
    assert sweeper.dead_letters() == 0


def test_a_sweep_that_runs_late_expires_and_never_charges(
    sweeper: Sweeper, chats: FakeBotApi
) -> None:
    sub_id = connect(wallet=PRICE)  # the wallet would cover the renewal

    # The sweep was down from before the attempts were due until ten days after expiry.
    live_through(
        sweeper, datetime(2026, 9, 11, 12, tzinfo=UTC), datetime(2026, 9, 11, 12, tzinfo=UTC)
    )

    sub = runtime().subscriptions.get_any(sub_id)
    assert (sub.status, sub.expires_at) == (Status.EXPIRED, EXPIRY)
    assert entries() == [("top_up", 2 * PRICE), ("charge", -PRICE)]  # nothing taken
    assert texts(chats, ANN) == [
        "Gateway for you has expired; the account is on Free now. Open /subscriptions to"
        " connect it again.",
    ]
