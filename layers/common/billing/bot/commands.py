"""The command menu Telegram shows, per language (registered with setMyCommands)."""

from __future__ import annotations

COMMANDS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("subscriptions", "Your subscriptions: connect, change, renew"),
        ("balance", "Balance, top-up and recent operations"),
        ("billing", "Billing details and payment method"),
        ("paysystem", "Payment method (same as /billing)"),
        ("tariff", "Subscriptions (old name)"),
        ("language", "English / Русский"),
        ("help", "All commands"),
    ],
    "ru": [
        ("subscriptions", "Подписки: подключить, изменить, продлить"),
        ("balance", "Баланс, пополнение и последние операции"),
        ("billing", "Платёжные данные и способ оплаты"),
        ("paysystem", "Способ оплаты (то же, что /billing)"),
        ("tariff", "Подписки (старое название)"),
        ("language", "English / Русский"),
        ("help", "Все команды"),
    ],
}

# The update kinds the bot acts on; Telegram sends nothing else to the webhook.
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
