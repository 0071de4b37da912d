"""The three Lambda handlers, called with real API Gateway / EventBridge / SQS event shapes
(as `sam local generate-event` prints them) against moto server."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.money import Currency
from billing.domain.tax import TaxProfile
from billing.runtime import runtime
from functions.payment_webhook import app as payment_app
from functions.renewal_cron import app as cron_app
from functions.telegram_webhook import app as telegram_app
from tests.integration.chat import WEBHOOK_SECRET as SECRET
from tests.integration.conftest import Sweeper
from tests.integration.http_events import call, http_event, load_event

_update_ids = iter(range(10_000, 1_000_000))


def start_update(user_id: int, text: str = "/start", language: str = "en") -> bytes:
    return json.dumps(
        {
            "update_id": next(_update_ids),
            "message": {
                "message_id": 1,
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": "Ann",
                    "language_code": language,
                },
                "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
                "date": 1_772_366_400,
                "text": text,
                "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
            },
        }
    ).encode()


def accounts_count(settings: Settings) -> int:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    return int(client.scan(TableName=settings.accounts_table, Select="COUNT")["Count"])


def test_start_creates_the_account_and_replies_in_the_response_body(lambda_env: Settings) -> None:
    event = http_event(
        "/telegram",
        start_update(42, "/start ref-campaign"),
        {"x-telegram-bot-api-secret-token": SECRET},
    )
    response = call(telegram_app.lambda_handler, event)
    assert response["statusCode"] == 200
    reply = json.loads(response["body"])
    assert reply["method"] == "sendMessage" and reply["chat_id"] == 42
    assert "Free" in reply["text"]
    account = runtime().accounts.get(42)
    assert account is not None and account.start_parameter == "ref-campaign"
    # A second /start keeps the first deep-link parameter and creates nothing new.
    call(
        telegram_app.lambda_handler,
        http_event(
            "/telegram",
            start_update(42, "/start other"),
            {"x-telegram-bot-api-secret-token": SECRET},
        ),
    )
    assert runtime().accounts.get(42) == account
    assert accounts_count(lambda_env) == 1


def test_russian_users_are_answered_in_russian(lambda_env: Settings) -> None:
    event = http_event(
        "/telegram", start_update(43, language="ru"), {"x-telegram-bot-api-secret-token": SECRET}
    )
    reply = json.loads(call(telegram_app.lambda_handler, event)["body"])
    assert reply["text"].startswith("Добро пожаловать")


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_a_wrong_secret_is_401_and_nothing_is_written(
    lambda_env: Settings, secret: str | None
) -> None:
    headers = {} if secret is None else {"x-telegram-bot-api-secret-token": secret}
    response = call(telegram_app.lambda_handler, http_event("/telegram", start_update(7), headers))
    assert response["statusCode"] == 401
    assert accounts_count(lambda_env) == 0


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"{}", b'{"message": {"text": 5}}'])
def test_an_update_we_cannot_act_on_is_answered_200(lambda_env: Settings, body: bytes) -> None:
    event = http_event("/telegram", body, {"x-telegram-bot-api-secret-token": SECRET})
    response = call(telegram_app.lambda_handler, event)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {}
    assert accounts_count(lambda_env) == 0


@pytest.mark.parametrize("provider", ["stripe", "paypal", "cryptopay"])
def test_unsigned_payment_webhooks_are_401_and_write_nothing(
    lambda_env: Settings, provider: str
) -> None:
    ssm = boto3.client("ssm", endpoint_url=lambda_env.aws_endpoint_url)
    for name in (lambda_env.stripe_webhook_secret_param, lambda_env.cryptopay_token_param):
        ssm.put_parameter(Name=name, Value="configured", Type="SecureString", Overwrite=True)
    ssm.put_parameter(
        Name=lambda_env.paypal_credentials_param,
        Value='{"client_id": "a", "client_secret": "b", "webhook_id": "WH"}',
        Type="SecureString",
        Overwrite=True,
    )
    response = call(payment_app.lambda_handler, http_event(f"/payments/{provider}", b"{}"))
    assert response["statusCode"] == 401
    assert accounts_count(lambda_env) == 0


def test_unknown_payment_route_is_404(lambda_env: Settings) -> None:
    response = call(payment_app.lambda_handler, http_event("/payments/bitcoin-atm", b"{}"))
    assert response["statusCode"] == 404


def test_sweep_finds_only_due_subscriptions(sweeper: Sweeper, clock: ManualClock) -> None:
    rt = runtime()
    rt.ledger.top_up(1, Currency.EUR, 10_000_000, cause="t", reason="top-up")
    for customer in range(5):
        rt.subscriptions.connect(
            request_id=f"r{customer}",
            payer_id=1,
            customer_id=100 + customer,
            product="gateway",
            options={"lines": 1},
            months=6 if customer < 2 else 12,
            currency=Currency.EUR,
            tax=TaxProfile.create("US"),
            has_saved_card=False,
        )
    result = call(cron_app.lambda_handler, load_event("scheduled-event.json"))
    assert result == {"due": 0}
    # 6 months minus 7 days later the two 6-month subscriptions are due for a reminder.
    clock.advance(timedelta(days=184 - 7))
    assert call(cron_app.lambda_handler, load_event("scheduled-event.json")) == {"due": 2}


def test_a_queue_message_that_is_not_ours_is_dropped_not_retried(sweeper: Sweeper) -> None:
    # The sample SQS event (`sam local generate-event sqs receive-message`) carries
    # "Test message.": it can never succeed, so it is acknowledged and logged.
    event = load_event("sqs-receive-message.json")
    assert call(cron_app.lambda_handler, event) == {"batchItemFailures": []}


def test_a_failing_message_is_reported_for_retry(
    sweeper: Sweeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def throttled(self: object, subscription_id: str) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "GetItem")

    monkeypatch.setattr("billing.subscriptions.sweep.RenewalWorker.process", throttled)
    event = load_event("sqs-receive-message.json")
    for record in event["Records"]:
        record["body"] = json.dumps({"subscription_id": "abc"})
    result = call(cron_app.lambda_handler, event)
    assert result == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
    }
