"""Stripe, seen from the billing backend: customers, Checkout, off-session charges, refunds.

`StripeGateway` wraps one `stripe.StripeClient` (per instance, no global `stripe.api_key`).
The SDK is imported lazily, on the first call that needs it: building a gateway is free,
so a cold start that only verifies a webhook never loads it.

Every request that changes something carries an idempotency key the caller derives from
its own identifiers (an order id, a renewal period), never a random one: a retry after a
timeout, a Lambda retry or a redelivered message then replays Stripe's first answer instead
of charging twice. Stripe keeps keys for at least 24 hours.

Errors: network failures, 5xx, 409 (a concurrent request with the same key) and rate limits
raise `ProviderUnavailable` (try again later with the same key); anything else Stripe refuses
raises `ProviderRejected`. Card declines of an off-session charge are not errors: they are an
`OffSessionResult` outcome.

`verify_webhook` checks the `Stripe-Signature` header with the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from billing.providers.errors import ProviderRejected, ProviderUnavailable

if TYPE_CHECKING:
    import stripe
    from stripe.params import ChargeListParams, CustomerCreateParams, PaymentIntentCreateParams
    from stripe.params.checkout import SessionCreateParams

MAX_IDEMPOTENCY_KEY_LENGTH = 255  # Stripe's limit
DEFAULT_TIMEOUT_SECONDS = 10.0

OffSessionOutcome = Literal["succeeded", "declined", "requires_action"]
_AUTHENTICATE = "the bank asks the Payer to authenticate (off-session charge not possible)"


@dataclass(frozen=True, slots=True)
class CheckoutLink:
    session_id: str  # cs_...
    url: str  # the hosted payment page the Payer opens


@dataclass(frozen=True, slots=True)
class OffSessionResult:
    outcome: OffSessionOutcome
    payment_intent_id: str | None  # None only when Stripe did not say which intent failed
    message: str  # for logs and support, not for the Payer
    card_country: str | None  # ISO 3166-1 alpha-2 of the card's issuer, when known


@dataclass(frozen=True, slots=True)
class CardDetails:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    country: str | None
    payment_method_id: str


@dataclass(frozen=True, slots=True)
class PaymentIntentInfo:
    id: str
    status: str
    amount: int  # minor units
    currency: str  # upper case, e.g. "EUR"
    customer: str | None
    payment_method: str | None
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class RefundInfo:
    id: str  # re_...
    amount: int  # minor units
    currency: str  # upper case
    status: str  # pending, requires_action, succeeded, failed, canceled
    payment_intent: str | None


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        api_base: str,
        *,
        max_network_retries: int = 2,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")
        self._max_network_retries = max_network_retries
        self._timeout = timeout
        self._stripe_client: stripe.StripeClient | None = None

    @property
    def _client(self) -> stripe.StripeClient:
        if self._stripe_client is None:
            import stripe

            from billing.providers.remaining_timeout import RemainingTimeout

            # httpx is already in the layer, and respx can stand in for Stripe in tests
            # (left alone, the SDK picks `requests` where installed, else urllib). The
            # timeout is cut, request by request, to the time the invocation has left.
            http_client = stripe.HTTPXClient(
                timeout=RemainingTimeout(self._timeout), allow_sync_methods=True
            )
            self._stripe_client = stripe.StripeClient(
                self._api_key,
                base_addresses={"api": self._api_base},
                max_network_retries=self._max_network_retries,
                http_client=http_client,
            )
        return self._stripe_client

    # -- customers ---------------------------------------------------------------------

    def ensure_customer(self, *, payer_id: int, existing: str | None, idempotency_key: str) -> str:
        """The Payer's Stripe customer id: `existing` while it still exists, else a new one."""
        _check_key(idempotency_key)
        key = idempotency_key
        if existing:
            if self._customer_exists(existing):
                return existing
            # The same key would replay the creation of the customer that is now gone.
            key = _check_key(f"{idempotency_key}/replaces/{existing}")
        params: CustomerCreateParams = {"metadata": {"payer_id": str(payer_id)}}
        with _provider_errors("create customer"):
            customer = self._client.v1.customers.create(params, {"idempotency_key": key})
        return customer.id

    def _customer_exists(self, customer_id: str) -> bool:
        import stripe

        try:
            with _provider_errors("retrieve customer", passthrough=(stripe.InvalidRequestError,)):
                customer = self._client.v1.customers.retrieve(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return False
            raise _rejected("retrieve customer", exc) from exc
        return not getattr(customer, "deleted", False)

    # -- Checkout ----------------------------------------------------------------------

    def create_checkout_session(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        description: str,
        customer: str | None,
        save_card: bool,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutLink:
        """A hosted card payment page for one order (mode=payment, one line)."""
        _check_key(idempotency_key)
        _check_amount(amount)
        params: SessionCreateParams = {
            "mode": "payment",
            "allowed_payment_method_types": ["card"],
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount,
                        "product_data": {"name": description},
                    },
                }
            ],
            "client_reference_id": order_id,
            "metadata": {"order_id": order_id},
            "payment_intent_data": {"metadata": {"order_id": order_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if save_card:
            params["payment_intent_data"]["setup_future_usage"] = "off_session"
        if customer:
            params["customer"] = customer
        with _provider_errors("create checkout session"):
            session = self._client.v1.checkout.sessions.create(
                params, {"idempotency_key": idempotency_key}
            )
        if not session.url:
            raise ProviderUnavailable(
                PROVIDER, f"checkout session {session.id} came back without a url", status=200
            )
        return CheckoutLink(session_id=session.id, url=session.url)

    # -- off-session charges -----------------------------------------------------------

    def charge_off_session(
        self,
        *,
        customer: str,
        payment_method: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> OffSessionResult:
        """Charge a saved card without the Payer present (renewals, auto top-ups)."""
        import stripe

        _check_key(idempotency_key)
        _check_amount(amount)
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "confirm": True,
            "off_session": True,
            "metadata": dict(metadata),
            "expand": ["payment_method"],
        }
        try:
            with _provider_errors("off-session charge", passthrough=(stripe.CardError,)):
                intent = self._client.v1.payment_intents.create(
                    params, {"idempotency_key": idempotency_key}
                )
        except stripe.CardError as exc:
            return self._card_error_result(exc)
        return _intent_result(intent)

    def find_off_session_charge(
        self, *, customer: str, order_id: str, attempt: int
    ) -> OffSessionResult | None:
        """What became of an off-session charge whose answer never came (a timeout, a crash):
        the PaymentIntent whose metadata names `order_id` and `attempt`, or None when Stripe
        holds none, i.e. the request never reached it and may be sent again with its key.

        Found through the customer's charges, each with its intent expanded: every intent
        that took or may take money (succeeded, processing, declined) has a charge, and
        both Stripe and localstripe filter charges by customer (localstripe lists intents
        only unfiltered). An intent waiting for authentication has no charge and cannot
        take money off-session: None then, and the resent request ends the same way."""
        params: ChargeListParams = {
            "customer": customer,
            "limit": 100,
            "expand": ["data.payment_intent", "data.payment_intent.payment_method"],
        }
        found: list[Any] = []
        with _provider_errors("list charges"):
            for charge in self._client.v1.charges.list(params).auto_paging_iter():
                intent = _get(charge, "payment_intent")
                metadata = _get(intent, "metadata")
                named = (_get(metadata, "order_id"), _get(metadata, "attempt"))
                if named == (order_id, str(attempt)):
                    found.append(intent)
        if not found:
            return None
        # One intent per attempt; should a second turn up, money taken is what matters.
        found.sort(key=lambda intent: _get(intent, "status") != "succeeded")
        return _intent_result(found[0])

    def _card_error_result(self, exc: stripe.CardError) -> OffSessionResult:
        error = exc.error
        intent = _get(error, "payment_intent")
        intent_id = _get(intent, "id")
        if not isinstance(intent_id, str):
            intent_id = self._intent_of_charge(_get(error, "charge"))
        country = _card_country(_get(intent, "payment_method")) or _card_country(
            _get(error, "payment_method")
        )
        if exc.code == "authentication_required" or _get(intent, "status") == "requires_action":
            return OffSessionResult("requires_action", intent_id, _AUTHENTICATE, country)
        message = _decline_message(
            _get(error, "message") or str(exc), exc.code, _get(error, "decline_code")
        )
        return OffSessionResult("declined", intent_id, message, country)

    def _intent_of_charge(self, charge_id: object) -> str | None:
        """Stripe names the intent in a card error; a fake that only names the charge is asked."""
        if not isinstance(charge_id, str) or not charge_id:
            return None
        import stripe

        try:
            charge = self._client.v1.charges.retrieve(charge_id)
        except stripe.StripeError:
            return None
        intent = _get(charge, "payment_intent")
        found = intent if isinstance(intent, str) else _get(intent, "id")
        return found if isinstance(found, str) else None

    # -- reading -----------------------------------------------------------------------

    def card_details(self, payment_method: str) -> CardDetails:
        with _provider_errors("retrieve payment method"):
            method = self._client.v1.payment_methods.retrieve(payment_method)
        card = method.card
        if method.type != "card" or card is None:
            raise ProviderRejected(
                PROVIDER,
                f"payment method {payment_method} is a {method.type}, not a card",
                status=200,
                name="payment_method_not_card",
            )
        return CardDetails(
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            country=card.country,
            payment_method_id=method.id,
        )

    def payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo:
        with _provider_errors("retrieve payment intent"):
            intent = self._client.v1.payment_intents.retrieve(payment_intent_id)
        return PaymentIntentInfo(
            id=intent.id,
            status=intent.status,
            amount=intent.amount,
            currency=intent.currency.upper(),
            customer=_id_of(intent.customer),
            payment_method=_id_of(intent.payment_method),
            metadata={str(k): str(v) for k, v in intent.metadata.to_dict().items()},
        )

    # -- refunds and cards -------------------------------------------------------------

    def refund(self, *, payment_intent_id: str, amount: int, idempotency_key: str) -> str:
        """Refund `amount` minor units of a payment; returns the refund id (re_...)."""
        _check_key(idempotency_key)
        _check_amount(amount)
        with _provider_errors("refund"):
            refund = self._client.v1.refunds.create(
                {"payment_intent": payment_intent_id, "amount": amount},
                {"idempotency_key": idempotency_key},
            )
        return refund.id

    def events_since(self, created_from: int, *, limit: int = 1_000) -> list[dict[str, Any]]:
        """Stripe's own record of what happened since `created_from` (epoch seconds): the
        events it sent, or tried to send, as webhooks (kept 30 days). Reconciliation replays
        them through the webhook's code, so a lost delivery is applied all the same."""
        with _provider_errors("list events"):
            page = self._client.v1.events.list({"created": {"gte": created_from}, "limit": 100})
            events = []
            for event in page.auto_paging_iter():
                events.append(event.to_dict())
                if len(events) >= limit:
                    break
        return events

    def refunds_of(self, payment_intent_id: str) -> list[RefundInfo]:
        """Every refund of a payment (newer API versions no longer list them on the charge
        of a `charge.refunded` event)."""
        with _provider_errors("list refunds"):
            page = self._client.v1.refunds.list({"payment_intent": payment_intent_id, "limit": 100})
            refunds = list(page.auto_paging_iter())
        return [
            RefundInfo(
                id=refund.id,
                amount=int(refund.amount),
                currency=str(refund.currency).upper(),
                status=str(refund.status),
                payment_intent=_id_of(refund.payment_intent),
            )
            for refund in refunds
        ]

    def detach_payment_method(self, payment_method: str, *, idempotency_key: str) -> None:
        """Forget a saved card at Stripe; a card already detached (or gone) is fine."""
        import stripe

        _check_key(idempotency_key)
        try:
            with _provider_errors(
                "detach payment method", passthrough=(stripe.InvalidRequestError,)
            ):
                self._client.v1.payment_methods.detach(
                    payment_method, options={"idempotency_key": idempotency_key}
                )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return  # no such payment method: nothing left to detach
            # Stripe answers 400 "not attached to a customer" for a second detach.
            if self._is_detached(payment_method):
                return
            raise _rejected("detach card", exc) from exc

    def _is_detached(self, payment_method: str) -> bool:
        with _provider_errors("retrieve payment method"):
            method = self._client.v1.payment_methods.retrieve(payment_method)
        return method.customer is None


# -- helpers ---------------------------------------------------------------------------


PROVIDER = "stripe"


@contextmanager
def _provider_errors(action: str, passthrough: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Stripe SDK errors -> ProviderUnavailable / ProviderRejected (callers never see stripe)."""
    import stripe

    try:
        yield
    except passthrough:
        raise
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise _unavailable(action, exc) from exc
    except stripe.APIError as exc:
        status = exc.http_status
        if status is None or status >= 500 or status == 409:
            raise _unavailable(action, exc) from exc
        raise _rejected(action, exc) from exc
    except stripe.StripeError as exc:
        raise _rejected(action, exc) from exc


def _unavailable(action: str, exc: stripe.StripeError) -> ProviderUnavailable:
    return ProviderUnavailable(PROVIDER, f"{action}: {exc}", status=exc.http_status)


def _rejected(action: str, exc: stripe.StripeError) -> ProviderRejected:
    error_type = exc.error.type if exc.error is not None else None
    return ProviderRejected(
        PROVIDER,
        f"{action}: {exc.user_message or exc}",
        status=exc.http_status or 400,
        name=exc.code or error_type or type(exc).__name__,
        debug_id=exc.request_id,
    )


def _check_key(key: str) -> str:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(f"idempotency key must be 1..{MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return key


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive number of minor units, not {amount!r}")


def _id_of(value: str | stripe.StripeObject | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


def _get(obj: object, name: str) -> Any:
    """A field of a Stripe object, or None where the answer leaves it out."""
    return getattr(obj, name, None) if obj is not None else None


def _card_country(method: object) -> str | None:
    """The issuing country of an expanded card PaymentMethod (None for an id or no card)."""
    country = _get(_get(method, "card"), "country")
    return country if isinstance(country, str) else None


def _intent_result(intent: Any) -> OffSessionResult:
    """An off-session PaymentIntent's outcome; one still under way raises ProviderUnavailable."""
    country = _card_country(_get(intent, "payment_method"))
    match _get(intent, "status"):
        case "succeeded":
            return OffSessionResult("succeeded", intent.id, "succeeded", country)
        case "requires_action":
            return OffSessionResult("requires_action", intent.id, _AUTHENTICATE, country)
        case "requires_payment_method":
            error = _get(intent, "last_payment_error")
            message = _decline_message(
                _get(error, "message"), _get(error, "code"), _get(error, "decline_code")
            )
            return OffSessionResult("declined", intent.id, message, country)
        case status:
            # "processing" and friends: the outcome comes later, by webhook.
            raise ProviderUnavailable(
                PROVIDER,
                f"payment intent {intent.id} is {status}; its outcome will arrive by webhook",
                status=200,
            )


def _decline_message(message: str | None, code: str | None, decline_code: str | None) -> str:
    reasons = "/".join(part for part in (code, decline_code) if part)
    text = message or "the card was declined"
    return f"{text} ({reasons})" if reasons else text
