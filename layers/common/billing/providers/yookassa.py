"""YooKassa API v3 client over httpx: payments (redirect and off-session charges of a saved
method), refunds, lists for reconciliation, 54-FZ receipts and notification routing.

- Auth is HTTP Basic with the shop id and the secret key; bodies are JSON; paths are
  /v3/payments, /v3/payments/{id}, /v3/refunds, /v3/refunds/{id}.
- Amounts are integer minor units here and "1234.50" strings at YooKassa (`amount_text`,
  `parse_amount`).
- Every POST carries the caller's Idempotence-Key (at most 64 printable characters). The
  key is never made up here: a random one would turn a repeat after a timeout into a
  second payment or refund. YooKassa keeps a key for 24 hours and answers a repeat with the
  same body with the first answer, so repeating any call of this client is safe.
- HTTP 202 (body {"type": "processing", "retry_after": ms}) means YooKassa has the request
  but no result yet: the client repeats the same request with the same key a few times
  (waiting retry_after, as the official SDKs do) within the invocation's remaining time,
  then raises ProviderUnavailable so that the caller repeats it later.
- Notifications are not signed. `parse_notification` therefore yields only what routes
  one (the event and the ids); the caller fetches the object by id (`payment`, `refund`)
  and acts on what the API answers, never on the notification's body.

Failures: `ProviderUnavailable` (network, timeout, 429, 5xx, 202 that did not settle,
answers that are not the documented shape, no time left in the invocation: each request's
timeout is cut to it, billing.deadline), its subclass `ProviderMisconfigured` (401
invalid_credentials, 403 forbidden: our shop id, key or permissions; alert an operator) and
`ProviderRejected` (other 4xx, with YooKassa's error code as `name`). Bad arguments raise
ValueError (or InvalidAmount / UnsupportedCurrency for money) before any request. The
secret key never appears in an exception, repr or log line.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from billing import deadline
from billing.domain.money import Currency, require_positive
from billing.errors import InvalidAmount, UnsupportedCurrency
from billing.providers.errors import ProviderMisconfigured, ProviderRejected, ProviderUnavailable

PROVIDER = "yookassa"
DEFAULT_BASE_URL = "https://api.yookassa.ru"
IDEMPOTENCE_HEADER = "Idempotence-Key"
IDEMPOTENCE_KEY_MAX = 64  # YooKassa's limit for the key
DESCRIPTION_MAX = 128  # payment description and receipt item description
REFUND_DESCRIPTION_MAX = 250
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX = 32
METADATA_VALUE_MAX = 512
PAGE_LIMIT = 100  # the lists' largest page (limit 1..100)
MAX_PAGES = 1000  # a list longer than this many pages is not an answer we trust
ID_MAX = 64  # YooKassa's ids are UUID-like (36 characters); ours allow up to this

# HTTP 202 "processing": how often to repeat and how long to wait between tries. YooKassa
# names the wait (retry_after, ms); the official PHP SDK defaults to 1800 ms and 3 repeats.
PROCESSING_RETRIES = 3
PROCESSING_DEFAULT_WAIT = 1.8  # seconds, when the answer names none
PROCESSING_MAX_WAIT = 5.0  # seconds: a longer retry_after is cut to this

PAYMENT_STATUSES = frozenset({"pending", "waiting_for_capture", "succeeded", "canceled"})
REFUND_STATUSES = frozenset({"pending", "succeeded", "canceled"})

EVENT_PAYMENT_SUCCEEDED = "payment.succeeded"
EVENT_PAYMENT_CANCELED = "payment.canceled"
EVENT_PAYMENT_WAITING_FOR_CAPTURE = "payment.waiting_for_capture"
EVENT_REFUND_SUCCEEDED = "refund.succeeded"
SUPPORTED_EVENTS = frozenset(
    {
        EVENT_PAYMENT_SUCCEEDED,
        EVENT_PAYMENT_CANCELED,
        EVENT_PAYMENT_WAITING_FOR_CAPTURE,
        EVENT_REFUND_SUCCEEDED,
    }
)
NOTIFICATION_MAX_BYTES = 1 << 20  # a payment object is a few kB; refuse absurd bodies unread

VAT_CODES = range(1, 13)  # 1 no VAT, 2 0%, 3 10%, 4 20%, 5 10/110, 6 20/120, 7..10 5% and 7%
# (and their /105, /107), 11 22%, 12 22/122
PHONE_DIGITS_MIN, PHONE_DIGITS_MAX = 7, 15  # ITU-T E.164: at most 15 digits
EMAIL_MAX = 254

_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{ID_MAX}}}")
_IDEMPOTENCE_KEY = re.compile(rf"[\x21-\x7e]{{1,{IDEMPOTENCE_KEY_MAX}}}")  # printable ASCII
_EVENT_NAME = re.compile(r"[a-z_]{1,32}\.[a-z_]{1,32}")
# Digits (no sign, exponent, other scripts' digits, spaces) and at most two decimals.
_AMOUNT_VALUE = re.compile(r"(?P<units>[0-9]{1,12})(?:\.(?P<fraction>[0-9]{1,2}))?")
_AMOUNT_VALUE_MAX = 24  # characters, checked before the regex
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_TEXT_MAX = 256  # longest free text (title, card type, ...) taken from an answer


class YooKassaNotificationError(ValueError):
    """A notification body that is not a YooKassa notification of the shape billing routes."""


class UnsupportedNotification(YooKassaNotificationError):
    """A well-formed notification of an event billing does not act on (acknowledge it)."""

    def __init__(self, event: str) -> None:
        super().__init__(f"YooKassa notification for unsupported event {event}")
        self.event = event


class YooKassaAmountError(ValueError):
    """An amount object that is not {"value": "1234.50", "currency": "RUB"}."""


@dataclass(frozen=True)
class SavedMethod:
    """A payment's payment_method as YooKassa returns it. `saved` tells whether `id` can be
    charged off-session (create_payment(payment_method_id=...)); the card fields only label
    it for the payer and are None when YooKassa gave none (or none of the documented form).
    """

    id: str
    type: str  # bank_card, sbp, yoo_money, ...
    saved: bool
    title: str | None
    card_type: str | None  # MasterCard, Visa, Mir, ...
    first6: str | None
    last4: str | None
    expiry_month: int | None
    expiry_year: int | None
    issuer_country: str | None


@dataclass(frozen=True)
class YooKassaPayment:
    """A payment as YooKassa shows it; amounts in minor units of `currency`.

    `confirmation_url` is where to send the payer while a redirect payment is pending;
    `cancellation_party` / `cancellation_reason` explain a canceled one (an off-session
    charge may come back canceled at once: "insufficient_funds", "permission_revoked", ...).
    """

    id: str
    status: str  # pending, waiting_for_capture, succeeded, canceled
    paid: bool
    amount: int
    currency: str
    metadata: dict[str, str]
    confirmation_url: str | None
    payment_method: SavedMethod | None
    cancellation_reason: str | None
    cancellation_party: str | None
    created_at: str
    test: bool
    refunded_amount: int  # 0 if absent
    # Informational, left out of comparisons so that callers' expected values need not
    # spell them out.
    description: str | None = field(default=None, compare=False)
    captured_at: str | None = field(default=None, compare=False)
    income_amount: int | None = field(default=None, compare=False)  # after YooKassa's fee


@dataclass(frozen=True)
class YooKassaRefund:
    id: str
    payment_id: str
    status: str  # pending, succeeded, canceled
    amount: int
    currency: str
    created_at: str
    cancellation_reason: str | None


@dataclass(frozen=True)
class Notification:
    """What routes a notification; nothing in it is trusted beyond that (it is unsigned).

    `object_id` is the payment's id for payment.* events and the refund's for refund.*;
    `payment_id` is the payment's id in both (object.payment_id for refunds)."""

    event: str
    object_id: str
    payment_id: str


