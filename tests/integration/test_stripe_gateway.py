"""StripeGateway against localstripe, and against respx where localstripe falls short.

localstripe has no Checkout Sessions, ignores idempotency keys and answers some errors
differently from Stripe; those cases are checked on the wire with respx instead.
"""

from __future__ import annotations

import http.server
import queue
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from billing.providers.errors import ProviderRejected, ProviderUnavailable
from billing.providers.stripe_gateway import CheckoutLink, StripeGateway
from billing.providers.stripe_signature import InvalidSignature, verify_webhook
from local.localstripe_peer import LocalStripe, LocalStripeError

VISA = "4242424242424242"
DECLINED_ON_ATTACH = "4000000000000002"
DECLINED_ON_CHARGE = "4000000000000341"
NEEDS_AUTHENTICATION = "4000002500003155"


@pytest.fixture
def gateway(localstripe: LocalStripe) -> StripeGateway:
    return StripeGateway(localstripe.api_key, localstripe.base_url, max_network_retries=0)


def _key(label: str) -> str:
    return f"test:{label}:{uuid.uuid4().hex}"


def _customer_with_card(
    gateway: StripeGateway, peer: LocalStripe, number: str, payer_id: int = 1
) -> tuple[str, str]:
    customer = gateway.ensure_customer(payer_id=payer_id, existing=None, idempotency_key=_key("c"))
    method = peer.create_card_payment_method(number)
    peer.attach(method, customer)
    return customer, method


# -- customers ---------------------------------------------------------------------------


