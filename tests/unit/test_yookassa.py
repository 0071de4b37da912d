"""The YooKassa API v3 client against httpx.MockTransport: request shapes (auth,
Idempotence-Key, bodies), parsing of payments and refunds, pagination, error mapping, the
202 "processing" retry, the invocation deadline, secrets, notifications and receipts."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.deadline import Deadline, bounded_by
from billing.errors import InvalidAmount, UnsupportedCurrency
from billing.providers.errors import (
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
)
from billing.providers.yookassa import (
    IDEMPOTENCE_HEADER,
    PROVIDER,
    Notification,
    SavedMethod,
    UnsupportedNotification,
    YooKassaAmountError,
    YooKassaClient,
    YooKassaNotificationError,
    YooKassaPayment,
    YooKassaRefund,
    amount_text,
    parse_amount,
    parse_notification,
    receipt,
)

BASE = "https://api.yookassa.test"
SHOP_ID = "123456"
SECRET = "test_SecretKeyDoNotLog_9f8e7d"
PAYMENT_ID = "2e8dd95a-000f-5000-a000-1e3515f51c18"
REFUND_ID = "2e8dda2c-0015-5000-8000-19b6a9c2b1f7"
METHOD_ID = "2e8dd95a-000f-5000-a000-1e3515f51c18"
KEY = "pay-ord-1-attempt-1"
FROZEN = 100.0

Handler = Callable[[httpx.Request], httpx.Response]
DROP = object()  # a field to leave out of an object


def frozen() -> float:
    return FROZEN


def payment_object(**changes: Any) -> dict[str, Any]:
    """A payment as YooKassa answers it (from a real payment.succeeded notification)."""
    payment: dict[str, Any] = {
        "id": PAYMENT_ID,
        "status": "succeeded",
        "amount": {"value": "1234.50", "currency": "RUB"},
        "income_amount": {"value": "1191.29", "currency": "RUB"},
        "description": "SIP number, 1 month",
        "recipient": {"account_id": "123456", "gateway_id": "2323500"},
        "payment_method": {
            "type": "bank_card",
            "id": METHOD_ID,
            "saved": True,
            "title": "Bank card *4477",
            "card": {
                "first6": "555555",
                "last4": "4477",
                "expiry_year": "2027",
                "expiry_month": "02",
                "card_type": "MasterCard",
                "card_product": {"code": "E"},
                "issuer_country": "RU",
            },
        },
        "captured_at": "2024-10-01T09:50:44.086Z",
        "created_at": "2024-10-01T09:49:14.459Z",
        "test": True,
        "refunded_amount": {"value": "0.00", "currency": "RUB"},
        "paid": True,
        "refundable": True,
        "metadata": {"order_id": "ord-1", "payer_id": "42"},
        "authorization_details": {"rrn": "365568521657002", "auth_code": "305584"},
    }
    payment.update(changes)
    return {key: value for key, value in payment.items() if value is not DROP}


def pending_redirect(**changes: Any) -> dict[str, Any]:
    pending: dict[str, Any] = {
        "status": "pending",
        "paid": False,
        "payment_method": DROP,
        "captured_at": DROP,
        "income_amount": DROP,
        "refunded_amount": DROP,
        "confirmation": {
            "type": "redirect",
            "confirmation_url": "https://yoomoney.ru/checkout/payments/v2/contract?orderId=x",
        },
    }
    return payment_object(**{**pending, **changes})


def refund_object(**changes: Any) -> dict[str, Any]:
    refund: dict[str, Any] = {
        "id": REFUND_ID,
        "payment_id": PAYMENT_ID,
        "status": "succeeded",
        "amount": {"value": "500.00", "currency": "RUB"},
        "created_at": "2024-10-02T08:00:00.000Z",
        "description": "Refund of ord-1",
    }
    refund.update(changes)
    return {key: value for key, value in refund.items() if value is not DROP}


class Recorder:
    """A MockTransport that answers from a list (the last one repeats) and keeps requests."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def make_client(
    recorder: Recorder, *, sleeps: list[float] | None = None, **kwargs: Any
) -> YooKassaClient:
    sleep = sleeps.append if sleeps is not None else (lambda seconds: None)
    return YooKassaClient(
        BASE, SHOP_ID, SECRET, transport=httpx.MockTransport(recorder), sleep=sleep, **kwargs
    )


@pytest.fixture
def answers() -> Iterator[Recorder]:
    yield Recorder(httpx.Response(200, json=payment_object()))


def create_redirect(client: YooKassaClient, **changes: Any) -> YooKassaPayment:
    arguments: dict[str, Any] = {
        "idempotence_key": KEY,
        "amount": 123450,
        "currency": "RUB",
        "description": "SIP number, 1 month",
        "metadata": {"order_id": "ord-1"},
        "receipt": receipt("payer@example.com", "SIP number, 1 month", 123450, "RUB", 1),
        "return_url": "https://t.me/our_bot",
    }
    arguments.update(changes)
    return client.create_payment(**arguments)


# -- creating payments ----------------------------------------------------------------------


