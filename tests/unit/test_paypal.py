"""The PayPal client against the fake PayPal (real HTTP on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from billing.clock import ManualClock
from billing.providers.errors import ProviderMisconfigured, ProviderRejected, ProviderUnavailable
from billing.providers.paypal import (
    TRANSMISSION_MAX_AGE,
    TRANSMISSION_MAX_SKEW,
    VERIFY_FAILURE_LIMIT,
    VERIFY_FAILURE_WINDOW_SECONDS,
    VERIFY_SUSPENSION_SECONDS,
    PayPalClient,
    PayPalEvent,
    PayPalWebhookError,
    UnsupportedEvent,
    parse_webhook,
)
from local.fake_paypal import FakePayPal

CLIENT_ID = "client-id-test"
CLIENT_SECRET = "client-secret-test-DO-NOT-LOG"
WEBHOOK_ID = "WH-TEST-1234567890"
RETURN_URL = "https://bot.example/paypal/return?o=ord-1"
CANCEL_URL = "https://bot.example/paypal/cancel"


class Receiver:
    """A webhook endpoint that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.on_event: Callable[[dict[str, str], bytes], None] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((dict(self.headers.items()), body))
                if receiver.on_event is not None:
                    receiver.on_event(dict(self.headers.items()), body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payments/paypal"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakePayPal]:
    fake = FakePayPal(None, WEBHOOK_ID, CLIENT_ID, CLIENT_SECRET)
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def client(fake: FakePayPal) -> Iterator[PayPalClient]:
    with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET) as client:
        yield client


def create(client: PayPalClient, order_id: str = "ord-1", amount: int = 1250) -> str:
    order = client.create_order(
        order_id=order_id,
        amount=amount,
        currency="EUR",
        description="SIP number, 1 month",
        return_url=RETURN_URL,
        cancel_url=CANCEL_URL,
    )
    return order.id


def approved_and_captured(fake: FakePayPal, client: PayPalClient) -> tuple[str, str]:
    paypal_order_id = create(client)
    fake.approve(paypal_order_id)
    capture = client.capture_order(paypal_order_id)
    return paypal_order_id, capture.capture_id


# -- orders ------------------------------------------------------------------------------


def test_create_approve_on_the_page_and_capture(fake: FakePayPal, client: PayPalClient) -> None:
    order = client.create_order(
        order_id="ord-1",
        amount=1250,
        currency="EUR",
        description="SIP number, 1 month",
        return_url=RETURN_URL,
        cancel_url=CANCEL_URL,
    )
    assert order.status == "PAYER_ACTION_REQUIRED"
    assert order.approve_url == f"{fake.base_url}/checkoutnow?token={order.id}"

    page = httpx.get(order.approve_url)
    assert page.status_code == 200 and "Approve" in page.text and "12.50 EUR" in page.text
    approved = httpx.post(
        f"{fake.base_url}/checkoutnow/approve", data={"token": order.id}, follow_redirects=False
    )
    assert approved.status_code == 303
    location = approved.headers["location"]
    assert location.startswith(RETURN_URL + "&token=" + order.id + "&PayerID=")

    capture = client.capture_order(order.id)
    assert capture.order_id == "ord-1"
    assert capture.paypal_order_id == order.id
    assert capture.status == "COMPLETED"
    assert (capture.amount, capture.currency) == (1250, "EUR")
    assert capture.capture_id == fake.capture_of(order.id)

    types = [d.event_type for d in fake.webhook_deliveries]
    assert types == ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"]
    assert all(d.status is None and d.url is None for d in fake.webhook_deliveries)


def test_create_order_sends_what_paypal_expects(fake: FakePayPal, client: PayPalClient) -> None:
    paypal_order_id = create(client, amount=32130)
    order = client.get_order(paypal_order_id)
    unit = order["purchase_units"][0]
    assert order["intent"] == "CAPTURE"
    assert unit["amount"] == {"currency_code": "EUR", "value": "321.30"}
    assert unit["reference_id"] == unit["custom_id"] == unit["invoice_id"] == "ord-1"
    assert unit["description"] == "SIP number, 1 month"


def test_create_is_idempotent_per_order_id(fake: FakePayPal, client: PayPalClient) -> None:
    first = create(client, "ord-7")
    second = create(client, "ord-7")
    other = create(client, "ord-8")
    assert first == second != other


def test_capture_before_approval_is_rejected(fake: FakePayPal, client: PayPalClient) -> None:
    paypal_order_id = create(client)
    with pytest.raises(ProviderRejected) as caught:
        client.capture_order(paypal_order_id)
    error = caught.value
    assert (error.status, error.name, error.issue) == (
        422,
        "UNPROCESSABLE_ENTITY",
        "ORDER_NOT_APPROVED",
    )
    assert error.debug_id and not error.retryable


def test_capture_repeated_answers_the_same_capture(fake: FakePayPal, client: PayPalClient) -> None:
    paypal_order_id, capture_id = approved_and_captured(fake, client)
    again = client.capture_order(paypal_order_id)  # same PayPal-Request-Id: a replay
    assert again.capture_id == capture_id and again.status == "COMPLETED"
    assert len([d for d in fake.webhook_deliveries if "CAPTURE" in d.event_type]) == 1


