"""The payment providers' clients, built on first use from the settings and SSM secrets.

Nothing here runs at import: a Telegram update that never touches a payment never reads a
provider secret, and `stripe` is imported only inside `StripeGateway`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from billing.config import Settings
from billing.errors import InvalidState
from billing.providers.errors import ProviderMisconfigured

if TYPE_CHECKING:
    from billing.providers.cryptopay import CryptoPayClient
    from billing.providers.paypal import PayPalClient
    from billing.providers.stars import TelegramStars
    from billing.providers.stripe_gateway import StripeGateway
    from billing.providers.yookassa import YooKassaClient
    from billing.telegram.client import BotApi

SecretReader = Callable[[str], str]


class Providers:
    def __init__(self, settings: Settings, read_secret: SecretReader) -> None:
        self._settings = settings
        self._secret = read_secret

    @cached_property
    def stripe(self) -> StripeGateway:
        from billing.providers.stripe_gateway import StripeGateway

        return StripeGateway(
            self._secret(self._settings.stripe_secret_key_param), self._settings.stripe_api_base
        )

    def stripe_webhook_secret(self) -> str:
        return self._secret(self._settings.stripe_webhook_secret_param)

    @cached_property
    def paypal(self) -> PayPalClient:
        from billing.providers.paypal import PayPalClient

        credentials = _json_object(self._secret(self._settings.paypal_credentials_param))
        return PayPalClient(
            self._settings.paypal_api_base,
            str(credentials.get("client_id", "")),
            str(credentials.get("client_secret", "")),
        )

    def paypal_webhook_id(self) -> str:
        """Configured directly, or kept with the credentials in SSM."""
        if self._settings.paypal_webhook_id:
            return self._settings.paypal_webhook_id
        credentials = _json_object(self._secret(self._settings.paypal_credentials_param))
        return str(credentials.get("webhook_id", ""))

    @cached_property
    def cryptopay(self) -> CryptoPayClient:
        from billing.providers.cryptopay import CryptoPayClient

        return CryptoPayClient(self._settings.cryptopay_api_base, self.cryptopay_token())

    def cryptopay_token(self) -> str:
        return self._secret(self._settings.cryptopay_token_param)

    @cached_property
    def yookassa(self) -> YooKassaClient:
        from billing.providers.yookassa import YooKassaClient

        credentials = self._yookassa_credentials()
        shop_id, secret_key = credentials.get("shop_id"), credentials.get("secret_key")
        if not (
            isinstance(shop_id, str) and shop_id and isinstance(secret_key, str) and secret_key
        ):
            # Not set up (a stack without the partner): every use fails at once, and
            # reconciliation reports it instead of waiting on a request bound to fail.
            raise ProviderMisconfigured(
                "yookassa",
                f"no shop_id and secret_key in {self._settings.yookassa_credentials_param}",
            )
        return YooKassaClient(self._settings.yookassa_api_base, shop_id, secret_key)

    def yookassa_webhook_secret(self) -> str:
        """The secret path segment of the notification URL ("" when not set up: then no
        notification is taken)."""
        return str(self._yookassa_credentials().get("webhook_secret", ""))

    def yookassa_networks(self) -> tuple[str, ...]:
        return self._settings.yookassa_networks

    def _yookassa_credentials(self) -> dict[str, object]:
        try:
            return _json_object(self._secret(self._settings.yookassa_credentials_param))
        except Exception as error:
            if type(error).__name__ != "ParameterNotFound":  # botocore's modeled error
                raise
            return {}

    @cached_property
    def stars(self) -> TelegramStars:
        from billing.providers.stars import TelegramStars

        return TelegramStars(self._bot_api)

    def _bot_api(self) -> BotApi:
        return self._telegram

    @cached_property
    def _telegram(self) -> BotApi:
        from billing.telegram.client import BotApi

        token = self._secret(self._settings.bot_token_param)
        return BotApi(self._settings.telegram_api_base, token)

    def telegram_provider_token(self, currency: str) -> str:
        """Stripe's token for EUR/USD, the partner provider's for RUB (SPEC §7)."""
        tokens = _json_object(self._secret(self._settings.payment_provider_tokens_param))
        token = tokens.get(currency)
        if not isinstance(token, str) or not token:
            raise InvalidState(
                f"card payments in Telegram are not set up for {currency}",
                reason="method_unavailable",
            )
        return token


def _json_object(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