def test_ensure_customer_creates_once_then_keeps_the_existing_one(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    key = _key("customer:42")
    customer = gateway.ensure_customer(payer_id=42, existing=None, idempotency_key=key)

    assert customer.startswith("cus_")
    assert localstripe.get(f"/v1/customers/{customer}")["metadata"] == {"payer_id": "42"}
    assert gateway.ensure_customer(payer_id=42, existing=customer, idempotency_key=key) == customer


def test_ensure_customer_replaces_a_deleted_customer(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    key = _key("customer:43")
    old = gateway.ensure_customer(payer_id=43, existing=None, idempotency_key=key)
    httpx.delete(
        f"{localstripe.base_url}/v1/customers/{old}",
        headers={"Authorization": f"Bearer {localstripe.api_key}"},
    ).raise_for_status()

    new = gateway.ensure_customer(payer_id=43, existing=old, idempotency_key=key)

    assert new != old and new.startswith("cus_")


# -- off-session charges -----------------------------------------------------------------


def test_off_session_charge_succeeds_and_reports_the_card_country(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    customer, method = _customer_with_card(gateway, localstripe, VISA)

    result = gateway.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=1250,
        currency="EUR",
        idempotency_key=_key("renewal"),
        metadata={"order_id": "ord-1"},
    )

    assert result.outcome == "succeeded"
    assert result.card_country == "FR"
    assert result.payment_intent_id is not None
    info = gateway.payment_intent(result.payment_intent_id)
    assert (info.status, info.amount, info.currency) == ("succeeded", 1250, "EUR")
    assert (info.customer, info.payment_method) == (customer, method)
    assert info.metadata == {"order_id": "ord-1"}


def test_a_card_declined_on_attach_never_reaches_a_charge(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    customer = gateway.ensure_customer(payer_id=2, existing=None, idempotency_key=_key("c"))
    method = localstripe.create_card_payment_method(DECLINED_ON_ATTACH)

    with pytest.raises(LocalStripeError) as declined:
        localstripe.attach(method, customer)

    assert (declined.value.status, declined.value.code) == (402, "card_declined")


def test_off_session_charge_declined(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    customer, method = _customer_with_card(gateway, localstripe, DECLINED_ON_CHARGE)

    result = gateway.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=500,
        currency="USD",
        idempotency_key=_key("renewal"),
        metadata={"order_id": "ord-2"},
    )

    assert result.outcome == "declined"
    assert "card_declined" in result.message
    assert result.payment_intent_id is not None  # found through the charge the error names
    assert gateway.payment_intent(result.payment_intent_id).status == "requires_payment_method"


def test_off_session_charge_that_needs_authentication(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    customer, method = _customer_with_card(gateway, localstripe, NEEDS_AUTHENTICATION)

    result = gateway.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=500,
        currency="EUR",
        idempotency_key=_key("renewal"),
        metadata={"order_id": "ord-3"},
    )

    assert result.outcome == "requires_action"
    assert result.payment_intent_id is not None
    assert result.card_country == "FR"


def test_an_off_session_charge_whose_answer_was_lost_is_found_by_order_and_attempt(
    gateway: StripeGateway,
    localstripe: LocalStripe,
) -> None:
    customer, visa = _customer_with_card(gateway, localstripe, VISA)
    declining = localstripe.create_card_payment_method(DECLINED_ON_CHARGE)
    localstripe.attach(declining, customer)
    charges = {}
    for attempt, method in ((1, declining), (2, visa)):
        charges[attempt] = gateway.charge_off_session(
            customer=customer,
            payment_method=method,
            amount=21_420,
            currency="EUR",
            idempotency_key=_key("renewal"),
            metadata={"order_id": "R-ORDER", "attempt": str(attempt)},
        )

    declined = gateway.find_off_session_charge(customer=customer, order_id="R-ORDER", attempt=1)
    paid = gateway.find_off_session_charge(customer=customer, order_id="R-ORDER", attempt=2)

    assert declined is not None and declined.outcome == "declined"
    assert declined.payment_intent_id == charges[1].payment_intent_id
    assert "card_declined" in declined.message
    assert paid is not None and (paid.outcome, paid.payment_intent_id, paid.card_country) == (
        "succeeded",
        charges[2].payment_intent_id,
        "FR",
    )
    # An attempt whose request never reached Stripe, and another order: nothing.
    assert gateway.find_off_session_charge(customer=customer, order_id="R-ORDER", attempt=3) is None
    assert gateway.find_off_session_charge(customer=customer, order_id="R-OTHER", attempt=2) is None


# -- cards, refunds ----------------------------------------------------------------------


def test_card_details(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    _, method = _customer_with_card(gateway, localstripe, VISA)

    card = gateway.card_details(method)

    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    assert (card.country, card.payment_method_id) == ("FR", method)


def test_partial_refund(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer, method = _customer_with_card(gateway, localstripe, VISA)
    charged = gateway.charge_off_session(
        customer=customer,
        payment_method=method,
        amount=1000,
        currency="EUR",
        idempotency_key=_key("renewal"),
        metadata={"order_id": "ord-4"},
    )
    assert charged.payment_intent_id is not None

    refund = gateway.refund(
        payment_intent_id=charged.payment_intent_id, amount=400, idempotency_key=_key("refund")
    )

    assert refund.startswith("re_")
    stored = localstripe.get(f"/v1/refunds/{refund}")
    assert (stored["amount"], stored["status"]) == (400, "succeeded")
    assert stored["payment_intent"] == charged.payment_intent_id


def test_refund_of_an_unknown_payment_is_rejected(gateway: StripeGateway) -> None:
    with pytest.raises(ProviderRejected) as rejected:
        gateway.refund(payment_intent_id="pi_missing", amount=1, idempotency_key=_key("refund"))
    assert rejected.value.status == 404


def test_detach_is_repeatable(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    _, method = _customer_with_card(gateway, localstripe, VISA)

    gateway.detach_payment_method(method, idempotency_key=_key("detach"))
    gateway.detach_payment_method(method, idempotency_key=_key("detach"))
    gateway.detach_payment_method("pm_gone", idempotency_key=_key("detach"))

    assert localstripe.get(f"/v1/payment_methods/{method}")["customer"] is None


def test_amounts_and_keys_are_checked_before_any_call(gateway: StripeGateway) -> None:
    with pytest.raises(ValueError, match="minor units"):
        gateway.refund(payment_intent_id="pi_x", amount=0, idempotency_key="k")
    with pytest.raises(ValueError, match="idempotency key"):
        gateway.refund(payment_intent_id="pi_x", amount=1, idempotency_key="")
    with pytest.raises(ValueError, match="idempotency key"):
        gateway.detach_payment_method("pm_x", idempotency_key="k" * 256)


# -- webhooks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str | None
    received_at: float


class _Receiver(http.server.BaseHTTPRequestHandler):
    deliveries: queue.Queue[Delivery]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.deliveries.put(Delivery(body, self.headers.get("Stripe-Signature"), time.time()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, queue.Queue[Delivery]]]:
    deliveries: queue.Queue[Delivery] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"deliveries": deliveries})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/payments/stripe", deliveries
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _event_for(
    deliveries: queue.Queue[Delivery], secret: str, intent_id: str, timeout: float = 15.0
) -> tuple[Delivery, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            delivery = deliveries.get(timeout=left)
        except queue.Empty:
            break
        event = verify_webhook(
            delivery.body, delivery.signature, secret, now=int(delivery.received_at)
        )
        if event["data"]["object"]["id"] == intent_id:
            return delivery, event
    raise AssertionError(f"no event for {intent_id} within {timeout} s")


def test_a_succeeding_charge_sends_a_signed_payment_intent_succeeded(
    gateway: StripeGateway,
    localstripe: LocalStripe,
    webhook_receiver: tuple[str, queue.Queue[Delivery]],
) -> None:
    url, deliveries = webhook_receiver
    secret = "whsec_test_" + uuid.uuid4().hex
    localstripe.register_webhook(url, secret, events=["payment_intent.succeeded"])
    try:
        customer, method = _customer_with_card(gateway, localstripe, VISA)
        charged_at = time.time()
        result = gateway.charge_off_session(
            customer=customer,
            payment_method=method,
            amount=700,
            currency="EUR",
            idempotency_key=_key("renewal"),
            metadata={"order_id": "ord-webhook"},
        )
        assert result.payment_intent_id is not None

        delivery, event = _event_for(deliveries, secret, result.payment_intent_id)
    finally:
        localstripe.unregister_webhook(url)

    assert event["type"] == "payment_intent.succeeded"
    intent = event["data"]["object"]
    assert intent["metadata"] == {"order_id": "ord-webhook"}
    assert (intent["amount"], intent["currency"], intent["status"]) == (700, "eur", "succeeded")
    assert delivery.received_at - charged_at < 5

    tampered = bytearray(delivery.body)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(InvalidSignature):
        verify_webhook(bytes(tampered), delivery.signature, secret, now=int(delivery.received_at))
    with pytest.raises(InvalidSignature):
        verify_webhook(delivery.body, delivery.signature, "whsec_other", now=int(time.time()))


# -- on the wire (respx): what localstripe cannot show ----------------------------------

API = "https://stripe.test"


@pytest.fixture
def wire() -> StripeGateway:
    return StripeGateway("sk_test_wire", API, max_network_retries=0)


def _form(request: httpx.Request) -> dict[str, str]:
    pairs = urllib.parse.parse_qsl(request.content.decode(), keep_blank_values=True)
    return dict(pairs)


SESSION_RESPONSE = {
    "id": "cs_test_a1B2c3",
    "object": "checkout.session",
    "mode": "payment",
    "status": "open",
    "payment_status": "unpaid",
    "amount_total": 1250,
    "currency": "eur",
    "client_reference_id": "ord-7",
    "customer": "cus_123",
    "metadata": {"order_id": "ord-7"},
    "url": "https://checkout.stripe.com/c/pay/cs_test_a1B2c3#fid",
    "success_url": "https://t.me/bot?start=paid",
    "cancel_url": "https://t.me/bot?start=cancel",
}


@pytest.mark.parametrize("save_card", [True, False])
def test_checkout_session_request_and_response(wire: StripeGateway, save_card: bool) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{API}/v1/checkout/sessions").mock(
            return_value=httpx.Response(200, json=SESSION_RESPONSE)
        )
        link = wire.create_checkout_session(
            order_id="ord-7",
            amount=1250,
            currency="EUR",
            description="SIP number +49 30 1234567, 1 month",
            customer="cus_123",
            save_card=save_card,
            success_url="https://t.me/bot?start=paid",
            cancel_url="https://t.me/bot?start=cancel",
            idempotency_key="checkout:ord-7",
        )

    assert link == CheckoutLink(
        "cs_test_a1B2c3", "https://checkout.stripe.com/c/pay/cs_test_a1B2c3#fid"
    )
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "checkout:ord-7"
    assert request.headers["Authorization"] == "Bearer sk_test_wire"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = _form(request)
    expected = {
        "mode": "payment",
        "allowed_payment_method_types[0]": "card",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "1250",
        "line_items[0][price_data][product_data][name]": "SIP number +49 30 1234567, 1 month",
        "client_reference_id": "ord-7",
        "metadata[order_id]": "ord-7",
        "payment_intent_data[metadata][order_id]": "ord-7",
        "success_url": "https://t.me/bot?start=paid",
        "cancel_url": "https://t.me/bot?start=cancel",
        "customer": "cus_123",
    }
    if save_card:
        expected["payment_intent_data[setup_future_usage]"] = "off_session"
    assert form == expected


def test_every_write_carries_the_callers_idempotency_key(wire: StripeGateway) -> None:
    with respx.mock(assert_all_called=True) as mock:
        customers = mock.post(f"{API}/v1/customers").mock(
            return_value=httpx.Response(200, json={"id": "cus_9", "object": "customer"})
        )
        refunds = mock.post(f"{API}/v1/refunds").mock(
            return_value=httpx.Response(200, json={"id": "re_9", "object": "refund"})
        )
        detach = mock.post(f"{API}/v1/payment_methods/pm_9/detach").mock(
            return_value=httpx.Response(200, json={"id": "pm_9", "object": "payment_method"})
        )
        assert wire.ensure_customer(payer_id=9, existing=None, idempotency_key="cus:9") == "cus_9"
        assert wire.refund(payment_intent_id="pi_9", amount=5, idempotency_key="rf:9") == "re_9"
        wire.detach_payment_method("pm_9", idempotency_key="dt:9")

    assert customers.calls.last.request.headers["Idempotency-Key"] == "cus:9"
    assert _form(customers.calls.last.request) == {"metadata[payer_id]": "9"}
    assert refunds.calls.last.request.headers["Idempotency-Key"] == "rf:9"
    assert _form(refunds.calls.last.request) == {"payment_intent": "pi_9", "amount": "5"}
    assert detach.calls.last.request.headers["Idempotency-Key"] == "dt:9"


def test_off_session_request_on_the_wire(wire: StripeGateway) -> None:
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 300,
        "currency": "usd",
        "payment_method": {"id": "pm_1", "object": "payment_method", "card": {"country": "DE"}},
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{API}/v1/payment_intents").mock(
            return_value=httpx.Response(200, json=intent)
        )
        result = wire.charge_off_session(
            customer="cus_1",
            payment_method="pm_1",
            amount=300,
            currency="USD",
            idempotency_key="renew:sub-1:2026-03",
            metadata={"order_id": "ord-9", "kind": "renewal"},
        )

    assert (result.outcome, result.payment_intent_id, result.card_country) == (
        "succeeded",
        "pi_1",
        "DE",
    )
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "renew:sub-1:2026-03"
    assert _form(request) == {
        "amount": "300",
        "currency": "usd",
        "customer": "cus_1",
        "payment_method": "pm_1",
        "confirm": "true",
        "off_session": "true",
        "metadata[order_id]": "ord-9",
        "metadata[kind]": "renewal",
        "expand[0]": "payment_method",
    }


def _card_error(code: str, **extra: Any) -> httpx.Response:
    error = {"type": "card_error", "code": code, "message": "Your card was declined.", **extra}
    return httpx.Response(402, json={"error": error}, headers={"Request-Id": "req_42"})


def _charge(gateway: StripeGateway) -> Any:
    return gateway.charge_off_session(
        customer="cus_1",
        payment_method="pm_1",
        amount=300,
        currency="EUR",
        idempotency_key="renew:x",
        metadata={},
    )


def test_stripes_authentication_required_error_means_requires_action(
    wire: StripeGateway,
) -> None:
    intent = {
        "id": "pi_auth",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "payment_method": {"id": "pm_1", "object": "payment_method", "card": {"country": "GB"}},
    }
    with respx.mock() as mock:
        mock.post(f"{API}/v1/payment_intents").mock(
            return_value=_card_error("authentication_required", payment_intent=intent)
        )
        result = _charge(wire)

    assert (result.outcome, result.payment_intent_id, result.card_country) == (
        "requires_action",
        "pi_auth",
        "GB",
    )


def test_stripes_card_declined_error_means_declined(wire: StripeGateway) -> None:
    intent = {"id": "pi_dec", "object": "payment_intent", "status": "requires_payment_method"}
    with respx.mock() as mock:
        mock.post(f"{API}/v1/payment_intents").mock(
            return_value=_card_error(
                "card_declined", decline_code="insufficient_funds", payment_intent=intent
            )
        )
        result = _charge(wire)

    assert (result.outcome, result.payment_intent_id) == ("declined", "pi_dec")
    assert result.message == "Your card was declined. (card_declined/insufficient_funds)"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"error": {"type": "api_error", "message": "boom"}}),
        httpx.Response(503, text="upstream unavailable"),
        httpx.Response(
            429, json={"error": {"type": "invalid_request_error", "code": "rate_limit"}}
        ),
        httpx.Response(409, json={"error": {"type": "idempotency_error", "message": "in use"}}),
    ],
    ids=["500", "503", "429", "409"],
)
def test_server_side_failures_are_provider_unavailable(
    wire: StripeGateway, response: httpx.Response
) -> None:
    with respx.mock() as mock:
        mock.post(f"{API}/v1/payment_intents").mock(return_value=response)
        with pytest.raises(ProviderUnavailable):
            _charge(wire)


