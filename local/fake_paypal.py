"""A local PayPal REST API (Orders v2, Payments v2 refunds, webhooks) for tests and the stack.

`FakePayPal(...).serve()` starts a real HTTP server on 127.0.0.1 and returns its base URL,
to be used where https://api-m.paypal.com would be. It keeps orders, captures and refunds
in memory and answers like PayPal does:

- POST /v1/oauth2/token: client credentials in HTTP basic auth (401 invalid_client
  otherwise); bearer tokens expire after `token_ttl` seconds of the fake's clock and every
  other /v1 and /v2 call needs a live one (401 AUTHENTICATION_FAILURE).
- POST /v2/checkout/orders validates the body (intent, purchase_units, amount currency_code
  and value with at most two decimals, string lengths, return URLs) and answers 400
  INVALID_REQUEST / 422 UNPROCESSABLE_ENTITY with name, message, debug_id, details[] and
  links, as PayPal does. A repeated PayPal-Request-Id answers the same order (200).
  `Prefer: return=representation` gives the full order, otherwise id, status and links.
  With payment_source.paypal.experience_context the order is PAYER_ACTION_REQUIRED with a
  "payer-action" link, with the older application_context it is CREATED with "approve".
- GET /v2/checkout/orders/{id} (purchase_units[0].payments lists the capture and, once
  refunded or reversed, its refunds with their "up" links); POST .../capture (422
  ORDER_NOT_APPROVED before approval, ORDER_ALREADY_CAPTURED after, DUPLICATE_INVOICE_ID
  when another order's capture already used the invoice_id; a repeated PayPal-Request-Id
  answers the capture again).
- GET /v2/payments/captures/{id}; POST .../refund (full or partial; 422
  REFUND_AMOUNT_EXCEEDED, CAPTURE_FULLY_REFUNDED, REFUND_CAPTURE_CURRENCY_MISMATCH).
- POST /v1/notifications/verify-webhook-signature answers {"verification_status":
  "SUCCESS" | "FAILURE"}.
- The payer's side: GET /checkoutnow?token=<order id> is a small HTML page with "Approve"
  and "Cancel" forms; POST /checkoutnow/approve approves the order, sends the
  CHECKOUT.ORDER.APPROVED webhook and redirects (303) to return_url?token=..&PayerID=..;
  POST /checkoutnow/cancel redirects to cancel_url.

Webhooks (CHECKOUT.ORDER.APPROVED on approval, PAYMENT.CAPTURE.COMPLETED on capture,
PAYMENT.CAPTURE.REFUNDED on refund, PAYMENT.CAPTURE.REVERSED from `reverse()`) are POSTed to
`webhook_url` if it is set and recorded in `webhook_deliveries`: by default synchronously,
before the call that caused them is answered (deterministic for tests); with
`background_webhooks=True` from a worker thread after the answer, as PayPal does (the local
stack needs this; `wait_for_webhooks()` waits for the queue to drain). Signing: PayPal signs
"<transmission id>|<transmission time>|<webhook id>|<crc32 of the body>" with RSA
(SHA256withRSA) and a certificate at PAYPAL-CERT-URL. The fake cannot hold PayPal's key, so
it signs that same string with HMAC-SHA256 and a key private to the instance and puts the
base64 of it in PAYPAL-TRANSMISSION-SIG; PAYPAL-AUTH-ALGO is still "SHA256withRSA" and
PAYPAL-CERT-URL points at the fake (so it is on the API base the client is configured
with); PAYPAL-TRANSMISSION-TIME is the wall clock, as PayPal's is. Event bodies are compact
JSON, so the verify endpoint re-serialises the posted webhook_event the same way and
recomputes the crc32: a changed body, another webhook id or a forged signature all answer
FAILURE. Only PayPal's verify
endpoint can check a delivery, exactly as with the real service.

Known simplifications: one purchase unit per order; no shipping, line items, payer actions
other than approving, authorizations, disputes or partial captures; the PayPal fee is
3.49% + 0.49; payer details are fixed (see `approve`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from billing.clock import Clock, SystemClock
from local.http_peer import LoopbackServer, Reply, WebhookDelivery, WebhookOutbox

DEFAULT_CLIENT_ID = "fake-paypal-client-id"
DEFAULT_CLIENT_SECRET = "fake-paypal-client-secret"  # noqa: S105 - a test fixture
DEFAULT_WEBHOOK_ID = "WH-FAKE-0000000000000000"
CERT_PATH = "/v1/notifications/certs/CERT-fake"
AUTH_ALGO = "SHA256withRSA"
FALLBACK_BASE = "https://api-m.sandbox.paypal.com"  # in links while not serving

SUPPORTED_CURRENCIES = frozenset(
    {
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
        "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    }
)  # fmt: skip
ZERO_DECIMAL_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})
_VALUE = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ALNUM = string.ascii_uppercase + string.digits

MESSAGES = {
    "INVALID_REQUEST": "Request is not well-formed, syntactically incorrect, or violates schema.",
    "UNPROCESSABLE_ENTITY": (
        "The requested action could not be performed, semantically incorrect, or failed"
        " business validation."
    ),
    "RESOURCE_NOT_FOUND": "The specified resource does not exist.",
    "AUTHENTICATION_FAILURE": (
        "Authentication failed due to invalid authentication credentials or a missing"
        " Authorization header."
    ),
    "NOT_AUTHORIZED": "Authorization failed due to insufficient permissions.",
    "UNSUPPORTED_MEDIA_TYPE": "The server does not support the request payload's media type.",
    "INTERNAL_SERVER_ERROR": "An internal server error has occurred.",
    "SERVICE_UNAVAILABLE": "Service Unavailable.",
    "VALIDATION_ERROR": "Invalid request - see details",
}
ISSUES = {
    "MALFORMED_REQUEST_JSON": "The request JSON is not well formed.",
    "MISSING_REQUIRED_PARAMETER": "A required field / parameter is missing.",
    "INVALID_PARAMETER_VALUE": "The value of a field is invalid.",
    "INVALID_PARAMETER_SYNTAX": "The value of a field does not conform to the expected format.",
    "INVALID_STRING_LENGTH": "The value of a field is either too short or too long.",
    "INVALID_ARRAY_MAX_ITEMS": "The number of items in an array parameter is too large.",
    "CURRENCY_NOT_SUPPORTED": "Currency code is not currently supported.",
    "DECIMAL_PRECISION": (
        "If the currency supports decimals, only two decimal place precision is supported."
    ),
    "DECIMALS_NOT_SUPPORTED": "Currency does not support decimals.",
    "CANNOT_BE_ZERO_OR_NEGATIVE": "Must be greater than zero.",
    "ORDER_NOT_APPROVED": (
        "Payer has not yet approved the Order for payment. Please redirect the payer to the"
        " 'rel':'approve' url returned as part of the HATEOAS links within the Create Order"
        " call or provide a valid payment_source in the request."
    ),
    "ORDER_ALREADY_CAPTURED": (
        "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed."
    ),
    "ACTION_DOES_NOT_MATCH_INTENT": (
        "Order was created with an intent to 'AUTHORIZE'. Please use v2/checkout/orders/"
        "order_id/authorize to complete the transaction or alternately Create an order with"
        " an intent of 'CAPTURE'."
    ),
    "DUPLICATE_INVOICE_ID": (
        "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your"
        " account setting requires that Invoice Id be unique for each transaction."
    ),
    "INVALID_RESOURCE_ID": "Specified resource ID does not exist. Please check the resource ID"
    " and try again.",
    "CAPTURE_FULLY_REFUNDED": "The capture has already been fully refunded.",
    "REFUND_AMOUNT_EXCEEDED": (
        "The refund amount must be less than or equal to the capture amount that has not yet"
        " been refunded."
    ),
    "REFUND_CAPTURE_CURRENCY_MISMATCH": ("Refund must be in the same currency as the capture."),
    "PERMISSION_DENIED": (
        "You do not have permission to access or perform operations on this resource."
    ),
}
# What fail_next(status) answers: (name, details) as PayPal does for that status.
FAULTS = {
    401: ("AUTHENTICATION_FAILURE", None),
    403: ("NOT_AUTHORIZED", "PERMISSION_DENIED"),
    500: ("INTERNAL_SERVER_ERROR", None),
    503: ("SERVICE_UNAVAILABLE", None),
}

Json = dict[str, Any]


def canonical_json(value: Any) -> bytes:
    """The one serialisation of event bodies (compact, key order kept, UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _new_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _debug_id() -> str:
    return secrets.token_hex(7)[:13]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(amount: Decimal, currency: str) -> str:
    return f"{amount:.0f}" if currency in ZERO_DECIMAL_CURRENCIES else f"{amount:.2f}"


def _money(amount: Decimal, currency: str) -> Json:
    return {"currency_code": currency, "value": _value(amount, currency)}


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        name: str,
        details: list[Json] | None = None,
        *,
        message: str | None = None,
    ) -> None:
        super().__init__(name)
        self.status = status
        self.name = name
        self.details = details or []
        self.message = message or MESSAGES.get(name, name)


