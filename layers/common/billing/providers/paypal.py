"""PayPal REST client (Orders v2, Payments v2 refunds, webhook verification) over httpx.

Flow: `create_order` -> the payer approves at `PayPalOrder.approve_url` -> `capture_order`
(on the return URL or on the CHECKOUT.ORDER.APPROVED webhook; both may happen, capture is
idempotent) -> PAYMENT.CAPTURE.COMPLETED. `refund_capture` gives money back.

- Amounts are integer minor units here and "12.50" strings at PayPal.
- Our order id travels as purchase_units[0].reference_id, custom_id and invoice_id, so every
  capture and webhook names it; PayPal refuses a second capture with the same invoice_id
  (DUPLICATE_INVOICE_ID), which stops two PayPal orders paying one of ours twice.
- Every write carries a PayPal-Request-Id derived from what it does (create-<order id>,
  capture-<PayPal order id>, the caller's refund request id), so repeating a call after a
  timeout never creates a second order, capture or refund.
- The OAuth2 access token (client credentials) is cached until shortly before it expires
  and fetched again once if PayPal answers 401 with a cached one.
- Webhooks: `plausible_webhook` is a local pre-check (headers, certificate host,
  transmission time, body shape, a per-process limit on failed verifications) so that a
  forged delivery costs no call; `verify_webhook_signature` then asks PayPal (one POST
  /v1/notifications/verify-webhook-signature with the cached token) and `parse_webhook`
  turns the four events billing acts on into `PayPalEvent`; any other event type raises
  `UnsupportedEvent` (acknowledge it and move on).
- Reconciliation: `order_status` reads an order's status, captures and refunds.

Failures: `ProviderUnavailable` (network, timeout, 5xx, 429, malformed answers; try later),
its subclass `ProviderMisconfigured` (PayPal refuses our credentials: 401 from the token
endpoint or to a token just issued; or our app's permissions: 403; alert an operator) and
`ProviderRejected` (other 4xx with PayPal's name, message, debug_id and details). The
client secret and the access token never appear in an exception, repr or log line.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from billing import deadline
from billing.domain.money import Currency, decimal_text, require_positive, to_minor
from billing.errors import BillingError
from billing.providers.errors import ProviderMisconfigured, ProviderRejected, ProviderUnavailable

PROVIDER = "paypal"
TOKEN_MARGIN_SECONDS = 300.0  # fetch a new token this long before the old one expires
DESCRIPTION_MAX = 127  # PayPal's limit for purchase_units[].description

# The webhook pre-check (`PayPalClient.plausible_webhook`). PayPal retries one transmission
# (same id, time and signature) 25 times over three days, so its time may be that old.
TRANSMISSION_MAX_AGE = timedelta(days=3, hours=6)
TRANSMISSION_MAX_SKEW = timedelta(minutes=5)  # how far in the future (clock skew)
# Failed verifications: this many within the window suspend calling PayPal for a while.
VERIFY_FAILURE_LIMIT = 10
VERIFY_FAILURE_WINDOW_SECONDS = 60.0
VERIFY_SUSPENSION_SECONDS = 60.0

EVENT_ORDER_APPROVED = "CHECKOUT.ORDER.APPROVED"
EVENT_CAPTURE_COMPLETED = "PAYMENT.CAPTURE.COMPLETED"
EVENT_CAPTURE_REFUNDED = "PAYMENT.CAPTURE.REFUNDED"
EVENT_CAPTURE_REVERSED = "PAYMENT.CAPTURE.REVERSED"
SUPPORTED_EVENTS = frozenset(
    {EVENT_ORDER_APPROVED, EVENT_CAPTURE_COMPLETED, EVENT_CAPTURE_REFUNDED, EVENT_CAPTURE_REVERSED}
)

# Webhook headers PayPal signs with (names compared case-insensitively) -> verify fields.
SIGNATURE_HEADERS = {
    "paypal-auth-algo": "auth_algo",
    "paypal-cert-url": "cert_url",
    "paypal-transmission-id": "transmission_id",
    "paypal-transmission-sig": "transmission_sig",
    "paypal-transmission-time": "transmission_time",
}
AUTH_ALGO = "SHA256withRSA"
CERT_PATH_PREFIX = "/v1/notifications/certs/"
# The verify-webhook-signature API's length limits for the fields the headers fill.
_HEADER_MAX = {
    "paypal-auth-algo": 100,
    "paypal-cert-url": 500,
    "paypal-transmission-id": 50,
    "paypal-transmission-sig": 500,
    "paypal-transmission-time": 100,
}
_TRANSMISSION_ID = re.compile(r"^[A-Za-z0-9._-]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class PayPalWebhookError(ValueError):
    """A webhook body that is not a PayPal event of the shape billing expects."""


class UnsupportedEvent(PayPalWebhookError):
    """A well-formed event of a type billing does not act on (acknowledge and ignore it)."""

    def __init__(self, event_id: str, event_type: str) -> None:
        super().__init__(f"PayPal event {event_id} has unsupported type {event_type}")
        self.event_id = event_id
        self.event_type = event_type


@dataclass(frozen=True)
class PayPalOrder:
    """`approve_url` is where the payer approves; None when the order was approved already
    (status APPROVED: capture it) or paid (COMPLETED), which a repeated create can show."""

    id: str
    approve_url: str | None
    status: str = "CREATED"


@dataclass(frozen=True)
class PayPalCapture:
    order_id: str | None  # ours (custom_id / invoice_id)
    paypal_order_id: str
    capture_id: str
    status: str  # COMPLETED, PENDING, DECLINED, PARTIALLY_REFUNDED, REFUNDED, FAILED
    amount: int  # minor units
    currency: str


@dataclass(frozen=True)
class PayPalRefund:
    """A refund (or reversal) of a capture, as an order lists it; amount in minor units."""

    refund_id: str
    capture_id: str | None  # from the refund's "up" link
    status: str  # COMPLETED, PENDING, CANCELLED, FAILED
    amount: int
    currency: str


@dataclass(frozen=True)
class PayPalOrderState:
    """What PayPal has for one order now (GET /v2/checkout/orders/{id}), for reconciliation.

    `status`: CREATED, PAYER_ACTION_REQUIRED, APPROVED, SAVED, VOIDED or COMPLETED; `amount`
    is the order's (first purchase unit's) total; `captures` and `refunds` are every one
    listed under purchase_units[].payments, in PayPal's order."""

    paypal_order_id: str
    status: str
    order_id: str | None  # ours (custom_id / invoice_id / reference_id)
    amount: int
    currency: str
    captures: tuple[PayPalCapture, ...] = ()
    refunds: tuple[PayPalRefund, ...] = ()


