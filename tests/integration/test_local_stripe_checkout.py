"""local/stripe_checkout.py: Stripe Checkout Sessions in front of localstripe, driven through
StripeGateway as the backend drives Stripe, and its payment page driven as a payer would."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from billing.providers.errors import ProviderRejected
from billing.providers.stripe_gateway import StripeGateway
from billing.providers.stripe_signature import verify_webhook
from local.localstripe_peer import LocalStripe
from local.stripe_checkout import StripeCheckout

SECRET = "whsec_local_checkout_test"
VISA = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"
NEEDS_AUTHENTICATION = "4000002500003155"
SUCCESS_URL = "https://t.me/sip_test_bot?start=paid"
CANCEL_URL = "https://t.me/sip_test_bot?start=cancelled"


class Receiver:
    """Records every POST (headers, body) and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._done = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._done:
                    receiver.received.append((headers, body))
                    receiver._done.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/payments/stripe"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        with self._done:
            self._done.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def checkout(localstripe: LocalStripe, receiver: Receiver) -> Iterator[StripeCheckout]:
    checkout = StripeCheckout(localstripe.base_url, webhook_url=receiver.url, webhook_secret=SECRET)
    checkout.serve()
    yield checkout
    checkout.stop()


@pytest.fixture
def gateway(localstripe: LocalStripe, checkout: StripeCheckout) -> StripeGateway:
    return StripeGateway(localstripe.api_key, checkout.base_url, max_network_retries=0)


def _key(label: str) -> str:
    return f"test:{label}:{uuid.uuid4().hex}"


def _session(
    gateway: StripeGateway,
    *,
    customer: str | None = None,
    save_card: bool = False,
    order_id: str | None = None,
    key: str | None = None,
) -> tuple[str, str]:
    link = gateway.create_checkout_session(
        order_id=order_id or f"ord-{uuid.uuid4().hex[:12]}",
        amount=1250,
        currency="EUR",
        description="Balance top-up",
        customer=customer,
        save_card=save_card,
        success_url=SUCCESS_URL,
        cancel_url=CANCEL_URL,
        idempotency_key=key or _key("checkout"),
    )
    return link.session_id, link.url


def _pay(url: str, card: str) -> httpx.Response:
    return httpx.post(url, data={"card": card, "exp": "12 / 34", "cvc": "123"}, timeout=30)


def _api(checkout: StripeCheckout, localstripe: LocalStripe, path: str) -> httpx.Response:
    return httpx.get(
        checkout.base_url + path, headers={"Authorization": f"Bearer {localstripe.api_key}"}
    )


def test_a_card_payment_completes_the_session_and_sends_a_signed_event(
    gateway: StripeGateway,
    checkout: StripeCheckout,
    localstripe: LocalStripe,
    receiver: Receiver,
) -> None:
    customer = gateway.ensure_customer(payer_id=7001, existing=None, idempotency_key=_key("c"))
    assert localstripe.get(f"/v1/customers/{customer}")["metadata"] == {"payer_id": "7001"}
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    session_id, url = _session(gateway, customer=customer, save_card=True, order_id=order_id)
    assert session_id.startswith("cs_test_")
    assert url == f"{checkout.base_url}/checkout/{session_id}"

    page = httpx.get(url)
    assert page.status_code == 200
    assert "12.50 EUR" in page.text
    assert "Balance top-up" in page.text
    for element in ("id='card'", "id='exp'", "id='cvc'", "id='pay'", "id='cancel'"):
        assert element in page.text
    assert CANCEL_URL.replace("&", "&amp;") in page.text

    paid = _pay(url, "4242 4242 4242 4242")
    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS_URL

    [(headers, body)] = receiver.wait_for(1)
    event = verify_webhook(body, headers.get("stripe-signature"), SECRET, now=int(time.time()))
    assert event["type"] == "checkout.session.completed"
    assert event["object"] == "event"
    assert event["id"].startswith("evt_")
    session = event["data"]["object"]
    assert session["id"] == session_id
    assert session["object"] == "checkout.session"
    assert session["status"] == "complete"
    assert session["payment_status"] == "paid"
    assert session["amount_total"] == 1250
    assert session["currency"] == "eur"
    assert session["customer"] == customer
    assert session["metadata"] == {"order_id": order_id}
    assert session["client_reference_id"] == order_id

    intent = gateway.payment_intent(session["payment_intent"])
    assert intent.status == "succeeded"
    assert intent.amount == 1250
    assert intent.currency == "EUR"
    assert intent.customer == customer
    assert intent.metadata == {"order_id": order_id}
    assert intent.payment_method is not None
    assert localstripe.get(f"/v1/payment_methods/{intent.payment_method}")["customer"] == customer
    assert gateway.card_details(intent.payment_method).last4 == "4242"

    stored = _api(checkout, localstripe, f"/v1/checkout/sessions/{session_id}").json()
    assert stored["status"] == "complete"
    assert stored["payment_intent"] == intent.id
    assert stored["url"] is None

    # A paid session says so and is not paid (nor announced) twice.
    assert "already paid" in httpx.get(url).text
    assert "already paid" in _pay(url, VISA).text
    assert checkout.wait_for_webhooks()
    assert len(receiver.received) == 1
    [delivery] = checkout.webhook_deliveries
    assert delivery.status == 200
    assert delivery.event_type == "checkout.session.completed"