def test_create_redirect_payment_sends_the_documented_request() -> None:
    recorder = Recorder(httpx.Response(200, json=pending_redirect()))
    with make_client(recorder) as client:
        payment = create_redirect(
            client,
            description="x" * 200,
            metadata=MappingProxyType({"order_id": "ord-1", "payer_id": "42"}),
            save_payment_method=True,
        )
    [request] = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v3/payments"
    expected_auth = base64.b64encode(f"{SHOP_ID}:{SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers[IDEMPOTENCE_HEADER] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert recorder.body() == {
        "amount": {"value": "1234.50", "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://t.me/our_bot"},
        "save_payment_method": True,
        "description": "x" * 128,
        "metadata": {"order_id": "ord-1", "payer_id": "42"},
        "receipt": {
            "customer": {"email": "payer@example.com"},
            "items": [
                {
                    "description": "SIP number, 1 month",
                    "quantity": "1.00",
                    "amount": {"value": "1234.50", "currency": "RUB"},
                    "vat_code": 1,
                    "payment_subject": "service",
                    "payment_mode": "full_payment",
                }
            ],
        },
    }
    assert payment.status == "pending" and not payment.paid
    assert payment.confirmation_url == (
        "https://yoomoney.ru/checkout/payments/v2/contract?orderId=x"
    )
    assert (payment.amount, payment.currency, payment.refunded_amount) == (123450, "RUB", 0)
    assert payment.payment_method is None and payment.cancellation_reason is None


def test_save_payment_method_is_omitted_unless_asked() -> None:
    recorder = Recorder(httpx.Response(200, json=pending_redirect()))
    with make_client(recorder) as client:
        create_redirect(client, description="   ", receipt={})
    sent = recorder.body()
    assert "save_payment_method" not in sent and "payment_method_id" not in sent
    assert "description" not in sent and "receipt" not in sent


def test_off_session_charge_sends_the_method_and_no_confirmation() -> None:
    recorder = Recorder(httpx.Response(200, json=payment_object()))
    with make_client(recorder) as client:
        payment = client.create_payment(
            idempotence_key="renew-sub-7-2026-02",
            amount=32130,
            currency="rub",
            description="Renewal",
            metadata={"order_id": "ord-7"},
            receipt=receipt("+7 916 123-45-67", "Renewal", 32130, "RUB", 4),
            payment_method_id=METHOD_ID,
        )
    sent = recorder.body()
    assert "confirmation" not in sent and "save_payment_method" not in sent
    assert sent["payment_method_id"] == METHOD_ID and sent["capture"] is True
    assert sent["amount"] == {"value": "321.30", "currency": "RUB"}
    assert sent["receipt"]["customer"] == {"phone": "79161234567"}
    assert recorder.requests[0].headers[IDEMPOTENCE_HEADER] == "renew-sub-7-2026-02"
    assert payment.status == "succeeded" and payment.paid


def test_off_session_charge_can_come_back_canceled() -> None:
    canceled = payment_object(
        status="canceled",
        paid=False,
        captured_at=DROP,
        income_amount=DROP,
        refunded_amount=DROP,
        cancellation_details={"party": "payment_network", "reason": "insufficient_funds"},
    )
    recorder = Recorder(httpx.Response(200, json=canceled))
    with make_client(recorder) as client:
        payment = client.create_payment(
            idempotence_key=KEY,
            amount=100,
            currency="RUB",
            description="Renewal",
            metadata={},
            receipt={},
            payment_method_id=METHOD_ID,
        )
    assert (payment.status, payment.paid) == ("canceled", False)
    assert (payment.cancellation_party, payment.cancellation_reason) == (
        "payment_network",
        "insufficient_funds",
    )


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"idempotence_key": ""}, ValueError),
        ({"idempotence_key": "x" * 65}, ValueError),
        ({"idempotence_key": "has space"}, ValueError),
        ({"idempotence_key": "ключ"}, ValueError),
        ({"amount": 0}, InvalidAmount),
        ({"amount": -5}, InvalidAmount),
        ({"amount": 12.5}, InvalidAmount),
        ({"amount": True}, InvalidAmount),
        ({"currency": "GBP"}, UnsupportedCurrency),
        ({"return_url": None}, ValueError),  # neither confirmation nor a saved method
        ({"payment_method_id": METHOD_ID}, ValueError),  # both
        ({"return_url": "javascript:alert(1)"}, ValueError),
        ({"return_url": None, "payment_method_id": "../../refunds"}, ValueError),
        (
            {"return_url": None, "payment_method_id": METHOD_ID, "save_payment_method": True},
            ValueError,
        ),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, ValueError),
        ({"metadata": {"k" * 33: "v"}}, ValueError),
        ({"metadata": {"": "v"}}, ValueError),
        ({"metadata": {"k": "v" * 513}}, ValueError),
        ({"metadata": {"k": 1}}, ValueError),
        ({"metadata": [("k", "v")]}, ValueError),
        ({"receipt": [1]}, ValueError),
        ({"description": None}, ValueError),
    ],
)
def test_bad_arguments_never_reach_yookassa(
    answers: Recorder, changes: dict[str, Any], error: type[Exception]
) -> None:
    with make_client(answers) as client, pytest.raises(error):
        create_redirect(client, **changes)
    assert answers.requests == []


def test_the_longest_keys_and_metadata_yookassa_takes_are_sent() -> None:
    recorder = Recorder(httpx.Response(200, json=pending_redirect()))
    metadata = {f"{i:02d}" + "k" * 30: "v" * 512 for i in range(16)}
    with make_client(recorder) as client:
        create_redirect(client, idempotence_key="k" * 64, metadata=metadata)
    assert recorder.requests[0].headers[IDEMPOTENCE_HEADER] == "k" * 64
    assert recorder.body()["metadata"] == metadata


# -- parsing payments -----------------------------------------------------------------------


