"""A local YooKassa API v3 (bank cards, refunds, HTTP notifications) for tests and the stack.

`FakeYooKassa(shop_id, secret_key, webhook_url).serve()` starts a real HTTP server on
127.0.0.1 and returns its base URL; the API lives under <base>/v3/, where
https://api.yookassa.ru/v3/ would be. Every API call needs HTTP Basic auth
shopId:secretKey (401 invalid_credentials otherwise). Answers are JSON; errors are
{"type": "error", "id": <uuid>, "code", "description", "parameter"?} with 400
invalid_request, 401 invalid_credentials, 403 forbidden, 404 not_found, 429
too_many_requests or 500 internal_server_error.

- Idempotence: every POST needs an Idempotence-Key header of at most 64 characters (400
  invalid_request, parameter "Idempotence-Key", otherwise). Within 24 hours of the fake's
  clock the same key (per shop) with the same path and the same JSON body replays the very
  first answer byte for byte (no new object, no new notification); the same key with
  another path or body answers 400 "Idempotence key duplicated". Answers with status >= 500
  are not kept, so a retry after a fault is processed.
- POST /v3/payments: amount {value: "1234.50" (a string, or a number, with at most two
  decimals, > 0), currency}; capture (default false, as documented: the paid payment then
  waits in waiting_for_capture); confirmation {type "redirect", return_url, locale?,
  enforce?} or payment_method_id (a saved card, charged off-session at once) - neither is
  400 "confirmation"; description <= 128 characters; metadata <= 16 keys (names <= 32,
  string values <= 512); save_payment_method; payment_method_data {type "bank_card"};
  receipt (required while `receipts_required`, as for a shop working under 54-FZ through
  YooKassa: customer {email | phone | full_name | inn} (or the older receipt.email /
  receipt.phone), items [{description <= 128, quantity, amount, vat_code 1..12,
  payment_subject?, payment_mode?}], tax_system_code?; the items' amount x quantity must
  add up to the payment amount, else 400 parameter "receipt").
- GET /v3/payments/{id}; GET /v3/payments (created_at.gte|gt|lte|lt, captured_at.*,
  status, payment_method, limit 1..100 (default 10), cursor -> {"type": "list", "items":
  [newest first], "next_cursor"?}); POST /v3/payments/{id}/capture ({amount?, receipt?}:
  waiting_for_capture -> succeeded) and /cancel (waiting_for_capture -> canceled by the
  merchant).
- POST /v3/refunds {payment_id, amount, receipt (same rule, summing to the refund),
  description <= 250}: the payment must be succeeded, the amount <= what is left and in
  its currency; the refund is succeeded at once and the payment's refunded_amount grows.
  GET /v3/refunds/{id}; GET /v3/refunds (the payment list's filters plus payment_id).
- The payer's side: confirmation.confirmation_url is GET <base>/payments/{id}/pay, a card
  form (number, MM/YY, CVC). POSTing it pays with YooKassa's documented test cards
  (TEST_CARDS, from yookassa.ru/developers/payment-acceptance/testing-and-going-live/
  testing): 5555 5555 5555 4444 (and the other cards without 3-D Secure) pay at once; a
  3-D Secure card (5555 5555 5555 4477, 4793 1281 6164 4804, 2200 0000 0000 0004) first
  shows the bank's 3-D Secure page (any digits confirm it, "Fail" cancels with
  3d_secure_failed); the 3d_secure_failed cards (5555 5555 5555 4592, ...) fail on that page
  whatever is typed; the decline cards cancel with their documented cancellation_details
  (5555 5555 5555 4600: payment_network / insufficient_funds). Any other number, an
  expiry not in the future (by the fake's clock) or a malformed CVC shows an error and the
  payment stays pending. Once the payment is paid or canceled the browser is redirected
  (303) to return_url. `pay()` does the same without a browser.
- Saved cards: a payment created with save_payment_method: true saves the card when paid
  (payment_method.saved true, a stable payment_method.id). A payment with that
  payment_method_id is charged at once: succeeded (waiting_for_capture with capture:
  false), or canceled card_expired when the card's expiry passed by the fake's clock, or by
  the card's own decline. `set_off_session_outcome()` decides the next charge of a method
  instead (succeeded, canceled with a reason, or pending until `complete()`).
- Notifications are not signed (YooKassa does not sign them; receivers check the sender's
  address and/or GET the object). {"type": "notification", "event": "payment.succeeded" |
  "payment.waiting_for_capture" | "payment.canceled" | "refund.succeeded", "object": <the
  payment or refund as GET shows it then>} is POSTed to `webhook_url` (if set) and
  recorded in `webhook_deliveries`: synchronously before the request that caused it is
  answered, or with `background_webhooks=True` from a worker thread afterwards
  (http_peer.WebhookOutbox; `wait_for_webhooks()` waits for the queue to drain).

  The sender's address: YooKassa posts from the networks in YOOKASSA_NETWORKS; the fake
  posts over loopback, so the receiver's TCP peer is 127.0.0.1. Every notification carries
  the address it stands for in the X-Fake-Source-Ip header (`source_ip`, by default
  185.71.76.1, inside 185.71.76.0/27; set it to an outside address to play a forger). The
  local stack's HTTP front turns that header into API Gateway's
  requestContext.http.sourceIp only for requests whose TCP peer is loopback, so nothing
  from outside the machine can choose its own address; the deployed API ignores it (API
  Gateway sets sourceIp from the real connection).

Test controls: pay(), complete(), expire(), add_saved_method(), set_off_session_outcome(),
notify() (send a notification again: a duplicate), forged_notification() (a notification
that disagrees with the stored object, which it leaves alone), fail_next() (500/503/...
faults, before or after the request is processed), payments(), payment(), refunds(),
refund(), receipts_of(), requests.

Known simplifications: bank cards only (payment_method_data other than bank_card and
confirmation types other than redirect answer 400); one shop per fake; currencies RUB,
USD and EUR; the fee (income_amount) is `fee_rate` (3.5%) of the amount; a pending
redirect payment is canceled (yoo_money / expired_on_confirmation) one hour after it was
created and a waiting_for_capture payment (yoo_money / expired_on_capture) after seven
days, when next touched; refunds never stay pending or fail; `refundable` is true while a
succeeded payment has something left to refund; no receipts API (/v3/receipts), deals,
payouts, SBP, 202 "processing" answers or rate limits (fail_next(429) plays one); error
descriptions are close to YooKassa's but not all are documented.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import html
import json
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from billing.clock import Clock, SystemClock
from billing.config import Settings
from local.http_peer import LoopbackServer, Reply, WebhookDelivery, WebhookOutbox

DEFAULT_SHOP_ID = "123456"
DEFAULT_SECRET_KEY = "test_FakeYooKassaSecretKey000000000000000000"  # noqa: S105 - a fixture
DEFAULT_GATEWAY_ID = "100700"
FALLBACK_BASE = "https://api.yookassa.ru"  # in confirmation URLs while not serving
SOURCE_IP_HEADER = "X-Fake-Source-Ip"
DEFAULT_SOURCE_IP = "185.71.76.1"
# Where YooKassa's notifications come from (yookassa.ru/developers/using-api/webhooks): the
# same published list the billing code checks against by default (billing.config).
YOOKASSA_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = tuple(
    ip_network(network) for network in Settings().yookassa_networks
)

IDEMPOTENCE_HEADER = "Idempotence-Key"
IDEMPOTENCE_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCE_KEY = 64
CONFIRMATION_WINDOW = timedelta(hours=1)  # "Срок оплаты" of bank_card
CAPTURE_WINDOW = timedelta(days=7)  # waiting_for_capture of a bank card payment
CURRENCIES = frozenset({"RUB", "USD", "EUR"})
PAYMENT_STATUSES = ("pending", "waiting_for_capture", "succeeded", "canceled")
REFUND_STATUSES = ("pending", "succeeded", "canceled")
REFUND_EVENT = "refund.succeeded"
EVENTS = ("payment.waiting_for_capture", "payment.succeeded", "payment.canceled", REFUND_EVENT)
PAYMENT_SUBJECTS = frozenset(
    {
        "commodity", "excise", "job", "service", "gambling_bet", "gambling_prize",
        "lottery", "lottery_prize", "intellectual_activity", "payment", "agent_commission",
        "property_right", "non_operating_gain", "insurance_premium", "sales_tax",
        "resort_fee", "composite", "another", "fine", "tax", "lien", "cost",
        "pension_insurance_without_payouts", "pension_insurance_with_payouts",
        "health_insurance_without_payouts", "health_insurance_with_payouts",
        "health_insurance", "casino", "agent_withdrawals", "non_marked_excise",
        "marked_excise", "marked", "non_marked",
    }
)  # fmt: skip
PAYMENT_MODES = frozenset(
    {
        "full_prepayment", "partial_prepayment", "advance", "full_payment",
        "partial_payment", "credit", "credit_payment",
    }
)  # fmt: skip
MAX_RECEIPT_ITEMS = 100
CENT = Decimal("0.01")

Json = dict[str, Any]


@dataclass(frozen=True)
class Card:
    """A documented YooKassa test card and what paying with it does."""

    number: str
    card_type: str  # payment_method.card.card_type
    three_d_secure: bool = False  # the bank asks for a 3-D Secure code first
    decline: tuple[str, str] | None = None  # cancellation_details (party, reason)


def _cards() -> dict[str, Card]:
    cards: list[Card] = [
        Card("5555555555554477", "MasterCard", three_d_secure=True),
        Card("5555555555554444", "MasterCard"),
        Card("6759649826438453", "MasterCard"),  # Maestro: not a card_type of its own
        Card("4793128161644804", "Visa", three_d_secure=True),
        Card("4111111111111111", "Visa"),
        Card("4175001000000017", "Visa"),  # Visa Electron
        Card("2200000000000004", "Mir", three_d_secure=True),
        Card("2202474301322987", "Mir"),
        Card("370000000000002", "AmericanExpress"),
        Card("3528000700000000", "JCB"),
        Card("36700102000000", "DinersClub"),
    ]
    # (Mastercard, Visa, Mir) -> the cancellation they cause
    declines = {
        ("5555555555554592", "4839665499603842", "2200000000000012"): "3d_secure_failed",
        ("5555555555554535", "4926946416239025", "2200000000000020"): "call_issuer",
        ("5555555555554543", "4141435412630840", "2200000000000038"): "card_expired",
        ("5555555555554568", "4483274282299972", "2200000000000046"): "fraud_suspected",
        ("5555555555554527", "4889971706588753", "2202202212312379"): "general_decline",
        ("5555555555554600", "4562265587712390", "2200000000000053"): "insufficient_funds",
        ("5555555555554618", "4951017853630544", "2201382000000013"): "invalid_card_number",
        ("5555555555554626", "4194180666146368", "2200770212727079"): "invalid_csc",
        ("5555555555554501", "4654130848359150", "2201382000000021"): "issuer_unavailable",
        ("5555555555554576", "4565231022577548", "2201382000000039"): (
            "payment_method_limit_exceeded"
        ),
        ("5555555555554550", "4233961169071671", "2201382000000047"): ("payment_method_restricted"),
    }
    by_yoo_money = {
        ("5555555555554584", "4969751510013864", "2201382000000054"): "country_forbidden",
        ("5555555555554634", "4119098878796485", "2201696981989955"): "fraud_suspected",
    }
    for party, table in (("payment_network", declines), ("yoo_money", by_yoo_money)):
        for numbers, reason in table.items():
            for number, card_type in zip(numbers, ("MasterCard", "Visa", "Mir"), strict=True):
                cards.append(
                    Card(
                        number,
                        card_type,
                        three_d_secure=reason == "3d_secure_failed",
                        decline=(party, reason),
                    )
                )
    return {card.number: card for card in cards}


TEST_CARDS: dict[str, Card] = _cards()
SUCCESS_CARD = "5555555555554444"  # pays without 3-D Secure
THREE_DS_CARD = "5555555555554477"  # pays after a 3-D Secure code
THREE_DS_FAILED_CARD = "5555555555554592"  # fails 3-D Secure: 3d_secure_failed
DECLINE_CARD = "5555555555554600"  # payment_network / insufficient_funds


def is_yookassa_address(address: str) -> bool:
    """Whether an IPv4/IPv6 address is inside YOOKASSA_NETWORKS (False if malformed)."""
    try:
        parsed = ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in YOOKASSA_NETWORKS)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _object_id(kind: str) -> str:
    """YooKassa-looking ids: "2d6f1a3b-000f-5000-8000-1a2b3c4d5e6f" (000f payments and
    methods, 0015 refunds)."""
    variant = secrets.choice(("8000", "9000", "a000", "b000"))
    return f"{secrets.token_hex(4)}-{kind}-5000-{variant}-{secrets.token_hex(6)}"


def _money(amount: Decimal, currency: str) -> Json:
    return {"value": f"{amount.quantize(CENT)}", "currency": currency}


class _ApiError(Exception):
    def __init__(
        self, status: int, code: str, description: str, parameter: str | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter


def _invalid(description: str, parameter: str | None = None) -> _ApiError:
    return _ApiError(400, "invalid_request", description, parameter)


# What fail_next(status) answers: (code, description)
FAULTS = {
    401: ("invalid_credentials", "Error in shopId or secret key. Check their validity."),
    403: ("forbidden", "The shop has no rights to perform this operation."),
    404: ("not_found", "The requested resource was not found."),
    429: ("too_many_requests", "Too many requests. Wait a little and try again."),
    500: ("internal_server_error", "Internal server error. Repeat the request later."),
}


@dataclass
class _Method:
    """A bank card as entered on the form (saved or not)."""

    id: str
    number: str
    expiry_month: int
    expiry_year: int
    saved: bool = False

    @property
    def card(self) -> Card:
        return TEST_CARDS[self.number]

    def expired(self, now: datetime) -> bool:
        return (self.expiry_year, self.expiry_month) < (now.year, now.month)


@dataclass
class _Payment:
    id: str
    seq: int
    amount: Decimal
    currency: str
    capture: bool
    description: str | None
    metadata: dict[str, str]
    save_payment_method: bool
    return_url: str | None
    locale: str | None
    created_at: datetime
    receipt: Json | None
    status: str = "pending"
    paid: bool = False
    method: _Method | None = None
    captured_at: datetime | None = None
    expires_at: datetime | None = None
    cancellation: tuple[str, str] | None = None
    refunded: Decimal = Decimal(0)
    awaiting_3ds: _Method | None = None  # a 3-D Secure card waiting for its code
    three_d_secure_applied: bool = False
    authorization: tuple[str, str] | None = None  # (rrn, auth_code)
    off_session: bool = False


@dataclass
class _Refund:
    id: str
    seq: int
    payment_id: str
    amount: Decimal
    currency: str
    description: str | None
    created_at: datetime
    receipt: Json | None
    status: str = "succeeded"
    cancellation_reason: str | None = None


@dataclass
class _Stored:
    """What an idempotence key was first used for and answered."""

    request: tuple[str, str, bytes]  # (method, path, canonical body)
    reply: Reply
    at: datetime


@dataclass
class _Outcome:
    status: str  # "succeeded" | "canceled" | "pending"
    party: str = "payment_network"
    reason: str = "insufficient_funds"


@dataclass
class _Form:
    """A card form as POSTed (or as pay() fills it)."""

    number: str
    expiry: str
    csc: str
    errors: list[str] = field(default_factory=list)


class FakeYooKassa:
    """See the module docstring. Public methods are thread-safe."""

    def __init__(
        self,
        shop_id: str = DEFAULT_SHOP_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        webhook_url: str | None = None,
        *,
        clock: Clock | None = None,
        background_webhooks: bool = False,
        webhook_timeout: float = 10.0,
        receipts_required: bool = True,
        fee_rate: Decimal = Decimal("0.035"),
        source_ip: str = DEFAULT_SOURCE_IP,
    ) -> None:
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.webhook_url = webhook_url
        self.receipts_required = receipts_required
        self.fee_rate = fee_rate
        # The address notifications stand for (X-Fake-Source-Ip): see the module docstring.
        self.source_ip = source_ip
        self._clock: Clock = clock or SystemClock()
        self._outbox = WebhookOutbox(background=background_webhooks, timeout=webhook_timeout)
        self._lock = threading.RLock()
        self._payments: dict[str, _Payment] = {}
        self._refunds: dict[str, _Refund] = {}
        self._methods: dict[str, _Method] = {}  # saved cards by payment_method.id
        self._outcomes: dict[str, _Outcome] = {}  # next off-session charge, by method id
        self._refund_outcome: tuple[str, str | None] | None = None  # the next refund's
        self._receipts: dict[str, list[Json]] = {}
        self._idempotence: dict[tuple[str, str], _Stored] = {}
        self._faults: deque[tuple[int, bool]] = deque()
        self._seq = 0
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self._http = LoopbackServer("fake YooKassa", self._respond)
        self._base_url: str | None = None

    # -- serving --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's root; the API is at base_url + "/v3"."""
        return self._base_url or FALLBACK_BASE

    @property
    def api_base(self) -> str:
        return self.base_url + "/v3"

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the HTTP server; returns its base URL (the API is under /v3/)."""
        self._base_url = self._http.start(host, port)
        return self._base_url

    def stop(self) -> None:
        """Stop the server started by serve() (no-op if none)."""
        self._http.stop()
        self._outbox.close()

    # -- test controls --------------------------------------------------------------------

    def pay(
        self,
        payment_id: str,
        card: str = SUCCESS_CARD,
        *,
        expiry: str | None = None,
        csc: str = "123",
        three_d_secure: str = "pass",
    ) -> Json:
        """The payer submits the card form, as the page does (expiry "MM/YY", by default
        five years ahead). For a 3-D Secure card, `three_d_secure` says what the payer does
        on the bank's page: "pass" (types a code), "fail" (presses Fail) or "stop" (leaves
        the payment waiting there). Returns the payment as GET shows it; ValueError if the
        form is refused (the page's error) or the payment is not pending."""
        if three_d_secure not in ("pass", "fail", "stop"):
            raise ValueError("three_d_secure is 'pass', 'fail' or 'stop'")
        events: list[Json] = []
        try:
            with self._lock:
                payment = self._payment(payment_id, events)
                form = _Form(card, expiry or self._default_expiry(), csc)
                needs_code = self._submit_card_locked(payment, form, events)
                if form.errors:
                    raise ValueError("; ".join(form.errors))
                if needs_code and three_d_secure != "stop":
                    self._three_ds_locked(payment, three_d_secure == "pass", events)
                answer = self._payment_json(payment)
        finally:
            self._deliver_all(events)
        return answer

    def complete(
        self,
        payment_id: str,
        outcome: str,
        *,
        reason: str = "insufficient_funds",
        party: str = "payment_network",
    ) -> Json:
        """Resolve a pending payment (an off-session charge left pending, or a redirect
        payment nobody paid): "succeeded" (waiting_for_capture when capture was false) or
        "canceled" with (party, reason); the notification is sent. Returns the payment."""
        if outcome not in ("succeeded", "canceled"):
            raise ValueError("outcome is 'succeeded' or 'canceled'")
        events: list[Json] = []
        try:
            with self._lock:
                payment = self._payment(payment_id, events)
                if payment.status != "pending":
                    raise ValueError(f"payment {payment_id} is {payment.status}, not pending")
                if payment.method is None:
                    payment.method = self._new_method(SUCCESS_CARD, self._default_expiry())
                if outcome == "succeeded":
                    self._paid_locked(payment, events)
                else:
                    self._cancel_locked(payment, party, reason, events)
                answer = self._payment_json(payment)
        finally:
            self._deliver_all(events)
        return answer

    def expire(self, payment_id: str) -> Json:
        """Time runs out now: a pending payment is canceled (yoo_money /
        expired_on_confirmation), one waiting_for_capture (yoo_money / expired_on_capture)."""
        events: list[Json] = []
        try:
            with self._lock:
                payment = self._payment(payment_id, events)
                if payment.status == "pending":
                    self._cancel_locked(payment, "yoo_money", "expired_on_confirmation", events)
                elif payment.status == "waiting_for_capture":
                    self._cancel_locked(payment, "yoo_money", "expired_on_capture", events)
                else:
                    raise ValueError(f"payment {payment_id} is {payment.status}")
                answer = self._payment_json(payment)
        finally:
            self._deliver_all(events)
        return answer

    def add_saved_method(self, card: str = SUCCESS_CARD, *, expiry: str | None = None) -> str:
        """A card saved by some earlier payment; returns its payment_method_id."""
        card = _digits(card)
        if card not in TEST_CARDS:
            raise ValueError(f"{card} is not a YooKassa test card")
        with self._lock:
            method = self._new_method(card, expiry or self._default_expiry())
            method.saved = True
            self._methods[method.id] = method
            return method.id

    def set_off_session_outcome(
        self,
        method_id: str,
        outcome: str,
        *,
        reason: str = "insufficient_funds",
        party: str = "payment_network",
    ) -> None:
        """The next off-session charge of the saved method: "succeeded", "canceled" (with
        party and reason) or "pending" (until complete()); later charges go by the card."""
        if outcome not in ("succeeded", "canceled", "pending"):
            raise ValueError("outcome is 'succeeded', 'canceled' or 'pending'")
        with self._lock:
            if method_id not in self._methods:
                raise KeyError(f"no saved payment method {method_id}")
            self._outcomes[method_id] = _Outcome(outcome, party, reason)

    def notify(self, object_id: str, event: str | None = None) -> tuple[dict[str, str], bytes]:
        """Send the notification of a payment's or refund's current status again (YooKassa
        repeats them until it gets HTTP 200); `event` defaults to the one of that status
        and must agree with it. Returns the (headers, body) sent."""
        events: list[Json] = []
        try:
            with self._lock:
                if object_id in self._refunds:
                    refund = self._refunds[object_id]
                    if event not in (None, REFUND_EVENT):
                        raise ValueError(f"a refund's event is {REFUND_EVENT}")
                    notification = _notification(REFUND_EVENT, self._refund_json(refund))
                else:
                    payment = self._payment(object_id, events)
                    expected = _event_of(payment.status)
                    if expected is None or event not in (None, expected):
                        raise ValueError(
                            f"payment {object_id} is {payment.status}: no"
                            f" {event or 'event'} to send (forged_notification() makes one"
                            " that disagrees)"
                        )
                    notification = _notification(expected, self._payment_json(payment))
        finally:
            self._deliver_all(events)
        return self._deliver(notification)

    def forged_notification(
        self,
        payment_id: str,
        event: str = "payment.succeeded",
        *,
        send: bool = False,
        source_ip: str | None = None,
        **overrides: Any,
    ) -> tuple[dict[str, str], bytes]:
        """A notification about the payment that its stored state does not back: the object
        as if `event` had happened (status, paid, captured_at...), then `overrides` replace
        its top-level fields (amount={"value": "1.00", "currency": "RUB"}, id=...). The
        stored payment is left alone. Returned as (headers, body); with `send` it is also
        posted to webhook_url and recorded. `source_ip` sets X-Fake-Source-Ip."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(f"no payment {payment_id}")
            obj = self._payment_json(payment)
            now = self._clock.now()
            if event == "payment.succeeded":
                obj.update(status="succeeded", paid=True, refundable=True)
                obj.setdefault("captured_at", _iso(now))
                obj.setdefault(
                    "income_amount", _money(self._income(payment.amount), payment.currency)
                )
            elif event == "payment.waiting_for_capture":
                obj.update(status="waiting_for_capture", paid=True)
                obj.setdefault("expires_at", _iso(now + CAPTURE_WINDOW))
            elif event == "payment.canceled":
                obj.update(status="canceled", paid=False, refundable=False)
                obj.setdefault(
                    "cancellation_details",
                    {"party": "payment_network", "reason": "general_decline"},
                )
            elif event == REFUND_EVENT:
                obj = {
                    "id": _object_id("0015"),
                    "payment_id": payment.id,
                    "status": "succeeded",
                    "amount": _money(payment.amount, payment.currency),
                    "created_at": _iso(now),
                }
            else:
                raise ValueError(f"unknown event {event}")
            if event != REFUND_EVENT:
                obj.pop("confirmation", None)
                if "payment_method" not in obj and obj["paid"]:
                    method = self._new_method(SUCCESS_CARD, self._default_expiry())
                    obj["payment_method"] = _method_json(method)
            obj.update(copy.deepcopy(overrides))
            notification = _notification(event, obj)
        headers, body = self._signed(notification, source_ip)
        if send:
            return self._outbox.deliver(
                self.webhook_url,
                (headers, body),
                partial(WebhookDelivery, str(uuid.uuid4()), event),
                self.webhook_deliveries,
            )
        return headers, body

    def next_refund(self, status: str, reason: str | None = None) -> None:
        """The next refund created answers `status`: "pending" (until finish_refund) or
        "canceled" with cancellation_details {party: "yoo_money", reason} (YooKassa cancels
        a refund when the shop's balance cannot cover it), nothing given back."""
        if status not in ("pending", "canceled"):
            raise ValueError("status is 'pending' or 'canceled'")
        with self._lock:
            self._refund_outcome = (status, reason or "insufficient_funds")

    def finish_refund(self, refund_id: str, status: str) -> Json:
        """A pending refund ends "succeeded" or "canceled" (the money given back then)."""
        if status not in ("succeeded", "canceled"):
            raise ValueError("status is 'succeeded' or 'canceled'")
        with self._lock:
            refund = self._refunds[refund_id]
            if refund.status != "pending":
                raise ValueError(f"refund {refund_id} is {refund.status}")
            refund.status = status
            if status == "canceled":
                self._payments[refund.payment_id].refunded -= refund.amount
                refund.cancellation_reason = refund.cancellation_reason or "insufficient_funds"
            answer = self._refund_json(refund)
        if status == "succeeded":
            self._deliver(_notification(REFUND_EVENT, answer))
        return answer

    def fail_next(self, status: int = 500, count: int = 1, *, processed: bool = False) -> None:
        """The next `count` API calls answer `status` (500 internal_server_error, 503 with
        the same body, 429 too_many_requests, 403 forbidden, 401 invalid_credentials, 404
        not_found). With `processed` the call is carried out first (and its answer kept
        under its Idempotence-Key): the answer is lost, as when YooKassa cannot answer in
        time; a retry with the same key then gets the original answer."""
        with self._lock:
            self._faults.extend([(status, processed)] * count)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """With background_webhooks: block until every notification so far was posted."""
        return self._outbox.wait(timeout)

    def payment(self, payment_id: str) -> Json:
        """The payment as GET /v3/payments/{id} shows it."""
        events: list[Json] = []
        try:
            with self._lock:
                return self._payment_json(self._payment(payment_id, events))
        finally:
            self._deliver_all(events)

    def payments(self) -> list[Json]:
        """Every payment, oldest first."""
        events: list[Json] = []
        try:
            with self._lock:
                found = list(self._payments.values())
                for payment in found:
                    self._refresh_locked(payment, events)
                return [self._payment_json(payment) for payment in found]
        finally:
            self._deliver_all(events)

    def refund(self, refund_id: str) -> Json:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                raise KeyError(f"no refund {refund_id}")
            return self._refund_json(refund)

    def refunds(self) -> list[Json]:
        with self._lock:
            return [self._refund_json(refund) for refund in self._refunds.values()]

    def receipts_of(self, payment_id: str) -> list[Json]:
        """Every receipt sent with the payment, its capture and its refunds, in order:
        {"type": "payment" | "refund", "payment_id", "refund_id" (refunds), "amount",
        "created_at", "receipt": <as sent>}."""
        with self._lock:
            return copy.deepcopy(self._receipts.get(payment_id, []))

    # -- notifications --------------------------------------------------------------------

    def _signed(
        self, notification: Json, source_ip: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of a notification; unsigned, as YooKassa's are."""
        headers = {
            "Content-Type": "application/json",
            SOURCE_IP_HEADER: source_ip or self.source_ip,
        }
        return headers, canonical_json(notification)

    def _deliver(self, notification: Json) -> tuple[dict[str, str], bytes]:
        return self._outbox.deliver(
            self.webhook_url,
            self._signed(notification),
            partial(WebhookDelivery, str(uuid.uuid4()), notification["event"]),
            self.webhook_deliveries,
        )

    def _deliver_all(self, events: Iterable[Json]) -> None:
        for notification in events:
            self._deliver(notification)

    # -- HTTP dispatch --------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """One request: its notifications are sent (or queued) before it is answered."""
        events: list[Json] = []
        try:
            url = urlsplit(target)
            path = url.path.rstrip("/") or "/"
            if path == "/v3" or path.startswith("/v3/"):
                return self._api_call(method, path, url.query, headers, body, events=events)
            return self._page(method, path, body, events)
        finally:
            self._deliver_all(events)

    def _api_call(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        events: list[Json],
    ) -> Reply:
        with self._lock:
            self.requests.append((method, path))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and not fault[1]:
            return _fault_reply(fault[0])
        try:
            self._authenticate(headers)
            if method == "POST":
                reply = self._idempotent(path, headers, body, events)
            else:
                reply = _json_reply(200, self._get(path, query, events))
        except _ApiError as error:
            reply = _error_reply(error)
        if fault is not None:
            return _fault_reply(fault[0])
        return reply

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        given = headers.get("authorization", "")
        scheme, _, encoded = given.partition(" ")
        decoded = ""
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
        expected = f"{self.shop_id}:{self.secret_key}"
        if not decoded or not hmac.compare_digest(decoded.encode(), expected.encode()):
            raise _ApiError(401, "invalid_credentials", FAULTS[401][1])

    def _idempotent(
        self, path: str, headers: Mapping[str, str], body: bytes, events: list[Json]
    ) -> Reply:
        key = headers.get(IDEMPOTENCE_HEADER.lower())
        if not key:
            raise _invalid("Idempotence key is missing", IDEMPOTENCE_HEADER)
        if len(key) > MAX_IDEMPOTENCE_KEY:
            raise _invalid(
                "Idempotence key is too long. Send the value in accordance with the documentation",
                IDEMPOTENCE_HEADER,
            )
        try:
            parsed: Any = json.loads(body) if body.strip() else {}
            # the same JSON however serialised (key order, spacing) is the same body
            fingerprint = json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, UnicodeDecodeError):
            parsed, fingerprint = None, body
        request = ("POST", path, fingerprint)
        with self._lock:
            now = self._clock.now()
            stored = self._idempotence.get((self.shop_id, key))
            if stored is not None and now - stored.at < IDEMPOTENCE_WINDOW:
                if stored.request == request:
                    return stored.reply
                raise _invalid("Idempotence key duplicated", IDEMPOTENCE_HEADER)
            try:
                if not isinstance(parsed, dict):
                    raise _invalid("Request body is not a valid JSON object")
                reply = _json_reply(200, self._post(path, parsed, events))
            except _ApiError as error:
                reply = _error_reply(error)
            if reply.status < 500:
                self._idempotence[self.shop_id, key] = _Stored(request, reply, now)
            return reply

    def _post(self, path: str, body: Json, events: list[Json]) -> Json:
        parts = path.strip("/").split("/")
        if parts == ["v3", "payments"]:
            return self._create_payment(body, events)
        if parts[:2] == ["v3", "payments"] and len(parts) == 4 and parts[3] == "capture":
            return self._capture(parts[2], body, events)
        if parts[:2] == ["v3", "payments"] and len(parts) == 4 and parts[3] == "cancel":
            return self._cancel(parts[2], events)
        if parts == ["v3", "refunds"]:
            return self._create_refund(body, events)
        raise _ApiError(404, "not_found", f"Unknown API method POST {path}")

    def _get(self, path: str, query: str, events: list[Json]) -> Json:
        parts = path.strip("/").split("/")
        params = parse_qs(query, keep_blank_values=True)
        with self._lock:
            if parts == ["v3", "payments"]:
                return self._list_payments(params, events)
            if parts[:2] == ["v3", "payments"] and len(parts) == 3:
                payment = self._payments.get(parts[2])
                if payment is None:
                    raise _ApiError(
                        404, "not_found", "Payment doesn't exist or access denied", "payment_id"
                    )
                self._refresh_locked(payment, events)
                return self._payment_json(payment)
            if parts == ["v3", "refunds"]:
                return self._list_refunds(params)
            if parts[:2] == ["v3", "refunds"] and len(parts) == 3:
                refund = self._refunds.get(parts[2])
                if refund is None:
                    raise _ApiError(
                        404, "not_found", "Refund doesn't exist or access denied", "refund_id"
                    )
                return self._refund_json(refund)
        raise _ApiError(404, "not_found", f"Unknown API method GET {path}")

    # -- payments -------------------------------------------------------------------------

    def _create_payment(self, body: Json, events: list[Json]) -> Json:
        amount, currency = _amount(body.get("amount"), "amount")
        capture = _optional_bool(body, "capture", default=False)
        save = _optional_bool(body, "save_payment_method", default=False)
        description = _text(body, "description", 128)
        metadata = _metadata(body.get("metadata"))
        method_data = body.get("payment_method_data")
        if method_data is not None and (
            not isinstance(method_data, dict) or method_data.get("type") != "bank_card"
        ):
            raise _invalid(
                "Only bank_card payments are available in this test shop",
                "payment_method_data.type",
            )
        method_id = body.get("payment_method_id")
        confirmation = body.get("confirmation")
        return_url: str | None = None
        locale: str | None = None
        if method_id is not None:
            if not isinstance(method_id, str) or method_id not in self._methods:
                raise _invalid(
                    "Payment method doesn't exist, isn't saved or is inaccessible",
                    "payment_method_id",
                )
        elif confirmation is None:
            raise _invalid(
                "Specify the confirmation scenario (confirmation) or a saved payment method"
                " (payment_method_id)",
                "confirmation",
            )
        else:
            return_url, locale = _confirmation(confirmation)
        receipt = self._receipt(body.get("receipt"), amount, currency)
        with self._lock:
            self._seq += 1
            payment = _Payment(
                id=_object_id("000f"),
                seq=self._seq,
                amount=amount,
                currency=currency,
                capture=capture,
                description=description,
                metadata=metadata,
                save_payment_method=save and method_id is None,
                return_url=return_url,
                locale=locale,
                created_at=self._clock.now(),
                receipt=receipt,
            )
            self._payments[payment.id] = payment
            self._record_receipt(
                payment.id, None, kind="payment", amount=amount, currency=currency, receipt=receipt
            )
            if isinstance(method_id, str):
                self._charge_off_session_locked(payment, self._methods[method_id], events)
            return self._payment_json(payment)

    def _charge_off_session_locked(
        self, payment: _Payment, method: _Method, events: list[Json]
    ) -> None:
        payment.off_session = True
        payment.method = method
        outcome = self._outcomes.pop(method.id, None)
        if outcome is None:
            if method.expired(self._clock.now()):
                outcome = _Outcome("canceled", "payment_network", "card_expired")
            elif method.card.decline is not None:
                outcome = _Outcome("canceled", *method.card.decline)
            else:
                outcome = _Outcome("succeeded")
        if outcome.status == "succeeded":
            self._paid_locked(payment, events)
        elif outcome.status == "canceled":
            self._cancel_locked(payment, outcome.party, outcome.reason, events)
        # "pending": complete() resolves it

    def _capture(self, payment_id: str, body: Json, events: list[Json]) -> Json:
        with self._lock:
            payment = self._api_payment(payment_id, events)
            if payment.status != "waiting_for_capture":
                raise _invalid(
                    f"Payment is in status {payment.status}: only a payment in status"
                    " waiting_for_capture can be captured",
                    "payment_id",
                )
            if body.get("amount") is not None:
                amount, currency = _amount(body["amount"], "amount")
                if currency != payment.currency:
                    raise _invalid("The currency differs from the payment's", "amount.currency")
                if amount > payment.amount:
                    raise _invalid("The amount is more than the payment's", "amount.value")
                payment.amount = amount
            if body.get("receipt") is not None:
                receipt = self._receipt(body["receipt"], payment.amount, payment.currency)
                payment.receipt = receipt
                self._record_receipt(
                    payment.id,
                    None,
                    kind="payment",
                    amount=payment.amount,
                    currency=payment.currency,
                    receipt=receipt,
                )
            self._succeed_locked(payment, events)
            return self._payment_json(payment)

    def _cancel(self, payment_id: str, events: list[Json]) -> Json:
        with self._lock:
            payment = self._api_payment(payment_id, events)
            if payment.status == "canceled":
                return self._payment_json(payment)
            if payment.status != "waiting_for_capture":
                raise _invalid(
                    f"Payment is in status {payment.status}: only a payment in status"
                    " waiting_for_capture can be canceled",
                    "payment_id",
                )
            self._cancel_locked(payment, "merchant", "canceled_by_merchant", events)
            return self._payment_json(payment)

    def _list_payments(self, params: Mapping[str, list[str]], events: list[Json]) -> Json:
        status = _one(params, "status")
        if status is not None and status not in PAYMENT_STATUSES:
            raise _invalid(f"Unknown payment status {status}", "status")
        method_type = _one(params, "payment_method")
        created = _time_filters(params, "created_at")
        captured = _time_filters(params, "captured_at")
        found: list[tuple[int, Json]] = []
        for payment in self._payments.values():
            self._refresh_locked(payment, events)
            if status is not None and payment.status != status:
                continue
            if method_type is not None and (payment.method is None or method_type != "bank_card"):
                continue
            if not _within(payment.created_at, created):
                continue
            if captured and (
                payment.captured_at is None or not _within(payment.captured_at, captured)
            ):
                continue
            found.append((payment.seq, self._payment_json(payment)))
        return _page_of(found, params)

    def _list_refunds(self, params: Mapping[str, list[str]]) -> Json:
        status = _one(params, "status")
        if status is not None and status not in REFUND_STATUSES:
            raise _invalid(f"Unknown refund status {status}", "status")
        payment_id = _one(params, "payment_id")
        created = _time_filters(params, "created_at")
        found = [
            (refund.seq, self._refund_json(refund))
            for refund in self._refunds.values()
            if (status is None or refund.status == status)
            and (payment_id is None or refund.payment_id == payment_id)
            and _within(refund.created_at, created)
        ]
        return _page_of(found, params)

    def _api_payment(self, payment_id: str, events: list[Json]) -> _Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise _ApiError(
                404, "not_found", "Payment doesn't exist or access denied", "payment_id"
            )
        return self._refresh_locked(payment, events)

    def _payment(self, payment_id: str, events: list[Json]) -> _Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise KeyError(f"no payment {payment_id}")
        return self._refresh_locked(payment, events)

    def _refresh_locked(self, payment: _Payment, events: list[Json]) -> _Payment:
        """Cancel what ran out of time (when touched, as the real one does on its own)."""
        now = self._clock.now()
        if (
            payment.status == "pending"
            and not payment.off_session
            and now >= payment.created_at + CONFIRMATION_WINDOW
        ):
            self._cancel_locked(payment, "yoo_money", "expired_on_confirmation", events)
        elif (
            payment.status == "waiting_for_capture"
            and payment.expires_at is not None
            and now >= payment.expires_at
        ):
            self._cancel_locked(payment, "yoo_money", "expired_on_capture", events)
        return payment

    def _new_method(self, number: str, expiry: str) -> _Method:
        month, year = _parse_expiry(expiry) or (12, 2030)
        return _Method(_object_id("000f"), number, month, year)

    def _default_expiry(self) -> str:
        return f"12/{(self._clock.now().year + 5) % 100:02d}"

    def _income(self, amount: Decimal) -> Decimal:
        return amount - (amount * self.fee_rate).quantize(CENT, ROUND_HALF_UP)

    def _paid_locked(self, payment: _Payment, events: list[Json]) -> None:
        """The card was charged: succeeded, or waiting_for_capture when capture is false."""
        payment.paid = True
        payment.awaiting_3ds = None
        payment.authorization = (
            f"{secrets.randbelow(10**12):012d}",
            f"{secrets.randbelow(10**6):06d}",
        )
        method = payment.method
        if method is not None and payment.save_payment_method and not method.saved:
            method.saved = True
            self._methods[method.id] = method
        if payment.capture:
            self._succeed_locked(payment, events)
        else:
            payment.status = "waiting_for_capture"
            payment.expires_at = self._clock.now() + CAPTURE_WINDOW
            events.append(_notification(_event_of(payment.status), self._payment_json(payment)))

    def _succeed_locked(self, payment: _Payment, events: list[Json]) -> None:
        payment.status = "succeeded"
        payment.captured_at = self._clock.now()
        payment.expires_at = None
        events.append(_notification("payment.succeeded", self._payment_json(payment)))

    def _cancel_locked(
        self, payment: _Payment, party: str, reason: str, events: list[Json]
    ) -> None:
        payment.status = "canceled"
        payment.paid = False
        payment.awaiting_3ds = None
        payment.expires_at = None
        payment.cancellation = (party, reason)
        events.append(_notification("payment.canceled", self._payment_json(payment)))

    def _payment_json(self, payment: _Payment) -> Json:
        answer: Json = {
            "id": payment.id,
            "status": payment.status,
            "paid": payment.paid,
            "amount": _money(payment.amount, payment.currency),
        }
        if payment.status == "succeeded":
            answer["income_amount"] = _money(self._income(payment.amount), payment.currency)
        if payment.description is not None:
            answer["description"] = payment.description
        answer["recipient"] = {"account_id": self.shop_id, "gateway_id": DEFAULT_GATEWAY_ID}
        if payment.method is not None:
            answer["payment_method"] = _method_json(payment.method)
        if payment.captured_at is not None:
            answer["captured_at"] = _iso(payment.captured_at)
        answer["created_at"] = _iso(payment.created_at)
        if payment.expires_at is not None:
            answer["expires_at"] = _iso(payment.expires_at)
        if payment.status == "pending" and payment.return_url is not None:
            confirmation: Json = {"type": "redirect", "return_url": payment.return_url}
            if payment.locale is not None:
                confirmation["locale"] = payment.locale
            confirmation["confirmation_url"] = f"{self.base_url}/payments/{payment.id}/pay"
            answer["confirmation"] = confirmation
        answer["test"] = True
        if payment.refunded > 0:
            answer["refunded_amount"] = _money(payment.refunded, payment.currency)
        answer["refundable"] = payment.status == "succeeded" and payment.refunded < payment.amount
        if payment.receipt is not None:
            answer["receipt_registration"] = {
                "succeeded": "succeeded",
                "canceled": "canceled",
            }.get(payment.status, "pending")
        answer["metadata"] = dict(payment.metadata)
        if payment.cancellation is not None:
            party, reason = payment.cancellation
            answer["cancellation_details"] = {"party": party, "reason": reason}
        if payment.authorization is not None:
            rrn, auth_code = payment.authorization
            answer["authorization_details"] = {
                "rrn": rrn,
                "auth_code": auth_code,
                "three_d_secure": {"applied": payment.three_d_secure_applied},
            }
        return answer

    # -- receipts and refunds -------------------------------------------------------------

    def _receipt(self, value: object, amount: Decimal, currency: str) -> Json | None:
        if value is None:
            if self.receipts_required:
                raise _invalid("Receipt is missing or illegal", "receipt")
            return None
        return _check_receipt(value, amount, currency)

    def _record_receipt(
        self,
        payment_id: str,
        refund_id: str | None,
        *,
        kind: str,
        amount: Decimal,
        currency: str,
        receipt: Json | None,
    ) -> None:
        if receipt is None:
            return
        record: Json = {"type": kind, "payment_id": payment_id}
        if refund_id is not None:
            record["refund_id"] = refund_id
        record["amount"] = _money(amount, currency)
        record["created_at"] = _iso(self._clock.now())
        record["receipt"] = copy.deepcopy(receipt)
        self._receipts.setdefault(payment_id, []).append(record)

    def _create_refund(self, body: Json, events: list[Json]) -> Json:
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise _invalid("Specify the payment to refund (payment_id)", "payment_id")
        amount, currency = _amount(body.get("amount"), "amount")
        description = _text(body, "description", 250)
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise _invalid("Payment doesn't exist or access denied", "payment_id")
            self._refresh_locked(payment, events)
            if payment.status != "succeeded":
                raise _invalid(
                    f"Payment is in status {payment.status}: only a succeeded payment can be"
                    " refunded",
                    "payment_id",
                )
            if currency != payment.currency:
                raise _invalid(
                    "The refund's currency differs from the payment's", "amount.currency"
                )
            remaining = payment.amount - payment.refunded
            if amount > remaining:
                raise _invalid(
                    f"The refund amount is more than is left to refund ({remaining:.2f}"
                    f" {currency})",
                    "amount.value",
                )
            receipt = self._receipt(body.get("receipt"), amount, currency)
            self._seq += 1
            status, reason = self._refund_outcome or ("succeeded", None)
            self._refund_outcome = None
            refund = _Refund(
                id=_object_id("0015"),
                seq=self._seq,
                payment_id=payment.id,
                amount=amount,
                currency=currency,
                description=description,
                created_at=self._clock.now(),
                receipt=receipt,
                status=status,
                cancellation_reason=reason,
            )
            self._refunds[refund.id] = refund
            if status != "canceled":
                payment.refunded += amount
            self._record_receipt(
                payment.id,
                refund.id,
                kind="refund",
                amount=amount,
                currency=currency,
                receipt=receipt,
            )
            answer = self._refund_json(refund)
            if refund.status == "succeeded":  # YooKassa notifies of succeeded refunds only
                events.append(_notification(REFUND_EVENT, answer))
            return answer

    def _refund_json(self, refund: _Refund) -> Json:
        answer: Json = {
            "id": refund.id,
            "payment_id": refund.payment_id,
            "status": refund.status,
            "created_at": _iso(refund.created_at),
            "amount": _money(refund.amount, refund.currency),
        }
        if refund.receipt is not None:
            answer["receipt_registration"] = "succeeded"
        if refund.description is not None:
            answer["description"] = refund.description
        if refund.status == "canceled":
            answer["cancellation_details"] = {
                "party": "yoo_money",
                "reason": refund.cancellation_reason or "insufficient_funds",
            }
        return answer

    # -- the payer's pages ----------------------------------------------------------------

    def _page(self, method: str, path: str, body: bytes, events: list[Json]) -> Reply:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "payments" or parts[2] not in ("pay", "3ds"):
            return _html(404, "Not found", "<p>Not found.</p>")
        form = {
            key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()
        }
        with self._lock:
            payment = self._payments.get(parts[1])
            if payment is None:
                return _html(404, "YooKassa", "<p>This payment does not exist.</p>")
            self._refresh_locked(payment, events)
            if payment.status != "pending" or payment.return_url is None:
                return _html(
                    200 if method == "GET" else 409,
                    "YooKassa",
                    f"<p class='status'>Payment {html.escape(payment.id)} is"
                    f" {html.escape(payment.status)}: there is nothing to pay.</p>",
                )
            action = self._three_ds_action if parts[2] == "3ds" else self._card_action
            return action(method, payment, payment.return_url, form, events)

    def _card_action(
        self,
        method: str,
        payment: _Payment,
        return_url: str,
        form: Mapping[str, str],
        events: list[Json],
    ) -> Reply:
        """The card form (GET) and its submission (POST)."""
        if payment.awaiting_3ds is not None:
            return _redirect(f"/payments/{payment.id}/3ds")
        if method == "GET":
            return self._card_page(payment)
        card_form = _Form(form.get("card_number", ""), form.get("expiry", ""), form.get("csc", ""))
        if self._submit_card_locked(payment, card_form, events):
            return _redirect(f"/payments/{payment.id}/3ds")
        if card_form.errors:
            return self._card_page(payment, card_form, status=400)
        return _redirect(return_url)

    def _three_ds_action(
        self,
        method: str,
        payment: _Payment,
        return_url: str,
        form: Mapping[str, str],
        events: list[Json],
    ) -> Reply:
        """The bank's 3-D Secure page (GET) and its Confirm / Fail buttons (POST)."""
        if payment.awaiting_3ds is None:
            return _html(409, "3-D Secure", "<p>No 3-D Secure check is waiting.</p>")
        if method == "GET":
            return self._three_ds_page(payment)
        if form.get("action") == "fail":
            self._three_ds_locked(payment, False, events)
        elif not form.get("code", "").strip().isdigit():
            return self._three_ds_page(payment, "Type the code the bank sent.")
        else:
            self._three_ds_locked(payment, True, events)
        return _redirect(return_url)

    def _submit_card_locked(self, payment: _Payment, form: _Form, events: list[Json]) -> bool:
        """Check the card form, then pay or decline; True if the card goes on to 3-D Secure
        (form.errors says why the form was refused)."""
        if payment.status != "pending" or payment.off_session or payment.return_url is None:
            raise ValueError(f"payment {payment.id} is {payment.status}: nothing to pay")
        if payment.awaiting_3ds is not None:
            raise ValueError(f"payment {payment.id} waits for its 3-D Secure code")
        number = _digits(form.number)
        card = TEST_CARDS.get(number)
        if card is None:
            form.errors.append(
                "This card cannot be used here: in the test shop pay with a YooKassa test"
                " card, e.g. 5555 5555 5555 4444."
            )
        expiry = _parse_expiry(form.expiry)
        if expiry is None:
            form.errors.append("Type the expiry date as MM/YY.")
        elif (expiry[1], expiry[0]) < (self._clock.now().year, self._clock.now().month):
            form.errors.append("The card has expired: check the date.")
        if not re.fullmatch(r"\d{3,4}", form.csc.strip()):
            form.errors.append("The CVC is the 3 digits on the back of the card.")
        if form.errors or card is None or expiry is None:
            return False
        method = _Method(_object_id("000f"), number, expiry[0], expiry[1])
        payment.method = method
        if card.three_d_secure:
            payment.awaiting_3ds = method
            return True
        payment.three_d_secure_applied = False
        if card.decline is not None:
            self._cancel_locked(payment, *card.decline, events)
        else:
            self._paid_locked(payment, events)
        return False

    def _three_ds_locked(self, payment: _Payment, passed: bool, events: list[Json]) -> None:
        method = payment.awaiting_3ds
        if method is None:
            raise ValueError(f"payment {payment.id} waits for no 3-D Secure code")
        payment.awaiting_3ds = None
        payment.three_d_secure_applied = True
        if not passed or method.card.decline is not None:
            party, reason = method.card.decline or ("payment_network", "3d_secure_failed")
            self._cancel_locked(payment, party, reason, events)
        else:
            self._paid_locked(payment, events)

    def _card_page(self, payment: _Payment, form: _Form | None = None, status: int = 200) -> Reply:
        amount = f"{payment.amount:.2f} {payment.currency}"
        errors = "".join(
            f"<p class='error'>{html.escape(error)}</p>" for error in (form.errors if form else ())
        )
        hints = "".join(
            f"<li><code>{html.escape(_spaced(number))}</code> {html.escape(text)}</li>"
            for number, text in (
                (SUCCESS_CARD, "pays"),
                (THREE_DS_CARD, "pays after a 3-D Secure code"),
                (DECLINE_CARD, "is declined: insufficient_funds"),
                (THREE_DS_FAILED_CARD, "fails 3-D Secure"),
            )
        )
        saving = (
            "<p class='save'>The shop will save this card for future payments.</p>"
            if payment.save_payment_method
            else ""
        )
        number = html.escape(form.number) if form else ""
        content = (
            "<h1>YooKassa test payment</h1>"
            f"<p class='description'>{html.escape(payment.description or '')}</p>"
            f"<p class='amount'>{html.escape(amount)}</p>{errors}"
            f"<form method='post' action='/payments/{html.escape(payment.id)}/pay'>"
            f"<label>Card number <input name='card_number' value='{number}'"
            f" placeholder='{_spaced(SUCCESS_CARD)}' autocomplete='cc-number'></label>"
            f"<label>Expiry <input name='expiry' value='{self._default_expiry()}'"
            " placeholder='MM/YY' autocomplete='cc-exp'></label>"
            "<label>CVC <input name='csc' value='123' autocomplete='cc-csc'></label>"
            f"{saving}<button type='submit'>Pay {html.escape(amount)}</button></form>"
            f"<p>Test cards (any future expiry, any CVC):</p><ul>{hints}</ul>"
        )
        return _html(status, "YooKassa", content)

    def _three_ds_page(self, payment: _Payment, error: str | None = None) -> Reply:
        method = payment.awaiting_3ds
        last4 = method.number[-4:] if method else ""
        content = (
            "<h1>3-D Secure</h1>"
            f"<p>Confirm the payment of {payment.amount:.2f} {html.escape(payment.currency)}"
            f" with card *{html.escape(last4)}: type any code (e.g. 12345).</p>"
            + (f"<p class='error'>{html.escape(error)}</p>" if error else "")
            + f"<form method='post' action='/payments/{html.escape(payment.id)}/3ds'>"
            "<input name='code' autocomplete='one-time-code'>"
            "<button type='submit' name='action' value='confirm'>Confirm</button>"
            "<button type='submit' name='action' value='fail'>Fail</button></form>"
        )
        return _html(400 if error else 200, "3-D Secure", content)


# -- module helpers ----------------------------------------------------------------------


def _notification(event: str | None, obj: Json) -> Json:
    if event is None:
        raise ValueError("no notification for a pending payment")
    return {"type": "notification", "event": event, "object": copy.deepcopy(obj)}


def _event_of(status: str) -> str | None:
    return {
        "waiting_for_capture": "payment.waiting_for_capture",
        "succeeded": "payment.succeeded",
        "canceled": "payment.canceled",
    }.get(status)


def _method_json(method: _Method) -> Json:
    card = method.card
    return {
        "type": "bank_card",
        "id": method.id,
        "saved": method.saved,
        "title": f"Bank card *{method.number[-4:]}",
        "card": {
            "first6": method.number[:6],
            "last4": method.number[-4:],
            "expiry_month": f"{method.expiry_month:02d}",
            "expiry_year": f"{method.expiry_year:04d}",
            "card_type": card.card_type,
            "issuer_country": "RU",
        },
    }


def _json_reply(status: int, payload: Json) -> Reply:
    return Reply(status, canonical_json(payload))


def _error_reply(error: _ApiError) -> Reply:
    payload: Json = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": error.code,
        "description": error.description,
    }
    if error.parameter is not None:
        payload["parameter"] = error.parameter
    return _json_reply(error.status, payload)


def _fault_reply(status: int) -> Reply:
    code, description = FAULTS.get(status, FAULTS[500])
    return _error_reply(_ApiError(status, code, description))


def _html(status: int, title: str, content: str) -> Reply:
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>{content}</body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def _redirect(location: str) -> Reply:
    return Reply(
        303, b"", "text/plain", (("Location", quote(location, safe=":/?#[]@!$&'()*+,;=%")),)
    )


def _digits(text: str) -> str:
    return re.sub(r"[\s-]", "", text)


def _spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _parse_expiry(text: str) -> tuple[int, int] | None:
    """ "MM/YY" or "MM/YYYY" -> (month, year)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", text)
    if match is None:
        return None
    month, year = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        return None
    return month, year + 2000 if year < 100 else year


_VALUE = re.compile(r"\d+(\.\d{1,2})?")


def _amount(value: object, where: str, *, allow_zero: bool = False) -> tuple[Decimal, str]:
    """{value, currency} -> (Decimal, currency); 400 naming `where`.value / .currency."""
    if not isinstance(value, dict):
        raise _invalid(f"Specify {where} as an object with value and currency", where)
    raw = value.get("value")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _invalid(f"Specify {where}.value as a string like 100.00", f"{where}.value")
    text = str(raw).strip()
    number: Decimal | None = None
    if _VALUE.fullmatch(text):
        number = Decimal(text)
    elif isinstance(raw, float):
        try:
            candidate = Decimal(text)
        except InvalidOperation:
            candidate = None
        if candidate is not None and candidate == candidate.quantize(CENT):
            number = candidate
    if number is None or number < 0 or (number == 0 and not allow_zero):
        raise _invalid(
            f"Invalid {where}.value: a positive number with at most two decimals",
            f"{where}.value",
        )
    currency = value.get("currency")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise _invalid(f"Invalid currency {currency!r}", f"{where}.currency")
    return number.quantize(CENT), currency


def _optional_bool(body: Json, key: str, *, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise _invalid(f"{key} is true or false", key)
    return value


def _text(body: Json, key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{key} must be a string", key)
    if len(value) > limit:
        raise _invalid(f"{key} is longer than {limit} characters", key)
    return value


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("metadata must be an object", "metadata")
    if len(value) > 16:
        raise _invalid("metadata has more than 16 keys", "metadata")
    for key, item in value.items():
        if len(key) > 32:
            raise _invalid(f"metadata key {key[:40]!r} is longer than 32 characters", "metadata")
        if not isinstance(item, str) or len(item) > 512:
            raise _invalid(
                f"metadata value of {key!r} must be a string of at most 512 characters",
                "metadata",
            )
    return dict(value)


def _confirmation(value: object) -> tuple[str, str | None]:
    """(return_url, locale) of a redirect confirmation."""
    if not isinstance(value, dict):
        raise _invalid("confirmation must be an object", "confirmation")
    if value.get("type") != "redirect":
        raise _invalid(
            "Only the redirect confirmation scenario is available in this test shop",
            "confirmation.type",
        )
    return_url = value.get("return_url")
    if not isinstance(return_url, str) or not return_url.strip() or len(return_url) > 2048:
        raise _invalid(
            "Specify confirmation.return_url (at most 2048 characters)", "confirmation.return_url"
        )
    locale = value.get("locale")
    if locale is not None and locale not in ("ru_RU", "en_US"):
        raise _invalid("confirmation.locale is ru_RU or en_US", "confirmation.locale")
    enforce = value.get("enforce")
    if enforce is not None and not isinstance(enforce, bool):
        raise _invalid("confirmation.enforce is true or false", "confirmation.enforce")
    return return_url, locale


def _receipt_error(why: str) -> _ApiError:
    return _invalid(f"Receipt is missing or illegal: {why}", "receipt")


def _check_receipt(value: object, amount: Decimal, currency: str) -> Json:
    """A 54-FZ receipt whose items add up to `amount`; 400 "receipt" otherwise."""
    if not isinstance(value, dict):
        raise _receipt_error("the receipt must be an object")
    _check_customer(value)
    tax_system = value.get("tax_system_code")
    if tax_system is not None and (
        isinstance(tax_system, bool) or tax_system not in (1, 2, 3, 4, 5, 6)
    ):
        raise _receipt_error("tax_system_code is 1..6")
    items = value.get("items")
    if not isinstance(items, list) or not items:
        raise _receipt_error("items is a non-empty list")
    if len(items) > MAX_RECEIPT_ITEMS:
        raise _receipt_error(f"at most {MAX_RECEIPT_ITEMS} items")
    total = sum(
        (_receipt_item(f"items[{index}]", item, currency) for index, item in enumerate(items)),
        Decimal(0),
    )
    if total != amount:
        raise _receipt_error(
            f"the items add up to {total:.2f} {currency} (amount x quantity), not"
            f" {amount:.2f} {currency}"
        )
    return copy.deepcopy(value)


def _check_customer(receipt: Json) -> None:
    customer = receipt.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise _receipt_error("customer must be an object")
    contacts = dict(customer or {})
    for key in ("email", "phone"):
        if receipt.get(key) is not None:  # the older receipt.email / receipt.phone
            contacts.setdefault(key, receipt[key])
    email, phone = contacts.get("email"), contacts.get("phone")
    if email is None and phone is None:
        raise _receipt_error("specify the customer's email or phone")
    if email is not None and (
        not isinstance(email, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)
    ):
        raise _receipt_error("customer.email is not an email address")
    if phone is not None and (
        not isinstance(phone, str) or not re.fullmatch(r"\+?\d{7,15}", phone)
    ):
        raise _receipt_error("customer.phone is a number in ITU-T E.164 format, e.g. 79000000000")


def _receipt_item(where: str, item: object, currency: str) -> Decimal:
    """Checks one receipt item; returns its amount x quantity in kopecks (cents)."""
    if not isinstance(item, dict):
        raise _receipt_error(f"{where} must be an object")
    description = item.get("description")
    if not isinstance(description, str) or not 1 <= len(description) <= 128:
        raise _receipt_error(f"{where}.description is 1..128 characters")
    quantity = _quantity(item.get("quantity"))
    if quantity is None:
        raise _receipt_error(f"{where}.quantity is a positive number with at most 3 decimals")
    try:
        price, item_currency = _amount(item.get("amount"), "amount", allow_zero=True)
    except _ApiError as error:
        raise _receipt_error(f"{where}: {error.description}") from None
    if item_currency != currency:
        raise _receipt_error(f"{where}.amount.currency differs from the payment's")
    vat = item.get("vat_code")
    if isinstance(vat, str) and vat.isdigit():
        vat = int(vat)
    if isinstance(vat, bool) or not isinstance(vat, int) or not 1 <= vat <= 12:
        raise _receipt_error(f"{where}.vat_code is 1..12")
    subject = item.get("payment_subject")
    if subject is not None and subject not in PAYMENT_SUBJECTS:
        raise _receipt_error(f"{where}.payment_subject {subject!r} is unknown")
    mode = item.get("payment_mode")
    if mode is not None and mode not in PAYMENT_MODES:
        raise _receipt_error(f"{where}.payment_mode {mode!r} is unknown")
    return (price * quantity).quantize(CENT, ROUND_HALF_UP)


def _quantity(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d+(\.\d{1,3})?", text):
        return None
    number = Decimal(text)
    return number if number > 0 else None


def _one(params: Mapping[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[-1] if values else None


_TIME_OPERATORS = ("gte", "gt", "lte", "lt")


def _time_filters(params: Mapping[str, list[str]], field_name: str) -> dict[str, datetime]:
    filters: dict[str, datetime] = {}
    for operator in _TIME_OPERATORS:
        name = f"{field_name}.{operator}"
        raw = _one(params, name)
        if raw is None:
            continue
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _invalid(
                f"{name} is a time in ISO 8601, e.g. 2024-01-31T12:00:00.000Z", name
            ) from None
        filters[operator] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return filters


def _within(moment: datetime, filters: Mapping[str, datetime]) -> bool:
    checks = {
        "gte": lambda bound: moment >= bound,
        "gt": lambda bound: moment > bound,
        "lte": lambda bound: moment <= bound,
        "lt": lambda bound: moment < bound,
    }
    return all(checks[operator](bound) for operator, bound in filters.items())


def _page_of(found: list[tuple[int, Json]], params: Mapping[str, list[str]]) -> Json:
    """Newest first, `limit` at a time; the cursor names where the next page starts."""
    raw_limit = _one(params, "limit")
    limit = 10
    if raw_limit is not None:
        if not raw_limit.strip().isdigit() or not 1 <= int(raw_limit) <= 100:
            raise _invalid("limit is 1..100", "limit")
        limit = int(raw_limit)
    found.sort(key=lambda entry: -entry[0])
    cursor = _one(params, "cursor")
    if cursor:
        try:
            before = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _invalid("Invalid cursor", "cursor") from None
        found = [entry for entry in found if entry[0] < before]
    page = found[:limit]
    answer: Json = {"type": "list", "items": [item for _, item in page]}
    if len(found) > limit:
        token = base64.urlsafe_b64encode(str(page[-1][0]).encode()).decode().rstrip("=")
        answer["next_cursor"] = token
    return answer