def test_network_failure_is_provider_unavailable(wire: StripeGateway) -> None:
    with respx.mock() as mock:
        mock.post(f"{API}/v1/refunds").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(ProviderUnavailable):
            wire.refund(payment_intent_id="pi_1", amount=1, idempotency_key="rf:1")


def test_a_refused_request_is_provider_rejected(wire: StripeGateway) -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "charge_already_refunded",
            "message": "Charge ch_1 has already been refunded.",
        }
    }
    with respx.mock() as mock:
        mock.post(f"{API}/v1/refunds").mock(
            return_value=httpx.Response(400, json=body, headers={"Request-Id": "req_7"})
        )
        with pytest.raises(ProviderRejected) as rejected:
            wire.refund(payment_intent_id="pi_1", amount=1, idempotency_key="rf:1")

    assert (rejected.value.status, rejected.value.name) == (400, "charge_already_refunded")
    assert rejected.value.debug_id == "req_7"
    assert not rejected.value.retryable


def test_stripes_answer_to_a_second_detach_is_not_an_error(wire: StripeGateway) -> None:
    not_attached = {
        "error": {
            "type": "invalid_request_error",
            "message": "The payment method you provided is not attached to a customer so "
            "detachment is impossible.",
        }
    }
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{API}/v1/payment_methods/pm_1/detach").mock(
            return_value=httpx.Response(400, json=not_attached)
        )
        mock.get(f"{API}/v1/payment_methods/pm_1").mock(
            return_value=httpx.Response(
                200, json={"id": "pm_1", "object": "payment_method", "customer": None}
            )
        )
        wire.detach_payment_method("pm_1", idempotency_key="dt:1")


def test_a_gateway_is_free_to_build() -> None:
    # The SDK loads on the first call, not in the constructor (cold starts).
    gateway = StripeGateway("sk_test_x", API)
    assert gateway._stripe_client is None