def test_a_payment_is_parsed_with_its_saved_card() -> None:
    recorder = Recorder(httpx.Response(200, json=payment_object()))
    with make_client(recorder) as client:
        payment = client.payment(PAYMENT_ID)
    assert payment is not None
    assert recorder.requests[0].method == "GET"
    assert str(recorder.requests[0].url) == f"{BASE}/v3/payments/{PAYMENT_ID}"
    assert IDEMPOTENCE_HEADER not in recorder.requests[0].headers
    assert payment == YooKassaPayment(
        id=PAYMENT_ID,
        status="succeeded",
        paid=True,
        amount=123450,
        currency="RUB",
        metadata={"order_id": "ord-1", "payer_id": "42"},
        confirmation_url=None,
        payment_method=SavedMethod(
            id=METHOD_ID,
            type="bank_card",
            saved=True,
            title="Bank card *4477",
            card_type="MasterCard",
            first6="555555",
            last4="4477",
            expiry_month=2,
            expiry_year=2027,
            issuer_country="RU",
        ),
        cancellation_reason=None,
        cancellation_party=None,
        created_at="2024-10-01T09:49:14.459Z",
        test=True,
        refunded_amount=0,
    )
    assert payment.description == "SIP number, 1 month"
    assert payment.captured_at == "2024-10-01T09:50:44.086Z"
    assert payment.income_amount == 119129


def test_an_sbp_method_without_card_and_a_partial_refund() -> None:
    method = {"type": "sbp", "id": METHOD_ID, "saved": False}
    answer = payment_object(
        payment_method=method, refunded_amount={"value": "100.5", "currency": "RUB"}
    )
    with make_client(Recorder(httpx.Response(200, json=answer))) as client:
        payment = client.payment(PAYMENT_ID)
    assert payment is not None and payment.payment_method is not None
    assert payment.payment_method.type == "sbp" and not payment.payment_method.saved
    assert payment.payment_method.card_type is None and payment.payment_method.last4 is None
    assert payment.refunded_amount == 10050


def test_malformed_card_details_are_dropped_not_fatal() -> None:
    card = {
        "first6": "55555",
        "last4": 4477,
        "expiry_month": "13",
        "expiry_year": "27",
        "card_type": ["Visa"],
        "issuer_country": "Russia",
    }
    answer = payment_object(
        payment_method={"type": "bank_card", "id": METHOD_ID, "saved": True, "card": card}
    )
    with make_client(Recorder(httpx.Response(200, json=answer))) as client:
        payment = client.payment(PAYMENT_ID)
    assert payment is not None and payment.payment_method is not None
    method = payment.payment_method
    assert (method.first6, method.last4, method.expiry_month, method.expiry_year) == (
        None,
        None,
        None,
        None,
    )
    assert (method.card_type, method.issuer_country, method.title) == (None, None, None)
    assert method.saved and method.id == METHOD_ID


@pytest.mark.parametrize(
    "answer",
    [
        payment_object(id=DROP),
        payment_object(id=7),
        payment_object(id="x" * 65),
        payment_object(id="../refunds"),
        payment_object(status="paid"),
        payment_object(status=DROP),
        payment_object(paid="true"),
        payment_object(test=DROP),
        payment_object(amount=DROP),
        payment_object(amount={"value": 1234.5, "currency": "RUB"}),
        payment_object(amount={"value": "1234.505", "currency": "RUB"}),
        payment_object(amount={"value": "-1.00", "currency": "RUB"}),
        payment_object(amount={"value": "1e3", "currency": "RUB"}),
        payment_object(amount={"value": "1.00", "currency": "rub"}),
        payment_object(amount={"value": "9" * 13, "currency": "RUB"}),
        payment_object(refunded_amount={"value": "1.00", "currency": "EUR"}),
        payment_object(income_amount={"value": "x", "currency": "RUB"}),
        payment_object(metadata={"order_id": 1}),
        payment_object(metadata=["order_id"]),
        payment_object(created_at=DROP),
        payment_object(created_at="yesterday"),
        payment_object(captured_at=12),
        payment_object(confirmation="https://pay.me"),
        payment_object(cancellation_details="expired"),
        payment_object(payment_method="bank_card"),
        payment_object(payment_method={"type": "bank_card", "saved": True}),
        payment_object(payment_method={"type": "bank_card", "id": METHOD_ID, "saved": "yes"}),
        [payment_object()],
        "not an object",
    ],
)
def test_answers_not_of_the_documented_shape_are_unavailable(answer: Any) -> None:
    with (
        make_client(Recorder(httpx.Response(200, json=answer))) as client,
        pytest.raises(ProviderUnavailable) as caught,
    ):
        client.payment(PAYMENT_ID)
    assert caught.value.provider == PROVIDER and caught.value.retryable


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, content=b"\xff\xfe\x00garbage"),
        httpx.Response(200, content=b"[" * 100_000),
        httpx.Response(200, content=b"null"),
        httpx.Response(201, json=[]),
    ],
)
def test_unreadable_answers_are_unavailable(response: httpx.Response) -> None:
    with make_client(Recorder(response)) as client, pytest.raises(ProviderUnavailable):
        client.payment(PAYMENT_ID)


def test_confirmation_other_than_redirect_has_no_url() -> None:
    answer = pending_redirect(confirmation={"type": "qr", "confirmation_data": "sbp://..."})
    with make_client(Recorder(httpx.Response(200, json=answer))) as client:
        payment = client.payment(PAYMENT_ID)
    assert payment is not None and payment.confirmation_url is None