def test_already_captured_elsewhere_returns_that_capture(
    fake: FakePayPal, client: PayPalClient
) -> None:
    paypal_order_id = create(client)
    fake.approve(paypal_order_id)
    # Someone else (another Lambda, a retry with another key) captures first.
    token = httpx.post(
        f"{fake.base_url}/v1/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    other = httpx.post(
        f"{fake.base_url}/v2/checkout/orders/{paypal_order_id}/capture",
        headers={"Authorization": f"Bearer {token}", "PayPal-Request-Id": "someone-else"},
        json={},
    )
    assert other.status_code == 201

    capture = client.capture_order(paypal_order_id)
    assert capture.capture_id == fake.capture_of(paypal_order_id)
    assert (capture.order_id, capture.amount, capture.status) == ("ord-1", 1250, "COMPLETED")


def test_unknown_order_is_not_found(client: PayPalClient) -> None:
    with pytest.raises(ProviderRejected) as caught:
        client.capture_order("NOSUCHORDER123456")
    assert (caught.value.status, caught.value.name, caught.value.issue) == (
        404,
        "RESOURCE_NOT_FOUND",
        "INVALID_RESOURCE_ID",
    )


def test_repeated_create_after_payment_shows_the_paid_order(
    fake: FakePayPal, client: PayPalClient
) -> None:
    paypal_order_id, _ = approved_and_captured(fake, client)
    again = client.create_order(
        order_id="ord-1",
        amount=1250,
        currency="EUR",
        description="SIP number, 1 month",
        return_url=RETURN_URL,
        cancel_url=CANCEL_URL,
    )
    assert (again.id, again.status, again.approve_url) == (paypal_order_id, "COMPLETED", None)


def test_second_paypal_order_for_one_of_ours_cannot_be_captured(
    fake: FakePayPal, client: PayPalClient
) -> None:
    approved_and_captured(fake, client)
    # Another PayPal order with the same invoice_id (created outside the idempotency key).
    created = httpx.post(
        f"{fake.base_url}/v2/checkout/orders",
        headers={"Authorization": f"Bearer {client._access_token()}"},
        json={
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "invoice_id": "ord-1",
                    "custom_id": "ord-1",
                    "amount": {"currency_code": "EUR", "value": "12.50"},
                }
            ],
        },
    )
    assert created.status_code == 201
    assert [link["rel"] for link in created.json()["links"]] == [
        "self",
        "approve",
        "update",
        "capture",
    ]
    duplicate = created.json()["id"]
    fake.approve(duplicate)
    with pytest.raises(ProviderRejected) as caught:
        client.capture_order(duplicate)
    assert caught.value.issue == "DUPLICATE_INVOICE_ID"


def test_unsupported_currency_is_rejected_by_paypal(client: PayPalClient) -> None:
    with pytest.raises(ProviderRejected) as caught:
        client.create_order(
            order_id="ord-rub",
            amount=100000,
            currency="RUB",
            description="x",
            return_url=RETURN_URL,
            cancel_url=CANCEL_URL,
        )
    assert (caught.value.status, caught.value.issue) == (422, "CURRENCY_NOT_SUPPORTED")


