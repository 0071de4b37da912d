"""Settings: one validated model, read once from the environment.

This is the only module that reads `os.environ`. Lambda gets these variables from
`template.yaml`; the local stack and tests set them (or build `Settings` directly).
Secrets are never environment values: only the names of their SSM parameters are.

`Settings` is a frozen msgspec Struct (not pydantic: cheaper on a cold start). Code builds
it by keyword and attribute name, unchecked (`Settings(region=..., due_shards=4)`);
`Settings.from_env` converts and validates the environment variables, which the fields
name (`AWS_REGION`, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import field

_Positive = Annotated[int, msgspec.Meta(ge=1)]


class SettingsError(ValueError):
    """An environment variable has a value its setting cannot take."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    region: str = field(default="eu-central-1", name="AWS_REGION")
    # Set for the local stack and tests (moto server); unset in AWS.
    aws_endpoint_url: str | None = field(default=None, name="AWS_ENDPOINT_URL")

    accounts_table: str = field(default="Accounts", name="ACCOUNTS_TABLE")
    subscriptions_table: str = field(default="Subscriptions", name="SUBSCRIPTIONS_TABLE")
    balances_table: str = field(default="Balances", name="BALANCES_TABLE")
    orders_table: str = field(default="Orders", name="ORDERS_TABLE")
    idempotency_table: str = field(default="Idempotency", name="IDEMPOTENCY_TABLE")
    entitlements_table: str = field(default="Entitlements", name="ENTITLEMENTS_TABLE")
    # The EventBridge bus the `entitlements.changed` events go to (the stream function's).
    entitlements_bus: str = field(default="", name="ENTITLEMENTS_BUS_NAME")
    renewal_queue_url: str | None = field(default=None, name="RENEWAL_QUEUE_URL")
    # Partitions of the sparse "due" index: writes spread, the sweep queries each one.
    due_shards: _Positive = field(default=8, name="DUE_SHARDS")

    catalog_path: Path | None = field(default=None, name="CATALOG_PATH")

    telegram_api_base: str = field(default="https://api.telegram.org", name="TELEGRAM_API_BASE")
    bot_token_param: str = field(default="/sip-billing/telegram/bot-token", name="BOT_TOKEN_PARAM")
    webhook_secret_param: str = field(
        default="/sip-billing/telegram/webhook-secret", name="WEBHOOK_SECRET_PARAM"
    )
    stripe_api_base: str = field(default="https://api.stripe.com", name="STRIPE_API_BASE")
    stripe_secret_key_param: str = field(
        default="/sip-billing/stripe/secret-key", name="STRIPE_KEY_PARAM"
    )
    stripe_webhook_secret_param: str = field(
        default="/sip-billing/stripe/webhook-secret", name="STRIPE_WEBHOOK_SECRET_PARAM"
    )
    paypal_api_base: str = field(default="https://api-m.paypal.com", name="PAYPAL_API_BASE")
    paypal_credentials_param: str = field(
        default="/sip-billing/paypal/credentials", name="PAYPAL_CREDENTIALS_PARAM"
    )
    cryptopay_api_base: str = field(default="https://pay.crypt.bot", name="CRYPTOPAY_API_BASE")
    cryptopay_token_param: str = field(
        default="/sip-billing/cryptopay/token", name="CRYPTOPAY_TOKEN_PARAM"
    )

    # Card for Russia (SPEC §7): YooKassa API v3. The SSM parameter holds a JSON object
    # {"shop_id": "...", "secret_key": "...", "webhook_secret": "<the notification path's
    # secret segment>"}.
    yookassa_api_base: str = field(default="https://api.yookassa.ru", name="YOOKASSA_API_BASE")
    yookassa_credentials_param: str = field(
        default="/sip-billing/yookassa/credentials", name="YOOKASSA_CREDENTIALS_PARAM"
    )
    # Where YooKassa sends notifications from (its published list, yookassa.ru/developers/
    # using-api/webhooks): the source address API Gateway saw, never a header.
    yookassa_networks: tuple[str, ...] = field(
        default=(
            "185.71.76.0/27",
            "185.71.77.0/27",
            "77.75.153.0/25",
            "77.75.156.11/32",
            "77.75.156.35/32",
            "77.75.154.128/25",
            "2a02:5180::/32",
        ),
        name="YOOKASSA_NETWORKS",
    )
    # The 54-FZ receipt's vat_code for our service: 1 is "without VAT" (the seller is a
    # foreign company); set it to what the partner's tax adviser says.
    yookassa_vat_code: Annotated[int, msgspec.Meta(ge=1, le=12)] = field(
        default=1, name="YOOKASSA_VAT_CODE"
    )
    # Telegram Stars per major unit of each currency (SPEC §7), "EUR=84,USD=77,RUB=0.85":
    # what a Star brings the bot (about 0.013 USD, 2026), so an order's total converts to
    # the Stars that pay it; rounded up to a whole Star. Verify before production.
    stars_rates: tuple[tuple[str, Decimal], ...] = field(
        default=(("EUR", Decimal("84")), ("USD", Decimal("77")), ("RUB", Decimal("0.85"))),
        name="STARS_RATES",
    )

    # The most Stars one invoice may ask: the XTR max_amount of Telegram's currencies.json
    # (core.telegram.org/bots/payments/currencies.json); larger payments are not offered Stars.
    stars_max_per_invoice: _Positive = field(default=10_000, name="STARS_MAX_PER_INVOICE")

    # ADMIN_IDS="1, 2": comma-separated Telegram user ids.
    admin_ids: frozenset[int] = field(default=frozenset(), name="ADMIN_IDS")

    seller_name: str = field(default="SIP.TG UAB", name="SELLER_NAME")
    seller_address: str = field(default="Vilnius, Lithuania", name="SELLER_ADDRESS")
    seller_vat_number: str = field(default="LT100018548216", name="SELLER_VAT_NUMBER")
    # The seller became a VAT payer on this date: invoices before it carry no VAT number.
    seller_vat_number_from: date = field(default=date(2025, 7, 9), name="SELLER_VAT_NUMBER_FROM")

    # Bank details printed on bank-transfer payment orders (SPEC §7).
    seller_bank_beneficiary: str = field(default="SIP.TG UAB", name="SELLER_BANK_BENEFICIARY")
    seller_iban: str = field(default="LT12 1000 0111 0100 1000", name="SELLER_IBAN")
    seller_bic: str = field(default="CBVILT2X", name="SELLER_BIC")
    seller_bank_name: str = field(default="AB SEB bankas, Vilnius", name="SELLER_BANK_NAME")

    # Telegram card payments (SPEC §7): the SSM parameter holding a JSON object
    # {"EUR": "<Stripe provider token>", "USD": ..., "RUB": "<partner provider token>"}.
    payment_provider_tokens_param: str = field(
        default="/sip-billing/telegram/provider-tokens", name="PAYMENT_PROVIDER_TOKENS_PARAM"
    )
    paypal_webhook_id: str = field(default="", name="PAYPAL_WEBHOOK_ID")
    # Where the browser goes back after paying on a provider's page (the bot's chat).
    payment_return_url: str = field(default="https://t.me/", name="PAYMENT_RETURN_URL")

    def stars_rate(self, currency: str) -> Decimal:
        """Stars per major unit of `currency` (every supported currency has one)."""
        return dict(self.stars_rates)[currency]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from environment variables (os.environ by default): those of the
        fields, converted ("8" -> 8); the others are ignored. SettingsError names a bad one."""
        source = os.environ if environ is None else environ
        values: dict[str, object] = {name: source[name] for name in _VARIABLES if name in source}
        for name in ("AWS_ENDPOINT_URL", "CATALOG_PATH"):
            if values.get(name) == "":
                values[name] = None
        if isinstance(path := values.get("CATALOG_PATH"), str):
            values["CATALOG_PATH"] = Path(path)  # msgspec has no Path type of its own
        if isinstance(ids := values.get("ADMIN_IDS"), str):
            values["ADMIN_IDS"] = _split_ids(ids)
        if isinstance(networks := values.get("YOOKASSA_NETWORKS"), str):
            values["YOOKASSA_NETWORKS"] = _networks(networks)
        if isinstance(rates := values.get("STARS_RATES"), str):
            values["STARS_RATES"] = _rates(rates)
        try:
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as error:
            raise _invalid(error, source) from None


_VARIABLES = tuple(info.encode_name for info in msgspec.structs.fields(Settings))


def _split_ids(text: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise SettingsError(
            f"environment variable ADMIN_IDS={text!r}: expected comma-separated integers"
        ) from None


def _networks(text: str) -> tuple[str, ...]:
    import ipaddress

    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        return tuple(str(ipaddress.ip_network(part, strict=False)) for part in parts)
    except ValueError:
        raise SettingsError(
            f"environment variable YOOKASSA_NETWORKS={text!r}: expected comma-separated"
            " addresses or networks (185.71.76.0/27)"
        ) from None


def _rates(text: str) -> tuple[tuple[str, Decimal], ...]:
    """ "EUR=84,USD=77,RUB=0.85" -> Stars per major unit; each currency once, each rate > 0."""
    rates: dict[str, Decimal] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        code, _, value = part.partition("=")
        try:
            rate = Decimal(value.strip())
        except ArithmeticError:
            rate = Decimal(0)
        code = code.strip().upper()
        if code not in ("EUR", "USD", "RUB") or code in rates or not rate.is_finite() or rate <= 0:
            raise SettingsError(
                f"environment variable STARS_RATES={text!r}: expected CURRENCY=Stars per unit"
                " for EUR, USD and RUB, each once and above 0 (EUR=84,USD=77,RUB=0.85)"
            )
        rates[code] = rate
    if set(rates) != {"EUR", "USD", "RUB"}:
        raise SettingsError(f"environment variable STARS_RATES={text!r}: needs EUR, USD and RUB")
    return tuple(rates.items())


def _invalid(error: msgspec.ValidationError, source: Mapping[str, str]) -> SettingsError:
    # msgspec says "Expected `int` >= 1 - at `$.DUE_SHARDS`": the variable is the path.
    message, _, path = str(error).rpartition(" - at `$.")
    name = path.rstrip("`")
    if not message or name not in source:
        return SettingsError(f"invalid settings: {error}")
    # Every variable is a string: "got `str`" says nothing.
    expected = message.replace(", got `str`", "")
    expected = expected[:1].lower() + expected[1:]
    return SettingsError(f"environment variable {name}={source[name]!r}: {expected}")


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once (a Lambda container reuses them)."""
    return Settings.from_env()