def _issue(
    status: int, issue: str, *, field_path: str | None = None, value: object = None
) -> _ApiError:
    detail: Json = {}
    if field_path is not None:
        detail["field"] = field_path
    if value is not None:
        detail["value"] = value if isinstance(value, str) else json.dumps(value)
    if field_path is not None:
        detail["location"] = "body"
    detail["issue"] = issue
    detail["description"] = ISSUES.get(issue, issue)
    name = {400: "INVALID_REQUEST", 404: "RESOURCE_NOT_FOUND"}.get(status, "UNPROCESSABLE_ENTITY")
    return _ApiError(status, name, [detail])


@dataclass
class _Order:
    id: str
    intent: str
    status: str
    unit: Json  # reference_id, description, custom_id, invoice_id (as given)
    amount: Decimal
    currency: str
    return_url: str | None
    cancel_url: str | None
    payer_action: bool  # created with payment_source.paypal (PAYER_ACTION_REQUIRED)
    create_time: str
    update_time: str
    payer: Json | None = None
    capture_id: str | None = None


@dataclass
class _Capture:
    id: str
    order_id: str
    amount: Decimal
    currency: str
    custom_id: str | None
    invoice_id: str | None
    create_time: str
    update_time: str
    status: str = "COMPLETED"
    refunded: Decimal = Decimal(0)
    refund_ids: list[str] = field(default_factory=list)


@dataclass
class _Refund:
    id: str
    capture_id: str
    amount: Decimal
    currency: str
    custom_id: str | None
    invoice_id: str | None
    create_time: str
    note_to_payer: str | None = None