@pytest.mark.parametrize(
    ("unit", "status", "name", "issue"),
    [
        ({"amount": {"currency_code": "EUR", "value": "12.505"}}, 422, "UNPROCESSABLE_ENTITY",
         "DECIMAL_PRECISION"),
        ({"amount": {"currency_code": "EUR", "value": "12,50"}}, 400, "INVALID_REQUEST",
         "INVALID_PARAMETER_SYNTAX"),
        ({"amount": {"currency_code": "EUR", "value": 12.5}}, 400, "INVALID_REQUEST",
         "INVALID_PARAMETER_SYNTAX"),
        ({"amount": {"currency_code": "EUR", "value": "0.00"}}, 422, "UNPROCESSABLE_ENTITY",
         "CANNOT_BE_ZERO_OR_NEGATIVE"),
        ({"amount": {"value": "1.00"}}, 400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER"),
        ({"amount": {"currency_code": "eur", "value": "1.00"}}, 400, "INVALID_REQUEST",
         "INVALID_PARAMETER_SYNTAX"),
        ({"custom_id": "x" * 128, "amount": {"currency_code": "EUR", "value": "1.00"}}, 400,
         "INVALID_REQUEST", "INVALID_STRING_LENGTH"),
        ({}, 400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER"),
    ],
)  # fmt: skip
def test_create_validation_errors_have_paypals_shape(
    fake: FakePayPal, client: PayPalClient, unit: dict[str, Any], status: int, name: str, issue: str
) -> None:
    token = client._access_token()
    response = httpx.post(
        f"{fake.base_url}/v2/checkout/orders",
        headers={"Authorization": f"Bearer {token}"},
        json={"intent": "CAPTURE", "purchase_units": [unit]},
    )
    assert response.status_code == status
    body = response.json()
    assert body["name"] == name and body["message"] and body["debug_id"]
    assert body["details"][0]["issue"] == issue
    assert body["details"][0]["field"].startswith("/purchase_units/@reference_id=='default'/")


def test_missing_intent_and_bad_json(fake: FakePayPal, client: PayPalClient) -> None:
    headers = {"Authorization": f"Bearer {client._access_token()}"}
    url = f"{fake.base_url}/v2/checkout/orders"
    missing = httpx.post(url, headers=headers, json={"purchase_units": []}).json()
    assert missing["details"][0] == {
        "field": "/intent",
        "location": "body",
        "issue": "MISSING_REQUIRED_PARAMETER",
        "description": "A required field / parameter is missing.",
    }
    broken = httpx.post(
        url, headers={**headers, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert broken.status_code == 400
    assert broken.json()["details"][0]["issue"] == "MALFORMED_REQUEST_JSON"


# -- refunds -----------------------------------------------------------------------------


def test_refund_partial_then_rest_then_nothing_left(fake: FakePayPal, client: PayPalClient) -> None:
    _, capture_id = approved_and_captured(fake, client)
    first = client.refund_capture(capture_id, amount=500, currency="EUR", request_id="rf-1")
    assert client.refund_capture(capture_id, amount=500, currency="EUR", request_id="rf-1") == first
    with pytest.raises(ProviderRejected) as exceeded:
        client.refund_capture(capture_id, amount=751, currency="EUR", request_id="rf-2")
    assert exceeded.value.issue == "REFUND_AMOUNT_EXCEEDED"
    rest = client.refund_capture(capture_id, amount=750, currency="EUR", request_id="rf-3")
    assert rest != first
    with pytest.raises(ProviderRejected) as done:
        client.refund_capture(capture_id, amount=1, currency="EUR", request_id="rf-4")
    assert done.value.issue == "CAPTURE_FULLY_REFUNDED"

    refunds = [d for d in fake.webhook_deliveries if d.event_type == "PAYMENT.CAPTURE.REFUNDED"]
    events = [parse_webhook(d.body) for d in refunds]
    assert [(e.refund_id, e.amount) for e in events] == [(first, 500), (rest, 750)]
    assert all(e.capture_id == capture_id and e.order_id == "ord-1" for e in events)
    assert fake.capture_resource(capture_id)["status"] == "REFUNDED"


def test_refund_in_another_currency_is_rejected(fake: FakePayPal, client: PayPalClient) -> None:
    _, capture_id = approved_and_captured(fake, client)
    with pytest.raises(ProviderRejected) as caught:
        client.refund_capture(capture_id, amount=100, currency="USD", request_id="rf-usd")
    assert caught.value.issue == "REFUND_CAPTURE_CURRENCY_MISMATCH"


# -- tokens and failures -----------------------------------------------------------------


def test_token_is_cached_and_refetched_when_paypal_drops_it(
    fake: FakePayPal, client: PayPalClient
) -> None:
    create(client, "ord-a")
    create(client, "ord-b")
    assert fake.tokens_issued == 1
    fake.expire_tokens()
    create(client, "ord-c")
    assert fake.tokens_issued == 2


def test_token_is_refetched_before_it_expires(fake: FakePayPal) -> None:
    now = [1000.0]
    with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET, clock=lambda: now[0]) as client:
        create(client, "ord-a")
        now[0] += fake.token_ttl - 301
        create(client, "ord-b")
        assert fake.tokens_issued == 1
        now[0] += 2
        create(client, "ord-c")
        assert fake.tokens_issued == 2


def test_server_errors_are_unavailable(fake: FakePayPal, client: PayPalClient) -> None:
    create(client, "ord-warm")  # token cached
    fake.fail_next(503)
    with pytest.raises(ProviderUnavailable) as caught:
        create(client)
    assert caught.value.status == 503 and caught.value.retryable
    assert create(client)  # the next call goes through


def test_network_errors_and_timeouts_are_unavailable(fake: FakePayPal) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        PayPalClient(
            fake.base_url, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(timeout)
        ) as client,
        pytest.raises(ProviderUnavailable, match="ReadTimeout"),
    ):
        create(client)
    closed = FakePayPal(None, WEBHOOK_ID, CLIENT_ID, CLIENT_SECRET)
    base = closed.serve()
    closed.stop()
    with (
        PayPalClient(base, CLIENT_ID, CLIENT_SECRET) as client,
        pytest.raises(ProviderUnavailable),
    ):
        create(client)


def test_malformed_success_answer_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(201, text="<html>oops</html>")

    with (
        PayPalClient(
            "https://api-m.paypal.test", "id", "secret", transport=httpx.MockTransport(handler)
        ) as client,
        pytest.raises(ProviderUnavailable),
    ):
        create(client)


# -- webhook signatures ------------------------------------------------------------------


def capture_event(fake: FakePayPal, client: PayPalClient) -> tuple[dict[str, str], bytes]:
    _, capture_id = approved_and_captured(fake, client)
    return fake.signed_event("PAYMENT.CAPTURE.COMPLETED", fake.capture_resource(capture_id))


def test_signature_of_the_fakes_event_verifies(fake: FakePayPal, client: PayPalClient) -> None:
    headers, body = capture_event(fake, client)
    assert client.verify_webhook_signature(headers=headers, body=body, webhook_id=WEBHOOK_ID)
    lower = {key.lower(): value for key, value in headers.items()}
    assert client.verify_webhook_signature(headers=lower, body=body, webhook_id=WEBHOOK_ID)


def test_tampered_body_fails(fake: FakePayPal, client: PayPalClient) -> None:
    headers, body = capture_event(fake, client)
    tampered = body.replace(b'"value":"12.50"', b'"value":"99.50"')
    assert tampered != body
    assert not client.verify_webhook_signature(
        headers=headers, body=tampered, webhook_id=WEBHOOK_ID
    )


def test_wrong_webhook_id_fails(fake: FakePayPal, client: PayPalClient) -> None:
    headers, body = capture_event(fake, client)
    assert not client.verify_webhook_signature(
        headers=headers, body=body, webhook_id="WH-SOMEONE-ELSE"
    )


def test_forged_signature_fails(fake: FakePayPal, client: PayPalClient) -> None:
    headers, body = capture_event(fake, client)
    for signature in ("Zm9yZ2Vk", "fälschung"):
        forged = {**headers, "PAYPAL-TRANSMISSION-SIG": signature}
        assert not client.verify_webhook_signature(headers=forged, body=body, webhook_id=WEBHOOK_ID)
    other_id = {**headers, "PAYPAL-TRANSMISSION-ID": "00000000-0000-0000-0000-000000000000"}
    assert not client.verify_webhook_signature(headers=other_id, body=body, webhook_id=WEBHOOK_ID)


@pytest.mark.parametrize("missing", ["PAYPAL-TRANSMISSION-SIG", "PAYPAL-CERT-URL"])
def test_missing_headers_fail_without_calling_paypal(
    fake: FakePayPal, client: PayPalClient, missing: str
) -> None:
    headers, body = capture_event(fake, client)
    calls = len(fake.requests)
    partial = {key: value for key, value in headers.items() if key != missing}
    assert not client.verify_webhook_signature(headers=partial, body=body, webhook_id=WEBHOOK_ID)
    assert not client.verify_webhook_signature(headers=headers, body=b"{no", webhook_id=WEBHOOK_ID)
    assert len(fake.requests) == calls


def test_concurrent_deliveries_of_one_event_all_verify(
    fake: FakePayPal, client: PayPalClient
) -> None:
    headers, body = capture_event(fake, client)
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(
            pool.map(
                lambda _: client.verify_webhook_signature(
                    headers=headers, body=body, webhook_id=WEBHOOK_ID
                ),
                range(5),
            )
        )
    assert results == [True] * 5


def test_webhooks_are_posted_signed_to_the_webhook_url(client: PayPalClient) -> None:
    receiver = Receiver()
    fake = FakePayPal(receiver.url, WEBHOOK_ID, CLIENT_ID, CLIENT_SECRET)
    fake.serve()
    try:
        with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET) as paypal:
            paypal_order_id, capture_id = approved_and_captured(fake, paypal)
            fake.resend(fake.webhook_deliveries[-1].event_id)
            events = [parse_webhook(body) for _, body in receiver.received]
            assert [e.event_type for e in events] == [
                "CHECKOUT.ORDER.APPROVED",
                "PAYMENT.CAPTURE.COMPLETED",
                "PAYMENT.CAPTURE.COMPLETED",
            ]
            assert events[1].event_id == events[2].event_id
            assert all(d.status == 200 for d in fake.webhook_deliveries)
            for headers, body in receiver.received:
                assert paypal.verify_webhook_signature(
                    headers=headers, body=body, webhook_id=WEBHOOK_ID
                )
            approved, completed = events[0], events[1]
            assert (approved.paypal_order_id, approved.order_id) == (paypal_order_id, "ord-1")
            assert (completed.capture_id, completed.paypal_order_id) == (
                capture_id,
                paypal_order_id,
            )
    finally:
        fake.stop()
        receiver.stop()


def test_background_webhooks_let_a_handler_call_paypal_back() -> None:
    """Like the local stack: one handler at a time, and the APPROVED handler captures."""
    receiver = Receiver()
    handler_lock = threading.Lock()
    fake = FakePayPal(receiver.url, WEBHOOK_ID, CLIENT_ID, CLIENT_SECRET, background_webhooks=True)
    fake.serve()
    captures: list[str] = []

    def on_event(headers: dict[str, str], body: bytes) -> None:
        with handler_lock:
            event = parse_webhook(body)
            if event.event_type == "CHECKOUT.ORDER.APPROVED" and event.paypal_order_id:
                with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET) as paypal:
                    captures.append(paypal.capture_order(event.paypal_order_id).capture_id)

    receiver.on_event = on_event
    try:
        with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET) as paypal:
            paypal_order_id = create(paypal)
        approved = httpx.post(
            f"{fake.base_url}/checkoutnow/approve",
            data={"token": paypal_order_id},
            follow_redirects=False,
        )
        assert approved.status_code == 303
        assert fake.wait_for_webhooks(5)
        assert captures == [fake.capture_of(paypal_order_id)]
        assert [(d.event_type, d.status) for d in fake.webhook_deliveries] == [
            ("CHECKOUT.ORDER.APPROVED", 200),
            ("PAYMENT.CAPTURE.COMPLETED", 200),
        ]
    finally:
        fake.stop()
        receiver.stop()


