"""A typed top-up amount: anything that is not a plain amount gets the polite answer."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from billing.config import Settings
from billing.runtime import runtime
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser

ANN = TgUser(101, "Ann")
BAD = "That is not an amount from"


@pytest.fixture
def chat(providers_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def orders_count(settings: Settings) -> int:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    return int(client.scan(TableName=settings.orders_table, Select="COUNT")["Count"])


@pytest.mark.parametrize("typed", ["Infinity", "1e999999", "-inf", "NaN", "-5", "12.345"])
def test_a_typed_amount_that_is_no_amount_is_answered_and_writes_nothing(
    chat: Chat, providers_env: Settings, typed: str
) -> None:
    chat.say(ANN, "/start")
    chat.say(ANN, "/balance")
    chat.press(ANN, "Top up")
    chat.press(ANN, "EUR")
    chat.press(ANN, "Other amount")

    response = chat.say(ANN, typed)

    assert response["statusCode"] == 200
    assert chat.screen(ANN).startswith(BAD)
    assert runtime().ledger.wallets(ANN.id) == []
    assert orders_count(providers_env) == 0
    # The question stays open: a real amount now goes on to the methods.
    chat.say(ANN, "25")
    assert "How would you like to pay?" in chat.screen(ANN)