# -- money --------------------------------------------------------------------------------


def amount_text(amount: int, currency: str) -> str:
    """123450, "RUB" -> "1234.50": YooKassa's amount value (every currency it takes has two
    decimals). InvalidAmount for a negative or non-integer amount."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"amount must be an integer number of minor units, got {amount!r}")
    if amount < 0:
        raise InvalidAmount(f"amount must not be negative, got {amount}")
    _currency_code(currency)
    major, minor = divmod(amount, 100)
    return f"{major}.{minor:02d}"


def parse_amount(obj: object) -> tuple[int, str]:
    """{"value": "1234.50", "currency": "RUB"} -> (123450, "RUB").

    Refuses with YooKassaAmountError (a ValueError) anything else: a value that is not a
    string of digits with at most two decimals (no sign, exponent, spaces, NaN, more than
    12 integer digits), a currency that is not three capital letters. The client turns it
    into ProviderUnavailable (an answer not of the documented shape)."""
    if not isinstance(obj, Mapping):
        raise YooKassaAmountError("amount is not an object")
    value, currency = obj.get("value"), obj.get("currency")
    if not isinstance(value, str) or not isinstance(currency, str):
        raise YooKassaAmountError("amount without value/currency strings")
    match = _AMOUNT_VALUE.fullmatch(value) if len(value) <= _AMOUNT_VALUE_MAX else None
    if match is None:
        raise YooKassaAmountError("amount value is not a non-negative decimal with <= 2 places")
    if _CURRENCY_CODE.fullmatch(currency) is None:
        raise YooKassaAmountError("amount currency is not a three-letter code")
    fraction = (match["fraction"] or "").ljust(2, "0")
    return int(match["units"]) * 100 + int(fraction), currency


def _currency_code(currency: str) -> str:
    if not isinstance(currency, str) or _CURRENCY_CODE.fullmatch(currency.strip().upper()) is None:
        raise UnsupportedCurrency(f"currency {currency!r} is not a three-letter code")
    return currency.strip().upper()


def _money(amount: int, currency: str) -> dict[str, str]:
    """What we send: a positive amount of one of billing's currencies."""
    require_positive(amount)
    code = Currency.parse(currency).value
    return {"value": amount_text(amount, code), "currency": code}