# -- webhook parsing ---------------------------------------------------------------------


def test_parse_capture_completed(fake: FakePayPal, client: PayPalClient) -> None:
    paypal_order_id, capture_id = approved_and_captured(fake, client)
    _, body = fake.signed_event("PAYMENT.CAPTURE.COMPLETED", fake.capture_resource(capture_id))
    event = PayPalClient.parse_webhook(body)
    assert isinstance(event, PayPalEvent)
    assert event.event_id.startswith("WH-")
    assert (event.event_type, event.resource_type, event.status) == (
        "PAYMENT.CAPTURE.COMPLETED",
        "capture",
        "COMPLETED",
    )
    assert (event.order_id, event.paypal_order_id, event.capture_id, event.refund_id) == (
        "ord-1",
        paypal_order_id,
        capture_id,
        None,
    )
    assert (event.amount, event.currency) == (1250, "EUR")


def test_parse_order_approved(fake: FakePayPal, client: PayPalClient) -> None:
    paypal_order_id = create(client, amount=999)
    fake.approve(paypal_order_id)
    event = parse_webhook(fake.webhook_deliveries[-1].body)
    assert (event.event_type, event.paypal_order_id, event.order_id) == (
        "CHECKOUT.ORDER.APPROVED",
        paypal_order_id,
        "ord-1",
    )
    assert (event.amount, event.currency, event.capture_id, event.status) == (
        999,
        "EUR",
        None,
        "APPROVED",
    )