def test_unknown_payment_is_none_and_bad_ids_are_refused(answers: Recorder) -> None:
    not_found = {
        "type": "error",
        "id": "0f3a",
        "code": "not_found",
        "description": "Payment doesn't exist or access denied",
    }
    recorder = Recorder(httpx.Response(404, json=not_found))
    with make_client(recorder) as client:
        assert client.payment(PAYMENT_ID) is None
        assert client.refund(REFUND_ID) is None
    assert [str(r.url) for r in recorder.requests] == [
        f"{BASE}/v3/payments/{PAYMENT_ID}",
        f"{BASE}/v3/refunds/{REFUND_ID}",
    ]
    with make_client(answers) as client:
        for bad in ("", "a/b", "x" * 65, "id?x=1"):
            with pytest.raises(ValueError, match="not a YooKassa id"):
                client.payment(bad)
            with pytest.raises(ValueError, match="not a YooKassa id"):
                client.refund(bad)
    assert answers.requests == []


# -- lists ----------------------------------------------------------------------------------


def test_payments_since_follows_next_cursor_to_the_end() -> None:
    first, second, third = (
        payment_object(id=f"2e8d0000-000f-5000-a000-00000000000{i}") for i in (1, 2, 3)
    )
    recorder = Recorder(
        httpx.Response(200, json={"type": "list", "items": [first], "next_cursor": "c-1"}),
        httpx.Response(200, json={"type": "list", "items": [second, first], "next_cursor": "c-2"}),
        httpx.Response(200, json={"type": "list", "items": [third]}),
    )
    since = datetime(2026, 1, 31, 23, 59, 58, 123999, tzinfo=timezone(timedelta(hours=3)))
    with make_client(recorder) as client:
        payments = client.payments_since(since, status="succeeded")
    assert [p.id for p in payments] == [first["id"], second["id"], third["id"]]
    params = [dict(r.url.params) for r in recorder.requests]
    common = {"created_at.gte": "2026-01-31T20:59:58.123Z", "status": "succeeded", "limit": "100"}
    assert params == [common, {**common, "cursor": "c-1"}, {**common, "cursor": "c-2"}]
    assert all(r.method == "GET" and r.url.path == "/v3/payments" for r in recorder.requests)
    assert all(IDEMPOTENCE_HEADER not in r.headers for r in recorder.requests)


def test_an_empty_list_and_a_null_cursor_end_the_listing() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"type": "list", "items": [], "next_cursor": None})
    )
    with make_client(recorder) as client:
        assert client.payments_since(datetime(2026, 1, 1, tzinfo=UTC), limit=10) == []
    assert dict(recorder.requests[0].url.params) == {
        "created_at.gte": "2026-01-01T00:00:00.000Z",
        "limit": "10",
    }


def test_refunds_since_filters_by_status_and_payment() -> None:
    refund = refund_object()
    recorder = Recorder(
        httpx.Response(200, json={"type": "list", "items": [refund], "next_cursor": "n"}),
        httpx.Response(200, json={"type": "list", "items": []}),
    )
    with make_client(recorder) as client:
        refunds = client.refunds_since(
            datetime(2026, 2, 1, tzinfo=UTC), status="succeeded", payment_id=PAYMENT_ID
        )
    assert refunds == [
        YooKassaRefund(
            id=REFUND_ID,
            payment_id=PAYMENT_ID,
            status="succeeded",
            amount=50000,
            currency="RUB",
            created_at="2024-10-02T08:00:00.000Z",
            cancellation_reason=None,
        )
    ]
    first = dict(recorder.requests[0].url.params)
    assert first == {
        "created_at.gte": "2026-02-01T00:00:00.000Z",
        "status": "succeeded",
        "payment_id": PAYMENT_ID,
        "limit": "100",
    }
    assert dict(recorder.requests[1].url.params) == {**first, "cursor": "n"}
    assert recorder.requests[0].url.path == "/v3/refunds"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.payments_since(datetime(2026, 1, 1)), "timezone-aware"),
        (lambda c: c.payments_since(datetime(2026, 1, 1, tzinfo=UTC), status="paid"), "status"),
        (lambda c: c.payments_since(datetime(2026, 1, 1, tzinfo=UTC), limit=0), "limit"),
        (lambda c: c.payments_since(datetime(2026, 1, 1, tzinfo=UTC), limit=101), "limit"),
        (lambda c: c.refunds_since(datetime(2026, 1, 1, tzinfo=UTC), status="waiting"), "status"),
        (lambda c: c.refunds_since(datetime(2026, 1, 1, tzinfo=UTC), payment_id="a b"), "id"),
    ],
)
def test_list_arguments_are_checked_before_calling(
    answers: Recorder, call: Callable[[YooKassaClient], Any], error: str
) -> None:
    with make_client(answers) as client, pytest.raises(ValueError, match=error):
        call(client)
    assert answers.requests == []


@pytest.mark.parametrize(
    "pages",
    [
        [{"type": "list"}],
        [{"type": "list", "items": {"a": 1}}],
        [{"type": "list", "items": ["x"]}],
        [{"type": "error", "items": []}],
        [{"type": "list", "items": [], "next_cursor": 5}],
        [{"type": "list", "items": [payment_object(status="weird")]}],
        [
            {"type": "list", "items": [], "next_cursor": "same"},
            {"type": "list", "items": [], "next_cursor": "same"},
        ],
    ],
)
def test_malformed_lists_are_unavailable(pages: list[dict[str, Any]]) -> None:
    recorder = Recorder(*(httpx.Response(200, json=page) for page in pages))
    with make_client(recorder) as client, pytest.raises(ProviderUnavailable):
        client.payments_since(datetime(2026, 1, 1, tzinfo=UTC))


