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

if TYPE_CHECKING:
    from billing.providers.cryptopay import CryptoPayClient
    from billing.providers.paypal import PayPalClient
    from billing.providers.stripe_gateway import StripeGateway

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
