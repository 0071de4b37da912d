"""No secret and no card number in any log line (issue 7).

Whole flows run through the real handlers with every logger at DEBUG, as Lambda runs them
when ApplicationLogLevel (template.yaml) is turned to DEBUG: the root logger then passes
DEBUG records of every library (botocore, httpx, stripe, pynamodb, ...) and Powertools
follows it. Everything is captured: the Powertools JSON lines as they go to stdout, every
log record (its message, arguments, extra fields and traceback), and whatever is printed.
None of it may contain the bot token, the webhook secret, a provider secret or token, or
a full card number.
"""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.profile import PaymentMethod
from billing.observability import logger as service_logger
from billing.orders.checkout import PaymentLink
from billing.orders.model import Order, OrderStatus, Purpose
from billing.providers.stripe_signature import sign_webhook
from billing.runtime import runtime
from functions.payment_webhook import app as payment_app
from local.fake_bot_api import FakeBotApi
from local.localstripe_peer import LocalStripe
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.conftest import (
    CRYPTOPAY_TOKEN,
    PAYPAL_CREDENTIALS,
    PROVIDER_TOKENS,
    STRIPE_WEBHOOK_SECRET,
    Sweeper,
)
from tests.integration.http_events import call, http_event
from tests.integration.payers import payer
from tests.integration.test_bot_flows import (
    connect_softphone_5_with_recording_12_months,
    set_country,
    top_up,
)
from tests.integration.test_renewal_sweep import connect, live_through
from tests.integration.webhook_receiver import WebhookReceiver

ANN = TgUser(101, "Ann")
PAYER = 6060
EUR = Currency.EUR
# Every test card number the tests use, and the way people write them.
CARDS = ["4242424242424242", "4000000000000341", "4000002500003155"]
CARDS += [" ".join(card[i : i + 4] for i in range(0, 16, 4)) for card in CARDS]
# Loggers of the peers that stand in for AWS and the providers, not of the functions.
PEERS = ("moto", "werkzeug", "local.")