# -- refunds --------------------------------------------------------------------------------


def test_create_refund_sends_the_documented_request() -> None:
    recorder = Recorder(httpx.Response(200, json=refund_object(status="pending")))
    refund_receipt = receipt("payer@example.com", "SIP number, 1 month", 50000, "RUB", 1)
    with make_client(recorder) as client:
        refund = client.create_refund(
            idempotence_key="refund-req-9",
            payment_id=PAYMENT_ID,
            amount=50000,
            currency="RUB",
            receipt=refund_receipt,
            description="r" * 300,
        )
    [request] = recorder.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/v3/refunds")
    assert request.headers[IDEMPOTENCE_HEADER] == "refund-req-9"
    assert recorder.body() == {
        "payment_id": PAYMENT_ID,
        "amount": {"value": "500.00", "currency": "RUB"},
        "description": "r" * 250,
        "receipt": refund_receipt,
    }
    assert (refund.id, refund.payment_id, refund.status, refund.amount) == (
        REFUND_ID,
        PAYMENT_ID,
        "pending",
        50000,
    )


def test_a_minimal_refund_and_a_canceled_one() -> None:
    canceled = refund_object(
        status="canceled",
        description=DROP,
        cancellation_details={"party": "yoo_money", "reason": "insufficient_funds"},
    )
    recorder = Recorder(httpx.Response(200, json=canceled))
    with make_client(recorder) as client:
        refund = client.create_refund(
            idempotence_key=KEY, payment_id=PAYMENT_ID, amount=1, currency="EUR"
        )
    assert recorder.body() == {
        "payment_id": PAYMENT_ID,
        "amount": {"value": "0.01", "currency": "EUR"},
    }
    assert (refund.status, refund.cancellation_reason) == ("canceled", "insufficient_funds")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"idempotence_key": ""}, ValueError),
        ({"payment_id": ""}, ValueError),
        ({"payment_id": "x/y"}, ValueError),
        ({"amount": 0}, InvalidAmount),
        ({"currency": "XXX"}, UnsupportedCurrency),
        ({"receipt": "email"}, ValueError),
        ({"description": 5}, ValueError),
    ],
)
def test_bad_refund_arguments_never_reach_yookassa(
    answers: Recorder, changes: dict[str, Any], error: type[Exception]
) -> None:
    arguments: dict[str, Any] = {
        "idempotence_key": KEY,
        "payment_id": PAYMENT_ID,
        "amount": 100,
        "currency": "RUB",
        **changes,
    }
    with make_client(answers) as client, pytest.raises(error):
        client.create_refund(**arguments)
    assert answers.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        refund_object(payment_id=DROP),
        refund_object(status="done"),
        refund_object(amount={"value": "5", "currency": "RUB", "x": 1} | {"value": 5}),
        refund_object(created_at=None),
        refund_object(cancellation_details=["x"]),
    ],
)
def test_malformed_refunds_are_unavailable(answer: dict[str, Any]) -> None:
    with (
        make_client(Recorder(httpx.Response(200, json=answer))) as client,
        pytest.raises(ProviderUnavailable),
    ):
        client.refund(REFUND_ID)


# -- errors ---------------------------------------------------------------------------------


def error_body(code: str, description: str = "Something", **extra: str) -> dict[str, str]:
    return {"type": "error", "id": "ab12-cd34", "code": code, "description": description, **extra}


def test_invalid_request_is_rejected_with_code_and_parameter(answers: Recorder) -> None:
    body = error_body("invalid_request", "Value too large", parameter="amount.value")
    with (
        make_client(Recorder(httpx.Response(400, json=body))) as client,
        pytest.raises(ProviderRejected) as caught,
    ):
        create_redirect(client)
    error = caught.value
    assert (error.status, error.name, error.debug_id) == (400, "invalid_request", "ab12-cd34")
    assert error.details == ({"parameter": "amount.value"},)
    assert "Value too large" in str(error) and "amount.value" in str(error)
    assert not error.retryable and not isinstance(error, ProviderUnavailable)


@pytest.mark.parametrize(
    ("status", "body", "kind", "name"),
    [
        (404, error_body("not_found"), ProviderRejected, "not_found"),
        (405, {}, ProviderRejected, "HTTP_405"),
        (415, None, ProviderRejected, "HTTP_415"),
        (401, error_body("invalid_credentials"), ProviderMisconfigured, "invalid_credentials"),
        (403, error_body("forbidden"), ProviderMisconfigured, "forbidden"),
    ],
)
def test_client_errors_map_to_rejected_or_misconfigured(
    status: int, body: Any, kind: type[Exception], name: str
) -> None:
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    with make_client(Recorder(response)) as client, pytest.raises(kind) as caught:
        create_redirect(client)
    assert caught.value.name == name  # type: ignore[attr-defined]
    assert caught.value.status == status  # type: ignore[attr-defined]