def test_saving_a_card_without_a_customer_creates_one(
    gateway: StripeGateway, localstripe: LocalStripe, receiver: Receiver
) -> None:
    _, url = _session(gateway, save_card=True)

    assert _pay(url, VISA).status_code == 303

    [(_, body)] = receiver.wait_for(1)
    session = verify_webhook(
        body, receiver.received[0][0].get("stripe-signature"), SECRET, now=int(time.time())
    )["data"]["object"]
    assert session["customer"].startswith("cus_")
    intent = gateway.payment_intent(session["payment_intent"])
    assert intent.customer == session["customer"]
    assert intent.payment_method is not None
    method = localstripe.get(f"/v1/payment_methods/{intent.payment_method}")
    assert method["customer"] == session["customer"]


def test_without_saving_the_card_stays_unattached(
    gateway: StripeGateway, localstripe: LocalStripe, receiver: Receiver
) -> None:
    _, url = _session(gateway)

    assert _pay(url, VISA).status_code == 303

    [(_, body)] = receiver.wait_for(1)
    session = verify_webhook(
        body, receiver.received[0][0].get("stripe-signature"), SECRET, now=int(time.time())
    )["data"]["object"]
    assert session["customer"] is None
    intent = gateway.payment_intent(session["payment_intent"])
    assert intent.status == "succeeded"
    assert intent.payment_method is not None
    assert localstripe.get(f"/v1/payment_methods/{intent.payment_method}")["customer"] is None


@pytest.mark.parametrize(
    ("card", "shown"),
    [(DECLINED_ON_CHARGE, "declined"), (NEEDS_AUTHENTICATION, "authentication")],
)
def test_a_card_that_fails_shows_why_and_sends_nothing(
    gateway: StripeGateway,
    checkout: StripeCheckout,
    localstripe: LocalStripe,
    receiver: Receiver,
    card: str,
    shown: str,
) -> None:
    customer = gateway.ensure_customer(payer_id=7002, existing=None, idempotency_key=_key("c"))
    session_id, url = _session(gateway, customer=customer, save_card=True)

    failed = _pay(url, card)

    assert failed.status_code == 402
    assert shown in failed.text
    assert "id='error'" in failed.text
    assert "id='card'" in failed.text  # the form again
    assert checkout.wait_for_webhooks()
    assert checkout.webhook_deliveries == []
    assert receiver.received == []
    stored = _api(checkout, localstripe, f"/v1/checkout/sessions/{session_id}").json()
    assert (stored["status"], stored["payment_status"]) == ("open", "unpaid")

    # Another card then pays the same session.
    assert _pay(url, VISA).status_code == 303
    assert len(receiver.wait_for(1)) == 1


def test_the_same_idempotency_key_returns_the_same_session(gateway: StripeGateway) -> None:
    key = _key("same")
    order_id = f"ord-{uuid.uuid4().hex[:12]}"

    first = _session(gateway, order_id=order_id, key=key)
    again = _session(gateway, order_id=order_id, key=key)
    other = _session(gateway, order_id=order_id)

    assert again == first
    assert other[0] != first[0]
    with pytest.raises(ProviderRejected, match="idempotent"):
        _session(gateway, order_id="ord-another", key=key)


def test_unknown_sessions_are_404(checkout: StripeCheckout, localstripe: LocalStripe) -> None:
    page = httpx.get(f"{checkout.base_url}/checkout/cs_test_unknown")
    assert page.status_code == 404

    answer = _api(checkout, localstripe, "/v1/checkout/sessions/cs_test_unknown")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "resource_missing"


def test_session_parameters_are_checked_as_stripe_does(
    checkout: StripeCheckout, localstripe: LocalStripe
) -> None:
    valid = {
        "mode": "payment",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "Top-up",
        "line_items[0][quantity]": "1",
        "success_url": SUCCESS_URL,
    }

    def create(form: dict[str, str], key: str | None = localstripe.api_key) -> httpx.Response:
        return httpx.post(
            f"{checkout.base_url}/v1/checkout/sessions",
            data=form,
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )

    assert create(valid).status_code == 200
    for form, param in [
        ({k: v for k, v in valid.items() if k != "success_url"}, "success_url"),
        ({**valid, "mode": "subscription"}, "mode"),
        (
            {k: v for k, v in valid.items() if "currency" not in k},
            "line_items[0][price_data][currency]",
        ),
        ({**valid, "line_items[0][quantity]": "0"}, "line_items[0][quantity]"),
        ({**valid, "customer": "cus_missing"}, "customer"),
        ({**valid, "colour": "blue"}, "colour"),
    ]:
        answer = create(form)
        assert answer.status_code == 400, form
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert answer.json()["error"]["param"] == param
    assert create(valid, key=None).status_code == 401
    assert create(valid, key="pk_test_public").status_code == 401


def test_other_requests_reach_localstripe(gateway: StripeGateway) -> None:
    with pytest.raises(ProviderRejected):
        gateway.payment_intent("pi_missing")
    customer = gateway.ensure_customer(payer_id=7003, existing=None, idempotency_key=_key("c"))
    assert (
        gateway.ensure_customer(payer_id=7003, existing=customer, idempotency_key=_key("c"))
        == customer
    )