def test_parse_reversal(fake: FakePayPal, client: PayPalClient) -> None:
    _, capture_id = approved_and_captured(fake, client)
    client.refund_capture(capture_id, amount=250, currency="EUR", request_id="rf-1")
    _, body = fake.reverse(capture_id)
    event = parse_webhook(body)
    assert (event.event_type, event.capture_id, event.order_id, event.amount) == (
        "PAYMENT.CAPTURE.REVERSED",
        capture_id,
        "ord-1",
        1000,
    )
    assert event.refund_id


def test_parse_reversal_shaped_as_a_capture_with_negative_amount() -> None:
    body = json.dumps(
        {
            "id": "WH-1",
            "event_type": "PAYMENT.CAPTURE.REVERSED",
            "resource_type": "capture",
            "resource": {
                "id": "CAP123",
                "status": "REVERSED",
                "amount": {"currency_code": "USD", "value": "-10.00"},
                "custom_id": "ord-9",
            },
        }
    ).encode()
    event = parse_webhook(body)
    assert (event.capture_id, event.refund_id, event.amount, event.currency) == (
        "CAP123",
        None,
        1000,
        "USD",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}',
        b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {"id": "C"}}',
        b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {"id": "C",'
        b' "amount": {"currency_code": "EUR", "value": "1.005"}}}',
        b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {"id": "C",'
        b' "amount": {"currency_code": "GBP", "value": "1.00"}}}',
        b'{"id": "WH-1", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "O"}}',
        b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": {"id": "R",'
        b' "amount": {"currency_code": "EUR", "value": "1.00"}}}',
    ],
)
def test_malformed_webhooks_raise_a_typed_error(body: bytes) -> None:
    with pytest.raises(PayPalWebhookError):
        parse_webhook(body)


def test_unsupported_event_types_are_told_apart() -> None:
    body = b'{"id": "WH-2", "event_type": "CUSTOMER.DISPUTE.CREATED", "resource": {}}'
    with pytest.raises(UnsupportedEvent) as caught:
        parse_webhook(body)
    assert (caught.value.event_id, caught.value.event_type) == ("WH-2", "CUSTOMER.DISPUTE.CREATED")
    assert isinstance(caught.value, ValueError)


def test_import_is_cheap() -> None:
    code = (
        "import sys, billing.providers.paypal, billing.providers.cryptopay;"
        "print(sorted(m for m in ('stripe', 'fpdf', 'boto3', 'pynamodb') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": "layers/common"},
    )
    assert out.stdout.strip() == "[]"


# -- credentials and permissions (issue 11, finding 15) ----------------------------------