@dataclass(frozen=True)
class PayPalEvent:
    """One webhook event. Which ids are set depends on the type:

    - CHECKOUT.ORDER.APPROVED: paypal_order_id (the resource is the order), order_id;
    - PAYMENT.CAPTURE.COMPLETED: capture_id, paypal_order_id, order_id;
    - PAYMENT.CAPTURE.REFUNDED / REVERSED: refund_id (the resource is a refund), capture_id
      (from its "up" link), order_id when PayPal copied custom_id / invoice_id onto it.

    `amount` is in minor units and never negative (reversals may carry a negative value).
    """

    event_id: str
    event_type: str
    resource_type: str
    status: str
    amount: int
    currency: str
    order_id: str | None = None
    paypal_order_id: str | None = None
    capture_id: str | None = None
    refund_id: str | None = None
    create_time: str | None = None
    resource: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _money(value: object, *, where: str) -> tuple[int, str]:
    """PayPal's {"currency_code": "EUR", "value": "12.50"} -> (1250, "EUR"); ValueError if not."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: no amount object")
    code, raw = value.get("currency_code"), value.get("value")
    if not isinstance(code, str) or not isinstance(raw, str):
        raise ValueError(f"{where}: amount without currency_code/value strings")
    try:
        currency = Currency.parse(code)
        return abs(to_minor(Decimal(raw), currency)), currency.value
    except (BillingError, InvalidOperation) as error:
        raise ValueError(f"{where}: amount {raw!r} {code!r} is not usable: {error}") from None


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def _our_order_id(*sources: Mapping[str, Any]) -> str | None:
    """custom_id, else invoice_id, else a reference_id other than PayPal's "default"."""
    for key in ("custom_id", "invoice_id"):
        for source in sources:
            if value := _text(source, key):
                return value
    for source in sources:
        value = _text(source, "reference_id")
        if value and value != "default":
            return value
    return None


def _first_purchase_unit(order: Mapping[str, Any]) -> Mapping[str, Any]:
    units = order.get("purchase_units")
    if not isinstance(units, list) or not units or not isinstance(units[0], Mapping):
        raise ValueError("order without purchase_units")
    return units[0]