class Captured:
    """All log output of a flow: the Powertools stream, every record, printed text."""

    def __init__(self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
        self._capsys = capsys
        self._caplog = caplog
        self.stream = io.StringIO()

    def text(self) -> str:
        formatter = service_logger.registered_formatter
        lines = [self.stream.getvalue()]
        for record in self._caplog.records:
            if record.name.startswith(PEERS):
                continue
            lines.append(formatter.format(record))
            lines.append(repr(vars(record)))
            if record.exc_info:
                lines.extend(traceback.format_exception(*record.exc_info))
        printed = self._capsys.readouterr()
        lines += [printed.out, printed.err]
        return "\n".join(lines)

    def assert_clean(self, secrets: dict[str, str]) -> None:
        text = self.text()
        # The capture works: the flow's own lines are in it, DEBUG ones included.
        assert '"service":"sip-billing"' in text.replace(" ", "")
        assert any(r.levelno == logging.DEBUG for r in self._caplog.records)
        found = {what for what, value in secrets.items() if value and value in text}
        found |= {f"card {card}" for card in CARDS if card in text}
        assert not found, f"in the logs: {sorted(found)}\n{_context(text, secrets)}"


def _context(text: str, secrets: dict[str, str]) -> str:
    shown = []
    for value in [*secrets.values(), *CARDS]:
        at = text.find(value) if value else -1
        if at >= 0:
            shown.append(text[max(0, at - 300) : at + 100])
    return "\n---\n".join(shown)


@pytest.fixture
def logs(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Captured]:
    """DEBUG everywhere for the test, as Lambda's ApplicationLogLevel=DEBUG sets it (Lambda
    puts the root logger at that level; Powertools takes it over POWERTOOLS_LOG_LEVEL)."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    level = service_logger.log_level
    service_logger.setLevel(logging.DEBUG)
    captured = Captured(capsys, caplog)
    # The Powertools handler writes to the stdout of import time; read what it writes.
    handler = service_logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = handler.setStream(captured.stream)
    # Loggers that do not propagate (Powertools' own, with POWERTOOLS_DEBUG's handler in
    # mind) would escape caplog: capture them at DEBUG too.
    silent = [
        candidate
        for name, candidate in logging.Logger.manager.loggerDict.items()
        if isinstance(candidate, logging.Logger)
        and not candidate.propagate
        and not name.startswith(PEERS)
    ]
    levels = [candidate.level for candidate in silent]
    for candidate in silent:
        candidate.addHandler(caplog.handler)
        candidate.setLevel(logging.DEBUG)
    yield captured
    for candidate, old in zip(silent, levels, strict=True):
        candidate.removeHandler(caplog.handler)
        candidate.setLevel(old)
    handler.setStream(stream)
    service_logger.setLevel(level)


def secrets_of(settings: Settings, fake_telegram: FakeBotApi, stripe_key: str) -> dict[str, str]:
    return {
        "bot token": fake_telegram.token,
        "webhook secret": WEBHOOK_SECRET,
        "Stripe secret key": stripe_key,
        "Stripe webhook secret": STRIPE_WEBHOOK_SECRET,
        "PayPal client secret": PAYPAL_CREDENTIALS["client_secret"],
        "Crypto Pay token": CRYPTOPAY_TOKEN,
        **{f"provider token {currency}": token for currency, token in PROVIDER_TOKENS.items()},
    }


# --- flows ----------------------------------------------------------------------------------


def test_start_and_connect_paid_from_the_wallet(
    lambda_env: Settings, fake_telegram: FakeBotApi, logs: Captured
) -> None:
    chat = Chat(fake_telegram, WEBHOOK_SECRET)
    chat.say(ANN, "/start")
    set_country(chat, ANN, "DE")
    top_up(ANN, 40_000)
    connect_softphone_5_with_recording_12_months(chat, ANN)
    chat.press(ANN, "Pay 321.30 EUR from balance")
    assert "active until 1 Mar 2027 12:00 UTC" in chat.screen(ANN)
    # A forged delivery is refused and logged too.
    assert chat.say(ANN, "/start")["statusCode"] == 200
    assert chat.deliver({"update_id": 1}, secret="wrong")["statusCode"] == 401

    logs.assert_clean(secrets_of(lambda_env, fake_telegram, "sk_test_unused"))


def deliver_stripe(body: bytes, secret: str = STRIPE_WEBHOOK_SECRET) -> int:
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {"stripe-signature": sign_webhook(body, secret, timestamp)}
    response = call(payment_app.lambda_handler, http_event("/payments/stripe", body, headers))
    return int(response["statusCode"])


def stripe_event(kind: str, obj: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}
    ).encode()


def test_stripe_payment_and_refund_webhooks(
    stripe_env: WebhookReceiver,
    lambda_env: Settings,
    fake_telegram: FakeBotApi,
    localstripe: LocalStripe,
    logs: Captured,
) -> None:
    payer(PAYER, "US", phone="+1 212 555 0100")
    order = runtime().payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=5_000,
        currency=EUR,
        method=PaymentMethod.STRIPE_CARD,
        chat_id=PAYER,
    )
    intent = {
        "id": f"pi_{order.id}",
        "object": "payment_intent",
        "amount": 5_000,
        "amount_received": 5_000,
        "currency": "eur",
        "status": "succeeded",
        "metadata": {"order_id": order.id},
    }
    refund = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": f"pi_{order.id}",
        "currency": "eur",
        "amount_refunded": 3_000,
        "refunds": {"object": "list", "data": [{"id": "re_1", "amount": 3_000}]},
    }
    assert deliver_stripe(stripe_event("payment_intent.succeeded", intent, "evt_1")) == 200
    assert deliver_stripe(stripe_event("charge.refunded", refund, "evt_2")) == 200
    assert deliver_stripe(stripe_event("charge.refunded", refund, "evt_2")) == 200  # again
    assert deliver_stripe(b"{}", secret="whsec_forged") == 401
    assert runtime().ledger.wallet(PAYER, EUR).balance == 2_000

    logs.assert_clean(secrets_of(lambda_env, fake_telegram, localstripe.api_key))


def open_linked_order(method: PaymentMethod) -> Order:
    payer(PAYER, "DE", phone="+49 30 901820")
    rt = runtime()
    order = rt.payments.open(
        payer_id=PAYER,
        purpose=Purpose.TOP_UP,
        amount=2_500,
        currency=EUR,
        method=method,
        chat_id=PAYER,
    )
    started = rt.bot.deps.checkout.start(order, title="Top-up")
    assert isinstance(started, PaymentLink)
    return started.order


def deliver(provider: str, headers: dict[str, str], body: bytes) -> int:
    response = call(payment_app.lambda_handler, http_event(f"/payments/{provider}", body, headers))
    return int(response["statusCode"])


def paid(order: Order) -> bool:
    stored = runtime().payments.order(order.id)
    return stored is not None and stored.status is OrderStatus.PAID


def test_paypal_approval(
    providers_env: Settings, fake_paypal: Any, fake_telegram: FakeBotApi, logs: Captured
) -> None:
    order = open_linked_order(PaymentMethod.PAYPAL)
    fake_paypal.approve(order.provider_ref)
    approved = fake_paypal.webhook_deliveries[-1]
    assert deliver("paypal", approved.headers, approved.body) == 200
    completed = fake_paypal.webhook_deliveries[-1]
    assert deliver("paypal", completed.headers, completed.body) == 200
    forged = dict(approved.headers, **{"PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk"})
    assert deliver("paypal", forged, approved.body) == 401
    assert paid(order)

    logs.assert_clean(secrets_of(providers_env, fake_telegram, "sk_test_unused"))


def test_crypto_pay_payment(
    providers_env: Settings, fake_cryptopay: Any, fake_telegram: FakeBotApi, logs: Captured
) -> None:
    order = open_linked_order(PaymentMethod.CRYPTO)
    assert order.provider_ref is not None
    headers, body = fake_cryptopay.pay(int(order.provider_ref.removeprefix("crypto-")))
    assert deliver("cryptopay", headers, body) == 200
    assert deliver("cryptopay", headers, body) == 200  # redelivered
    assert deliver("cryptopay", {"crypto-pay-api-signature": "0" * 64}, body) == 401
    assert paid(order)

    logs.assert_clean(secrets_of(providers_env, fake_telegram, "sk_test_unused"))


def test_card_payment_in_telegram(
    providers_env: Settings, fake_telegram: FakeBotApi, logs: Captured
) -> None:
    chat = Chat(fake_telegram, WEBHOOK_SECRET)
    chat.say(ANN, "/start")
    set_country(chat, ANN, "US")
    chat.say(ANN, contact={"phone_number": "+1 212 555 0100", "first_name": "Ann", "user_id": 101})
    chat.say(ANN, "/balance")
    chat.press(ANN, "Top up")
    chat.press(ANN, "EUR")
    chat.press(ANN, "25.00 EUR")
    chat.press(ANN, "Card in Telegram")
    invoice = chat.invoices(ANN)[-1]
    assert fake_telegram.calls_of("sendInvoice")[-1]["provider_token"] == PROVIDER_TOKENS["EUR"]
    chat.deliver(fake_telegram.pre_checkout(ANN.id, invoice["message_id"]))
    assert fake_telegram.calls_of("answerPreCheckoutQuery")[-1]["ok"] is True
    chat.deliver(fake_telegram.successful_payment(ANN.id, invoice["message_id"]))
    assert runtime().ledger.wallet(ANN.id, EUR).balance == 2_500

    logs.assert_clean(secrets_of(providers_env, fake_telegram, "sk_test_unused"))


def test_renewal_sweep_charges_the_saved_card(
    sweeper: Sweeper, fake_telegram: FakeBotApi, localstripe: LocalStripe, logs: Captured
) -> None:
    connect(wallet=0, card=CARDS[0], localstripe=localstripe)
    live_through(
        sweeper, datetime(2026, 8, 28, 12, tzinfo=UTC), datetime(2026, 8, 29, 12, tzinfo=UTC)
    )
    kinds = [e.kind.value for e in runtime().ledger.entries(101, EUR)]
    assert kinds == ["top_up", "charge", "top_up", "charge"]  # the card paid the renewal

    logs.assert_clean(secrets_of(runtime().settings, fake_telegram, localstripe.api_key))