# -- receipts -----------------------------------------------------------------------------


def receipt(
    contact: str, description: str, amount: int, currency: str, vat_code: int
) -> dict[str, Any]:
    """A 54-FZ receipt of one service paid in full, for create_payment / create_refund.

    `contact` is where the tax service's receipt goes: an e-mail (it has an "@") or a phone,
    written any common way ("+7 916 123-45-67"); YooKassa takes the phone as E.164 digits
    without "+" ("79161234567"). The description is cut to 128 characters, YooKassa's limit.
    ValueError for a contact that is neither, an empty description or a vat_code outside
    1..12; InvalidAmount / UnsupportedCurrency for the amount."""
    if not isinstance(description, str) or not description.strip():
        raise ValueError("the receipt item description is empty")
    if isinstance(vat_code, bool) or not isinstance(vat_code, int) or vat_code not in VAT_CODES:
        raise ValueError(f"vat_code must be an integer {VAT_CODES.start}..{VAT_CODES.stop - 1}")
    return {
        "customer": _customer(contact),
        "items": [
            {
                "description": description.strip()[:DESCRIPTION_MAX],
                "quantity": "1.00",
                "amount": _money(amount, currency),
                "vat_code": vat_code,
                "payment_subject": "service",
                "payment_mode": "full_payment",
            }
        ],
    }


def _customer(contact: str) -> dict[str, str]:
    if not isinstance(contact, str):
        raise ValueError("the receipt contact is not a string")
    text = contact.strip()
    if "@" in text:
        if len(text) > EMAIL_MAX or _EMAIL.fullmatch(text) is None:
            raise ValueError("the receipt contact is not an e-mail address")
        return {"email": text}
    digits = _PHONE_SEPARATORS.sub("", text.removeprefix("+"))
    if (
        not digits.isascii()
        or not digits.isdigit()
        or not PHONE_DIGITS_MIN <= len(digits) <= PHONE_DIGITS_MAX
        or digits.startswith("0")
    ):
        raise ValueError("the receipt contact is neither an e-mail address nor a phone number")
    return {"phone": digits}


# -- notifications ------------------------------------------------------------------------