def test_misconfiguration_is_unavailable_so_webhooks_are_redelivered() -> None:
    response = httpx.Response(401, json=error_body("invalid_credentials", "Login fails"))
    with make_client(Recorder(response)) as client, pytest.raises(ProviderUnavailable) as caught:
        client.payment(PAYMENT_ID)
    assert isinstance(caught.value, ProviderMisconfigured) and caught.value.retryable


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(429, json=error_body("too_many_requests")),
        httpx.Response(500, json=error_body("internal_server_error")),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(503),
        httpx.Response(408),
        httpx.Response(302, headers={"Location": "https://elsewhere.test"}),
    ],
)
def test_throttling_server_errors_and_oddities_are_unavailable(response: httpx.Response) -> None:
    with make_client(Recorder(response)) as client, pytest.raises(ProviderUnavailable) as caught:
        create_redirect(client)
    assert caught.value.status == response.status_code
    assert not isinstance(caught.value, ProviderMisconfigured)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
)
def test_network_failures_are_unavailable(failure: type[httpx.TransportError]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    with make_client(Recorder(fail)) as client, pytest.raises(ProviderUnavailable) as caught:
        create_redirect(client)
    assert failure.__name__ in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_secret_never_shows() -> None:
    responses = [
        httpx.Response(401, json=error_body("invalid_credentials", "Authentication failed")),
        httpx.Response(400, json=error_body("invalid_request", "Bad", parameter="receipt")),
        httpx.Response(500, text="oops"),
        httpx.Response(200, text="{"),
    ]
    texts: list[str] = []
    for response in responses:
        client = make_client(Recorder(response))
        texts.append(repr(client))
        with pytest.raises(
            ProviderUnavailable if response.status_code != 400 else ProviderRejected
        ) as caught:
            create_redirect(client)
        texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
        texts += [repr(vars(caught.value))]
        client.close()
    encoded = base64.b64encode(f"{SHOP_ID}:{SECRET}".encode()).decode()
    for text in texts:
        assert SECRET not in text and encoded not in text
    assert repr(make_client(Recorder(httpx.Response(200)))) == (
        f"YooKassaClient(base_url={BASE!r}, shop_id={SHOP_ID!r})"
    )


def test_constructor_checks_credentials_and_normalises_the_base_url() -> None:
    for shop_id, secret in (("", SECRET), (SHOP_ID, "")):
        with pytest.raises(ValueError, match="empty") as caught:
            YooKassaClient(BASE, shop_id, secret)
        assert SECRET not in str(caught.value)
    recorder = Recorder(httpx.Response(200, json=payment_object()))
    client = YooKassaClient(f"{BASE}/v3/", SHOP_ID, SECRET, transport=httpx.MockTransport(recorder))
    with client:
        client.payment(PAYMENT_ID)
    assert str(recorder.requests[0].url) == f"{BASE}/v3/payments/{PAYMENT_ID}"
    with pytest.raises(ValueError, match="processing_retries"):
        YooKassaClient(BASE, SHOP_ID, SECRET, processing_retries=-1)


# -- 202 processing -------------------------------------------------------------------------


def processing(retry_after: Any = 1800) -> httpx.Response:
    body: dict[str, Any] = {
        "type": "processing",
        "id": "0f3a-processing",
        "description": "Request accepted, but not processed yet. Retry later",
    }
    if retry_after is not DROP:
        body["retry_after"] = retry_after
    return httpx.Response(202, json=body)


def test_processing_is_repeated_with_the_same_key_and_body() -> None:
    recorder = Recorder(processing(500), processing(), httpx.Response(200, json=pending_redirect()))
    sleeps: list[float] = []
    with make_client(recorder, sleeps=sleeps) as client:
        payment = create_redirect(client)
    assert payment.status == "pending"
    assert sleeps == [0.5, 1.8]
    assert len(recorder.requests) == 3
    assert {r.headers[IDEMPOTENCE_HEADER] for r in recorder.requests} == {KEY}
    assert len({r.content for r in recorder.requests}) == 1


def test_processing_that_never_settles_is_unavailable() -> None:
    recorder = Recorder(processing(100))
    sleeps: list[float] = []
    with (
        make_client(recorder, sleeps=sleeps) as client,
        pytest.raises(ProviderUnavailable) as caught,
    ):
        create_redirect(client)
    assert caught.value.status == 202 and "processing" in str(caught.value)
    assert len(recorder.requests) == 4 and sleeps == [0.1, 0.1, 0.1]


def test_processing_retries_can_be_switched_off() -> None:
    recorder = Recorder(processing())
    with make_client(recorder, processing_retries=0) as client, pytest.raises(ProviderUnavailable):
        client.create_refund(idempotence_key=KEY, payment_id=PAYMENT_ID, amount=1, currency="RUB")
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (DROP, 1.8),
        ("1800", 1.8),
        (True, 1.8),
        (-5, 0.0),
        (60_000, 5.0),
        (10**400, 5.0),
        (250.5, 0.2505),
    ],
)
def test_processing_waits_what_yookassa_names_within_bounds(retry_after: Any, wait: float) -> None:
    recorder = Recorder(processing(retry_after), httpx.Response(200, json=payment_object()))
    sleeps: list[float] = []
    with make_client(recorder, sleeps=sleeps) as client:
        client.payment(PAYMENT_ID)
    assert sleeps == [pytest.approx(wait)]


def test_processing_is_not_waited_for_past_the_deadline() -> None:
    recorder = Recorder(processing(5000), httpx.Response(200, json=payment_object()))
    sleeps: list[float] = []
    with (
        make_client(recorder, sleeps=sleeps) as client,
        bounded_by(Deadline(3.0, monotonic=frozen)),  # 2 s left after the margin
        pytest.raises(ProviderUnavailable, match="no time left"),
    ):
        create_redirect(client)
    assert sleeps == [] and len(recorder.requests) == 1


# -- the deadline ---------------------------------------------------------------------------


