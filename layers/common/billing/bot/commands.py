"""The command menu Telegram shows, per language: the one list that `setMyCommands`
registers (scripts/set_webhook.py, the local stack at start) and that /help shows."""

from __future__ import annotations

from typing import Any, Protocol

COMMANDS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("subscriptions", "Your subscriptions: connect, change, renew"),
        ("balance", "Balance, top-up and recent operations"),
        ("billing", "Billing details and payment method"),
        ("paysystem", "Payment method (same as /billing)"),
        ("tariff", "Subscriptions (old name)"),
        ("language", "English / Русский"),
        ("privacy", "What data is stored and how to have it deleted"),
        ("paysupport", "Help with a payment"),
        ("help", "All commands"),
    ],
    "ru": [
        ("subscriptions", "Подписки: подключить, изменить, продлить"),
        ("balance", "Баланс, пополнение и последние операции"),
        ("billing", "Платёжные данные и способ оплаты"),
        ("paysystem", "Способ оплаты (то же, что /billing)"),
        ("tariff", "Подписки (старое название)"),
        ("language", "English / Русский"),
        ("privacy", "Какие данные хранятся и как их удалить"),
        ("paysupport", "Помощь с оплатой"),
        ("help", "Все команды"),
    ],
}
DEFAULT_LANGUAGE = "en"  # registered without language_code: every other language sees it

# The update kinds the bot acts on; Telegram sends nothing else to the webhook.
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]


class _Api(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


def menu_requests() -> list[dict[str, Any]]:
    """The setMyCommands parameters: the default (English) menu, then each other language."""
    requests = []
    for language, commands in COMMANDS.items():
        params: dict[str, Any] = {
            "commands": [{"command": name, "description": text} for name, text in commands]
        }
        if language != DEFAULT_LANGUAGE:
            params["language_code"] = language
        requests.append(params)
    return requests


def register_menu(api: _Api) -> None:
    """Registers the menu in every language with a Bot API client (billing.telegram.BotApi)."""
    for params in menu_requests():
        api.call("setMyCommands", params)


def help_lines(lang: str) -> str:
    """The menu as /help lists it: "/name — description", one a line (not /help itself)."""
    commands = COMMANDS.get(lang) or COMMANDS[DEFAULT_LANGUAGE]
    return "\n".join(f"/{name} — {text}" for name, text in commands if name != "help")
