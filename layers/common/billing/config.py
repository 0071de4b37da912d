"""Settings: one validated model, read once from the environment.

This is the only module that reads `os.environ`. Lambda gets these variables from
`template.yaml`; the local stack and tests set them (or build `Settings` directly).
Secrets are never environment values: only the names of their SSM parameters are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

_Int = Annotated[int, Field(ge=1)]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    region: str = Field("eu-central-1", alias="AWS_REGION")
    # Set for the local stack and tests (moto server); unset in AWS.
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")

    accounts_table: str = Field("Accounts", alias="ACCOUNTS_TABLE")
    subscriptions_table: str = Field("Subscriptions", alias="SUBSCRIPTIONS_TABLE")
    balances_table: str = Field("Balances", alias="BALANCES_TABLE")
    orders_table: str = Field("Orders", alias="ORDERS_TABLE")
    idempotency_table: str = Field("Idempotency", alias="IDEMPOTENCY_TABLE")
    renewal_queue_url: str | None = Field(None, alias="RENEWAL_QUEUE_URL")
    # Partitions of the sparse "due" index: writes spread, the sweep queries each one.
    due_shards: _Int = Field(8, alias="DUE_SHARDS")

    catalog_path: Path | None = Field(None, alias="CATALOG_PATH")

    telegram_api_base: str = Field("https://api.telegram.org", alias="TELEGRAM_API_BASE")
    bot_token_param: str = Field("/sip-billing/telegram/bot-token", alias="BOT_TOKEN_PARAM")
    webhook_secret_param: str = Field(
        "/sip-billing/telegram/webhook-secret", alias="WEBHOOK_SECRET_PARAM"
    )
    stripe_api_base: str = Field("https://api.stripe.com", alias="STRIPE_API_BASE")
    stripe_secret_key_param: str = Field("/sip-billing/stripe/secret-key", alias="STRIPE_KEY_PARAM")
    stripe_webhook_secret_param: str = Field(
        "/sip-billing/stripe/webhook-secret", alias="STRIPE_WEBHOOK_SECRET_PARAM"
    )
    paypal_api_base: str = Field("https://api-m.paypal.com", alias="PAYPAL_API_BASE")
    paypal_credentials_param: str = Field(
        "/sip-billing/paypal/credentials", alias="PAYPAL_CREDENTIALS_PARAM"
    )
    cryptopay_api_base: str = Field("https://pay.crypt.bot", alias="CRYPTOPAY_API_BASE")
    cryptopay_token_param: str = Field(
        "/sip-billing/cryptopay/token", alias="CRYPTOPAY_TOKEN_PARAM"
    )

    admin_ids: frozenset[int] = Field(frozenset(), alias="ADMIN_IDS")

    seller_name: str = Field("SIP.TG UAB", alias="SELLER_NAME")
    seller_address: str = Field("Vilnius, Lithuania", alias="SELLER_ADDRESS")
    seller_vat_number: str = Field("LT100018548216", alias="SELLER_VAT_NUMBER")
    # The seller became a VAT payer on this date: invoices before it carry no VAT number.
    seller_vat_number_from: date = Field(date(2025, 7, 9), alias="SELLER_VAT_NUMBER_FROM")

    # Bank details printed on bank-transfer payment orders (SPEC §7).
    seller_bank_beneficiary: str = Field("SIP.TG UAB", alias="SELLER_BANK_BENEFICIARY")
    seller_iban: str = Field("LT12 1000 0111 0100 1000", alias="SELLER_IBAN")
    seller_bic: str = Field("CBVILT2X", alias="SELLER_BIC")
    seller_bank_name: str = Field("AB SEB bankas, Vilnius", alias="SELLER_BANK_NAME")

    # Telegram card payments (SPEC §7): the SSM parameter holding a JSON object
    # {"EUR": "<Stripe provider token>", "USD": ..., "RUB": "<partner provider token>"}.
    payment_provider_tokens_param: str = Field(
        "/sip-billing/telegram/provider-tokens", alias="PAYMENT_PROVIDER_TOKENS_PARAM"
    )
    paypal_webhook_id: str = Field("", alias="PAYPAL_WEBHOOK_ID")
    # Where the browser goes back after paying on a provider's page (the bot's chat).
    payment_return_url: str = Field("https://t.me/", alias="PAYMENT_RETURN_URL")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("aws_endpoint_url", "catalog_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        return cls.model_validate(dict(source))


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once (a Lambda container reuses them)."""
    return Settings.from_env()