def test_requests_wait_at_most_the_time_left() -> None:
    recorder = Recorder(httpx.Response(200, json=payment_object()))
    with make_client(recorder, timeout=10.0) as client:
        with bounded_by(Deadline(4.5, monotonic=frozen)):
            client.payment(PAYMENT_ID)
        client.payment(PAYMENT_ID)
    assert recorder.requests[0].extensions["timeout"] == dict.fromkeys(
        ("connect", "read", "write", "pool"), 3.5
    )
    assert recorder.requests[1].extensions["timeout"]["read"] == 10.0


def test_no_request_without_time_left(answers: Recorder) -> None:
    with (
        make_client(answers) as client,
        bounded_by(Deadline(0.5, monotonic=frozen)),
        pytest.raises(ProviderUnavailable, match="no time left"),
    ):
        client.payment(PAYMENT_ID)
    assert answers.requests == []


# -- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"), [(123450, "1234.50"), (1, "0.01"), (0, "0.00"), (10**11, "1000000000.00")]
)
def test_amount_text(amount: int, text: str) -> None:
    assert amount_text(amount, "RUB") == text
    assert parse_amount({"value": text, "currency": "RUB"}) == (amount, "RUB")


@pytest.mark.parametrize("amount", [-1, 1.5, True, "100"])
def test_amount_text_refuses_non_amounts(amount: Any) -> None:
    with pytest.raises(InvalidAmount):
        amount_text(amount, "RUB")


def test_amount_text_refuses_non_currencies() -> None:
    with pytest.raises(UnsupportedCurrency):
        amount_text(100, "RUBLE")


@pytest.mark.parametrize(
    ("value", "minor"), [("1234.5", 123450), ("7", 700), ("0.00", 0), ("007.01", 701)]
)
def test_parse_amount_takes_up_to_two_decimals(value: str, minor: int) -> None:
    assert parse_amount({"value": value, "currency": "USD", "extra": 1}) == (minor, "USD")


@pytest.mark.parametrize(
    "obj",
    [
        None,
        "1234.50 RUB",
        ["1234.50", "RUB"],
        {"value": "1.00"},
        {"currency": "RUB"},
        {"value": 1, "currency": "RUB"},
        {"value": 1.5, "currency": "RUB"},
        {"value": "1.005", "currency": "RUB"},
        {"value": "-1.00", "currency": "RUB"},
        {"value": "+1.00", "currency": "RUB"},
        {"value": "1,00", "currency": "RUB"},
        {"value": " 1.00", "currency": "RUB"},
        {"value": "1.", "currency": "RUB"},
        {"value": ".5", "currency": "RUB"},
        {"value": "1e3", "currency": "RUB"},
        {"value": "NaN", "currency": "RUB"},
        {"value": "Infinity", "currency": "RUB"},
        {"value": "١٢٣", "currency": "RUB"},  # Arabic-Indic digits, which int() would take
        {"value": "１.00", "currency": "RUB"},  # fullwidth digit
        {"value": "9" * 13, "currency": "RUB"},
        {"value": "9" * 10_000, "currency": "RUB"},
        {"value": "1.00", "currency": "rub"},
        {"value": "1.00", "currency": "RUBL"},
        {"value": "1.00", "currency": 643},
    ],
)
def test_parse_amount_refuses_junk(obj: Any) -> None:
    with pytest.raises(YooKassaAmountError):
        parse_amount(obj)
    assert issubclass(YooKassaAmountError, ValueError)


@given(st.integers(min_value=0, max_value=10**14 - 1))
def test_amounts_round_trip(amount: int) -> None:
    assert parse_amount({"value": amount_text(amount, "EUR"), "currency": "EUR"}) == (
        amount,
        "EUR",
    )


# -- receipts -------------------------------------------------------------------------------


def test_receipt_for_an_email() -> None:
    assert receipt(" payer@example.com ", "SIP number, 1 month", 32130, "rub", 4) == {
        "customer": {"email": "payer@example.com"},
        "items": [
            {
                "description": "SIP number, 1 month",
                "quantity": "1.00",
                "amount": {"value": "321.30", "currency": "RUB"},
                "vat_code": 4,
                "payment_subject": "service",
                "payment_mode": "full_payment",
            }
        ],
    }


@pytest.mark.parametrize(
    ("contact", "phone"),
    [
        ("+7 916 123-45-67", "79161234567"),
        ("+7 (916) 123.45.67", "79161234567"),
        ("79161234567", "79161234567"),
        ("+49 30 1234567", "49301234567"),
        ("+" + "1" * 15, "1" * 15),
    ],
)
def test_receipt_for_a_phone(contact: str, phone: str) -> None:
    assert receipt(contact, "Top-up", 100, "RUB", 1)["customer"] == {"phone": phone}


def test_receipt_cuts_the_description_and_checks_the_rest() -> None:
    made = receipt("a@b.ru", "д" * 300, 100, "RUB", 12)
    assert made["items"][0]["description"] == "д" * 128 and made["items"][0]["vat_code"] == 12
    for vat_code in (0, 13, True, "4", 4.0):
        with pytest.raises(ValueError, match="vat_code"):
            receipt("a@b.ru", "x", 100, "RUB", vat_code)  # type: ignore[arg-type]
    for description in ("", "   "):
        with pytest.raises(ValueError, match="description"):
            receipt("a@b.ru", description, 100, "RUB", 1)
    with pytest.raises(InvalidAmount):
        receipt("a@b.ru", "x", 0, "RUB", 1)
    with pytest.raises(UnsupportedCurrency):
        receipt("a@b.ru", "x", 100, "GBP", 1)