class FakePayPal:
    """See the module docstring. Public methods are thread-safe."""

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_id: str = DEFAULT_WEBHOOK_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        *,
        clock: Clock | None = None,
        token_ttl: int = 32400,
        webhook_timeout: float = 10.0,
        background_webhooks: bool = False,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_id = webhook_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self._outbox = WebhookOutbox(background=background_webhooks, timeout=webhook_timeout)
        self._clock: Clock = clock or SystemClock()
        self._wall_clock: Clock = SystemClock()  # transmission times (see _sign)
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._tokens: dict[str, datetime] = {}
        self._orders: dict[str, _Order] = {}
        self._captures: dict[str, _Capture] = {}
        self._refunds: dict[str, _Refund] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._events: dict[str, Json] = {}
        self._faults: deque[int] = deque()
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self.tokens_issued = 0
        self._http = LoopbackServer("fake PayPal", self._respond, ("GET", "POST", "PATCH"))
        self._base_url: str | None = None

    # -- serving --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url or FALLBACK_BASE

    @property
    def cert_url(self) -> str:
        return self.base_url + CERT_PATH

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the HTTP server; returns its base URL (http://127.0.0.1:<port>)."""
        self._base_url = self._http.start(host, port)
        return self._base_url

    def stop(self) -> None:
        """Stop the server started by serve() (no-op if none)."""
        self._http.stop()
        self._outbox.close()

    # -- test controls --------------------------------------------------------------------

    def approve(
        self, paypal_order_id: str, *, payer_country: str = "DE", email: str | None = None
    ) -> str | None:
        """The payer approves the order (as the Approve button does): sends the
        CHECKOUT.ORDER.APPROVED webhook; returns the return_url PayPal would redirect to."""
        with self._lock:
            order = self._orders.get(paypal_order_id)
            if order is None:
                raise KeyError(f"no PayPal order {paypal_order_id}")
            event = self._approve_locked(order, payer_country, email)
            redirect = self._return_redirect(order)
        if event is not None:
            self._deliver(event)
        return redirect

    def signed_event(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        event_id: str | None = None,
        resource_type: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A correctly signed webhook delivery (headers, body) that is not sent anywhere."""
        event = self._event(event_type, resource, event_id=event_id, resource_type=resource_type)
        return self._sign(canonical_json(event))

    def send_event(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        event_id: str | None = None,
        resource_type: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Build a signed event and POST it to webhook_url (if set); (headers, body)."""
        headers, body = self.signed_event(
            event_type, resource, event_id=event_id, resource_type=resource_type
        )
        return self._deliver(json.loads(body), (headers, body))

    def resend(self, event_id: str) -> tuple[dict[str, str], bytes]:
        """Deliver an earlier event again (same event id, new transmission), like PayPal's
        retries and the dashboard's "Resend"."""
        with self._lock:
            event = self._events.get(event_id)
        if event is None:
            raise KeyError(f"no webhook event {event_id}")
        return self._deliver(event)

    def reverse(self, capture_id: str) -> tuple[dict[str, str], bytes]:
        """A chargeback: the rest of the capture is reversed; sends PAYMENT.CAPTURE.REVERSED."""
        with self._lock:
            capture = self._captures.get(capture_id)
            if capture is None:
                raise KeyError(f"no capture {capture_id}")
            remaining = capture.amount - capture.refunded
            if remaining <= 0:
                raise ValueError(f"capture {capture_id} has nothing left to reverse")
            refund = self._add_refund(capture, remaining, note=None)
            capture.status = "REFUNDED"
            event = self._event(
                "PAYMENT.CAPTURE.REVERSED", self._refund_json(refund, full=True), "refund"
            )
        return self._deliver(event)

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        """The next `count` API calls (/v1, /v2, the token endpoint too) answer `status`:
        401 AUTHENTICATION_FAILURE, 403 NOT_AUTHORIZED (PERMISSION_DENIED: the app lacks a
        permission), 503 SERVICE_UNAVAILABLE or 500 INTERNAL_SERVER_ERROR (any other)."""
        with self._lock:
            self._faults.extend([status] * count)

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (PayPal answers 401)."""
        with self._lock:
            self._tokens.clear()

    def order_resource(self, paypal_order_id: str) -> Json:
        """The order's full representation, as GET /v2/checkout/orders/{id} shows it."""
        with self._lock:
            return self._order_json(self._orders[paypal_order_id], full=True)

    def capture_resource(self, capture_id: str) -> Json:
        """The capture as a PAYMENT.CAPTURE.* webhook carries it (with supplementary_data)."""
        with self._lock:
            return self._capture_json(self._captures[capture_id], webhook=True)

    def refund_resource(self, refund_id: str) -> Json:
        with self._lock:
            return self._refund_json(self._refunds[refund_id], full=True)

    def capture_of(self, paypal_order_id: str) -> str | None:
        """The capture id of an order, if it was captured."""
        with self._lock:
            return self._orders[paypal_order_id].capture_id

    # -- signing --------------------------------------------------------------------------

    def _signature(self, transmission_id: str, time: str, webhook_id: str, crc: int) -> str:
        message = f"{transmission_id}|{time}|{webhook_id}|{crc}".encode()
        digest = hmac.new(self._signing_key, message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def _sign(self, body: bytes) -> tuple[dict[str, str], bytes]:
        """A new transmission of `body`, timed by the wall clock as PayPal's are (whatever
        the business clock says), its certificate URL on this server."""
        transmission_id = str(uuid.uuid4())
        time = _iso(self._wall_clock.now())
        signature = self._signature(transmission_id, time, self.webhook_id, zlib.crc32(body))
        headers = {
            "Content-Type": "application/json",
            "PAYPAL-AUTH-ALGO": AUTH_ALGO,
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-TRANSMISSION-TIME": time,
            "User-Agent": "PayPal/AUHD-214.0-58350367",
        }
        return headers, body

    def _event(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        resource_type: str | None = None,
        *,
        event_id: str | None = None,
    ) -> Json:
        event_id = event_id or f"WH-{_new_id()}-{_new_id()}"
        if resource_type is None:
            if event_type.startswith("CHECKOUT."):
                resource_type = "checkout-order"
            elif event_type in ("PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"):
                resource_type = "refund"
            else:
                resource_type = "capture"
        event: Json = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": _iso(self._clock.now()),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": _summary(event_type, resource),
            "resource": copy.deepcopy(dict(resource)),
            "links": [
                {
                    "href": f"{self.base_url}/v1/notifications/webhooks-events/{event_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.base_url}/v1/notifications/webhooks-events/{event_id}/resend",
                    "rel": "resend",
                    "method": "POST",
                },
            ],
        }
        with self._lock:
            self._events[event_id] = event
        return event

    def _deliver(
        self, event: Json, signed: tuple[dict[str, str], bytes] | None = None
    ) -> tuple[dict[str, str], bytes]:
        """POST the event (signed now, unless `signed` already holds its (headers, body)) to
        webhook_url, if set, and record the delivery."""
        return self._outbox.deliver(
            self.webhook_url,
            signed or self._sign(canonical_json(event)),
            partial(WebhookDelivery, event["id"], event["event_type"]),
            self.webhook_deliveries,
        )

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """With background_webhooks: block until every webhook so far was posted."""
        return self._outbox.wait(timeout)

    # -- HTTP dispatch --------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """One HTTP request: its webhooks are sent (or queued) before it is answered."""
        reply, events = self._handle(method, target, headers, body)
        for event in events:
            self._deliver(event)
        return replace(reply, headers=(("Paypal-Debug-Id", _debug_id()), *reply.headers))

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Reply, list[Json]]:
        """One request -> (reply, webhook events to send before answering)."""
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        events: list[Json] = []
        try:
            if path.startswith(("/v1/", "/v2/")):
                reply = self._api_call(method, path, headers, body, events)
            else:
                reply = self._page(method, path, url.query, body, events)
        except _ApiError as error:
            reply = _error_reply(error)
        return reply, events

    def _api_call(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        events: list[Json],
    ) -> Reply:
        with self._lock:
            self.requests.append((method, path))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            name, issue = FAULTS.get(fault, FAULTS[500])
            details = [{"issue": issue, "description": ISSUES[issue]}] if issue else None
            raise _ApiError(fault, name, details)
        if path == "/v1/oauth2/token" and method == "POST":
            return self._token(headers, body)
        if path == CERT_PATH and method == "GET":
            return Reply(200, _FAKE_CERT, "text/plain")
        self._authenticate(headers)
        return self._api(method, path, headers, body, events)

    def _page(self, method: str, path: str, query: str, body: bytes, events: list[Json]) -> Reply:
        if path == "/checkoutnow" and method == "GET":
            return self._checkout_page(parse_qs(query).get("token", [""])[0])
        if path in ("/checkoutnow/approve", "/checkoutnow/cancel") and method == "POST":
            token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
            return self._checkout_action(path.rsplit("/", 1)[-1], token, events)
        raise _ApiError(404, "RESOURCE_NOT_FOUND")

    def _token(self, headers: Mapping[str, str], body: bytes) -> Reply:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        given = headers.get("authorization", "")
        if not given.startswith("Basic ") or not hmac.compare_digest(
            given.removeprefix("Basic ").strip().encode(), expected.encode()
        ):
            return _json_reply(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        form = parse_qs(body.decode("utf-8", "replace"))
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            description = "Grant Type is NULL" if not grant else "Unsupported grant type"
            return _json_reply(
                400, {"error": "unsupported_grant_type", "error_description": description}
            )
        token = "A21AA" + secrets.token_urlsafe(48)
        now = self._clock.now()
        with self._lock:
            self._tokens[token] = now + timedelta(seconds=self.token_ttl)
            self.tokens_issued += 1
        return _json_reply(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment"
                " https://uri.paypal.com/services/payments/refund",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_ttl,
                "nonce": f"{_iso(now)}{secrets.token_hex(8)}",
            },
        )

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        given = headers.get("authorization", "")
        token = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else ""
        with self._lock:
            expires = self._tokens.get(token) if token else None
            if expires is None or expires <= self._clock.now():
                raise _ApiError(401, "AUTHENTICATION_FAILURE")

    def _api(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        events: list[Json],
    ) -> Reply:
        full = "return=representation" in headers.get("prefer", "")
        request_id = headers.get("paypal-request-id") or None
        parts = path.strip("/").split("/")
        if path == "/v2/checkout/orders" and method == "POST":
            return self._create_order(_json_body(headers, body), request_id, full)
        if parts[:3] == ["v2", "checkout", "orders"] and len(parts) == 4 and method == "GET":
            with self._lock:
                return _json_reply(200, self._order_json(self._order(parts[3]), full=True))
        if (
            parts[:3] == ["v2", "checkout", "orders"]
            and parts[4:] == ["capture"]
            and method == "POST"
        ):
            _json_body(headers, body, allow_empty=True)
            return self._capture(parts[3], request_id, full, events)
        if parts[:3] == ["v2", "payments", "captures"] and len(parts) == 4 and method == "GET":
            with self._lock:
                capture = self._captures.get(parts[3])
                if capture is None:
                    raise _issue(404, "INVALID_RESOURCE_ID")
                return _json_reply(200, self._capture_json(capture))
        if (
            parts[:3] == ["v2", "payments", "captures"]
            and parts[4:] == ["refund"]
            and method == "POST"
        ):
            payload = _json_body(headers, body, allow_empty=True)
            return self._refund(parts[3], payload, request_id, full, events)
        if path == "/v1/notifications/verify-webhook-signature" and method == "POST":
            return self._verify(_json_body(headers, body))
        raise _ApiError(404, "RESOURCE_NOT_FOUND")

    # -- orders ---------------------------------------------------------------------------

    def _order(self, paypal_order_id: str) -> _Order:
        order = self._orders.get(paypal_order_id)
        if order is None:
            raise _issue(404, "INVALID_RESOURCE_ID")
        return order

    def _create_order(self, body: Json, request_id: str | None, full: bool) -> Reply:
        with self._lock:
            if request_id and ("create", request_id) in self._idempotency:
                order = self._orders[self._idempotency["create", request_id]]
                return _json_reply(200, self._order_json(order, full=full))
        intent = body.get("intent")
        if intent is None:
            raise _issue(400, "MISSING_REQUIRED_PARAMETER", field_path="/intent")
        if intent not in ("CAPTURE", "AUTHORIZE"):
            raise _issue(400, "INVALID_PARAMETER_VALUE", field_path="/intent", value=intent)
        units = body.get("purchase_units")
        if units is None or units == []:
            raise _issue(400, "MISSING_REQUIRED_PARAMETER", field_path="/purchase_units")
        if not isinstance(units, list) or not isinstance(units[0], dict):
            raise _issue(400, "INVALID_PARAMETER_SYNTAX", field_path="/purchase_units")
        if len(units) > 1:
            # PayPal allows up to 10; this fake keeps one (see the module docstring).
            raise _issue(400, "INVALID_ARRAY_MAX_ITEMS", field_path="/purchase_units")
        unit = units[0]
        reference = unit.get("reference_id") or "default"
        where = f"/purchase_units/@reference_id=='{reference}'"
        for key, limit in (
            ("reference_id", 256),
            ("custom_id", 127),
            ("invoice_id", 127),
            ("description", 127),
        ):
            value = unit.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise _issue(400, "INVALID_PARAMETER_SYNTAX", field_path=f"{where}/{key}")
            if not 1 <= len(value) <= limit:
                raise _issue(400, "INVALID_STRING_LENGTH", field_path=f"{where}/{key}", value=value)
        amount, currency = _parse_amount(unit.get("amount"), f"{where}/amount")
        return_url, cancel_url, payer_action = _return_urls(body)
        now = _iso(self._clock.now())
        kept = ("reference_id", "description", "custom_id", "invoice_id")
        order = _Order(
            id=_new_id(),
            intent=intent,
            status="PAYER_ACTION_REQUIRED" if payer_action else "CREATED",
            unit={key: unit[key] for key in kept if isinstance(unit.get(key), str)},
            amount=amount,
            currency=currency,
            return_url=return_url,
            cancel_url=cancel_url,
            payer_action=payer_action,
            create_time=now,
            update_time=now,
        )
        with self._lock:
            if request_id and ("create", request_id) in self._idempotency:  # lost a race
                order = self._orders[self._idempotency["create", request_id]]
                return _json_reply(200, self._order_json(order, full=full))
            self._orders[order.id] = order
            if request_id:
                self._idempotency["create", request_id] = order.id
            return _json_reply(201, self._order_json(order, full=full))

    def _approve_locked(self, order: _Order, country: str, email: str | None) -> Json | None:
        if order.status not in ("CREATED", "PAYER_ACTION_REQUIRED"):
            return None
        payer_id = _new_id(13)
        order.payer = {
            "name": {"given_name": "Test", "surname": "Buyer"},
            "email_address": email or f"buyer-{payer_id.lower()}@example.com",
            "payer_id": payer_id,
            "address": {"country_code": country},
        }
        order.status = "APPROVED"
        order.update_time = _iso(self._clock.now())
        return self._event("CHECKOUT.ORDER.APPROVED", self._order_json(order, full=True))

    def _return_redirect(self, order: _Order) -> str | None:
        if not order.return_url:
            return None
        payer_id = (order.payer or {}).get("payer_id", "")
        separator = "&" if "?" in order.return_url else "?"
        return f"{order.return_url}{separator}{urlencode({'token': order.id, 'PayerID': payer_id})}"

    def _capture(
        self, paypal_order_id: str, request_id: str | None, full: bool, events: list[Json]
    ) -> Reply:
        with self._lock:
            order = self._order(paypal_order_id)
            key = f"capture:{paypal_order_id}:{request_id}"
            if request_id and ("capture", key) in self._idempotency:
                return _json_reply(200, self._capture_answer(order, full))
            if order.intent != "CAPTURE":
                raise _issue(422, "ACTION_DOES_NOT_MATCH_INTENT")
            if order.status == "COMPLETED":
                raise _issue(422, "ORDER_ALREADY_CAPTURED")
            if order.status != "APPROVED":
                raise _issue(422, "ORDER_NOT_APPROVED")
            invoice_id = order.unit.get("invoice_id")
            if invoice_id and any(
                c.invoice_id == invoice_id and c.order_id != order.id
                for c in self._captures.values()
            ):
                raise _issue(422, "DUPLICATE_INVOICE_ID")
            now = _iso(self._clock.now())
            capture = _Capture(
                id=_new_id(),
                order_id=order.id,
                amount=order.amount,
                currency=order.currency,
                custom_id=order.unit.get("custom_id"),
                invoice_id=invoice_id,
                create_time=now,
                update_time=now,
            )
            self._captures[capture.id] = capture
            order.capture_id = capture.id
            order.status = "COMPLETED"
            order.update_time = now
            if request_id:
                self._idempotency["capture", key] = capture.id
            events.append(
                self._event("PAYMENT.CAPTURE.COMPLETED", self._capture_json(capture, webhook=True))
            )
            return _json_reply(201, self._capture_answer(order, full))

    def _capture_answer(self, order: _Order, full: bool) -> Json:
        answer = self._order_json(order, full=False)
        if not full:
            return answer
        capture = self._captures[order.capture_id] if order.capture_id else None
        answer = {
            "id": order.id,
            "status": order.status,
            "payment_source": self._payment_source(order),
            "purchase_units": [
                {
                    "reference_id": order.unit.get("reference_id", "default"),
                    "payments": {"captures": [self._capture_json(capture)] if capture else []},
                }
            ],
            "payer": copy.deepcopy(order.payer),
            "links": [self._link(f"/v2/checkout/orders/{order.id}", "self", "GET")],
        }
        return answer

    # -- refunds --------------------------------------------------------------------------

    def _refund(
        self,
        capture_id: str,
        body: Json,
        request_id: str | None,
        full: bool,
        events: list[Json],
    ) -> Reply:
        with self._lock:
            capture = self._captures.get(capture_id)
            if capture is None:
                raise _issue(404, "INVALID_RESOURCE_ID")
            key = f"refund:{capture_id}:{request_id}"
            if request_id and ("refund", key) in self._idempotency:
                refund = self._refunds[self._idempotency["refund", key]]
                return _json_reply(200, self._refund_json(refund, full=full))
            remaining = capture.amount - capture.refunded
            if capture.status == "REFUNDED" or remaining <= 0:
                raise _issue(422, "CAPTURE_FULLY_REFUNDED")
            if body.get("amount") is None:
                amount = remaining
            else:
                amount, currency = _parse_amount(body["amount"], "/amount")
                if currency != capture.currency:
                    raise _issue(422, "REFUND_CAPTURE_CURRENCY_MISMATCH", field_path="/amount")
                if amount > remaining:
                    raise _issue(422, "REFUND_AMOUNT_EXCEEDED", field_path="/amount/value")
            note = body.get("note_to_payer")
            refund = self._add_refund(capture, amount, note if isinstance(note, str) else None)
            if request_id:
                self._idempotency["refund", key] = refund.id
            events.append(
                self._event("PAYMENT.CAPTURE.REFUNDED", self._refund_json(refund, full=True))
            )
            return _json_reply(201, self._refund_json(refund, full=full))

    def _add_refund(self, capture: _Capture, amount: Decimal, note: str | None) -> _Refund:
        now = _iso(self._clock.now())
        refund = _Refund(
            id=_new_id(),
            capture_id=capture.id,
            amount=amount,
            currency=capture.currency,
            custom_id=capture.custom_id,
            invoice_id=capture.invoice_id,
            create_time=now,
            note_to_payer=note,
        )
        self._refunds[refund.id] = refund
        capture.refunded += amount
        capture.refund_ids.append(refund.id)
        capture.status = "REFUNDED" if capture.refunded >= capture.amount else "PARTIALLY_REFUNDED"
        capture.update_time = now
        return refund

    # -- webhook signature verification ---------------------------------------------------

    def _verify(self, body: Json) -> Reply:
        names = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
        )
        missing = [name for name in names if not isinstance(body.get(name), str) or not body[name]]
        if not isinstance(body.get("webhook_event"), dict):
            missing.append("webhook_event")
        if missing:
            raise _ApiError(
                400,
                "VALIDATION_ERROR",
                [
                    {"field": name, "location": "body", "issue": "may not be null"}
                    for name in missing
                ],
            )
        crc = zlib.crc32(canonical_json(body["webhook_event"]))
        expected = self._signature(
            body["transmission_id"], body["transmission_time"], body["webhook_id"], crc
        )
        genuine = (
            body["auth_algo"] == AUTH_ALGO
            and urlsplit(body["cert_url"]).path == CERT_PATH
            and hmac.compare_digest(expected.encode(), body["transmission_sig"].encode())
        )
        return _json_reply(200, {"verification_status": "SUCCESS" if genuine else "FAILURE"})

    # -- the payer's pages ----------------------------------------------------------------

    def _checkout_page(self, token: str) -> Reply:
        with self._lock:
            order = self._orders.get(token)
            if order is None:
                return _html(404, "PayPal", "<p>This checkout session does not exist.</p>")
            description = order.unit.get("description") or order.unit.get("reference_id") or ""
            amount = f"{_value(order.amount, order.currency)} {order.currency}"
            status = order.status
        quoted = html.escape(token)
        if status not in ("CREATED", "PAYER_ACTION_REQUIRED"):
            return _html(200, "PayPal", f"<p>Order {quoted} is {html.escape(status)}.</p>")
        content = (
            f"<h1>Pay with PayPal</h1><p>{html.escape(description)}</p>"
            f"<p class='amount'>{html.escape(amount)}</p>"
            f"<form method='post' action='/checkoutnow/approve'>"
            f"<input type='hidden' name='token' value='{quoted}'>"
            "<button type='submit'>Approve</button></form>"
            f"<form method='post' action='/checkoutnow/cancel'>"
            f"<input type='hidden' name='token' value='{quoted}'>"
            "<button type='submit'>Cancel</button></form>"
        )
        return _html(200, "PayPal Checkout", content)

    def _checkout_action(self, action: str, token: str, events: list[Json]) -> Reply:
        with self._lock:
            order = self._orders.get(token)
            if order is None:
                return _html(404, "PayPal", "<p>This checkout session does not exist.</p>")
            if action == "cancel":
                target = order.cancel_url
                if target:
                    separator = "&" if "?" in target else "?"
                    target = f"{target}{separator}{urlencode({'token': order.id})}"
            else:
                event = self._approve_locked(order, "DE", None)
                if event is not None:
                    events.append(event)
                target = self._return_redirect(order)
        if not target:
            word = "cancelled" if action == "cancel" else "approved"
            return _html(200, "PayPal", f"<p>Order {html.escape(token)} {word}.</p>")
        return Reply(303, b"", "text/plain", (("Location", target),))

    # -- representations ------------------------------------------------------------------

    def _link(self, path: str, rel: str, method: str) -> Json:
        return {"href": self.base_url + path, "rel": rel, "method": method}

    def _payment_source(self, order: _Order) -> Json:
        if order.payer is None:
            return {"paypal": {}}
        return {
            "paypal": {
                "email_address": order.payer["email_address"],
                "account_id": order.payer["payer_id"],
                "account_status": "VERIFIED",
                "name": order.payer["name"],
                "address": order.payer["address"],
            }
        }

    def _order_links(self, order: _Order) -> list[Json]:
        path = f"/v2/checkout/orders/{order.id}"
        links = [self._link(path, "self", "GET")]
        if order.status in ("CREATED", "PAYER_ACTION_REQUIRED"):
            rel = "payer-action" if order.payer_action else "approve"
            links.append(self._link(f"/checkoutnow?token={order.id}", rel, "GET"))
        if order.status in ("CREATED", "APPROVED"):
            links.append(self._link(path, "update", "PATCH"))
            links.append(self._link(f"{path}/capture", "capture", "POST"))
        return links

    def _order_json(self, order: _Order, *, full: bool) -> Json:
        if not full:
            minimal: Json = {"id": order.id, "status": order.status}
            if order.payer_action:
                minimal["payment_source"] = self._payment_source(order)
            minimal["links"] = self._order_links(order)
            return minimal
        unit: Json = {
            "reference_id": order.unit.get("reference_id", "default"),
            "amount": _money(order.amount, order.currency),
            "payee": {"email_address": "merchant@example.com", "merchant_id": "FAKEMERCHANT01"},
        }
        for key in ("description", "custom_id", "invoice_id"):
            if key in order.unit:
                unit[key] = order.unit[key]
        if order.capture_id is not None:
            capture = self._captures[order.capture_id]
            payments: Json = {"captures": [self._capture_json(capture)]}
            if capture.refund_ids:  # refunds and reversals, oldest first, as PayPal lists them
                payments["refunds"] = [
                    self._refund_json(self._refunds[refund_id], full=True)
                    for refund_id in capture.refund_ids
                ]
            unit["payments"] = payments
        answer: Json = {
            "id": order.id,
            "intent": order.intent,
            "status": order.status,
            "payment_source": self._payment_source(order),
            "purchase_units": [unit],
        }
        if order.payer is not None:
            answer["payer"] = copy.deepcopy(order.payer)
        answer["create_time"] = order.create_time
        answer["update_time"] = order.update_time
        answer["links"] = self._order_links(order)
        return answer

    def _capture_json(self, capture: _Capture, *, webhook: bool = False) -> Json:
        fee = min(
            capture.amount,
            (capture.amount * Decimal("0.0349")).quantize(Decimal("0.01")) + Decimal("0.49"),
        )
        answer: Json = {
            "id": capture.id,
            "status": capture.status,
            "amount": _money(capture.amount, capture.currency),
            "final_capture": True,
            "seller_protection": {
                "status": "ELIGIBLE",
                "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
            },
            "seller_receivable_breakdown": {
                "gross_amount": _money(capture.amount, capture.currency),
                "paypal_fee": _money(fee, capture.currency),
                "net_amount": _money(capture.amount - fee, capture.currency),
            },
        }
        if capture.custom_id is not None:
            answer["custom_id"] = capture.custom_id
        if capture.invoice_id is not None:
            answer["invoice_id"] = capture.invoice_id
        if webhook:
            answer["supplementary_data"] = {"related_ids": {"order_id": capture.order_id}}
            answer["payee"] = {
                "email_address": "merchant@example.com",
                "merchant_id": "FAKEMERCHANT01",
            }
        path = f"/v2/payments/captures/{capture.id}"
        answer["links"] = [
            self._link(path, "self", "GET"),
            self._link(f"{path}/refund", "refund", "POST"),
            self._link(f"/v2/checkout/orders/{capture.order_id}", "up", "GET"),
        ]
        answer["create_time"] = capture.create_time
        answer["update_time"] = capture.update_time
        return answer

    def _refund_json(self, refund: _Refund, *, full: bool) -> Json:
        links = [
            self._link(f"/v2/payments/refunds/{refund.id}", "self", "GET"),
            self._link(f"/v2/payments/captures/{refund.capture_id}", "up", "GET"),
        ]
        if not full:
            return {"id": refund.id, "status": "COMPLETED", "links": links}
        answer: Json = {
            "id": refund.id,
            "amount": _money(refund.amount, refund.currency),
            "seller_payable_breakdown": {
                "gross_amount": _money(refund.amount, refund.currency),
                "net_amount": _money(refund.amount, refund.currency),
                "total_refunded_amount": _money(
                    self._captures[refund.capture_id].refunded, refund.currency
                ),
            },
            "status": "COMPLETED",
        }
        if refund.custom_id is not None:
            answer["custom_id"] = refund.custom_id
        if refund.invoice_id is not None:
            answer["invoice_id"] = refund.invoice_id
        if refund.note_to_payer is not None:
            answer["note_to_payer"] = refund.note_to_payer
        answer["create_time"] = refund.create_time
        answer["update_time"] = refund.create_time
        answer["links"] = links
        return answer