def _link(resource: Mapping[str, Any], *rels: str) -> str | None:
    links = resource.get("links")
    if not isinstance(links, list):
        return None
    for rel in rels:
        for link in links:
            if isinstance(link, Mapping) and link.get("rel") == rel:
                href = link.get("href")
                if isinstance(href, str) and href:
                    return href
    return None


def _capture_id_from_up_link(resource: Mapping[str, Any]) -> str | None:
    href = _link(resource, "up")
    if href is None or "/captures/" not in href:
        return None
    return href.rstrip("/").rsplit("/", 1)[-1] or None


def _related_order_id(resource: Mapping[str, Any]) -> str | None:
    supplementary = resource.get("supplementary_data")
    if not isinstance(supplementary, Mapping):
        return None
    related = supplementary.get("related_ids")
    return _text(related, "order_id") if isinstance(related, Mapping) else None


def parse_webhook(body: bytes) -> PayPalEvent:
    """Parse a PayPal webhook body (verify its signature first)."""
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayPalWebhookError("PayPal webhook body is not JSON") from None
    if not isinstance(event, dict):
        raise PayPalWebhookError("PayPal webhook body is not a JSON object")
    event_id, event_type = _text(event, "id"), _text(event, "event_type")
    resource = event.get("resource")
    if event_id is None or event_type is None or not isinstance(resource, dict):
        raise PayPalWebhookError("PayPal webhook without id, event_type or resource")
    if event_type not in SUPPORTED_EVENTS:
        raise UnsupportedEvent(event_id, event_type)
    resource_type = _text(event, "resource_type") or ""
    try:
        return _parse_resource(event, event_id, event_type, resource_type, resource)
    except ValueError as error:
        raise PayPalWebhookError(f"PayPal event {event_id} ({event_type}): {error}") from None