class ScriptedPayPal:
    """An httpx transport answering the token endpoint and the API from scripts, counting."""

    def __init__(self, api: list[int], token_status: int = 200) -> None:
        self.api = list(api)  # statuses of the next API answers; the last one repeats
        self.token_status = token_status
        self.token_calls = 0
        self.api_calls: list[str] = []  # the bearer token each API call carried

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            self.token_calls += 1
            if self.token_status == 401:
                return httpx.Response(
                    401,
                    json={
                        "error": "invalid_client",
                        "error_description": "Client Authentication failed",
                    },
                )
            return httpx.Response(
                200, json={"access_token": f"tok-{self.token_calls}", "expires_in": 32400}
            )
        self.api_calls.append(request.headers["authorization"])
        status = self.api.pop(0) if len(self.api) > 1 else self.api[0]
        if status == 401:
            return httpx.Response(
                401, json={"name": "AUTHENTICATION_FAILURE", "message": "Authentication failed"}
            )
        if status == 403:
            return httpx.Response(
                403,
                json={
                    "name": "NOT_AUTHORIZED",
                    "message": "Authorization failed due to insufficient permissions.",
                    "debug_id": "dbg403",
                    "details": [{"issue": "PERMISSION_DENIED"}],
                },
            )
        if request.url.path.endswith("verify-webhook-signature"):
            return httpx.Response(200, json={"verification_status": "SUCCESS"})
        return httpx.Response(200, json={"id": "5O190127TN364715T", "status": "COMPLETED"})


def scripted_client(script: ScriptedPayPal) -> PayPalClient:
    return PayPalClient(
        "https://api-m.paypal.test", "id", "secret", transport=httpx.MockTransport(script)
    )


GENUINE_LOOKING = {
    "paypal-auth-algo": "SHA256withRSA",
    "paypal-cert-url": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594",
    "paypal-transmission-id": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
    "paypal-transmission-sig": "c2lnbmF0dXJl",
    "paypal-transmission-time": "2026-01-01T00:00:00Z",
}
EVENT_BODY = b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}'


def test_token_endpoint_401_is_misconfigured_not_a_crash() -> None:
    script = ScriptedPayPal([200], token_status=401)
    with scripted_client(script) as client:
        with pytest.raises(ProviderMisconfigured) as caught:
            client.verify_webhook_signature(
                headers=GENUINE_LOOKING, body=EVENT_BODY, webhook_id=WEBHOOK_ID
            )
        assert isinstance(caught.value, ProviderUnavailable)  # the webhook answers 503
        assert (caught.value.status, caught.value.name) == (401, "invalid_client")
        assert script.api_calls == []
        with pytest.raises(ProviderMisconfigured):
            client.get_order("5O190127TN364715T")


def test_401_with_a_cached_token_fetches_a_new_one_once() -> None:
    script = ScriptedPayPal([200, 401, 200])
    with scripted_client(script) as client:
        client.get_order("A")  # caches tok-1
        client.get_order("B")  # tok-1 refused: tok-2, then the call succeeds
    assert script.token_calls == 2
    assert script.api_calls == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_401_to_a_fresh_token_is_misconfigured_after_one_retry() -> None:
    script = ScriptedPayPal([200, 401])
    with scripted_client(script) as client:
        client.get_order("A")
        with pytest.raises(ProviderMisconfigured) as caught:
            client.get_order("B")  # cached tok-1 refused, fresh tok-2 refused too
        assert caught.value.status == 401
        assert script.token_calls == 2 and len(script.api_calls) == 3
        with pytest.raises(ProviderMisconfigured):
            client.get_order("C")  # fresh tok-3 refused at once: no second retry
    assert script.token_calls == 3 and len(script.api_calls) == 4


def test_403_from_verify_or_an_api_call_is_misconfigured() -> None:
    script = ScriptedPayPal([403])
    with scripted_client(script) as client:
        with pytest.raises(ProviderMisconfigured) as caught:
            client.verify_webhook_signature(
                headers=GENUINE_LOOKING, body=EVENT_BODY, webhook_id=WEBHOOK_ID
            )
        assert (caught.value.status, caught.value.name, caught.value.debug_id) == (
            403,
            "NOT_AUTHORIZED",
            "dbg403",
        )
        with pytest.raises(ProviderMisconfigured):
            client.capture_order("5O190127TN364715T")
    assert script.token_calls == 1  # a 403 is not a token problem


def test_wrong_credentials_at_the_fake_are_misconfigured(fake: FakePayPal) -> None:
    with PayPalClient(fake.base_url, CLIENT_ID, "wrong-secret-value") as client:
        with pytest.raises(ProviderMisconfigured) as caught:
            create(client)
        assert (caught.value.status, caught.value.name) == (401, "invalid_client")
        assert "wrong-secret-value" not in str(caught.value)
        assert "wrong-secret-value" not in repr(client)
    fake.fail_next(403)
    with (
        PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET) as client,
        pytest.raises(ProviderMisconfigured) as forbidden,
    ):
        create(client)
    assert forbidden.value.name == "NOT_AUTHORIZED"


# -- the local pre-check before verify-webhook-signature ---------------------------------


def wall_now() -> datetime:
    return datetime.now(UTC)


def with_header(headers: Mapping[str, str], name: str, value: str | None) -> dict[str, str]:
    kept = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    if value is not None:
        kept[name] = value
    return kept