# -- module helpers ----------------------------------------------------------------------

_FAKE_CERT = (
    b"-----BEGIN CERTIFICATE-----\n"
    b"RkFLRS1QQVlQQUwtQ0VSVElGSUNBVEUtTk9ULUFOLVJTQS1LRVk=\n"
    b"-----END CERTIFICATE-----\n"
)


def _summary(event_type: str, resource: Mapping[str, Any]) -> str:
    amount = resource.get("amount")
    if event_type.startswith("CHECKOUT."):
        return "An order has been approved by buyer"
    if isinstance(amount, Mapping):
        money = f"{amount.get('currency_code')} {amount.get('value')} {amount.get('currency_code')}"
    else:
        money = "an amount"
    if event_type == "PAYMENT.CAPTURE.REFUNDED":
        return f"A {money} capture payment was refunded"
    if event_type == "PAYMENT.CAPTURE.REVERSED":
        return f"A {money} capture payment was reversed"
    return f"Payment completed for {money}"


def _json_reply(status: int, payload: Json) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def _error_reply(error: _ApiError) -> Reply:
    if error.name == "AUTHENTICATION_FAILURE":
        payload: Json = {
            "name": error.name,
            "message": error.message,
            "links": [
                {
                    "href": "https://developer.paypal.com/docs/api/overview/#error",
                    "rel": "information_link",
                }
            ],
        }
        return _json_reply(error.status, payload)
    payload = {"name": error.name, "message": error.message, "debug_id": _debug_id()}
    if error.details:
        payload["details"] = error.details
        issue = error.details[0].get("issue", error.name)
        payload["links"] = [
            {
                "href": f"https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{issue}",
                "rel": "information_link",
                "method": "GET",
            }
        ]
    return _json_reply(error.status, payload)


