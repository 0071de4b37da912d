"""`make set-webhook`: setWebhook with the secret and the update kinds, and the commands in
English and Russian, read from SSM and checked by the api.json-enforcing fake."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import boto3
import pytest

from billing.config import Settings
from billing.telegram.client import BotApi
from local.fake_bot_api import FakeBotApi

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "set_webhook.py"
URL = "https://abc123.execute-api.eu-central-1.amazonaws.com/telegram"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("set_webhook", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def secrets_in_ssm(tables: Settings, fake_telegram: FakeBotApi) -> Settings:
    ssm = boto3.client("ssm", endpoint_url=tables.aws_endpoint_url)
    ssm.put_parameter(Name="/t/token", Value=fake_telegram.token, Type="SecureString")
    ssm.put_parameter(Name="/t/secret", Value="s3cr3t-value", Type="SecureString")
    return tables


def test_registers_webhook_and_commands(
    secrets_in_ssm: Settings, fake_telegram: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code = load_script().main(
        [
            "--endpoint-url",
            secrets_in_ssm.aws_endpoint_url or "",
            "--webhook-url",
            URL,
            "--token-param",
            "/t/token",
            "--secret-param",
            "/t/secret",
            "--telegram-api-base",
            fake_telegram.base_url,  # type: ignore[attr-defined]
        ]
    )
    assert code == 0
    set_webhook = fake_telegram.calls_of("setWebhook")[-1]
    assert set_webhook["url"] == URL and set_webhook["secret_token"] == "s3cr3t-value"
    assert set_webhook["allowed_updates"] == ["message", "callback_query", "pre_checkout_query"]
    # As many as template.yaml reserves for the webhook function.
    assert set_webhook["max_connections"] == 40
    commands = fake_telegram.calls_of("setMyCommands")
    assert [c.get("language_code") for c in commands] == [None, "ru"]
    assert {
        "command": "subscriptions",
        "description": "Подписки: подключить, изменить, продлить",
    } in (commands[1]["commands"])
    assert fake_telegram.violations == []
    out = capsys.readouterr().out
    assert "s3cr3t" not in out and fake_telegram.token not in out


def test_the_menu_names_privacy_and_paysupport_in_both_languages(
    fake_telegram: FakeBotApi,
) -> None:
    api = BotApi(fake_telegram.base_url, fake_telegram.token)  # type: ignore[attr-defined]
    try:
        load_script().register(api, URL, "s3cr3t-value")
    finally:
        api.close()
    assert fake_telegram.violations == []  # setMyCommands met api.json
    for language in (None, "ru"):
        (request,) = [
            c for c in fake_telegram.calls_of("setMyCommands") if c.get("language_code") == language
        ]
        names = [c["command"] for c in request["commands"]]
        assert {"privacy", "paysupport"} <= set(names), language
    assert {"command": "privacy", "description": "Какие данные хранятся и как их удалить"} in (
        fake_telegram.menu(1001, "ru")
    )
    assert fake_telegram.menu(1001, "de") == fake_telegram.menu(1001, "en")  # the default
    assert "paysupport" in [c["command"] for c in fake_telegram.menu(1001, "en")]