def _parse_resource(
    event: Mapping[str, Any],
    event_id: str,
    event_type: str,
    resource_type: str,
    resource: dict[str, Any],
) -> PayPalEvent:
    resource_id = _text(resource, "id")
    if resource_id is None:
        raise ValueError("resource without id")
    common: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "resource_type": resource_type,
        "status": _text(resource, "status") or "",
        "create_time": _text(event, "create_time"),
        "resource": resource,
    }
    if event_type == EVENT_ORDER_APPROVED:
        unit = _first_purchase_unit(resource)
        amount, currency = _money(unit.get("amount"), where="purchase_units[0]")
        return PayPalEvent(
            **common,
            amount=amount,
            currency=currency,
            order_id=_our_order_id(unit),
            paypal_order_id=resource_id,
        )
    amount, currency = _money(resource.get("amount"), where="resource")
    if event_type == EVENT_CAPTURE_COMPLETED or (
        resource_type == "capture" and _capture_id_from_up_link(resource) is None
    ):
        return PayPalEvent(
            **common,
            amount=amount,
            currency=currency,
            order_id=_our_order_id(resource),
            paypal_order_id=_related_order_id(resource),
            capture_id=resource_id,
        )
    capture_id = _capture_id_from_up_link(resource)
    if capture_id is None:
        raise ValueError("refund without a link up to its capture")
    return PayPalEvent(
        **common,
        amount=amount,
        currency=currency,
        order_id=_our_order_id(resource),
        paypal_order_id=_related_order_id(resource),
        capture_id=capture_id,
        refund_id=resource_id,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and isinstance(value, str) and value:
            return value
    return None


class PayPalClient:
    """One PayPal REST app's client; keeps one httpx.Client until close()."""

    parse_webhook = staticmethod(parse_webhook)

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("the PayPal client id or secret is empty")
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._timeout = timeout
        self._client = httpx.Client(transport=transport, timeout=timeout)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._failed_verifications = _FailureLimiter(clock)

    def __repr__(self) -> str:
        return f"PayPalClient(base_url={self.base_url!r}, client_id={self._client_id!r})"

    def __enter__(self) -> PayPalClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- orders ---------------------------------------------------------------------------

    def create_order(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        description: str,
        return_url: str,
        cancel_url: str,
    ) -> PayPalOrder:
        """Create (or, repeated with the same order_id, find again) a CAPTURE order.

        A repeat answers the order as it is now: check `status` when approve_url is None.
        """
        require_positive(amount)
        code = Currency.parse(currency).value
        if not order_id:
            raise ValueError("order_id is empty")
        body = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": order_id,
                    "custom_id": order_id,
                    "invoice_id": order_id,
                    "description": description[:DESCRIPTION_MAX],
                    "amount": {"currency_code": code, "value": decimal_text(amount)},
                }
            ],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        "return_url": return_url,
                        "cancel_url": cancel_url,
                        "user_action": "PAY_NOW",
                        "shipping_preference": "NO_SHIPPING",
                    }
                }
            },
        }
        answer = self._call(
            "POST",
            "/v2/checkout/orders",
            json_body=body,
            headers={"PayPal-Request-Id": f"create-{order_id}"},
        )
        paypal_order_id, status = _text(answer, "id"), _text(answer, "status") or ""
        approve_url = _link(answer, "payer-action", "approve")
        if paypal_order_id is None or (
            approve_url is None and status not in ("APPROVED", "COMPLETED")
        ):
            raise ProviderUnavailable(PROVIDER, "create order answer without id or approve link")
        return PayPalOrder(id=paypal_order_id, approve_url=approve_url, status=status)

    def get_order(self, paypal_order_id: str) -> dict[str, Any]:
        """The order as PayPal shows it (full representation)."""
        return self._call(
            "GET",
            f"/v2/checkout/orders/{_segment(paypal_order_id)}",
            headers={"Prefer": "return=representation"},
        )

    def order_status(self, paypal_order_id: str) -> PayPalOrderState | None:
        """The order's status, captures and refunds as PayPal has them now; None if PayPal
        does not know the order (404). One GET, safe to repeat (reconciliation).

        ProviderUnavailable when the answer is not an order of the documented shape."""
        try:
            order = self.get_order(paypal_order_id)
        except ProviderRejected as error:
            if error.status == 404:
                return None
            raise
        try:
            return _order_state(order, paypal_order_id)
        except ValueError as error:
            raise ProviderUnavailable(PROVIDER, f"order {paypal_order_id}: {error}") from None

    def capture_order(self, paypal_order_id: str) -> PayPalCapture:
        """Capture an approved order; an already captured one answers its capture again.

        ProviderRejected with issue ORDER_NOT_APPROVED means the payer has not approved
        (yet); check `PayPalCapture.status` ("COMPLETED") before crediting anything.
        """
        path = f"/v2/checkout/orders/{_segment(paypal_order_id)}/capture"
        try:
            answer = self._call(
                "POST",
                path,
                json_body={},
                headers={
                    "PayPal-Request-Id": f"capture-{paypal_order_id}",
                    "Prefer": "return=representation",
                },
            )
        except ProviderRejected as error:
            if error.issue != "ORDER_ALREADY_CAPTURED":
                raise
            answer = self.get_order(paypal_order_id)
        try:
            return _capture_of(answer, paypal_order_id)
        except LookupError:
            pass  # a minimal answer: read the order
        try:
            return _capture_of(self.get_order(paypal_order_id), paypal_order_id)
        except LookupError as error:
            raise ProviderUnavailable(PROVIDER, f"order {paypal_order_id}: {error}") from None

    def refund_capture(
        self, capture_id: str, *, amount: int, currency: str, request_id: str
    ) -> str:
        """Refund `amount` of a capture; returns the refund id. Same request_id, same refund."""
        require_positive(amount)
        code = Currency.parse(currency).value
        if not request_id:
            raise ValueError("request_id is empty")
        answer = self._call(
            "POST",
            f"/v2/payments/captures/{_segment(capture_id)}/refund",
            json_body={"amount": {"currency_code": code, "value": decimal_text(amount)}},
            headers={"PayPal-Request-Id": request_id},
        )
        refund_id = _text(answer, "id")
        if refund_id is None:
            raise ProviderUnavailable(PROVIDER, "refund answer without id")
        return refund_id

    # -- webhooks -------------------------------------------------------------------------

    def plausible_webhook(self, headers: Mapping[str, str], body: bytes, now: datetime) -> bool:
        """Whether a delivery is worth asking PayPal about: a local check, no network.

        Call it before `verify_webhook_signature` and answer 401 when it is False, so that a
        forged request costs nothing. True when all of these hold:

        - the five paypal-* signature headers (names in any case) are present, within the
          verify API's lengths; the transmission id is a plain token, the signature base64;
        - paypal-auth-algo is SHA256withRSA;
        - paypal-cert-url is https on paypal.com or a subdomain (api.paypal.com,
          api.sandbox.paypal.com, ...), or on this client's own API base (the fake), with a
          /v1/notifications/certs/ path and no user info;
        - paypal-transmission-time (ISO 8601) is at most TRANSMISSION_MAX_AGE before `now`
          and TRANSMISSION_MAX_SKEW after it. The past bound is days, not minutes: PayPal
          redelivers the same transmission (id, time, signature) for up to three days, and
          a replay inside that window is harmless (the event id is claimed once);
        - the body is a JSON object with a string `id` and `event_type`;
        - verification is not suspended: VERIFY_FAILURE_LIMIT verifications that PayPal
          failed within VERIFY_FAILURE_WINDOW_SECONDS suspend it for
          VERIFY_SUSPENSION_SECONDS in this process (every delivery is then refused without
          a call; PayPal redelivers genuine ones later).

        `now` is the wall clock (PayPal signs with real time), timezone-aware.
        """
        if self._failed_verifications.suspended():
            return False
        values = _signature_headers(headers)
        return (
            values is not None
            and values["paypal-auth-algo"] == AUTH_ALGO
            and _TRANSMISSION_ID.match(values["paypal-transmission-id"]) is not None
            and _BASE64.match(values["paypal-transmission-sig"]) is not None
            and self._trusted_cert_url(values["paypal-cert-url"])
            and _within_window(values["paypal-transmission-time"], now)
            and _event_object(body) is not None
        )

    def verify_webhook_signature(
        self, *, headers: Mapping[str, str], body: bytes, webhook_id: str
    ) -> bool:
        """Ask PayPal whether the delivery is genuine; True only for "SUCCESS".

        One call (POST /v1/notifications/verify-webhook-signature) with the cached access
        token. A delivery without the signature headers or with a body that is not a JSON
        object is False without a call, and so is every delivery while verification is
        suspended (see `plausible_webhook`). PayPal failing the signature or refusing the
        check (4xx) is False and counts towards that suspension. Raises ProviderUnavailable
        when PayPal cannot answer (answer 503 so that PayPal redelivers), and its subclass
        ProviderMisconfigured when PayPal refuses our credentials or permissions (401/403:
        answer 503 too, and alert: nothing verifies until an operator fixes them).
        """
        event = _event_object(body, need_ids=False)
        values = _signature_headers(headers, limits=False)
        if self._failed_verifications.suspended() or not webhook_id:
            return False
        if event is None or values is None:
            return False
        fields: dict[str, Any] = {SIGNATURE_HEADERS[name]: value for name, value in values.items()}
        fields["webhook_id"] = webhook_id
        fields["webhook_event"] = event
        try:
            answer = self._call("POST", "/v1/notifications/verify-webhook-signature", fields)
        except ProviderRejected:  # 400 VALIDATION_ERROR, 422, ...: not verifiable
            answer = {}
        if answer.get("verification_status") == "SUCCESS":
            return True
        self._failed_verifications.failed()
        return False

    def _trusted_cert_url(self, cert_url: str) -> bool:
        """https on paypal.com or a subdomain, or this client's own API base (the fake)."""
        try:
            url = urlsplit(cert_url)
            port = url.port
        except ValueError:
            return False
        if url.username is not None or url.password is not None:
            return False
        if not url.path.startswith(CERT_PATH_PREFIX) or len(url.path) == len(CERT_PATH_PREFIX):
            return False
        host = (url.hostname or "").lower()
        if (
            url.scheme == "https"
            and port in (None, 443)
            and (host == "paypal.com" or host.endswith(".paypal.com"))
        ):
            return True
        base = urlsplit(self.base_url)
        return (url.scheme, url.netloc.lower()) == (base.scheme, base.netloc.lower())

    # -- internals ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One authenticated API call; the JSON object answered (empty for 204).

        A 401 to a cached token drops it and repeats the call once with a new one (PayPal
        may revoke a token before it expires); a 401 to a token just issued means PayPal
        does not accept our credentials: ProviderMisconfigured, as for a 403.
        """
        for _ in (1, 2):
            token, fresh = self._token_and_freshness()
            request_headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                **(headers or {}),
            }
            response = self._send(method, path, json_body, request_headers)
            if response.status_code != 401:
                break
            self._drop_token(token)
            if fresh:
                break
        return self._answer(response, what=f"{method} {path}")

    def _send(
        self, method: str, path: str, json_body: Any, headers: Mapping[str, str]
    ) -> httpx.Response:
        timeout = self._time_left(f"{method} {path}")
        try:
            if json_body is None:
                return self._client.request(
                    method, self.base_url + path, headers=headers, timeout=timeout
                )
            return self._client.request(
                method, self.base_url + path, json=json_body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(
                PROVIDER, f"{method} {path}: network error: {type(error).__name__}"
            ) from None

    def _answer(self, response: httpx.Response, *, what: str) -> dict[str, Any]:
        status = response.status_code
        body = _json_object(response)
        if 200 <= status < 300:
            if status == 204:
                return {}
            if body is None:
                raise ProviderUnavailable(
                    PROVIDER, f"{what}: answer is not a JSON object", status=status
                )
            return body
        body = body or {}
        name = _text(body, "name") or _text(body, "error") or f"HTTP_{status}"
        message = (
            _text(body, "message") or _text(body, "error_description") or response.reason_phrase
        )
        debug_id = _text(body, "debug_id")
        if status >= 500 or status in (408, 429):
            debug = f" (debug_id {debug_id})" if debug_id else ""
            raise ProviderUnavailable(
                PROVIDER, f"{what}: {status} {name}: {message}{debug}", status=status
            )
        if status in (401, 403):  # our credentials or our app's permissions
            raise ProviderMisconfigured(
                PROVIDER,
                f"{what}: {status} {name}: {message}",
                status=status,
                name=name,
                debug_id=debug_id,
            )
        details = body.get("details")
        return_details = (
            [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []
        )
        raise ProviderRejected(
            PROVIDER,
            f"{what}: {message}",
            status=status,
            name=name,
            debug_id=debug_id,
            details=return_details,
        )

    def _time_left(self, what: str) -> float:
        """Each request's timeout: the client's, cut to what the invocation has left."""
        timeout = deadline.current().timeout(self._timeout)
        if timeout <= 0:
            raise ProviderUnavailable(PROVIDER, f"{what}: no time left in this invocation")
        return timeout

    def _access_token(self) -> str:
        return self._token_and_freshness()[0]

    def _token_and_freshness(self) -> tuple[str, bool]:
        """(token, fetched just now). 401 invalid_client raises ProviderMisconfigured."""
        with self._token_lock:
            if self._token is not None and self._clock() < self._token_expires:
                return self._token, False
            timeout = self._time_left("token")
            try:
                response = self._client.post(
                    self.base_url + "/v1/oauth2/token",
                    auth=(self._client_id, self._client_secret),
                    data={"grant_type": "client_credentials"},
                    headers={"Accept": "application/json"},
                    timeout=timeout,
                )
            except httpx.HTTPError as error:
                raise ProviderUnavailable(
                    PROVIDER, f"token: network error: {type(error).__name__}"
                ) from None
            body = self._answer(response, what="POST /v1/oauth2/token")
            token = _text(body, "access_token")
            expires_in = body.get("expires_in")
            if token is None or not isinstance(expires_in, int) or isinstance(expires_in, bool):
                raise ProviderUnavailable(PROVIDER, "token answer without access_token/expires_in")
            margin = min(TOKEN_MARGIN_SECONDS, expires_in / 2)
            self._token, self._token_expires = token, self._clock() + expires_in - margin
            return token, True

    def _drop_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an empty PayPal id")
    return quote(value, safe="")


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _capture_of(order: Mapping[str, Any], paypal_order_id: str) -> PayPalCapture:
    """The capture of an order representation; LookupError if it shows none."""
    units = order.get("purchase_units")
    if not isinstance(units, list) or not units or not isinstance(units[0], Mapping):
        raise LookupError("no purchase_units in the answer")
    unit = units[0]
    payments = unit.get("payments")
    captures = payments.get("captures") if isinstance(payments, Mapping) else None
    if not isinstance(captures, list) or not captures:
        raise LookupError("no capture in the answer")
    valid = [c for c in captures if isinstance(c, Mapping) and _text(c, "id")]
    if not valid:
        raise LookupError("no capture with an id in the answer")
    capture = next((c for c in valid if c.get("status") == "COMPLETED"), valid[0])
    try:
        amount, currency = _money(capture.get("amount"), where="capture")
    except ValueError as error:
        raise ProviderUnavailable(PROVIDER, str(error)) from None
    return PayPalCapture(
        order_id=_our_order_id(capture, unit),
        paypal_order_id=_text(order, "id") or paypal_order_id,
        capture_id=str(capture["id"]),
        status=_text(capture, "status") or "",
        amount=amount,
        currency=currency,
    )


def _signature_headers(headers: Mapping[str, str], *, limits: bool = True) -> dict[str, str] | None:
    """The five paypal-* signature headers (any case), within the verify API's lengths;
    None if one is missing (or, with `limits`, too long)."""
    values: dict[str, str] = {}
    for name, limit in _HEADER_MAX.items():
        value = _header(headers, name)
        if value is None or (limits and len(value) > limit):
            return None
        values[name] = value.strip() if limits else value
    return values


def _event_object(body: bytes, *, need_ids: bool = True) -> dict[str, Any] | None:
    """The body as a JSON object (with string `id` and `event_type` if `need_ids`)."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    if need_ids and (_text(event, "id") is None or _text(event, "event_type") is None):
        return None
    return event