def _html(status: int, title: str, content: str) -> Reply:
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>{content}</body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def _json_body(headers: Mapping[str, str], body: bytes, *, allow_empty: bool = False) -> Json:
    if not body.strip():
        if allow_empty:
            return {}
        raise _issue(400, "MALFORMED_REQUEST_JSON")
    if "json" not in headers.get("content-type", ""):
        raise _ApiError(415, "UNSUPPORTED_MEDIA_TYPE")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _issue(400, "MALFORMED_REQUEST_JSON") from None
    if not isinstance(parsed, dict):
        raise _issue(400, "MALFORMED_REQUEST_JSON")
    return parsed


def _parse_amount(amount: object, where: str) -> tuple[Decimal, str]:
    """A PayPal money object -> (positive Decimal, currency), or the error PayPal gives."""
    if amount is None:
        raise _issue(400, "MISSING_REQUIRED_PARAMETER", field_path=where)
    if not isinstance(amount, dict):
        raise _issue(400, "INVALID_PARAMETER_SYNTAX", field_path=where)
    code, value = amount.get("currency_code"), amount.get("value")
    if code is None:
        raise _issue(400, "MISSING_REQUIRED_PARAMETER", field_path=f"{where}/currency_code")
    if not isinstance(code, str) or not _CURRENCY.match(code):
        raise _issue(
            400, "INVALID_PARAMETER_SYNTAX", field_path=f"{where}/currency_code", value=code
        )
    if value is None:
        raise _issue(400, "MISSING_REQUIRED_PARAMETER", field_path=f"{where}/value")
    if not isinstance(value, str) or len(value) > 32 or not _VALUE.match(value):
        raise _issue(400, "INVALID_PARAMETER_SYNTAX", field_path=f"{where}/value", value=value)
    if code not in SUPPORTED_CURRENCIES:
        raise _issue(422, "CURRENCY_NOT_SUPPORTED", field_path=f"{where}/currency_code", value=code)
    number = Decimal(value)
    decimals = len(value.partition(".")[2])
    if code in ZERO_DECIMAL_CURRENCIES and "." in value:
        raise _issue(422, "DECIMALS_NOT_SUPPORTED", field_path=f"{where}/value", value=value)
    if decimals > 2:
        raise _issue(422, "DECIMAL_PRECISION", field_path=f"{where}/value", value=value)
    if number <= 0:
        raise _issue(422, "CANNOT_BE_ZERO_OR_NEGATIVE", field_path=f"{where}/value", value=value)
    return number, code


def _return_urls(body: Json) -> tuple[str | None, str | None, bool]:
    """(return_url, cancel_url, created with payment_source.paypal) of a create body."""
    source = body.get("payment_source")
    context: object = None
    payer_action = False
    where = "/application_context"
    if isinstance(source, dict) and isinstance(source.get("paypal"), dict):
        payer_action = True
        context = source["paypal"].get("experience_context")
        where = "/payment_source/paypal/experience_context"
    elif isinstance(body.get("application_context"), dict):
        context = body["application_context"]
    if not isinstance(context, dict):
        return None, None, payer_action
    urls: list[str | None] = []
    for key in ("return_url", "cancel_url"):
        value = context.get(key)
        if value is not None and (
            not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https")
        ):
            raise _issue(400, "INVALID_PARAMETER_SYNTAX", field_path=f"{where}/{key}", value=value)
        urls.append(value)
    return urls[0], urls[1], payer_action
