"""The payment providers of the local stack: localstripe (a child process) behind a small
Stripe Checkout page, and the fake PayPal, Crypto Pay and YooKassa servers with their
payment pages. Each sends its webhooks to the local API's /payments/* routes, as the real
one would to the deployed API (YooKassa's unsigned, naming a source address inside its
published networks: local/fake_yookassa.py).

A peer is not started when its base URL is configured (STRIPE_API_BASE, PAYPAL_API_BASE,
CRYPTOPAY_API_BASE, YOOKASSA_API_BASE): the stack then talks to that server with the
configured secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DEFAULT_STRIPE_WEBHOOK_SECRET = "whsec_local_stack"  # noqa: S105 - a local placeholder
DEFAULT_CRYPTOPAY_TOKEN = "12345:local-cryptopay-token"  # noqa: S105 - a local placeholder
DEFAULT_PAYPAL_WEBHOOK_ID = "WH-LOCAL-STACK"
PAYPAL_CLIENT = ("local-paypal-client", "local-paypal-secret")
YOOKASSA_SHOP = ("506751", "test_local-yookassa-secret-key")
DEFAULT_YOOKASSA_PATH_SECRET = "local-yookassa-path-secret"  # noqa: S105 - a local placeholder
STRIPE_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]


@dataclass
class PaymentPeers:
    stripe_api_base: str
    stripe_secret_key: str
    stripe_webhook_secret: str
    paypal_api_base: str
    paypal_credentials: dict[str, str]
    cryptopay_api_base: str
    cryptopay_token: str
    yookassa_api_base: str
    yookassa_credentials: dict[str, str]
    _stops: list[Callable[[], None]] = field(default_factory=list)
    localstripe_base: str | None = None  # the child process, when the stack started one

    def environment(self) -> dict[str, str]:
        """What `billing.config` reads to reach the providers."""
        return {
            "STRIPE_API_BASE": self.stripe_api_base,
            "PAYPAL_API_BASE": self.paypal_api_base,
            "PAYPAL_WEBHOOK_ID": self.paypal_credentials["webhook_id"],
            "CRYPTOPAY_API_BASE": self.cryptopay_api_base,
            "YOOKASSA_API_BASE": self.yookassa_api_base,
        }

    def secrets(self) -> dict[str, str]:
        """Secret values by the settings field naming their SSM parameter."""
        return {
            "stripe_secret_key_param": self.stripe_secret_key,
            "stripe_webhook_secret_param": self.stripe_webhook_secret,
            "paypal_credentials_param": json.dumps(self.paypal_credentials),
            "cryptopay_token_param": self.cryptopay_token,
            "yookassa_credentials_param": json.dumps(self.yookassa_credentials),
        }

    def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            stop()


def start_payment_peers(environ: Mapping[str, str], api_base: str) -> PaymentPeers:
    """Starts what is not configured; `api_base` is the local API ("http://127.0.0.1:8080")."""
    api_base = api_base.rstrip("/")
    stops: list[Callable[[], None]] = []
    children: list[str] = []
    try:
        stripe = _stripe(environ, api_base, stops, children)
        paypal = _paypal(environ, api_base, stops)
        crypto = _cryptopay(environ, api_base, stops)
        yookassa = _yookassa(environ, api_base, stops)
    except BaseException:
        for stop in reversed(stops):
            stop()
        raise
    return PaymentPeers(
        *stripe,
        *paypal,
        *crypto,
        *yookassa,
        _stops=stops,
        localstripe_base=next(iter(children), None),
    )


def _stripe(
    environ: Mapping[str, str],
    api_base: str,
    stops: list[Callable[[], None]],
    children: list[str],
) -> tuple[str, str, str]:
    secret = environ.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_STRIPE_WEBHOOK_SECRET
    if environ.get("STRIPE_API_BASE"):
        key = environ.get("STRIPE_SECRET_KEY") or "sk_test_configured_elsewhere"
        return environ["STRIPE_API_BASE"], key, secret
    from local.localstripe_peer import LocalStripe
    from local.stripe_checkout import StripeCheckout

    localstripe = LocalStripe()
    children.append(localstripe.start())
    stops.append(localstripe.stop)
    webhook = f"{api_base}/payments/stripe"
    localstripe.register_webhook(webhook, secret, events=STRIPE_EVENTS)
    checkout = StripeCheckout(localstripe.base_url, webhook_url=webhook, webhook_secret=secret)
    base = checkout.serve()
    stops.append(checkout.stop)
    return base, localstripe.api_key, secret


def _paypal(
    environ: Mapping[str, str], api_base: str, stops: list[Callable[[], None]]
) -> tuple[str, dict[str, str]]:
    webhook_id = environ.get("PAYPAL_WEBHOOK_ID") or DEFAULT_PAYPAL_WEBHOOK_ID
    client_id = environ.get("PAYPAL_CLIENT_ID") or PAYPAL_CLIENT[0]
    client_secret = environ.get("PAYPAL_CLIENT_SECRET") or PAYPAL_CLIENT[1]
    credentials = {
        "client_id": client_id,
        "client_secret": client_secret,
        "webhook_id": webhook_id,
    }
    if environ.get("PAYPAL_API_BASE"):
        return environ["PAYPAL_API_BASE"], credentials
    from local.fake_paypal import FakePayPal

    fake = FakePayPal(
        f"{api_base}/payments/paypal",
        webhook_id,
        client_id,
        client_secret,
        background_webhooks=True,  # the handler calls PayPal back while a webhook is open
    )
    base = fake.serve()
    stops.append(fake.stop)
    return base, credentials


def _cryptopay(
    environ: Mapping[str, str], api_base: str, stops: list[Callable[[], None]]
) -> tuple[str, str]:
    token = environ.get("CRYPTOPAY_TOKEN") or DEFAULT_CRYPTOPAY_TOKEN
    if environ.get("CRYPTOPAY_API_BASE"):
        return environ["CRYPTOPAY_API_BASE"], token
    from local.fake_cryptopay import FakeCryptoPay

    fake = FakeCryptoPay(token, f"{api_base}/payments/cryptopay", background_webhooks=True)
    base = fake.serve()
    stops.append(fake.stop)
    return base, token


def _yookassa(
    environ: Mapping[str, str], api_base: str, stops: list[Callable[[], None]]
) -> tuple[str, dict[str, str]]:
    credentials = {
        "shop_id": environ.get("YOOKASSA_SHOP_ID") or YOOKASSA_SHOP[0],
        "secret_key": environ.get("YOOKASSA_SECRET_KEY") or YOOKASSA_SHOP[1],
        "webhook_secret": environ.get("YOOKASSA_WEBHOOK_SECRET") or DEFAULT_YOOKASSA_PATH_SECRET,
    }
    if environ.get("YOOKASSA_API_BASE"):
        return environ["YOOKASSA_API_BASE"], credentials
    from local.fake_yookassa import FakeYooKassa

    fake = FakeYooKassa(
        credentials["shop_id"],
        credentials["secret_key"],
        f"{api_base}/payments/yookassa/{credentials['webhook_secret']}",
        background_webhooks=True,  # the handler reads the payment back while it is posted
    )
    base = fake.serve()
    stops.append(fake.stop)
    return base, credentials