@pytest.mark.parametrize(
    "contact",
    [
        "",
        "   ",
        "user@",
        "@example.com",
        "user@localhost",
        "a@b@c.ru",
        "user name@example.com",
        "u@" + "x" * 250 + ".ru",
        "+",
        "123456",  # too short
        "+" + "1" * 16,  # longer than E.164
        "+0123456789",
        "++79161234567",
        "7916abc4567",
        "٧٩١٦١٢٣٤٥٦٧",  # Arabic-Indic digits
        "+7 916 123 45 67 ext 2",
        None,
        79161234567,
    ],
)
def test_receipt_refuses_bad_contacts(contact: Any) -> None:
    with pytest.raises(ValueError, match="contact"):
        receipt(contact, "x", 100, "RUB", 1)


# -- notifications --------------------------------------------------------------------------


def notification(event: str, obj: Any) -> bytes:
    return json.dumps({"type": "notification", "event": event, "object": obj}).encode()


@pytest.mark.parametrize(
    "event", ["payment.succeeded", "payment.canceled", "payment.waiting_for_capture"]
)
def test_payment_notifications_name_the_payment(event: str) -> None:
    body = notification(event, payment_object())
    assert parse_notification(body) == Notification(
        event=event, object_id=PAYMENT_ID, payment_id=PAYMENT_ID
    )
    assert YooKassaClient.parse_notification(body).event == event


def test_refund_notifications_name_the_refund_and_its_payment() -> None:
    body = notification("refund.succeeded", refund_object())
    assert parse_notification(body) == Notification(
        event="refund.succeeded", object_id=REFUND_ID, payment_id=PAYMENT_ID
    )


def test_only_ids_are_taken_from_a_notification() -> None:
    # An unsigned body may claim anything; nothing but the ids comes out of it.
    forged = payment_object(amount={"value": "-1e9", "currency": "XXX"}, status="hacked")
    assert parse_notification(notification("payment.succeeded", forged)).object_id == PAYMENT_ID


@pytest.mark.parametrize("event", ["payout.succeeded", "deal.closed", "payment_method.active"])
def test_unsupported_events_are_told_apart(event: str) -> None:
    with pytest.raises(UnsupportedNotification) as caught:
        parse_notification(notification(event, {"id": "po-1"}))
    assert caught.value.event == event
    assert isinstance(caught.value, YooKassaNotificationError)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00\x01",
        b"\xc3\x28",  # invalid UTF-8
        b"null",
        b"[]",
        b'"notification"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"type": "notification", "event": "payment.succeeded", "object": ' * 5000,
        b'{"type": "notification", "event": "payment.succeeded", "object": {"id": NaN}}',
        b'{"type": "notification", "event": "payment.succeeded", "object": {"id": 1'
        + b"0" * 5000
        + b"}}",
        b"x" * (1 << 20 | 1),
        notification("payment.succeeded", payment_object()).replace(b"notification", b"webhook"),
        json.dumps({"event": "payment.succeeded", "object": payment_object()}).encode(),
        notification("", payment_object()),
        notification("PAYMENT.SUCCEEDED", payment_object()),
        notification("payment.succeeded\n<script>", payment_object()),
        notification("payment." + "x" * 100, payment_object()),
        notification("payment.succeeded", None),
        notification("payment.succeeded", [PAYMENT_ID]),
        notification("payment.succeeded", {}),
        notification("payment.succeeded", {"id": 12345}),
        notification("payment.succeeded", {"id": ""}),
        notification("payment.succeeded", {"id": "x" * 65}),
        notification("payment.succeeded", {"id": "../../v3/refunds"}),
        notification("payment.succeeded", {"id": "2e8d 95a"}),
        notification("payment.succeeded", {"id": "платёж"}),
        notification("refund.succeeded", refund_object(payment_id=DROP)),
        notification("refund.succeeded", refund_object(payment_id={"id": PAYMENT_ID})),
        json.dumps({"type": "notification", "event": ["payment.succeeded"], "object": {}}).encode(),
    ],
)
def test_hostile_bodies_raise_only_the_typed_error(body: bytes) -> None:
    with pytest.raises(YooKassaNotificationError) as caught:
        parse_notification(body)
    assert not isinstance(caught.value, UnsupportedNotification)
    assert len(str(caught.value)) < 200


def test_a_body_that_is_not_bytes_is_refused() -> None:
    with pytest.raises(YooKassaNotificationError):
        parse_notification(notification("payment.succeeded", payment_object()).decode())  # type: ignore[arg-type]


@given(st.binary(max_size=512))
def test_random_bytes_raise_only_the_typed_error(body: bytes) -> None:
    with contextlib.suppress(YooKassaNotificationError):
        parse_notification(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    event=st.sampled_from(["payment.succeeded", "refund.succeeded", "payout.canceled"])
    | st.text(max_size=40),
    obj=json_values | st.fixed_dictionaries({"id": json_values, "payment_id": json_values}),
)
def test_random_notification_shapes_raise_only_the_typed_error(event: str, obj: Any) -> None:
    body = json.dumps({"type": "notification", "event": event, "object": obj}).encode()
    try:
        parsed = parse_notification(body)
    except YooKassaNotificationError:
        return
    assert parsed.event in {"payment.succeeded", "refund.succeeded"}
    for value in (parsed.object_id, parsed.payment_id):
        assert 1 <= len(value) <= 64
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