def parse_notification(body: bytes) -> Notification:
    """The event and ids of a YooKassa notification body ({"type": "notification", "event":
    ..., "object": {...}}), for routing only: fetch the object by id before acting.

    Raises YooKassaNotificationError for a body that is no such notification (any bytes,
    types, sizes or nesting), and its subclass UnsupportedNotification for a well-formed one
    of an event outside SUPPORTED_EVENTS. Ids must be short plain tokens ([A-Za-z0-9_-],
    at most 64 characters)."""
    if not isinstance(body, bytes | bytearray) or len(body) > NOTIFICATION_MAX_BYTES:
        raise YooKassaNotificationError("YooKassa notification body is missing or too large")
    try:
        message = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise YooKassaNotificationError("YooKassa notification body is not JSON") from None
    if not isinstance(message, dict) or message.get("type") != "notification":
        raise YooKassaNotificationError("YooKassa notification body is not a notification")
    event, obj = message.get("event"), message.get("object")
    if not isinstance(event, str) or _EVENT_NAME.fullmatch(event) is None:
        raise YooKassaNotificationError("YooKassa notification without a valid event")
    if not isinstance(obj, dict):
        raise YooKassaNotificationError(f"YooKassa notification {event} without an object")
    if event not in SUPPORTED_EVENTS:
        raise UnsupportedNotification(event)
    object_id = _valid_id(obj.get("id"))
    payment_id = _valid_id(obj.get("payment_id")) if event.startswith("refund.") else object_id
    if object_id is None or payment_id is None:
        raise YooKassaNotificationError(f"YooKassa notification {event} without valid ids")
    return Notification(event=event, object_id=object_id, payment_id=payment_id)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- parsing answers ----------------------------------------------------------------------


def _valid_id(value: object) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _text(mapping: Mapping[str, Any], key: str, limit: int = _TEXT_MAX) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value and len(value) <= limit else None


def _timestamp(mapping: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    """An ISO 8601 time as YooKassa writes it ("2024-10-01T09:49:14.459Z"), kept as text."""
    value = mapping.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{key} is not a time")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key} is not an ISO 8601 time") from None
    return value


def _amount_field(obj: Mapping[str, Any], key: str) -> tuple[int, str]:
    try:
        return parse_amount(obj.get(key))
    except YooKassaAmountError as error:
        raise ValueError(f"{key}: {error}") from None


def _payment_of(obj: object) -> YooKassaPayment:
    """A Payment object -> YooKassaPayment; ValueError if it is not of the documented shape.

    What money depends on (id, status, paid, amounts, test, created_at, metadata) must be
    exactly as documented; the card details only label a saved method, so a malformed one
    is dropped rather than failing the payment."""
    if not isinstance(obj, dict):
        raise ValueError("payment is not an object")
    payment_id = _valid_id(obj.get("id"))
    if payment_id is None:
        raise ValueError("payment without a valid id")
    status = obj.get("status")
    if status not in PAYMENT_STATUSES:
        raise ValueError(f"payment {payment_id}: unknown status")
    paid, test = obj.get("paid"), obj.get("test")
    if not isinstance(paid, bool) or not isinstance(test, bool):
        raise ValueError(f"payment {payment_id}: paid/test are not booleans")
    amount, currency = _amount_field(obj, "amount")
    refunded, income = 0, None
    if obj.get("refunded_amount") is not None:
        refunded, refunded_currency = _amount_field(obj, "refunded_amount")
        if refunded_currency != currency:
            raise ValueError(f"payment {payment_id}: refunded_amount in another currency")
    if obj.get("income_amount") is not None:
        income, _ = _amount_field(obj, "income_amount")
    party, reason = _cancellation(obj)
    return YooKassaPayment(
        id=payment_id,
        status=str(status),
        paid=paid,
        amount=amount,
        currency=currency,
        metadata=_metadata_of(obj.get("metadata")),
        confirmation_url=_confirmation_url(obj.get("confirmation")),
        payment_method=_saved_method(obj.get("payment_method")),
        cancellation_reason=reason,
        cancellation_party=party,
        created_at=str(_timestamp(obj, "created_at", required=True)),
        test=test,
        refunded_amount=refunded,
        description=_text(obj, "description", DESCRIPTION_MAX),
        captured_at=_timestamp(obj, "captured_at", required=False),
        income_amount=income,
    )