def test_the_fakes_deliveries_pass_the_pre_check_without_a_call(
    fake: FakePayPal, client: PayPalClient
) -> None:
    headers, body = capture_event(fake, client)
    calls = len(fake.requests)
    assert client.plausible_webhook(headers, body, wall_now())
    lower = {key.lower(): value for key, value in headers.items()}
    assert client.plausible_webhook(lower, body, wall_now())
    assert len(fake.requests) == calls


def test_real_paypal_shaped_headers_pass_the_pre_check() -> None:
    with PayPalClient("https://api-m.paypal.com", "id", "secret") as client:
        now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
        assert client.plausible_webhook(GENUINE_LOOKING, EVENT_BODY, now)
        sandbox = with_header(
            GENUINE_LOOKING,
            "paypal-cert-url",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594",
        )
        assert client.plausible_webhook(sandbox, EVENT_BODY, now)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("PAYPAL-CERT-URL", "https://evil.example/v1/notifications/certs/CERT-1"),
        ("PAYPAL-CERT-URL", "https://api.paypal.com.evil.example/v1/notifications/certs/C"),
        ("PAYPAL-CERT-URL", "http://api.paypal.com/v1/notifications/certs/CERT-1"),
        ("PAYPAL-CERT-URL", "https://api.paypal.com/somewhere/else"),
        ("PAYPAL-CERT-URL", "https://user@api.paypal.com/v1/notifications/certs/CERT-1"),
        ("PAYPAL-CERT-URL", None),
        ("PAYPAL-AUTH-ALGO", "HMACwithSHA1"),
        ("PAYPAL-AUTH-ALGO", None),
        ("PAYPAL-TRANSMISSION-ID", "x" * 51),
        ("PAYPAL-TRANSMISSION-ID", None),
        ("PAYPAL-TRANSMISSION-SIG", "not base64!"),
        ("PAYPAL-TRANSMISSION-SIG", "A" * 501),
        ("PAYPAL-TRANSMISSION-SIG", None),
        ("PAYPAL-TRANSMISSION-TIME", "yesterday"),
        ("PAYPAL-TRANSMISSION-TIME", "2020-01-01T00:00:00Z"),  # stale
        ("PAYPAL-TRANSMISSION-TIME", "2099-01-01T00:00:00Z"),  # from the future
        ("PAYPAL-TRANSMISSION-TIME", None),
    ],
)
def test_forged_headers_fail_the_pre_check_and_verify_calls_nothing(
    fake: FakePayPal, client: PayPalClient, header: str, value: str | None
) -> None:
    headers, body = capture_event(fake, client)
    forged = with_header(headers, header, value)
    calls = len(fake.requests)
    assert not client.plausible_webhook(forged, body, wall_now())
    assert len(fake.requests) == calls


@pytest.mark.parametrize(
    "body",
    [
        b"{no json",
        b"[]",
        b'{"id": "WH-1"}',
        b'{"event_type": "X"}',
        b'{"id": 1, "event_type": "X"}',
    ],
)
def test_bodies_that_are_no_event_fail_the_pre_check(
    fake: FakePayPal, client: PayPalClient, body: bytes
) -> None:
    headers, _ = capture_event(fake, client)
    assert not client.plausible_webhook(headers, body, wall_now())


def test_transmission_time_window() -> None:
    """Past: PayPal redelivers one transmission (same id, time and signature) 25 times over
    three days, so a retry must still pass; future: 5 minutes of clock skew."""
    with PayPalClient("https://api-m.paypal.com", "id", "secret") as client:
        sent = datetime(2026, 1, 1, tzinfo=UTC)
        for later, plausible in (
            (timedelta(0), True),
            (timedelta(days=3), True),
            (TRANSMISSION_MAX_AGE + timedelta(seconds=1), False),
            (-TRANSMISSION_MAX_SKEW, True),
            (-TRANSMISSION_MAX_SKEW - timedelta(seconds=1), False),
        ):
            assert client.plausible_webhook(GENUINE_LOOKING, EVENT_BODY, sent + later) is plausible
        fractional = with_header(
            GENUINE_LOOKING, "paypal-transmission-time", "2026-01-01T00:00:00.123Z"
        )
        assert client.plausible_webhook(fractional, EVENT_BODY, sent)


def test_one_verification_costs_one_call_with_the_token_cached(
    fake: FakePayPal, client: PayPalClient
) -> None:
    headers, body = capture_event(fake, client)
    before, tokens = len(fake.requests), fake.tokens_issued
    for _ in range(3):
        assert client.verify_webhook_signature(headers=headers, body=body, webhook_id=WEBHOOK_ID)
    assert fake.requests[before:] == [("POST", "/v1/notifications/verify-webhook-signature")] * 3
    assert fake.tokens_issued == tokens


