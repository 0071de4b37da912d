"""A local Crypto Pay API (@CryptoBot) for tests and the local stack.

`FakeCryptoPay(token, webhook_url).serve()` starts a real HTTP server on 127.0.0.1 and
returns its base URL, to be used where https://pay.crypt.bot would be. Methods live at
/api/<method> and take their parameters from the query string (GET) or a JSON or form body
(POST), as the real API does; every call needs the Crypto-Pay-API-Token header (401
{"ok": false, "error": {"code": 401, "name": "UNAUTHORIZED"}} otherwise). Answers are
{"ok": true, "result": ...} or {"ok": false, "error": {"code": 400, "name": "..."}}; an
unknown method is 405 METHOD_NOT_FOUND.

- createInvoice: currency_type "crypto" (asset) or "fiat" (fiat, accepted_assets), amount,
  description, hidden_message, paid_btn_name/paid_btn_url, payload, allow_comments,
  allow_anonymous, expires_in. Invalid values answer 400 with CURRENCY_TYPE_INVALID,
  CURRENCY_INVALID, ACCEPTED_ASSETS_INVALID, AMOUNT_INVALID, EXPIRES_IN_INVALID,
  DESCRIPTION_TOO_LONG, PAYLOAD_TOO_LONG, HIDDEN_MESSAGE_TOO_LONG, PAID_BTN_NAME_INVALID,
  PAID_BTN_URL_REQUIRED (the real API's exact names are not all documented).
- getInvoices (invoice_ids, status "active" | "paid", fiat, asset, offset >= 0, count
  1..1000, default 100; newest first; {"items": [...]}), deleteInvoice, getMe.
- The payer's side: GET /pay/<invoice hash> is a small HTML page with a "Pay" form (an
  asset choice); POST /pay/<hash> pays the invoice and sends the `invoice_paid` webhook.
  `bot_invoice_url` (and the deprecated `pay_url`) point at that page.

Webhooks: {"update_id", "update_type": "invoice_paid", "request_date", "payload": <invoice>}
is POSTed to `webhook_url` (if set) with header crypto-pay-api-signature = hex
HMAC-SHA256(key=SHA-256(token), raw body) and recorded in `webhook_deliveries`:
synchronously before the payer's request is answered, or with `background_webhooks=True`
from a worker thread afterwards (http_peer.WebhookOutbox; `wait_for_webhooks()` waits
for the queue to drain).

Known simplifications: fixed exchange rates (RATES_USD) and a 3% fee; no checks,
transfers, balances or swaps; invoices expire when touched after their expiration date.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import string
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

from billing.clock import Clock, SystemClock
from local.http_peer import LoopbackServer, Reply, WebhookOutbox

DEFAULT_TOKEN = "12345:AAFakeCryptoPayToken0000000000000"  # noqa: S105 - a test fixture
SIGNATURE_HEADER = "crypto-pay-api-signature"
ASSETS = ("USDT", "TON", "BTC", "ETH", "LTC", "BNB", "TRX", "USDC")
FIATS = (
    "USD", "EUR", "RUB", "BYN", "UAH", "GBP", "CNY", "KZT", "UZS", "GEL", "TRY", "AMD",
    "THB", "INR", "BRL", "IDR", "AZN", "AED", "PLN", "ILS",
)  # fmt: skip
# USD value of one unit (fixed; good enough for paid_amount and fees).
RATES_USD = {
    "USDT": Decimal(1), "USDC": Decimal(1), "TON": Decimal("5.2"), "BTC": Decimal(65000),
    "ETH": Decimal(3200), "LTC": Decimal(80), "BNB": Decimal(560), "TRX": Decimal("0.12"),
    "USD": Decimal(1), "EUR": Decimal("1.08"), "RUB": Decimal("0.011"),
}  # fmt: skip
FEE = Decimal("0.03")
PAID_BUTTONS = ("viewItem", "openChannel", "openBot", "callback")
MAX_EXPIRES_IN = 2_678_400
_ALNUM = string.ascii_letters + string.digits

Json = dict[str, Any]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, token: str) -> str:
    """The crypto-pay-api-signature of a body."""
    secret = hashlib.sha256(token.encode()).digest()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _plain(number: Decimal) -> str:
    """Decimal("12.50") -> "12.5", Decimal("100") -> "100" (as Crypto Pay prints amounts)."""
    text = format(number.normalize(), "f")
    return text


class _ApiError(Exception):
    def __init__(self, code: int, name: str) -> None:
        super().__init__(name)
        self.code = code
        self.name = name


@dataclass(frozen=True)
class CryptoWebhookDelivery:
    update_id: int
    update_type: str
    url: str | None
    headers: dict[str, str]
    body: bytes
    status: int | None  # the receiver's HTTP status; None if not sent or it failed
    error: str | None = None

    @property
    def update(self) -> Json:
        parsed: Json = json.loads(self.body)
        return parsed


@dataclass
class _Invoice:
    invoice_id: int
    hash: str
    currency_type: str
    currency: str  # the asset (crypto) or the fiat code
    amount: Decimal
    accepted_assets: tuple[str, ...]
    description: str | None
    hidden_message: str | None
    paid_btn_name: str | None
    paid_btn_url: str | None
    payload: str | None
    allow_comments: bool
    allow_anonymous: bool
    created_at: datetime
    expires_at: datetime | None
    status: str = "active"
    paid: Json = field(default_factory=dict)  # paid_* fields once paid
    update: Json | None = None  # the invoice_paid update, once paid


class FakeCryptoPay:
    """See the module docstring. Public methods are thread-safe."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        webhook_url: str | None = None,
        *,
        clock: Clock | None = None,
        webhook_timeout: float = 10.0,
        background_webhooks: bool = False,
    ) -> None:
        self.token = token
        self.webhook_url = webhook_url
        self._outbox = WebhookOutbox(background=background_webhooks, timeout=webhook_timeout)
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._invoices: dict[int, _Invoice] = {}
        self._by_hash: dict[str, int] = {}
        self._next_invoice = 1
        self._next_update = 1
        self._faults: deque[int] = deque()
        self.webhook_deliveries: list[CryptoWebhookDelivery] = []
        self.requests: list[str] = []  # API method of every call
        self._http = LoopbackServer("fake Crypto Pay", self._respond)
        self._base_url: str | None = None

    # -- serving --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url or "https://testnet-pay.crypt.bot"

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the HTTP server; returns its base URL (the API is under /api/)."""
        self._base_url = self._http.start(host, port)
        return self._base_url

    def stop(self) -> None:
        """Stop the server started by serve() (no-op if none)."""
        self._http.stop()
        self._outbox.close()

    # -- test controls --------------------------------------------------------------------

    def pay(self, invoice_id: int, asset: str = "USDT") -> tuple[dict[str, str], bytes]:
        """The payer pays in `asset`: the invoice becomes paid and the invoice_paid webhook
        is sent (if webhook_url is set) and recorded; returns its (headers, body)."""
        with self._lock:
            invoice = self._invoice(invoice_id)
            update = self._pay_locked(invoice, asset)
        return self._deliver(update)

    def signed_update(self, invoice_id: int) -> tuple[dict[str, str], bytes]:
        """The paid invoice's invoice_paid update, signed, not sent (deliver it yourself)."""
        with self._lock:
            invoice = self._invoice(invoice_id)
            if invoice.update is None:
                raise ValueError(f"invoice {invoice_id} is {invoice.status}, not paid: pay() it")
            update = invoice.update
        return self._signed(update)

    def expire(self, invoice_id: int) -> None:
        """The invoice's time runs out now."""
        with self._lock:
            invoice = self._invoice(invoice_id)
            if invoice.status == "active":
                invoice.status = "expired"
                invoice.expires_at = self._clock.now()

    def fail_next(self, status: int = 500, count: int = 1) -> None:
        """The next `count` API calls answer `status` with an INTERNAL_ERROR body."""
        with self._lock:
            self._faults.extend([status] * count)

    def invoice(self, invoice_id: int) -> Json:
        """The invoice object as the API shows it."""
        with self._lock:
            return self._invoice_json(self._invoice(invoice_id))

    def invoices(self) -> list[Json]:
        with self._lock:
            return [self._invoice_json(self._refresh(i)) for i in self._invoices.values()]

    # -- internals ------------------------------------------------------------------------

    def _invoice(self, invoice_id: int) -> _Invoice:
        invoice = self._invoices.get(invoice_id)
        if invoice is None:
            raise KeyError(f"no invoice {invoice_id}")
        return self._refresh(invoice)

    def _refresh(self, invoice: _Invoice) -> _Invoice:
        if (
            invoice.status == "active"
            and invoice.expires_at is not None
            and invoice.expires_at <= self._clock.now()
        ):
            invoice.status = "expired"
        return invoice

    def _pay_locked(self, invoice: _Invoice, asset: str) -> Json:
        if invoice.status != "active":
            raise ValueError(f"invoice {invoice.invoice_id} is {invoice.status}, not active")
        if invoice.currency_type == "fiat" and asset not in invoice.accepted_assets:
            raise ValueError(f"{asset} is not accepted by invoice {invoice.invoice_id}")
        if invoice.currency_type == "crypto":
            asset = invoice.currency
        usd = (
            invoice.amount * RATES_USD.get(invoice.currency, Decimal(1))
            if invoice.currency_type == "fiat"
            else invoice.amount * RATES_USD[asset]
        )
        paid_amount = (usd / RATES_USD[asset]).quantize(Decimal("0.00000001"), ROUND_HALF_UP)
        fiat_rate = (RATES_USD[asset] / RATES_USD.get(invoice.currency, Decimal(1))).quantize(
            Decimal("0.00000001"), ROUND_HALF_UP
        )
        now = self._clock.now()
        invoice.status = "paid"
        invoice.paid = {
            "paid_asset": asset,
            "paid_amount": _plain(paid_amount),
            "paid_fiat_rate": _plain(fiat_rate),
            "paid_usd_rate": _plain(RATES_USD[asset]),
            "fee_asset": asset,
            "fee_amount": _plain((paid_amount * FEE).quantize(Decimal("0.00000001"))),
            "paid_anonymously": invoice.allow_anonymous,
            "paid_at": _iso(now),
        }
        update: Json = {
            "update_id": self._next_update,
            "update_type": "invoice_paid",
            "request_date": _iso(now),
            "payload": self._invoice_json(invoice),
        }
        self._next_update += 1
        invoice.update = update
        return update

    def _signed(self, update: Json) -> tuple[dict[str, str], bytes]:
        body = canonical_json(update)
        headers = {
            "Content-Type": "application/json",
            "crypto-pay-api-signature": sign(body, self.token),
        }
        return headers, body

    def _deliver(self, update: Json) -> tuple[dict[str, str], bytes]:
        """POST the signed update to webhook_url, if set, and record the delivery."""
        return self._outbox.deliver(
            self.webhook_url,
            self._signed(update),
            partial(CryptoWebhookDelivery, update["update_id"], update["update_type"]),
            self.webhook_deliveries,
        )

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """With background_webhooks: block until every webhook so far was posted."""
        return self._outbox.wait(timeout)

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """One HTTP request: its webhooks are sent (or queued) before it is answered."""
        reply, updates = self._handle(method, target, headers, body)
        for update in updates:
            self._deliver(update)
        return reply

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Reply, list[Json]]:
        url = urlsplit(target)
        path = url.path.rstrip("/")
        updates: list[Json] = []
        if path.startswith("/api/"):
            try:
                result = self._api(path.removeprefix("/api/"), method, url.query, headers, body)
            except _ApiError as error:
                payload = {"ok": False, "error": {"code": error.code, "name": error.name}}
                return Reply(error.code, canonical_json(payload)), updates
            return Reply(200, canonical_json({"ok": True, "result": result})), updates
        if path.startswith("/pay/"):
            return self._pay_page(method, path.removeprefix("/pay/"), body, updates), updates
        return _html(404, "<p>Not found.</p>"), updates

    def _api(
        self, name: str, method: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Any:
        with self._lock:
            self.requests.append(name)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            raise _ApiError(fault, "INTERNAL_ERROR")
        token = headers.get("crypto-pay-api-token", "")
        if not token or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise _ApiError(401, "UNAUTHORIZED")
        params = _params(method, query, headers, body)
        handlers = {
            "getMe": self._get_me,
            "createInvoice": self._create_invoice,
            "getInvoices": self._get_invoices,
            "deleteInvoice": self._delete_invoice,
        }
        handler = handlers.get(name)
        if handler is None:
            raise _ApiError(405, "METHOD_NOT_FOUND")
        return handler(params)

    def _get_me(self, params: Json) -> Json:
        return {
            "app_id": 1001,
            "name": "Fake Crypto Pay app",
            "payment_processing_bot_username": "CryptoTestnetBot",
        }

    def _create_invoice(self, params: Json) -> Json:
        currency_type, currency, accepted = _invoice_currency(params)
        amount = _amount(params.get("amount"), fiat=currency_type == "fiat")
        description = _optional_text(params, "description", 1024, "DESCRIPTION_TOO_LONG")
        hidden = _optional_text(params, "hidden_message", 2048, "HIDDEN_MESSAGE_TOO_LONG")
        payload = _optional_text(params, "payload", 4096, "PAYLOAD_TOO_LONG")
        button, button_url = _paid_button(params)
        expires_in = params.get("expires_in")
        now = self._clock.now()
        expires_at = None
        if expires_in is not None:
            seconds = _int_param(expires_in)
            if seconds is None or not 1 <= seconds <= MAX_EXPIRES_IN:
                raise _ApiError(400, "EXPIRES_IN_INVALID")
            expires_at = now + timedelta(seconds=seconds)
        with self._lock:
            invoice = _Invoice(
                invoice_id=self._next_invoice,
                hash="IV" + "".join(secrets.choice(_ALNUM) for _ in range(12)),
                currency_type=currency_type,
                currency=currency,
                amount=amount,
                accepted_assets=accepted,
                description=description,
                hidden_message=hidden,
                paid_btn_name=button,
                paid_btn_url=button_url,
                payload=payload,
                allow_comments=_bool_param(params.get("allow_comments"), default=True),
                allow_anonymous=_bool_param(params.get("allow_anonymous"), default=True),
                created_at=now,
                expires_at=expires_at,
            )
            self._next_invoice += 1
            self._invoices[invoice.invoice_id] = invoice
            self._by_hash[invoice.hash] = invoice.invoice_id
            return self._invoice_json(invoice)

    def _get_invoices(self, params: Json) -> Json:
        ids: set[int] | None = None
        raw_ids = params.get("invoice_ids")
        if raw_ids is not None:
            items = raw_ids.split(",") if isinstance(raw_ids, str) else raw_ids
            if not isinstance(items, list):
                raise _ApiError(400, "INVOICE_IDS_INVALID")
            parsed = [_int_param(item) for item in items if str(item).strip()]
            if any(value is None for value in parsed):
                raise _ApiError(400, "INVOICE_IDS_INVALID")
            ids = {value for value in parsed if value is not None}
        status = params.get("status")
        if status not in (None, "active", "paid"):
            raise _ApiError(400, "STATUS_INVALID")
        offset = _int_param(params.get("offset", 0))
        count = _int_param(params.get("count", 100))
        if offset is None or offset < 0:
            raise _ApiError(400, "OFFSET_INVALID")
        if count is None or not 1 <= count <= 1000:
            raise _ApiError(400, "COUNT_INVALID")
        fiat, asset = params.get("fiat"), params.get("asset")
        with self._lock:
            found = []
            for invoice in sorted(self._invoices.values(), key=lambda i: -i.invoice_id):
                self._refresh(invoice)
                if ids is not None and invoice.invoice_id not in ids:
                    continue
                if status is not None and invoice.status != status:
                    continue
                if fiat is not None and (
                    invoice.currency_type != "fiat" or invoice.currency != fiat
                ):
                    continue
                if asset is not None and (
                    invoice.currency_type != "crypto" or invoice.currency != asset
                ):
                    continue
                found.append(self._invoice_json(invoice))
        return {"items": found[offset : offset + count]}

    def _delete_invoice(self, params: Json) -> bool:
        invoice_id = _int_param(params.get("invoice_id"))
        with self._lock:
            invoice = self._invoices.pop(invoice_id, None) if invoice_id is not None else None
            if invoice is None:
                raise _ApiError(400, "INVOICE_NOT_FOUND")
            self._by_hash.pop(invoice.hash, None)
        return True

    def _invoice_json(self, invoice: _Invoice) -> Json:
        page = f"{self.base_url}/pay/{invoice.hash}"
        answer: Json = {
            "invoice_id": invoice.invoice_id,
            "hash": invoice.hash,
            "currency_type": invoice.currency_type,
        }
        if invoice.currency_type == "fiat":
            answer["fiat"] = invoice.currency
        else:
            answer["asset"] = invoice.currency
        answer["amount"] = _plain(invoice.amount)
        if invoice.currency_type == "fiat":
            answer["accepted_assets"] = list(invoice.accepted_assets)
        answer.update(
            {
                "pay_url": page,
                "bot_invoice_url": page,
                "mini_app_invoice_url": page,
                "web_app_invoice_url": page,
                "status": invoice.status,
                "created_at": _iso(invoice.created_at),
                "allow_comments": invoice.allow_comments,
                "allow_anonymous": invoice.allow_anonymous,
            }
        )
        optional = {
            "description": invoice.description,
            "hidden_message": invoice.hidden_message,
            "paid_btn_name": invoice.paid_btn_name,
            "paid_btn_url": invoice.paid_btn_url,
            "payload": invoice.payload,
            "expiration_date": _iso(invoice.expires_at) if invoice.expires_at else None,
        }
        answer.update({key: value for key, value in optional.items() if value is not None})
        answer.update(invoice.paid)
        return answer

    def _pay_page(self, method: str, invoice_hash: str, body: bytes, updates: list[Json]) -> Reply:
        with self._lock:
            invoice_id = self._by_hash.get(invoice_hash)
            if invoice_id is None:
                return _html(404, "<p>This invoice does not exist.</p>")
            invoice = self._invoice(invoice_id)
            if method == "POST":
                form = parse_qs(body.decode("utf-8", "replace"))
                asset = form.get("asset", [""])[0] or (
                    invoice.accepted_assets[0] if invoice.accepted_assets else invoice.currency
                )
                try:
                    updates.append(self._pay_locked(invoice, asset))
                except ValueError as error:
                    return _html(409, f"<p>{html.escape(str(error))}</p>")
                if invoice.paid_btn_url:
                    return Reply(303, b"", "text/plain", (("Location", invoice.paid_btn_url),))
                return _html(200, f"<p>Invoice {invoice.invoice_id} paid.</p>")
            amount = f"{_plain(invoice.amount)} {invoice.currency}"
            if invoice.status != "active":
                return _html(200, f"<p>Invoice {invoice.invoice_id} is {invoice.status}.</p>")
            assets = invoice.accepted_assets or (invoice.currency,)
            options = "".join(
                f"<option value='{html.escape(a)}'>{html.escape(a)}</option>" for a in assets
            )
            content = (
                f"<h1>Crypto Pay invoice #{invoice.invoice_id}</h1>"
                f"<p>{html.escape(invoice.description or '')}</p>"
                f"<p class='amount'>{html.escape(amount)}</p>"
                f"<form method='post' action='/pay/{html.escape(invoice.hash)}'>"
                f"<select name='asset'>{options}</select>"
                "<button type='submit'>Pay</button></form>"
            )
            return _html(200, content)


# -- module helpers ----------------------------------------------------------------------


def _html(status: int, content: str) -> Reply:
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Crypto Pay</title></head>"
        f"<body>{content}</body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def _params(method: str, query: str, headers: Mapping[str, str], body: bytes) -> Json:
    params: Json = {key: values[-1] for key, values in parse_qs(query).items()}
    if method == "POST" and body.strip():
        content_type = headers.get("content-type", "")
        if "json" in content_type:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise _ApiError(400, "INVALID_JSON") from None
            if not isinstance(parsed, dict):
                raise _ApiError(400, "INVALID_JSON")
            params.update(parsed)
        else:
            form = parse_qs(body.decode("utf-8", "replace"))
            params.update({key: values[-1] for key, values in form.items()})
    return params


def _invoice_currency(params: Json) -> tuple[str, str, tuple[str, ...]]:
    """(currency_type, asset or fiat, accepted assets) of createInvoice parameters."""
    currency_type = params.get("currency_type") or "crypto"
    if currency_type not in ("crypto", "fiat"):
        raise _ApiError(400, "CURRENCY_TYPE_INVALID")
    if currency_type == "crypto":
        asset = params.get("asset")
        if not isinstance(asset, str) or asset not in ASSETS:
            raise _ApiError(400, "CURRENCY_INVALID")
        return currency_type, asset, ()
    fiat = params.get("fiat")
    if not isinstance(fiat, str) or fiat not in FIATS:
        raise _ApiError(400, "CURRENCY_INVALID")
    raw_assets = params.get("accepted_assets")
    if raw_assets is None:
        return currency_type, fiat, ASSETS
    items = raw_assets.split(",") if isinstance(raw_assets, str) else raw_assets
    if not isinstance(items, list):
        raise _ApiError(400, "ACCEPTED_ASSETS_INVALID")
    accepted = tuple(str(item).strip() for item in items)
    if not accepted or any(asset not in ASSETS for asset in accepted):
        raise _ApiError(400, "ACCEPTED_ASSETS_INVALID")
    return currency_type, fiat, accepted


def _paid_button(params: Json) -> tuple[str | None, str | None]:
    button, url = params.get("paid_btn_name"), params.get("paid_btn_url")
    if button is None:
        return None, None
    if button not in PAID_BUTTONS:
        raise _ApiError(400, "PAID_BTN_NAME_INVALID")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _ApiError(400, "PAID_BTN_URL_REQUIRED")
    return str(button), url


def _amount(value: object, *, fiat: bool) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _ApiError(400, "AMOUNT_INVALID")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _ApiError(400, "AMOUNT_INVALID") from None
    if not number.is_finite() or number <= 0:
        raise _ApiError(400, "AMOUNT_INVALID")
    exponent = number.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if decimals > (2 if fiat else 8):
        raise _ApiError(400, "AMOUNT_INVALID")
    return number


def _optional_text(params: Json, key: str, limit: int, error: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _ApiError(400, f"{key.upper()}_INVALID")
    if len(value.encode()) > limit if key == "payload" else len(value) > limit:
        raise _ApiError(400, error)
    return value


def _int_param(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _bool_param(value: object, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")
