"""The invoices the bot sends (issue: "PDFs", "English-only PDFs"), read back from the
documents the fake Bot API received: in the Payer's language, any script's name printed and
kept out of the logs, and a reverse-charge invoice with its "VAT 0%" line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from billing.config import Settings
from local.fake_bot_api import FakeBotApi
from tests.integration.chat import WEBHOOK_SECRET, Chat, TgUser
from tests.integration.test_bot_flows import (
    connect_gateway_for_self,
    pay_gateway_in_russian,
    set_country,
    top_up,
)
from tests.integration.test_bot_payments import pdf_text

ANN = TgUser(101, "Ann")
IVAN = TgUser(303, "Иван", "ru")


@pytest.fixture
def chat(lambda_env: Settings, fake_telegram: FakeBotApi) -> Iterator[Chat]:
    yield Chat(fake_telegram, WEBHOOK_SECRET)
    assert fake_telegram.violations == []


def set_field(chat: Chat, user: TgUser, button: str, value: str) -> None:
    chat.say(user, "/billing")
    chat.press(user, button)
    chat.say(user, value)


def test_a_russian_payer_with_a_japanese_name_gets_a_russian_invoice_with_the_name(
    chat: Chat, fake_telegram: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    chat.say(IVAN, "/start")
    set_country(chat, IVAN, "Литва")
    set_field(chat, IVAN, "Имя", "山田太郎")
    top_up(IVAN, 100_000)
    caplog.set_level(logging.DEBUG)

    pay_gateway_in_russian(chat, IVAN)

    invoice = pdf_text(fake_telegram, chat.documents(IVAN)[-1])
    assert "山田太郎" in invoice
    assert "Счёт № INV-" in invoice and "Покупатель" in invoice and "Итого:" in invoice
    assert "Invoice" not in invoice and "Buyer" not in invoice
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not any(char in logged for char in "山田太郎")


def test_a_reverse_charge_invoice_has_its_vat_0_line_and_the_reason(
    chat: Chat, fake_telegram: FakeBotApi
) -> None:
    chat.say(ANN, "/start")
    set_country(chat, ANN, "FR")
    set_field(chat, ANN, "VAT id", "FR40303265045")
    set_field(chat, ANN, "Name", "Ann Example SARL")
    top_up(ANN, 100_000)

    connect_gateway_for_self(chat, ANN)

    invoice = pdf_text(fake_telegram, chat.documents(ANN)[-1])
    assert "VAT 0%: 0.00 EUR" in invoice
    assert "Reverse charge" in invoice