def test_repeated_failed_verifications_pause_calling_out(fake: FakePayPal) -> None:
    now = [1000.0]
    with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET, clock=lambda: now[0]) as client:
        headers, body = capture_event(fake, client)
        forged = with_header(headers, "PAYPAL-TRANSMISSION-SIG", "Zm9yZ2Vk")
        for _ in range(VERIFY_FAILURE_LIMIT):
            assert client.plausible_webhook(forged, body, wall_now())
            assert not client.verify_webhook_signature(
                headers=forged, body=body, webhook_id=WEBHOOK_ID
            )
        calls = len(fake.requests)
        # Suspended: even a genuine delivery is refused without a call (PayPal redelivers).
        assert not client.plausible_webhook(headers, body, wall_now())
        assert not client.verify_webhook_signature(
            headers=headers, body=body, webhook_id=WEBHOOK_ID
        )
        assert len(fake.requests) == calls
        now[0] += VERIFY_SUSPENSION_SECONDS
        assert client.plausible_webhook(headers, body, wall_now())
        assert client.verify_webhook_signature(headers=headers, body=body, webhook_id=WEBHOOK_ID)


def test_failures_spread_over_time_do_not_pause(fake: FakePayPal) -> None:
    now = [1000.0]
    with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET, clock=lambda: now[0]) as client:
        headers, body = capture_event(fake, client)
        forged = with_header(headers, "PAYPAL-TRANSMISSION-SIG", "Zm9yZ2Vk")
        for _ in range(VERIFY_FAILURE_LIMIT * 2):
            assert not client.verify_webhook_signature(
                headers=forged, body=body, webhook_id=WEBHOOK_ID
            )
            now[0] += VERIFY_FAILURE_WINDOW_SECONDS / (VERIFY_FAILURE_LIMIT - 1) + 0.01
        assert client.plausible_webhook(headers, body, wall_now())


def test_the_fake_signs_with_the_wall_clock_whatever_its_business_clock() -> None:
    fake = FakePayPal(
        None,
        WEBHOOK_ID,
        CLIENT_ID,
        CLIENT_SECRET,
        clock=ManualClock(datetime(2031, 5, 1, tzinfo=UTC)),
    )
    fake.serve()
    try:
        with PayPalClient(fake.base_url, CLIENT_ID, CLIENT_SECRET) as client:
            headers, body = capture_event(fake, client)
            assert client.plausible_webhook(headers, body, wall_now())
            assert client.verify_webhook_signature(
                headers=headers, body=body, webhook_id=WEBHOOK_ID
            )
    finally:
        fake.stop()


# -- reads for reconciliation ------------------------------------------------------------


def test_order_status_follows_the_order_through_capture_and_refunds(
    fake: FakePayPal, client: PayPalClient
) -> None:
    paypal_order_id = create(client, "ord-7", amount=2000)
    state = client.order_status(paypal_order_id)
    assert state is not None
    assert (state.paypal_order_id, state.status, state.order_id) == (
        paypal_order_id,
        "PAYER_ACTION_REQUIRED",
        "ord-7",
    )
    assert (state.amount, state.currency, state.captures, state.refunds) == (2000, "EUR", (), ())

    fake.approve(paypal_order_id)
    assert client.order_status(paypal_order_id).status == "APPROVED"  # type: ignore[union-attr]

    capture_id = client.capture_order(paypal_order_id).capture_id
    first = client.refund_capture(capture_id, amount=500, currency="EUR", request_id="rf-a")
    state = client.order_status(paypal_order_id)
    assert state is not None and state.status == "COMPLETED"
    [capture] = state.captures
    assert (capture.capture_id, capture.status, capture.amount, capture.currency) == (
        capture_id,
        "PARTIALLY_REFUNDED",
        2000,
        "EUR",
    )
    assert (capture.order_id, capture.paypal_order_id) == ("ord-7", paypal_order_id)
    [refund] = state.refunds
    assert (refund.refund_id, refund.capture_id, refund.status, refund.amount) == (
        first,
        capture_id,
        "COMPLETED",
        500,
    )

    second = client.refund_capture(capture_id, amount=1500, currency="EUR", request_id="rf-b")
    state = client.order_status(paypal_order_id)
    assert state is not None
    assert [c.status for c in state.captures] == ["REFUNDED"]
    assert [(r.refund_id, r.amount, r.currency) for r in state.refunds] == [
        (first, 500, "EUR"),
        (second, 1500, "EUR"),
    ]
    assert fake.requests[-1] == ("GET", f"/v2/checkout/orders/{paypal_order_id}")


def test_order_status_shows_a_reversal_as_a_refund(fake: FakePayPal, client: PayPalClient) -> None:
    paypal_order_id, capture_id = approved_and_captured(fake, client)
    fake.reverse(capture_id)
    state = client.order_status(paypal_order_id)
    assert state is not None
    assert [(r.capture_id, r.amount) for r in state.refunds] == [(capture_id, 1250)]
    assert [c.status for c in state.captures] == ["REFUNDED"]


def test_order_status_of_an_unknown_order_is_none(client: PayPalClient) -> None:
    assert client.order_status("0NOSUCHORDER0000") is None


def test_order_status_of_a_malformed_answer_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return httpx.Response(200, json={"id": "X", "status": "COMPLETED"})

    with (
        PayPalClient(
            "https://api-m.paypal.test", "id", "secret", transport=httpx.MockTransport(handler)
        ) as client,
        pytest.raises(ProviderUnavailable),
    ):
        client.order_status("X")
