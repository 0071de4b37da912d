"""Stripe Checkout in front of localstripe, for tests and the local stack.

localstripe (a stateful fake Stripe API, see local/localstripe_peer.py) has no Checkout
Sessions. `StripeCheckout(localstripe_base, webhook_url=..., webhook_secret=...).serve()`
starts a real HTTP server on 127.0.0.1 and returns its base URL, to be used as the Stripe API
base (StripeGateway's `api_base`):

- Every /v1/* request is passed on to localstripe as it came (method, path, query, body and
  the Authorization, Idempotency-Key, Stripe-Version, Stripe-Account and Content-Type
  headers); localstripe's status, Content-Type and body come back unchanged.
- Except Checkout Sessions, which this server keeps itself:
  - POST /v1/checkout/sessions (form body in Stripe's bracket notation) checks what Stripe
    checks for mode=payment with `price_data` line items (mode, line_items, currency,
    unit_amount, product_data[name], quantity, success_url, customer, metadata,
    payment_intent_data[setup_future_usage], unknown parameters) and answers Stripe-shaped
    errors: 400 {"error": {"type": "invalid_request_error", "message", "param"}}. Stripe
    parameters this fake does not simulate (discounts, subscription_data, ...) are refused
    the same way. A repeated Idempotency-Key with the same parameters replays the first
    answer (header Idempotent-Replayed: true); with other parameters it is a 400
    idempotency_error, as at Stripe.
  - GET /v1/checkout/sessions/{id}, GET /v1/checkout/sessions (filters: customer,
    payment_intent; limit) and POST /v1/checkout/sessions/{id}/expire. Sessions belong to
    the secret key that created them (another key gets 404 resource_missing).
- The payer's side: GET /checkout/{id} is a small self-contained HTML page (element ids:
  `amount`, `description`, form `payment-form` with inputs `card`, `exp`, `cvc`, button
  `pay`, link `cancel`, `test-cards`, and `error` when an attempt failed); POST
  /checkout/{id} (form: card, exp, cvc) pays it in localstripe with the creating key:
  a card PaymentMethod from the raw number, attached to the customer when the session saves
  the card (payment_intent_data[setup_future_usage]; without a `customer` one is created,
  as Checkout's customer_creation=if_required does), then a PaymentIntent with confirm=true,
  amount, currency, customer, payment_method and payment_intent_data[metadata]. On success
  the session becomes complete/paid with its payment_intent, the answer is a 303 to
  success_url ({CHECKOUT_SESSION_ID} replaced) and `checkout.session.completed` is POSTed
  to `webhook_url`, signed like Stripe (Stripe-Signature "t=..,v1=..", webhook_secret), from
  a worker thread after the answer. A declined card (402 page, "Your card was declined.")
  or one that needs 3-D Secure (402 page; the intent is cancelled) shows the form again
  and sends nothing. A paid session's page says so; an expired one too.

Deliveries are recorded in `webhook_deliveries` (WebhookDelivery);
`wait_for_webhooks()` waits until the queue is drained.

What localstripe forces on this (1.15.10):
- Its PaymentIntent rejects `setup_future_usage` (400 "Unexpected ..."): the session keeps
  it, the card is attached to the customer instead, and the intent does not show it.
- It takes 16-digit card numbers with a 3-digit CVC only; the page refuses others.
- It ignores Idempotency-Key on the requests passed on (only sessions honour it here).
- Each attempt creates its own PaymentIntent (Stripe reuses one per session); localstripe
  sends its own payment_intent.succeeded / payment_intent.payment_failed for them to the
  endpoints registered with it.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx

from billing.providers.stripe_signature import sign_webhook
from local.http_peer import LoopbackServer, Reply, WebhookDelivery, WebhookOutbox

SESSION_LIFETIME_SECONDS = 24 * 3600  # Stripe's default expires_at
MIN_LIFETIME_SECONDS = 30 * 60
FALLBACK_BASE = "https://checkout.stripe.com"  # in session urls while not serving
API_VERSION = "2024-06-20"
EVENT_TYPE = "checkout.session.completed"
FORWARDED_REQUEST_HEADERS = (
    "authorization",
    "idempotency-key",
    "stripe-version",
    "stripe-account",
    "content-type",
)
RETURNED_RESPONSE_HEADERS = (
    "request-id",
    "idempotency-key",
    "idempotent-replayed",
    "original-request",
    "stripe-version",
    "stripe-should-retry",
)
TEST_CARDS = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0341", "is declined"),
    ("4000 0025 0000 3155", "needs authentication"),
)
DECLINED = "Your card was declined."
NEEDS_AUTHENTICATION = (
    "This card needs authentication (3-D Secure), which the local checkout does not"
    " simulate; use another test card."
)
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
        "vuv", "xaf", "xof", "xpf",
    }
)  # fmt: skip
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Parameters the fake understands (top level, and inside the nested objects).
_SESSION_PARAMS = frozenset(
    {
        "mode", "line_items", "success_url", "cancel_url", "customer", "customer_email",
        "customer_creation", "client_reference_id", "metadata", "payment_intent_data",
        "allowed_payment_method_types", "payment_method_types", "expand", "expires_at",
        "locale", "submit_type", "billing_address_collection",
    }
)  # fmt: skip
_LINE_ITEM_PARAMS = frozenset({"price_data", "quantity"})
_PRICE_DATA_PARAMS = frozenset({"currency", "unit_amount", "product_data"})
_PRODUCT_DATA_PARAMS = frozenset({"name", "description", "metadata", "images"})
_INTENT_DATA_PARAMS = frozenset({"metadata", "setup_future_usage", "description"})
_ALNUM = string.ascii_letters + string.digits
_CURRENCY = re.compile(r"^[a-z]{3}$")
_INTEGER = re.compile(r"^-?[0-9]+$")
_CHECKOUT_PAGE = re.compile(r"^/checkout/([A-Za-z0-9_]+)$")
_SESSION_PATH = re.compile(r"^/v1/checkout/sessions/([A-Za-z0-9_]+)(/expire)?$")

Json = dict[str, Any]


class _StripeError(Exception):
    """An API error, answered as Stripe does: {"error": {"type", "message", ...}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: Json = {"type": kind, "message": message}
        if param is not None:
            self.error["param"] = param
        if code is not None:
            self.error["code"] = code

    def reply(self) -> Reply:
        return _json_reply(self.status, {"error": self.error})


class _CardProblem(Exception):
    """What the payment page tells the payer (status: 400 bad input, 402 declined)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Session:
    id: str
    api_key: str
    created: int
    expires_at: int
    mode: str
    currency: str
    amount_total: int
    description: str  # the line items' product names
    customer: str | None
    customer_email: str | None
    customer_creation: str | None
    metadata: dict[str, str]
    client_reference_id: str | None
    success_url: str
    cancel_url: str | None
    intent_metadata: dict[str, str]
    setup_future_usage: str | None
    status: str = "open"
    payment_status: str = "unpaid"
    payment_intent: str | None = None
    created_customer: str | None = None  # made for saving the card, before completion
    attempts: list[str] = field(default_factory=list)  # payment intents tried


@dataclass(frozen=True)
class _Replay:
    params: Json
    reply: Reply


class StripeCheckout:
    """See the module docstring. Public methods are thread-safe."""

    def __init__(
        self,
        localstripe_base: str,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        webhook_timeout: float = 10.0,
        forward_timeout: float = 30.0,
    ) -> None:
        self.localstripe_base = localstripe_base.rstrip("/")
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._forward_timeout = forward_timeout
        self._outbox = WebhookOutbox(background=True, timeout=webhook_timeout)
        self._lock = threading.RLock()
        self._pay_lock = threading.Lock()  # one payment at a time: no session paid twice
        self._sessions: dict[str, _Session] = {}
        self._replays: dict[tuple[str, str], _Replay] = {}  # (api key, idempotency key)
        self._http = LoopbackServer(
            "Stripe Checkout", self._respond, methods=("GET", "POST", "DELETE")
        )
        self._base_url: str | None = None

    # -- serving --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url or FALLBACK_BASE

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the HTTP server; returns its base URL (the Stripe API base, pages under
        /checkout/)."""
        self._base_url = self._http.start(host, port)
        return self._base_url

    def stop(self) -> None:
        """Stop the server started by serve() (no-op if none) and the webhook worker."""
        self._http.stop()
        self._outbox.close()

    # -- test controls --------------------------------------------------------------------

    def session(self, session_id: str) -> Json:
        """The session object as the API shows it (KeyError if unknown)."""
        with self._lock:
            return self._session_json(self._refresh(self._sessions[session_id]))

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook was posted; False if `timeout` ran out first."""
        return self._outbox.wait(timeout)

    # -- HTTP -----------------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """One HTTP request; its webhook (if any) is queued, then posted after the answer."""
        events: list[Json] = []
        reply = self._handle(method, target, headers, body, events)
        for event in events:
            self._deliver(event)
        return reply

    def _handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        events: list[Json],
    ) -> Reply:
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        if path.startswith("/v1/checkout/"):
            try:
                return self._sessions_api(method, path, url.query, headers, body)
            except _StripeError as error:
                return error.reply()
        if path.startswith("/v1/"):
            return self._forward(method, target, headers, body)
        page = _CHECKOUT_PAGE.match(path)
        if page is not None:
            if method == "GET":
                return self._page(page.group(1))
            if method == "POST":
                return self._pay(page.group(1), body, events)
        return _html(404, "Not found", "<p id='error'>Not found.</p>")

    def _forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        sent = {name: headers[name] for name in FORWARDED_REQUEST_HEADERS if name in headers}
        try:
            response = httpx.request(
                method,
                self.localstripe_base + target,
                content=body if body else None,
                headers=sent,
                timeout=self._forward_timeout,
            )
        except httpx.HTTPError as exc:
            return _StripeError(
                502, f"localstripe did not answer: {type(exc).__name__}: {exc}", kind="api_error"
            ).reply()
        returned = tuple(
            (name, response.headers[name])
            for name in RETURNED_RESPONSE_HEADERS
            if name in response.headers
        )
        content_type = response.headers.get("content-type", "application/json")
        return Reply(response.status_code, response.content, content_type, returned)

    # -- the Checkout Sessions API --------------------------------------------------------

    def _sessions_api(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        api_key = _api_key(headers)
        if path == "/v1/checkout/sessions":
            if method == "POST":
                return self._create(api_key, headers, body)
            if method == "GET":
                return _json_reply(200, self._list(api_key, query))
        found = _SESSION_PATH.match(path)
        if found is not None:
            session_id, action = found.group(1), found.group(2)
            if method == "GET" and action is None:
                with self._lock:
                    session = self._owned(api_key, session_id)
                    return _json_reply(200, self._session_json(session))
            if method == "POST" and action == "/expire":
                with self._lock:
                    session = self._owned(api_key, session_id)
                    if session.status != "open":
                        raise _StripeError(
                            400,
                            f'Only Checkout Sessions with a status in ["open"] can be'
                            f" expired. This Checkout Session has a status of"
                            f' "{session.status}".',
                        )
                    session.status = "expired"
                    return _json_reply(200, self._session_json(session))
        raise _StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). The local checkout keeps only"
            " POST/GET /v1/checkout/sessions, GET /v1/checkout/sessions/{id} and POST"
            " /v1/checkout/sessions/{id}/expire.",
        )

    def _create(self, api_key: str, headers: Mapping[str, str], body: bytes) -> Reply:
        params = parse_form(body)
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key:
            with self._lock:
                replay = self._replays.get((api_key, idempotency_key))
            if replay is not None:
                if replay.params != params:
                    raise _StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same"
                        " parameters they were first used with. Try using a key other than"
                        f" '{idempotency_key}' if you meant to execute a different request.",
                        kind="idempotency_error",
                    )
                original = replay.reply
                return Reply(
                    original.status,
                    original.body,
                    original.content_type,
                    (*original.headers, ("Idempotent-Replayed", "true")),
                )
        session = self._new_session(api_key, params)
        with self._lock:
            self._sessions[session.id] = session
            reply = _json_reply(200, self._session_json(session))
            if idempotency_key:
                reply = Reply(
                    reply.status,
                    reply.body,
                    reply.content_type,
                    (("Idempotency-Key", idempotency_key),),
                )
                self._replays.setdefault((api_key, idempotency_key), _Replay(params, reply))
                reply = self._replays[(api_key, idempotency_key)].reply
        return reply

    def _new_session(self, api_key: str, params: Json) -> _Session:
        _only(params, _SESSION_PARAMS, "", simulated=_stripe_session_params())
        mode = _mode(params)
        currency, amount, description = _line_items(params.get("line_items"))
        success_url = params.get("success_url")
        if success_url is None:
            raise _StripeError(400, "Missing required param: success_url.", param="success_url")
        _check_url(success_url, "success_url")
        cancel_url = params.get("cancel_url")
        if cancel_url is not None:
            _check_url(cancel_url, "cancel_url")
        customer, customer_email, customer_creation = _customer_params(params)
        intent_metadata, future = _intent_data(params.get("payment_intent_data", {}))
        now = int(time.time())
        expires_at = _expires_at(params, now)
        client_reference_id = _optional_text(params, "client_reference_id")
        if client_reference_id is not None and len(client_reference_id) > 200:
            raise _StripeError(
                400,
                "client_reference_id must be at most 200 characters.",
                param="client_reference_id",
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        if customer is not None:
            self._check_customer(api_key, customer)
        return _Session(
            id="cs_test_" + "".join(secrets.choice(_ALNUM) for _ in range(58)),
            api_key=api_key,
            created=now,
            expires_at=expires_at,
            mode=mode,
            currency=currency,
            amount_total=amount,
            description=description,
            customer=customer,
            customer_email=customer_email,
            customer_creation=customer_creation,
            metadata=metadata,
            client_reference_id=client_reference_id,
            success_url=success_url,
            cancel_url=cancel_url,
            intent_metadata=intent_metadata,
            setup_future_usage=future,
        )

    def _check_customer(self, api_key: str, customer: str) -> None:
        """Stripe refuses a customer it does not know: ask localstripe."""
        try:
            response = httpx.get(
                f"{self.localstripe_base}/v1/customers/{quote(customer, safe='')}",
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=self._forward_timeout,
            )
        except httpx.HTTPError as exc:
            raise _StripeError(
                502, f"localstripe did not answer: {type(exc).__name__}: {exc}", kind="api_error"
            ) from exc
        if response.status_code == 404 or (
            response.status_code == 200 and _json_object(response.content).get("deleted")
        ):
            raise _StripeError(
                400, f"No such customer: '{customer}'", param="customer", code="resource_missing"
            )
        if response.is_error:
            raise _StripeError(
                response.status_code,
                f"localstripe refused the customer lookup: {response.text[:200]}",
                kind="api_error",
            )

    def _list(self, api_key: str, query: str) -> Json:
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        limit = _integer(params.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise _StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
        with self._lock:
            found = [
                self._session_json(self._refresh(session))
                for session in sorted(self._sessions.values(), key=lambda s: -s.created)
                if session.api_key == api_key
                and params.get("customer") in (None, session.customer)
                and params.get("payment_intent") in (None, session.payment_intent)
            ]
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/checkout/sessions",
        }

    def _owned(self, api_key: str, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None or session.api_key != api_key:
            raise _StripeError(
                404,
                f"No such checkout.session: '{session_id}'",
                param="session",
                code="resource_missing",
            )
        return self._refresh(session)

    def _refresh(self, session: _Session) -> _Session:
        if session.status == "open" and session.expires_at <= int(time.time()):
            session.status = "expired"
        return session

    def _session_json(self, session: _Session) -> Json:
        return {
            "id": session.id,
            "object": "checkout.session",
            "amount_subtotal": session.amount_total,
            "amount_total": session.amount_total,
            "cancel_url": session.cancel_url,
            "client_reference_id": session.client_reference_id,
            "created": session.created,
            "currency": session.currency,
            "customer": session.customer,
            "customer_creation": session.customer_creation,
            "customer_email": session.customer_email,
            "expires_at": session.expires_at,
            "livemode": False,
            "metadata": dict(session.metadata),
            "mode": session.mode,
            "payment_intent": session.payment_intent,
            "payment_method_types": ["card"],
            "payment_status": session.payment_status,
            "status": session.status,
            "success_url": session.success_url,
            "url": self._page_url(session.id) if session.status == "open" else None,
        }

    def _page_url(self, session_id: str) -> str:
        return f"{self.base_url}/checkout/{session_id}"

    # -- the payer's side -----------------------------------------------------------------

    def _page(self, session_id: str) -> Reply:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return _html(
                    404, "Checkout", "<p id='error'>This checkout session does not exist.</p>"
                )
            self._refresh(session)
            return self._session_page(session, None)

    def _session_page(self, session: _Session, problem: _CardProblem | None) -> Reply:
        if session.status == "complete":
            return _html(
                200,
                "Paid",
                "<p id='paid'>This checkout session is already paid.</p>"
                f"<p><a id='continue' href='{html.escape(_success_url(session))}'>Continue</a>"
                "</p>",
            )
        if session.status == "expired":
            return _html(200, "Expired", "<p id='expired'>This checkout session has expired.</p>")
        return _html(
            problem.status if problem is not None else 200,
            "Checkout",
            _form(session, _format_amount(session.amount_total, session.currency), problem),
        )

    def _pay(self, session_id: str, body: bytes, events: list[Json]) -> Reply:
        form = {
            key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()
        }
        with self._pay_lock:
            with self._lock:
                session = self._sessions.get(session_id)
                if session is None:
                    return _html(
                        404, "Checkout", "<p id='error'>This checkout session does not exist.</p>"
                    )
                self._refresh(session)
                if session.status != "open":
                    return self._session_page(session, None)
            try:
                intent, customer = self._charge(session, form)
            except _CardProblem as problem:
                with self._lock:
                    return self._session_page(session, problem)
            with self._lock:
                session.status = "complete"
                session.payment_status = "paid"
                session.payment_intent = intent
                session.customer = customer
                events.append(self._event(session))
        return Reply(303, b"", "text/plain", (("Location", _success_url(session)),))

    def _charge(self, session: _Session, form: Mapping[str, str]) -> tuple[str, str | None]:
        """Pays the session in localstripe; returns (payment intent id, customer id)."""
        number, exp_month, exp_year, cvc = _card_form(form)
        api = _LocalStripeApi(self.localstripe_base, session.api_key, self._forward_timeout)
        method = api.post(
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": number,
                "card[exp_month]": str(exp_month),
                "card[exp_year]": str(exp_year),
                "card[cvc]": cvc,
            },
        )
        payment_method = str(method["id"])
        customer = session.customer
        if session.setup_future_usage is not None:
            if customer is None:
                if session.created_customer is None:
                    made = api.post("/v1/customers", {"metadata[checkout_session]": session.id})
                    session.created_customer = str(made["id"])
                customer = session.created_customer
            # What setup_future_usage does at Stripe; localstripe's intents do not take it.
            api.post(f"/v1/payment_methods/{payment_method}/attach", {"customer": customer})
        params = {
            "amount": str(session.amount_total),
            "currency": session.currency,
            "payment_method": payment_method,
            "payment_method_types[0]": "card",
            "confirm": "true",
            **{f"metadata[{key}]": value for key, value in session.intent_metadata.items()},
        }
        if customer is not None:
            params["customer"] = customer
        intent = api.post("/v1/payment_intents", params)
        intent_id = str(intent["id"])
        session.attempts.append(intent_id)
        status = intent.get("status")
        if status == "requires_action":
            api.post(f"/v1/payment_intents/{intent_id}/cancel", {}, check=False)
            raise _CardProblem(402, NEEDS_AUTHENTICATION)
        if status != "succeeded":
            raise _CardProblem(402, f"The payment is {status}; use another test card.")
        return intent_id, customer

    # -- webhooks -------------------------------------------------------------------------

    def _event(self, session: _Session) -> Json:
        return {
            "id": "evt_" + "".join(secrets.choice(_ALNUM) for _ in range(24)),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "type": EVENT_TYPE,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": self._session_json(session)},
        }

    def _deliver(self, event: Json) -> None:
        body = json.dumps(event, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign_webhook(body, self.webhook_secret, int(time.time())),
        }
        record = partial(WebhookDelivery, str(event["id"]), str(event["type"]))
        self._outbox.deliver(self.webhook_url, (headers, body), record, self.webhook_deliveries)


# -- localstripe, as the payment page uses it ----------------------------------------------


class _LocalStripeApi:
    def __init__(self, base: str, api_key: str, timeout: float) -> None:
        self._base = base
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout

    def post(self, path: str, form: Mapping[str, str], *, check: bool = True) -> Json:
        """localstripe's answer; a 402 (declined) is a _CardProblem the payer sees."""
        try:
            response = httpx.post(
                self._base + path, data=dict(form), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise _CardProblem(502, f"localstripe did not answer: {exc}") from exc
        body = _json_object(response.content)
        if response.is_error and check:
            error = body.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            if response.status_code == 402:
                raise _CardProblem(402, str(message or DECLINED))
            raise _CardProblem(
                502, f"localstripe refused {path} ({response.status_code}): {message or body}"
            )
        return body


# -- the payment page ------------------------------------------------------------------------


def _form(session: _Session, amount: str, problem: _CardProblem | None) -> str:
    action = f"/checkout/{quote(session.id)}"
    error = (
        f"<p id='error' role='alert' class='error'>{html.escape(str(problem))}</p>"
        if problem is not None
        else ""
    )
    cancel = (
        f"<a id='cancel' href='{html.escape(session.cancel_url)}'>Cancel and go back</a>"
        if session.cancel_url
        else ""
    )
    saving = (
        "<p id='save-card' class='note'>The card will be saved for future payments.</p>"
        if session.setup_future_usage
        else ""
    )
    cards = ", ".join(f"{html.escape(number)} {what}" for number, what in TEST_CARDS)
    return (
        "<main>"
        "<h1>Pay with card</h1>"
        f"<p id='description'>{html.escape(session.description)}</p>"
        f"<p id='amount' class='amount'>{html.escape(amount)}</p>"
        f"{error}"
        f"<form id='payment-form' method='post' action='{html.escape(action)}'>"
        "<label for='card'>Card number</label>"
        "<input id='card' name='card' inputmode='numeric' autocomplete='cc-number'"
        " value='4242 4242 4242 4242' required>"
        "<div class='row'><span><label for='exp'>Expiry (MM / YY)</label>"
        "<input id='exp' name='exp' autocomplete='cc-exp' value='12 / 34' required></span>"
        "<span><label for='cvc'>CVC</label>"
        "<input id='cvc' name='cvc' inputmode='numeric' autocomplete='cc-csc' value='123'"
        " required></span></div>"
        f"{saving}"
        f"<button id='pay' type='submit'>Pay {html.escape(amount)}</button>"
        "</form>"
        f"<p>{cancel}</p>"
        f"<p id='test-cards' class='note'>Test cards: {cards}. Any future expiry, any CVC.</p>"
        "</main>"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f6f9fc;color:#30313d;margin:0}"
    "main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 2px 8px rgba(0,0,0,.08)}"
    "label{display:block;font-size:.85rem;margin:.8rem 0 .3rem}"
    "input{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #d5dbe1;"
    "border-radius:4px;font-size:1rem}"
    ".row{display:flex;gap:1rem}.row span{flex:1}"
    "button{width:100%;margin-top:1.2rem;padding:.8rem;border:0;border-radius:4px;"
    "background:#635bff;color:#fff;font-size:1rem;cursor:pointer}"
    ".amount{font-size:1.8rem;font-weight:600;margin:.2rem 0}"
    ".error{color:#df1b41}.note{font-size:.8rem;color:#6a7383}"
)


def _html(status: int, title: str, content: str) -> Reply:
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{content}</body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def _card_form(form: Mapping[str, str]) -> tuple[str, int, int, str]:
    """(number, exp_month, exp_year, cvc) of the page's form, or a _CardProblem (400)."""
    number = re.sub(r"[\s-]", "", form.get("card", ""))
    if not number:
        raise _CardProblem(400, "Your card number is incomplete.")
    if not number.isdigit() or not _luhn(number):
        raise _CardProblem(400, "Your card number is invalid.")
    if len(number) != 16:
        raise _CardProblem(400, "The local checkout takes 16-digit test card numbers only.")
    digits = re.sub(r"\D", "", form.get("exp", ""))
    if len(digits) not in (4, 6):
        raise _CardProblem(400, "Your card's expiration date is incomplete.")
    month, year = int(digits[:2]), int(digits[2:])
    year = year + 2000 if year < 100 else year
    if not 1 <= month <= 12:
        raise _CardProblem(400, "Your card's expiration month is invalid.")
    today = time.gmtime()
    if (year, month) < (today.tm_year, today.tm_mon):
        raise _CardProblem(400, "Your card's expiration date is in the past.")
    cvc = form.get("cvc", "").strip()
    if not cvc.isdigit() or len(cvc) != 3:
        raise _CardProblem(400, "Your card's security code is incomplete.")
    return number, month, year, cvc


def _luhn(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {currency.upper()}"
    places = 3 if currency in THREE_DECIMAL_CURRENCIES else 2
    whole, fraction = divmod(amount, 10**places)
    return f"{whole}.{fraction:0{places}d} {currency.upper()}"


def _success_url(session: _Session) -> str:
    return session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id)


# -- request parsing and checks --------------------------------------------------------------


def parse_form(body: bytes) -> Json:
    """A Stripe form body ("line_items[0][price_data][currency]=eur&expand[]=x") as nested
    dicts and lists; a malformed key is a 400."""
    root: Json = {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _StripeError(400, "The request body is not valid UTF-8.") from None
    for key, value in parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        head, bracket, rest = key.partition("[")
        parts = [head]
        if bracket:
            if not rest.endswith("]"):
                raise _StripeError(400, f"Invalid parameter name: {key}", param=key)
            parts += rest[:-1].split("][")
        if not head or any("[" in part or "]" in part for part in parts):
            raise _StripeError(400, f"Invalid parameter name: {key}", param=key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            name = part if part else str(len(node))  # "x[]": the next list index
            if last:
                if name in node:
                    raise _StripeError(400, f"Parameter given twice: {key}", param=key)
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise _StripeError(400, f"Invalid parameter name: {key}", param=key)
                node = child
    listed = _lists(root)
    assert isinstance(listed, dict)
    return listed


def _lists(value: Any) -> Any:
    """{"0": a, "1": b} -> [a, b], recursively (Stripe's array notation)."""
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        indexes = sorted(int(key) for key in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(index)] for index in indexes]
    return converted


@functools.cache
def _stripe_session_params() -> frozenset[str]:
    """Every parameter Stripe's Checkout Session create takes (per the installed SDK)."""
    from stripe import RequestOptions
    from stripe.params.checkout import SessionCreateParams

    return frozenset(SessionCreateParams.__annotations__) - frozenset(
        RequestOptions.__annotations__
    )


def _only(
    params: Mapping[str, Any],
    allowed: Iterable[str],
    prefix: str,
    *,
    simulated: frozenset[str] = frozenset(),
) -> None:
    allowed = frozenset(allowed)
    for key in params:
        if key in allowed:
            continue
        name = f"{prefix}[{key}]" if prefix else key
        if key in simulated:
            raise _StripeError(400, f"The local checkout does not simulate {name}.", param=name)
        raise _StripeError(400, f"Received unknown parameter: {name}", param=name)


def _mode(params: Mapping[str, Any]) -> str:
    """mode=payment (the only one simulated), with cards among the payment method types."""
    mode = params.get("mode")
    if mode is None:
        raise _StripeError(400, "Missing required param: mode.", param="mode")
    if mode not in ("payment", "setup", "subscription"):
        raise _StripeError(
            400,
            f"Invalid mode: must be one of payment, setup, or subscription (got {mode!r}).",
            param="mode",
        )
    if mode != "payment":
        raise _StripeError(400, "The local checkout simulates mode=payment only.", param="mode")
    for name in ("allowed_payment_method_types", "payment_method_types"):
        kinds = params.get(name)
        if kinds is not None and (
            not isinstance(kinds, list) or "card" not in kinds or len(kinds) != len(set(kinds))
        ):
            raise _StripeError(
                400,
                f"The local checkout takes cards only: {name} must include card.",
                param=name,
            )
    return str(mode)


def _customer_params(params: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(customer, customer_email, customer_creation: None when a customer is given)."""
    customer = _optional_text(params, "customer")
    customer_email = _optional_text(params, "customer_email")
    creation = _optional_text(params, "customer_creation")
    for other, given in (("customer_email", customer_email), ("customer_creation", creation)):
        if customer is not None and given is not None:
            raise _StripeError(
                400,
                f"You may only specify one of these parameters: customer, {other}.",
                param=other,
            )
    if creation not in (None, "always", "if_required"):
        raise _StripeError(
            400,
            "Invalid customer_creation: must be one of always or if_required",
            param="customer_creation",
        )
    if customer is None and creation is None:
        creation = "if_required"
    return customer, customer_email, creation


def _intent_data(value: object) -> tuple[dict[str, str], str | None]:
    """(metadata, setup_future_usage) of payment_intent_data."""
    if not isinstance(value, dict):
        raise _StripeError(400, "Invalid object", param="payment_intent_data")
    _only(value, _INTENT_DATA_PARAMS, "payment_intent_data")
    metadata = _metadata(value.get("metadata"), "payment_intent_data[metadata]")
    future = value.get("setup_future_usage")
    if future not in (None, "on_session", "off_session"):
        raise _StripeError(
            400,
            "Invalid payment_intent_data[setup_future_usage]: must be one of on_session"
            " or off_session",
            param="payment_intent_data[setup_future_usage]",
        )
    return metadata, future


def _expires_at(params: Mapping[str, Any], now: int) -> int:
    if "expires_at" not in params:
        return now + SESSION_LIFETIME_SECONDS
    expires_at = _integer(params["expires_at"], "expires_at")
    if not now + MIN_LIFETIME_SECONDS <= expires_at <= now + SESSION_LIFETIME_SECONDS:
        raise _StripeError(
            400,
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from"
            " Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


def _line_items(value: object) -> tuple[str, int, str]:
    """(currency, amount_total, description) of line_items with price_data."""
    if value is None:
        raise _StripeError(400, "Missing required param: line_items.", param="line_items")
    if not isinstance(value, list) or not value:
        raise _StripeError(400, "Invalid array", param="line_items")
    lines = [_line_item(f"line_items[{index}]", item) for index, item in enumerate(value)]
    currencies = {currency for currency, _, _ in lines}
    if len(currencies) > 1:
        raise _StripeError(400, "All line items must use the same currency.", param="line_items")
    total = sum(amount for _, amount, _ in lines)
    if total <= 0:
        raise _StripeError(
            400,
            "The Checkout Session's total amount due must be greater than 0.",
            param="line_items",
        )
    return currencies.pop(), total, ", ".join(name for _, _, name in lines)


def _line_item(prefix: str, item: object) -> tuple[str, int, str]:
    """(currency, amount, name) of one line item."""
    if not isinstance(item, dict):
        raise _StripeError(400, "Invalid object", param=prefix)
    if "price" in item:
        raise _StripeError(
            400,
            f"The local checkout does not simulate {prefix}[price]: use price_data.",
            param=f"{prefix}[price]",
        )
    _only(item, _LINE_ITEM_PARAMS, prefix)
    price = _required(item, "price_data", prefix)
    if not isinstance(price, dict):
        raise _StripeError(400, "Invalid object", param=f"{prefix}[price_data]")
    _only(price, _PRICE_DATA_PARAMS, f"{prefix}[price_data]")
    currency = _required(price, "currency", f"{prefix}[price_data]")
    if not isinstance(currency, str) or not _CURRENCY.match(currency.lower()):
        raise _StripeError(
            400, f"Invalid currency: {currency}.", param=f"{prefix}[price_data][currency]"
        )
    unit_amount = _integer(
        _required(price, "unit_amount", f"{prefix}[price_data]"),
        f"{prefix}[price_data][unit_amount]",
        minimum=0,
    )
    product = _required(price, "product_data", f"{prefix}[price_data]")
    if not isinstance(product, dict):
        raise _StripeError(400, "Invalid object", param=f"{prefix}[price_data][product_data]")
    name = _required(product, "name", f"{prefix}[price_data][product_data]")
    if not isinstance(name, str) or not name.strip():
        raise _StripeError(
            400,
            "A product name is required.",
            param=f"{prefix}[price_data][product_data][name]",
        )
    _only(product, _PRODUCT_DATA_PARAMS, f"{prefix}[price_data][product_data]")
    quantity = _integer(_required(item, "quantity", prefix), f"{prefix}[quantity]", minimum=1)
    return (
        currency.lower(),
        unit_amount * quantity,
        name if quantity == 1 else f"{name} x {quantity}",
    )


def _required(params: Mapping[str, Any], key: str, prefix: str) -> Any:
    if key not in params:
        name = f"{prefix}[{key}]" if prefix else key
        raise _StripeError(400, f"Missing required param: {name}.", param=name)
    return params[key]


def _integer(value: object, param: str, *, minimum: int | None = None) -> int:
    if not isinstance(value, str) or not _INTEGER.match(value.strip()):
        raise _StripeError(400, f"Invalid integer: {value}", param=param)
    number = int(value.strip())
    if minimum is not None and number < minimum:
        raise _StripeError(
            400, f"This value must be greater than or equal to {minimum}.", param=param
        )
    return number


def _optional_text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _StripeError(400, "Invalid string", param=name)
    return value


def _metadata(value: object, param: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise _StripeError(400, "Invalid object", param=param)
    if len(value) > 50:
        raise _StripeError(400, "Metadata can have at most 50 keys.", param=param)
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            raise _StripeError(
                400,
                "Metadata keys are at most 40 characters, values strings of at most 500.",
                param=f"{param}[{key}]",
            )
        metadata[key] = item
    return metadata


def _check_url(value: object, param: str) -> None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise _StripeError(400, "Not a valid URL", param=param)
    if len(value) > 5000:
        raise _StripeError(400, "URLs are at most 5000 characters.", param=param)


def _api_key(headers: Mapping[str, str]) -> str:
    """The secret key of an API call (Bearer or Basic, as Stripe takes it), else 401."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    key = credentials.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode().partition(":")[0]
        except ValueError:
            key = ""
    elif scheme.lower() != "bearer":
        key = ""
    if not key:
        raise _StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the"
            " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
            " YOUR_SECRET_KEY').",
        )
    if not key.startswith(("sk_", "rk_")):
        raise _StripeError(401, f"Invalid API Key provided: {key[:8]}***")
    return key


def _json_reply(status: int, payload: Json) -> Reply:
    return Reply(status, json.dumps(payload, indent=2).encode() + b"\n", "application/json")


def _json_object(raw: bytes) -> Json:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}
