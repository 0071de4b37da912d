"""The command menu Telegram shows, per language: the one list that `setMyCommands`
registers (scripts/set_webhook.py, the local stack at start) and that /help shows."""

from __future__ import annotations

from typing import Any, Protocol

from billing.i18n import DEFAULT_LANGUAGE, LANGUAGES, message

# The menu's commands in the order Telegram shows them; each description is the catalog's
# `cmd_<name>` message in the menu's language.
COMMANDS = (
    "subscriptions",
    "balance",
    "billing",
    "paysystem",
    "tariff",
    "language",
    "privacy",
    "paysupport",
    "help",
)
# DEFAULT_LANGUAGE is registered without language_code: every other language sees it.

# The update kinds the bot acts on; Telegram sends nothing else to the webhook.
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]


class _Api(Protocol):
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...


def menu_requests() -> list[dict[str, Any]]:
    """The setMyCommands parameters: the default (English) menu, then each other language."""
    requests = []
    for language in LANGUAGES:
        params: dict[str, Any] = {
            "commands": [
                {"command": name, "description": message(language, f"cmd_{name}")}
                for name in COMMANDS
            ]
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
    return "\n".join(
        f"/{name} — {message(lang, f'cmd_{name}')}" for name in COMMANDS if name != "help"
    )
