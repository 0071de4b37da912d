"""Crypto Pay (@CryptoBot) API client over httpx, webhook signature check and parsing.

Invoices are priced in fiat (currency_type "fiat": EUR, USD or RUB); the payer chooses one
of the accepted crypto assets. Our order id travels as the invoice `payload` and comes back
in the `invoice_paid` webhook, whose body is signed: header crypto-pay-api-signature is the
hex HMAC-SHA256 of the raw body with the SHA-256 digest of the API token as the key.

Every request carries the token in the Crypto-Pay-API-Token header; answers are
{"ok": true, "result": ...} or {"ok": false, "error": {"code": 400, "name": "..."}}.
Failures: `ProviderUnavailable` (network, timeout, 5xx, 429, malformed answers, or no time
left in the invocation: each request's timeout is cut to it, billing.deadline) and
`ProviderRejected` (the error's code and name). Crypto Pay has no idempotency key for
createInvoice: a retry after a timeout may leave a second unpaid invoice, which expires on
its own; a payment of either one names the same order (payload), and the webhook handler
must treat a second payment of one order as money to credit or refund, not to lose.
The token never appears in an exception, repr or log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from billing import deadline
from billing.domain.money import Currency, decimal_text, require_positive, to_minor
from billing.errors import BillingError
from billing.providers.errors import ProviderRejected, ProviderUnavailable

PROVIDER = "cryptopay"
SIGNATURE_HEADER = "crypto-pay-api-signature"
DEFAULT_ASSETS = ("BTC", "ETH", "USDT", "TON")
DESCRIPTION_MAX = 1024
MAX_EXPIRES_IN = 2_678_400  # 31 days, Crypto Pay's limit
MAX_INVOICES_PAGE = 1000  # getInvoices' count limit


class CryptoPayWebhookError(ValueError):
    """A webhook body that is not a Crypto Pay update of the shape billing expects."""


class UnsupportedUpdate(CryptoPayWebhookError):
    """A well-formed update of a type billing does not act on (acknowledge and ignore it)."""

    def __init__(self, update_id: int, update_type: str) -> None:
        super().__init__(f"Crypto Pay update {update_id} has unsupported type {update_type}")
        self.update_id = update_id
        self.update_type = update_type


@dataclass(frozen=True)
class CryptoInvoice:
    """A created invoice: where to send the payer."""

    invoice_id: int
    pay_url: str
    hash: str | None = None
    status: str = "active"


@dataclass(frozen=True)
class CryptoPayInvoice:
    """An invoice as Crypto Pay shows it (getInvoices); amount in fiat minor units."""

    invoice_id: int
    status: str  # active, paid, expired
    order_id: str | None  # the payload we set
    amount: int
    currency: str
    pay_url: str | None
    paid_at: str | None
    paid_asset: str | None = None
    paid_amount: str | None = None


@dataclass(frozen=True)
class CryptoPayUpdate:
    """An `invoice_paid` webhook update; amount in fiat minor units."""

    update_id: int
    update_type: str
    invoice_id: int
    order_id: str
    status: str
    amount: int
    currency: str
    paid_at: str | None
    paid_asset: str | None = None
    paid_amount: str | None = None
    request_date: str | None = None


def verify_signature(body: bytes, signature: str | None, token: str) -> bool:
    """True if `signature` (the crypto-pay-api-signature header) signs the raw `body`."""
    if not signature or not token:
        return False
    secret = hashlib.sha256(token.encode()).digest()
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def _fiat_amount(invoice: Mapping[str, Any]) -> tuple[int, str]:
    """(minor units, currency) of a fiat invoice; ValueError otherwise."""
    if invoice.get("currency_type") not in (None, "fiat"):
        raise ValueError(f"invoice is priced in {invoice.get('currency_type')}, not fiat")
    fiat, amount = invoice.get("fiat"), invoice.get("amount")
    if not isinstance(fiat, str) or not isinstance(amount, str | int):
        raise ValueError("invoice without fiat/amount")
    try:
        currency = Currency.parse(fiat)
        return to_minor(Decimal(str(amount)), currency), currency.value
    except (BillingError, InvalidOperation) as error:
        raise ValueError(f"amount {amount!r} {fiat!r} is not usable: {error}") from None


def parse_webhook(body: bytes) -> CryptoPayUpdate:
    """Parse a Crypto Pay webhook body (verify its signature first)."""
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CryptoPayWebhookError("Crypto Pay webhook body is not JSON") from None
    if not isinstance(update, dict):
        raise CryptoPayWebhookError("Crypto Pay webhook body is not a JSON object")
    update_id, update_type = _int(update.get("update_id")), _str(update, "update_type")
    if update_id is None or update_type is None:
        raise CryptoPayWebhookError("Crypto Pay webhook without update_id or update_type")
    if update_type != "invoice_paid":
        raise UnsupportedUpdate(update_id, update_type)
    invoice = update.get("payload")
    if not isinstance(invoice, dict):
        raise CryptoPayWebhookError(f"Crypto Pay update {update_id} without an invoice")
    invoice_id, order_id = _int(invoice.get("invoice_id")), _str(invoice, "payload")
    if invoice_id is None or order_id is None:
        raise CryptoPayWebhookError(
            f"Crypto Pay update {update_id}: invoice without invoice_id or payload"
        )
    try:
        amount, currency = _fiat_amount(invoice)
    except ValueError as error:
        raise CryptoPayWebhookError(f"Crypto Pay update {update_id}: {error}") from None
    return CryptoPayUpdate(
        update_id=update_id,
        update_type=update_type,
        invoice_id=invoice_id,
        order_id=order_id,
        status=_str(invoice, "status") or "",
        amount=amount,
        currency=currency,
        paid_at=_str(invoice, "paid_at"),
        paid_asset=_str(invoice, "paid_asset"),
        paid_amount=_str(invoice, "paid_amount"),
        request_date=_str(update, "request_date"),
    )


def _invoice_of(item: Mapping[str, Any], invoice_id: int | None) -> CryptoPayInvoice:
    """A getInvoices item -> CryptoPayInvoice; ProviderUnavailable if it is not a fiat
    invoice with an id."""
    if invoice_id is None:
        raise ProviderUnavailable(PROVIDER, "getInvoices item without invoice_id")
    try:
        amount, currency = _fiat_amount(item)
    except ValueError as error:
        raise ProviderUnavailable(PROVIDER, f"invoice {invoice_id}: {error}") from None
    return CryptoPayInvoice(
        invoice_id=invoice_id,
        status=_str(item, "status") or "",
        order_id=_str(item, "payload"),
        amount=amount,
        currency=currency,
        pay_url=_str(item, "bot_invoice_url") or _str(item, "pay_url"),
        paid_at=_str(item, "paid_at"),
        paid_asset=_str(item, "paid_asset"),
        paid_amount=_str(item, "paid_amount"),
    )


class CryptoPayClient:
    """One Crypto Pay app's client; keeps one httpx.Client until close()."""

    parse_webhook = staticmethod(parse_webhook)

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not token:
            raise ValueError("the Crypto Pay token is empty")
        base = base_url.rstrip("/")
        self.base_url = base.removesuffix("/api")
        self._token = token
        self._timeout = timeout
        self._client = httpx.Client(transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"CryptoPayClient(base_url={self.base_url!r})"

    def __enter__(self) -> CryptoPayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def verify_webhook_signature(self, body: bytes, signature: str | None) -> bool:
        return verify_signature(body, signature, self._token)

    def create_invoice(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        description: str,
        accepted_assets: Iterable[str] = DEFAULT_ASSETS,
        expires_in: int = 3600,
    ) -> CryptoInvoice:
        """An invoice of `amount` minor units of fiat `currency`, payable in the assets."""
        require_positive(amount)
        code = Currency.parse(currency).value
        if not order_id:
            raise ValueError("order_id is empty")
        if not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise ValueError(f"expires_in must be 1..{MAX_EXPIRES_IN} seconds")
        assets = ",".join(accepted_assets)
        if not assets:
            raise ValueError("no accepted assets")
        result = self._call(
            "createInvoice",
            {
                "currency_type": "fiat",
                "fiat": code,
                "amount": decimal_text(amount),
                "accepted_assets": assets,
                "description": description[:DESCRIPTION_MAX],
                "payload": order_id,
                "expires_in": expires_in,
                "allow_comments": False,
                "allow_anonymous": True,
            },
        )
        if not isinstance(result, dict):
            raise ProviderUnavailable(PROVIDER, "createInvoice result is not an invoice")
        invoice_id = _int(result.get("invoice_id"))
        pay_url = _str(result, "bot_invoice_url") or _str(result, "pay_url")
        if invoice_id is None or pay_url is None:
            raise ProviderUnavailable(PROVIDER, "createInvoice result without id or URL")
        return CryptoInvoice(
            invoice_id=invoice_id,
            pay_url=pay_url,
            hash=_str(result, "hash"),
            status=_str(result, "status") or "active",
        )

    def get_invoice(self, invoice_id: int) -> CryptoPayInvoice | None:
        """The invoice's current state (None if Crypto Pay does not know it)."""
        for item in self._invoice_items({"invoice_ids": str(invoice_id)}):
            if _int(item.get("invoice_id")) == invoice_id:
                return _invoice_of(item, invoice_id)
        return None

    def paid_invoices(self, *, count: int = 100, offset: int = 0) -> list[CryptoPayInvoice]:
        """One page of the app's paid invoices (getInvoices status=paid), for reconciliation.

        Crypto Pay lists newest first; page on with `offset` until a page is shorter than
        `count` (1..1000). Invoices priced in crypto are left out: billing creates fiat ones
        only, so they are not its orders. ProviderUnavailable for a malformed answer."""
        if not 1 <= count <= MAX_INVOICES_PAGE:
            raise ValueError(f"count must be 1..{MAX_INVOICES_PAGE}")
        if offset < 0:
            raise ValueError("offset must not be negative")
        items = self._invoice_items({"status": "paid", "count": count, "offset": offset})
        return [
            _invoice_of(item, _int(item.get("invoice_id")))
            for item in items
            if item.get("currency_type") in (None, "fiat")
        ]

    def _invoice_items(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """getInvoices' result.items, each a JSON object; ProviderUnavailable otherwise."""
        result = self._call("getInvoices", params)
        items = result.get("items") if isinstance(result, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ProviderUnavailable(PROVIDER, "getInvoices result without items")
        return items

    def _call(self, method: str, params: Mapping[str, Any]) -> Any:
        url = f"{self.base_url}/api/{method}"
        timeout = deadline.current().timeout(self._timeout)
        if timeout <= 0:
            raise ProviderUnavailable(PROVIDER, f"{method}: no time left in this invocation")
        try:
            response = self._client.post(
                url,
                json=dict(params),
                headers={"Crypto-Pay-API-Token": self._token},
                timeout=timeout,
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(
                PROVIDER, f"{method}: network error: {type(error).__name__}"
            ) from None
        status = response.status_code
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            body = {}
        if 200 <= status < 300 and body.get("ok") is True and "result" in body:
            return body["result"]
        raw_error = body.get("error")
        refusal: Mapping[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        name = _str(refusal, "name") or f"HTTP_{status}"
        code = _int(refusal.get("code")) or status
        if status >= 500 or status == 429 or code >= 500 or code == 429:
            raise ProviderUnavailable(PROVIDER, f"{method}: {code} {name}", status=status)
        if 200 <= status < 300 and body.get("ok") is not False:
            raise ProviderUnavailable(PROVIDER, f"{method}: malformed answer", status=status)
        raise ProviderRejected(PROVIDER, f"{method} refused", status=code, name=name)