def _refund_of(obj: object) -> YooKassaRefund:
    """A Refund object -> YooKassaRefund; ValueError if it is not of the documented shape."""
    if not isinstance(obj, dict):
        raise ValueError("refund is not an object")
    refund_id, payment_id = _valid_id(obj.get("id")), _valid_id(obj.get("payment_id"))
    if refund_id is None or payment_id is None:
        raise ValueError("refund without a valid id or payment_id")
    status = obj.get("status")
    if status not in REFUND_STATUSES:
        raise ValueError(f"refund {refund_id}: unknown status")
    amount, currency = _amount_field(obj, "amount")
    _, reason = _cancellation(obj)
    return YooKassaRefund(
        id=refund_id,
        payment_id=payment_id,
        status=str(status),
        amount=amount,
        currency=currency,
        created_at=str(_timestamp(obj, "created_at", required=True)),
        cancellation_reason=reason,
    )


def _metadata_of(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("metadata is not an object of strings")
    return dict(value)


def _confirmation_url(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("confirmation is not an object")
    if value.get("type") != "redirect":
        return None
    url = _text(value, "confirmation_url", 2048)
    return url if url is not None and url.startswith(("https://", "http://")) else None


def _cancellation(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(party, reason) of cancellation_details, (None, None) without it."""
    details = obj.get("cancellation_details")
    if details is None:
        return None, None
    if not isinstance(details, dict):
        raise ValueError("cancellation_details is not an object")
    return _text(details, "party", 64), _text(details, "reason", 64)


def _saved_method(value: object) -> SavedMethod | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("payment_method is not an object")
    method_id, method_type = _valid_id(value.get("id")), _text(value, "type", 64)
    saved = value.get("saved", False)
    if method_id is None or method_type is None or not isinstance(saved, bool):
        raise ValueError("payment_method without a valid id, type or saved flag")
    raw_card = value.get("card")
    card: Mapping[str, Any] = raw_card if isinstance(raw_card, dict) else {}
    return SavedMethod(
        id=method_id,
        type=method_type,
        saved=saved,
        title=_text(value, "title"),
        card_type=_text(card, "card_type", 64),
        first6=_digits(card.get("first6"), 6),
        last4=_digits(card.get("last4"), 4),
        expiry_month=_number(card.get("expiry_month"), 2, 1, 12),
        expiry_year=_number(card.get("expiry_year"), 4, 2000, 2999),
        issuer_country=_country(card.get("issuer_country")),
    )


def _digits(value: object, length: int) -> str | None:
    if isinstance(value, str) and len(value) == length and value.isascii() and value.isdigit():
        return value
    return None


def _number(value: object, length: int, low: int, high: int) -> int | None:
    text = _digits(value, length)
    number = int(text) if text is not None else None
    return number if number is not None and low <= number <= high else None


def _country(value: object) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value) else None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _plain(value: Any) -> Any:
    """A receipt (any Mappings and Sequences) as dicts and lists, for the JSON body."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    return value


def _since_text(moment: datetime) -> str:
    """A created_at.gte filter: UTC with milliseconds and Z ("2026-01-01T10:00:00.000Z")."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError("created_gte must be a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# -- the client ---------------------------------------------------------------------------


class YooKassaClient:
    """One YooKassa shop's client; keeps one httpx.Client until close()."""

    parse_notification = staticmethod(parse_notification)

    def __init__(
        self,
        base_url: str,
        shop_id: str,
        secret_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        processing_retries: int = PROCESSING_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not shop_id or not secret_key:
            raise ValueError("the YooKassa shop id or secret key is empty")
        if processing_retries < 0:
            raise ValueError("processing_retries must not be negative")
        self.base_url = base_url.rstrip("/").removesuffix("/v3")
        self.shop_id = shop_id
        # Kept only inside the auth object, which has no repr of its own to leak it.
        self._auth = httpx.BasicAuth(shop_id, secret_key)
        self._timeout = timeout
        self._processing_retries = processing_retries
        self._sleep = sleep
        self._client = httpx.Client(transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"YooKassaClient(base_url={self.base_url!r}, shop_id={self.shop_id!r})"

    def __enter__(self) -> YooKassaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- payments -------------------------------------------------------------------------

    def create_payment(
        self,
        *,
        idempotence_key: str,
        amount: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
        receipt: Mapping[str, Any],
        return_url: str | None = None,
        save_payment_method: bool = False,
        payment_method_id: str | None = None,
    ) -> YooKassaPayment:
        """Create a payment of `amount` minor units, captured at once (capture: true).

        Exactly one of:
        - `return_url`: a redirect payment; send the payer to `confirmation_url`, they come
          back to return_url. `save_payment_method` asks to keep the method for off-session
          charges (the answer's payment_method.saved tells whether it was);
        - `payment_method_id`: an off-session charge of a saved method, without a
          confirmation. The answer may already be succeeded or canceled (see
          cancellation_reason), or pending: then wait for the notification or read it again.

        The same idempotence_key and arguments answer the same payment for 24 hours."""
        key = _idempotence_key(idempotence_key)
        money = _money(amount, currency)
        if (return_url is None) == (payment_method_id is None):
            raise ValueError("give exactly one of return_url or payment_method_id")
        body: dict[str, Any] = {"amount": money, "capture": True}
        if return_url is not None:
            if not isinstance(return_url, str) or not return_url.startswith(
                ("https://", "http://")
            ):
                raise ValueError("return_url must be an http(s) URL")
            body["confirmation"] = {"type": "redirect", "return_url": return_url}
            if save_payment_method:
                body["save_payment_method"] = True
        else:
            if save_payment_method:
                raise ValueError("save_payment_method applies to a redirect payment only")
            if _valid_id(payment_method_id) is None:
                raise ValueError("payment_method_id is not a YooKassa id")
            body["payment_method_id"] = payment_method_id
        if not isinstance(description, str):
            raise ValueError("description must be a string")
        if description.strip():
            body["description"] = description.strip()[:DESCRIPTION_MAX]
        body["metadata"] = _metadata(metadata)
        if not isinstance(receipt, Mapping):
            raise ValueError("receipt must be an object (see receipt())")
        if receipt:  # an empty one would be refused; a shop without receipts sends none
            body["receipt"] = _plain(receipt)
        answer = self._call("POST", "/v3/payments", body=body, idempotence_key=key)
        return self._parsed(_payment_of, answer, "POST /v3/payments")

    def payment(self, payment_id: str) -> YooKassaPayment | None:
        """The payment as YooKassa has it now; None if YooKassa does not know it (404)."""
        return self._get_one(f"/v3/payments/{_segment(payment_id)}", _payment_of)

    def _get_one[T](self, path: str, parse: Callable[[Any], T]) -> T | None:
        try:
            answer = self._call("GET", path)
        except ProviderRejected as error:
            if error.status == 404:
                return None
            raise
        return self._parsed(parse, answer, f"GET {path}")

    def payments_since(
        self, created_gte: datetime, *, status: str | None = None, limit: int = PAGE_LIMIT
    ) -> list[YooKassaPayment]:
        """Every payment created at or after `created_gte` (timezone-aware), optionally of
        one status, newest first as YooKassa lists them, following next_cursor to the end
        (`limit` per page). For reconciliation; ProviderUnavailable for a malformed page."""
        if status is not None and status not in PAYMENT_STATUSES:
            raise ValueError(f"status must be one of {sorted(PAYMENT_STATUSES)}")
        params = {"created_at.gte": _since_text(created_gte)}
        if status is not None:
            params["status"] = status
        items = self._list("/v3/payments", params, limit)
        return self._unique([self._parsed(_payment_of, i, "GET /v3/payments") for i in items])

    # -- refunds --------------------------------------------------------------------------

    def create_refund(
        self,
        *,
        idempotence_key: str,
        payment_id: str,
        amount: int,
        currency: str,
        receipt: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> YooKassaRefund:
        """Refund `amount` minor units of a succeeded payment (all of it or part). Pass a
        receipt when the payment had one (54-FZ wants a refund receipt too). The same
        idempotence_key and arguments answer the same refund for 24 hours."""
        key = _idempotence_key(idempotence_key)
        if _valid_id(payment_id) is None:
            raise ValueError("payment_id is not a YooKassa id")
        body: dict[str, Any] = {"payment_id": payment_id, "amount": _money(amount, currency)}
        if description is not None and not isinstance(description, str):
            raise ValueError("description must be a string")
        if description is not None and description.strip():
            body["description"] = description.strip()[:REFUND_DESCRIPTION_MAX]
        if receipt is not None:
            if not isinstance(receipt, Mapping):
                raise ValueError("receipt must be an object (see receipt())")
            body["receipt"] = _plain(receipt)
        answer = self._call("POST", "/v3/refunds", body=body, idempotence_key=key)
        return self._parsed(_refund_of, answer, "POST /v3/refunds")

    def refund(self, refund_id: str) -> YooKassaRefund | None:
        """The refund as YooKassa has it now; None if YooKassa does not know it (404)."""
        return self._get_one(f"/v3/refunds/{_segment(refund_id)}", _refund_of)

    def refunds_since(
        self,
        created_gte: datetime,
        *,
        status: str | None = None,
        payment_id: str | None = None,
        limit: int = PAGE_LIMIT,
    ) -> list[YooKassaRefund]:
        """Every refund created at or after `created_gte`, optionally of one status and one
        payment, newest first, following next_cursor to the end."""
        if status is not None and status not in REFUND_STATUSES:
            raise ValueError(f"status must be one of {sorted(REFUND_STATUSES)}")
        params = {"created_at.gte": _since_text(created_gte)}
        if status is not None:
            params["status"] = status
        if payment_id is not None:
            if _valid_id(payment_id) is None:
                raise ValueError("payment_id is not a YooKassa id")
            params["payment_id"] = payment_id
        items = self._list("/v3/refunds", params, limit)
        return self._unique([self._parsed(_refund_of, i, "GET /v3/refunds") for i in items])

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _parsed[T](parse: Callable[[object], T], answer: object, what: str) -> T:
        try:
            return parse(answer)
        except ValueError as error:
            raise ProviderUnavailable(PROVIDER, f"{what}: {error}") from None

    @staticmethod
    def _unique[T: (YooKassaPayment, YooKassaRefund)](objects: list[T]) -> list[T]:
        """First occurrence of each id: an object may move between pages while we read."""
        seen: set[str] = set()
        unique = []
        for each in objects:
            if each.id not in seen:
                seen.add(each.id)
                unique.append(each)
        return unique

    def _list(self, path: str, filters: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        """Every item of a list, page by page: {"type": "list", "items": [...],
        "next_cursor": "..."} until an answer has no next_cursor. The filters are repeated
        with each cursor."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit must be 1..{PAGE_LIMIT}")
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        seen_cursors: set[str] = set()
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {**filters, "limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            page = self._call("GET", path, params=params)
            page_items = page.get("items")
            if page.get("type", "list") != "list" or not isinstance(page_items, list):
                raise ProviderUnavailable(PROVIDER, f"GET {path}: answer is not a list")
            if not all(isinstance(item, dict) for item in page_items):
                raise ProviderUnavailable(PROVIDER, f"GET {path}: list items are not objects")
            items.extend(page_items)
            next_cursor = page.get("next_cursor")
            if next_cursor is None or next_cursor == "":
                return items
            if not isinstance(next_cursor, str) or len(next_cursor) > 1024:
                raise ProviderUnavailable(PROVIDER, f"GET {path}: next_cursor is not a cursor")
            if next_cursor in seen_cursors:
                raise ProviderUnavailable(PROVIDER, f"GET {path}: next_cursor repeats")
            seen_cursors.add(next_cursor)
            cursor = next_cursor
        raise ProviderUnavailable(PROVIDER, f"GET {path}: more than {MAX_PAGES} pages")

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotence_key: str | None = None,
    ) -> dict[str, Any]:
        """One API call; the JSON object answered. A 202 (still processing) is repeated,
        same request and key, up to processing_retries times while the invocation has time
        for the wait YooKassa names."""
        what = f"{method} {path}"
        headers = {"Accept": "application/json"}
        if idempotence_key is not None:
            headers[IDEMPOTENCE_HEADER] = idempotence_key
        for attempt in range(self._processing_retries + 1):
            response = self._send(
                method, path, params=params, body=body, headers=headers, what=what
            )
            if response.status_code != 202:
                return self._answer(response, what)
            if attempt == self._processing_retries:
                break
            wait = _processing_wait(_json_object(response))
            if deadline.current().remaining() <= wait:
                raise ProviderUnavailable(
                    PROVIDER, f"{what}: still processing, no time left to wait", status=202
                )
            self._sleep(wait)
        raise ProviderUnavailable(PROVIDER, f"{what}: still processing, repeat later", status=202)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        what: str,
    ) -> httpx.Response:
        timeout = deadline.current().timeout(self._timeout)
        if timeout <= 0:
            raise ProviderUnavailable(PROVIDER, f"{what}: no time left in this invocation")
        try:
            return self._client.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                headers=headers,
                auth=self._auth,
                timeout=timeout,
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(
                PROVIDER, f"{what}: network error: {type(error).__name__}"
            ) from None

    @staticmethod
    def _answer(response: httpx.Response, what: str) -> dict[str, Any]:
        status = response.status_code
        body = _json_object(response)
        if 200 <= status < 300:
            if body is None:
                raise ProviderUnavailable(
                    PROVIDER, f"{what}: answer is not a JSON object", status=status
                )
            return body
        error = body or {}
        code = _text(error, "code", 64) or f"HTTP_{status}"
        description = _text(error, "description", 500) or response.reason_phrase or "error"
        parameter = _text(error, "parameter", 128)
        error_id = _text(error, "id", 64)
        where = f" (parameter {parameter})" if parameter else ""
        if status in (408, 429) or not 400 <= status < 500:
            reference = f" (error id {error_id})" if error_id else ""
            raise ProviderUnavailable(
                PROVIDER, f"{what}: {status} {code}: {description}{reference}", status=status
            )
        if status in (401, 403):  # our shop id / secret key, or our shop's permissions
            raise ProviderMisconfigured(
                PROVIDER,
                f"{what}: {status} {code}: {description}",
                status=status,
                name=code,
                debug_id=error_id,
            )
        raise ProviderRejected(
            PROVIDER,
            f"{what}: {description}{where}",
            status=status,
            name=code,
            debug_id=error_id,
            details=[{"parameter": parameter}] if parameter else (),
        )


def _processing_wait(body: Mapping[str, Any] | None) -> float:
    """Seconds to wait before repeating a 202: retry_after (ms), within 0..MAX_WAIT."""
    retry_after = (body or {}).get("retry_after")
    if isinstance(retry_after, bool) or not isinstance(retry_after, int | float):
        return PROCESSING_DEFAULT_WAIT
    if isinstance(retry_after, float) and not math.isfinite(retry_after):
        return PROCESSING_DEFAULT_WAIT
    # Clamped before the division: float() of a huge JSON integer would overflow.
    milliseconds = min(max(retry_after, 0), PROCESSING_MAX_WAIT * 1000)
    return float(milliseconds) / 1000


def _idempotence_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError("the idempotence key is empty")
    if _IDEMPOTENCE_KEY.fullmatch(key) is None:
        raise ValueError(
            f"the idempotence key must be 1..{IDEMPOTENCE_KEY_MAX} printable ASCII characters"
        )
    return key


def _metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Our metadata within YooKassa's limits: 16 keys, names <= 32 and values <= 512
    characters, all strings. ValueError otherwise (YooKassa would refuse the payment)."""
    if not isinstance(metadata, Mapping):
        raise ValueError("metadata must be a mapping of strings")
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValueError(f"metadata has more than {METADATA_MAX_KEYS} keys")
    plain: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("metadata keys and values must be strings")
        if not key or len(key) > METADATA_KEY_MAX or len(value) > METADATA_VALUE_MAX:
            raise ValueError(
                f"metadata keys are 1..{METADATA_KEY_MAX} and values at most "
                f"{METADATA_VALUE_MAX} characters"
            )
        plain[key] = value
    return plain


def _segment(object_id: str) -> str:
    if _valid_id(object_id) is None:
        raise ValueError("not a YooKassa id")
    return quote(object_id, safe="")