def _within_window(transmission_time: str, now: datetime) -> bool:
    sent = _iso_time(transmission_time)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return sent is not None and (now - TRANSMISSION_MAX_AGE <= sent <= now + TRANSMISSION_MAX_SKEW)


def _iso_time(value: str) -> datetime | None:
    """An ISO 8601 time ("2026-01-01T10:00:06Z"), as UTC; None if it is not one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class _FailureLimiter:
    """Failed webhook verifications in this process: VERIFY_FAILURE_LIMIT of them within
    VERIFY_FAILURE_WINDOW_SECONDS suspend verification for VERIFY_SUSPENSION_SECONDS, so a
    flood of forged deliveries cannot make us call PayPal (and spend its rate limit) for
    each. Per Lambda container; time from the client's monotonic clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: deque[float] = deque()
        self._suspended_until: float | None = None

    def suspended(self) -> bool:
        with self._lock:
            if self._suspended_until is None:
                return False
            if self._clock() < self._suspended_until:
                return True
            self._suspended_until = None
            return False

    def failed(self) -> None:
        with self._lock:
            now = self._clock()
            self._failures.append(now)
            while self._failures and self._failures[0] <= now - VERIFY_FAILURE_WINDOW_SECONDS:
                self._failures.popleft()
            if len(self._failures) >= VERIFY_FAILURE_LIMIT:
                self._failures.clear()
                self._suspended_until = now + VERIFY_SUSPENSION_SECONDS


def _order_state(order: Mapping[str, Any], paypal_order_id: str) -> PayPalOrderState:
    """An order representation -> PayPalOrderState; ValueError if it is not one."""
    unit = _first_purchase_unit(order)
    amount, currency = _money(unit.get("amount"), where="purchase_units[0]")
    status = _text(order, "status")
    if status is None:
        raise ValueError("order without status")
    captures: list[PayPalCapture] = []
    refunds: list[PayPalRefund] = []
    units = order.get("purchase_units")
    for each in units if isinstance(units, list) else ():
        if not isinstance(each, Mapping):
            continue
        payments = each.get("payments")
        if not isinstance(payments, Mapping):
            continue
        for capture in _objects(payments.get("captures"), "captures"):
            capture_amount, capture_currency = _money(capture.get("amount"), where="capture")
            captures.append(
                PayPalCapture(
                    order_id=_our_order_id(capture, each),
                    paypal_order_id=_text(order, "id") or paypal_order_id,
                    capture_id=_required_id(capture, "capture"),
                    status=_text(capture, "status") or "",
                    amount=capture_amount,
                    currency=capture_currency,
                )
            )
        for refund in _objects(payments.get("refunds"), "refunds"):
            refund_amount, refund_currency = _money(refund.get("amount"), where="refund")
            refunds.append(
                PayPalRefund(
                    refund_id=_required_id(refund, "refund"),
                    capture_id=_capture_id_from_up_link(refund),
                    status=_text(refund, "status") or "",
                    amount=refund_amount,
                    currency=refund_currency,
                )
            )
    return PayPalOrderState(
        paypal_order_id=_text(order, "id") or paypal_order_id,
        status=status,
        order_id=_our_order_id(unit),
        amount=amount,
        currency=currency,
        captures=tuple(captures),
        refunds=tuple(refunds),
    )


def _objects(value: object, where: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ValueError(f"payments.{where} is not a list of objects")
    return list(value)


def _required_id(resource: Mapping[str, Any], what: str) -> str:
    value = _text(resource, "id")
    if value is None:
        raise ValueError(f"{what} without id")
    return value
