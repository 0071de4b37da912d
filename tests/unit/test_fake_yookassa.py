"""The fake YooKassa API v3 over real HTTP (httpx on loopback): payloads, errors,
idempotence, the payer's pages, saved cards, refunds, receipts and notifications."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from billing.clock import ManualClock
from local.fake_yookassa import (
    DECLINE_CARD,
    SOURCE_IP_HEADER,
    SUCCESS_CARD,
    TEST_CARDS,
    THREE_DS_CARD,
    THREE_DS_FAILED_CARD,
    YOOKASSA_NETWORKS,
    FakeYooKassa,
    is_yookassa_address,
)

SHOP = "654321"
SECRET = "test_UnitTestSecretKeyForTheFakeYooKassa"
RETURN_URL = "https://bot.example/return?order=42"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAYMENT_ID = re.compile(r"^[0-9a-f]{8}-000f-5000-[89ab]000-[0-9a-f]{12}$")
REFUND_ID = re.compile(r"^[0-9a-f]{8}-0015-5000-[89ab]000-[0-9a-f]{12}$")
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

Json = dict[str, Any]


class Receiver:
    """The merchant's notification endpoint: records every POST, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payments/yookassa"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def events(self) -> list[Json]:
        return [json.loads(body) for _, body in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def fake(clock: ManualClock, receiver: Receiver) -> Iterator[FakeYooKassa]:
    fake = FakeYooKassa(SHOP, SECRET, receiver.url, clock=clock)
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def api(fake: FakeYooKassa) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.api_base, auth=(SHOP, SECRET)) as client:
        yield client


def receipt(*items: tuple[str, str], email: str = "payer@example.com") -> Json:
    """A receipt of (price, quantity) items."""
    return {
        "customer": {"email": email},
        "items": [
            {
                "description": f"SIP number, item {index}",
                "quantity": quantity,
                "amount": {"value": price, "currency": "RUB"},
                "vat_code": 1,
                "payment_subject": "service",
                "payment_mode": "full_payment",
            }
            for index, (price, quantity) in enumerate(items)
        ],
    }


def payment_body(value: str = "1234.50", **extra: Any) -> Json:
    body: Json = {
        "amount": {"value": value, "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "SIP number, 1 month",
        "metadata": {"order_id": "42"},
        "receipt": receipt((value, "1")),
    }
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def post(api: httpx.Client, path: str, body: Json, key: str | None = None) -> httpx.Response:
    return api.post(path, json=body, headers={"Idempotence-Key": key or str(uuid.uuid4())})


def create(api: httpx.Client, value: str = "1234.50", **extra: Any) -> Json:
    response = post(api, "/payments", payment_body(value, **extra))
    assert response.status_code == 200, response.text
    created: Json = response.json()
    return created


def pay_url(payment: Json) -> str:
    url: str = payment["confirmation"]["confirmation_url"]
    return url


def card_form(number: str, expiry: str = "12/31", csc: str = "123") -> dict[str, str]:
    return {"card_number": number, "expiry": expiry, "csc": csc}


def assert_error(response: httpx.Response, status: int, code: str, parameter: str | None) -> Json:
    assert response.status_code == status, response.text
    error: Json = response.json()
    assert error["type"] == "error" and error["code"] == code
    assert uuid.UUID(error["id"]) and error["description"]
    assert error.get("parameter") == parameter
    return error


# -- creating payments -------------------------------------------------------------------


def test_create_payment_answers_the_documented_shape(fake: FakeYooKassa, api: httpx.Client) -> None:
    payment = create(api)
    assert PAYMENT_ID.match(payment["id"])
    assert payment["status"] == "pending" and payment["paid"] is False
    assert payment["amount"] == {"value": "1234.50", "currency": "RUB"}
    assert payment["description"] == "SIP number, 1 month"
    assert payment["recipient"]["account_id"] == SHOP
    assert payment["metadata"] == {"order_id": "42"}
    assert payment["test"] is True and payment["refundable"] is False
    assert payment["confirmation"] == {
        "type": "redirect",
        "return_url": RETURN_URL,
        "confirmation_url": f"{fake.base_url}/payments/{payment['id']}/pay",
    }
    assert ISO_MILLIS.match(payment["created_at"]) and payment["created_at"].startswith(
        "2026-03-01T12:00:00"
    )
    for absent in ("payment_method", "captured_at", "income_amount", "cancellation_details"):
        assert absent not in payment
    assert api.get(f"/payments/{payment['id']}").json() == payment
    assert fake.payment(payment["id"]) == payment
    assert fake.receipts_of(payment["id"]) == [
        {
            "type": "payment",
            "payment_id": payment["id"],
            "amount": {"value": "1234.50", "currency": "RUB"},
            "created_at": payment["created_at"],
            "receipt": receipt(("1234.50", "1")),
        }
    ]
    assert fake.webhook_deliveries == []  # pending: nothing to notify


def test_numbers_are_accepted_and_printed_as_strings(api: httpx.Client) -> None:
    body = payment_body("100.00")
    body["amount"]["value"] = 100
    payment = post(api, "/payments", body).json()
    assert payment["amount"] == {"value": "100.00", "currency": "RUB"}


def test_receipt_is_required(api: httpx.Client) -> None:
    response = post(api, "/payments", payment_body(receipt=None))
    error = assert_error(response, 400, "invalid_request", "receipt")
    assert "Receipt is missing or illegal" in error["description"]


def test_receipt_is_optional_when_the_shop_does_not_need_one(clock: ManualClock) -> None:
    fake = FakeYooKassa(SHOP, SECRET, clock=clock, receipts_required=False)
    fake.serve()
    try:
        with httpx.Client(base_url=fake.api_base, auth=(SHOP, SECRET)) as api:
            payment = create(api, receipt=None)
        assert "receipt_registration" not in payment
        assert fake.receipts_of(payment["id"]) == []
    finally:
        fake.stop()


def test_receipt_items_multiply_and_must_add_up(fake: FakeYooKassa, api: httpx.Client) -> None:
    good = receipt(("500.00", "2"), ("78.15", "3"))  # 1000.00 + 234.45
    payment = create(api, "1234.45", receipt=good)
    assert fake.receipts_of(payment["id"])[0]["receipt"] == good
    wrong = receipt(("500.00", "2"), ("78.15", "2"))
    response = post(api, "/payments", payment_body("1234.45", receipt=wrong))
    error = assert_error(response, 400, "invalid_request", "receipt")
    assert "1156.30" in error["description"]


def _receipt_with(**changes: Any) -> Json:
    body = receipt(("1234.50", "1"))
    item = body["items"][0]
    for key, value in changes.items():
        if key == "customer":
            body["customer"] = value
        else:
            item[key] = value
    return body


@pytest.mark.parametrize(
    "bad",
    [
        _receipt_with(customer={}),
        _receipt_with(customer={"email": "not-an-email"}),
        _receipt_with(vat_code=13),
        _receipt_with(vat_code=0),
        _receipt_with(description="x" * 129),
        _receipt_with(quantity="0"),
        _receipt_with(quantity="1.0001"),
        _receipt_with(payment_mode="sometime"),
        _receipt_with(payment_subject="gadget"),
        _receipt_with(amount={"value": "1234.50", "currency": "USD"}),
        {"customer": {"phone": "79000000000"}, "items": []},
        "a receipt",
    ],
)
def test_malformed_receipts_are_refused(api: httpx.Client, bad: object) -> None:
    response = post(api, "/payments", payment_body(receipt=bad))
    assert_error(response, 400, "invalid_request", "receipt")


def test_receipt_customer_by_phone_and_older_top_level_email(api: httpx.Client) -> None:
    by_phone = _receipt_with(customer={"phone": "79001234567"})
    assert create(api, receipt=by_phone)["status"] == "pending"
    older = receipt(("1234.50", "1"))
    older.pop("customer")
    older["email"] = "payer@example.com"
    assert create(api, receipt=older)["status"] == "pending"
    vat_as_text = _receipt_with(vat_code="2")  # as yookassa-sdk-python's example sends it
    assert create(api, receipt=vat_as_text)["status"] == "pending"


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"amount": {"value": "0.00", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "10.001", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "-5", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "ten", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "10.00", "currency": "XXX"}}, "amount.currency"),
        ({"amount": "10.00"}, "amount"),
        ({"confirmation": None}, "confirmation"),
        ({"confirmation": {"type": "embedded"}}, "confirmation.type"),
        ({"confirmation": {"type": "redirect"}}, "confirmation.return_url"),
        ({"description": "x" * 129}, "description"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"order_id": 42}}, "metadata"),
        ({"metadata": {"k" * 33: "v"}}, "metadata"),
        ({"capture": "yes"}, "capture"),
        ({"payment_method_data": {"type": "sbp"}}, "payment_method_data.type"),
    ],
)
def test_create_payment_validation(api: httpx.Client, change: Json, parameter: str) -> None:
    body = payment_body()
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    assert_error(post(api, "/payments", body), 400, "invalid_request", parameter)


def test_description_of_128_characters_and_16_metadata_keys_are_fine(api: httpx.Client) -> None:
    payment = create(api, description="x" * 128, metadata={f"key{i}": "v" * 512 for i in range(16)})
    assert len(payment["metadata"]) == 16


def test_invalid_json_body(api: httpx.Client) -> None:
    response = api.post(
        "/payments",
        content=b"{not json",
        headers={"Idempotence-Key": "k", "Content-Type": "application/json"},
    )
    assert_error(response, 400, "invalid_request", None)


# -- authentication and errors -----------------------------------------------------------


@pytest.mark.parametrize(
    "auth", [None, (SHOP, "test_wrong"), ("111111", SECRET), (SHOP, SECRET + "x")]
)
def test_wrong_or_missing_credentials(fake: FakeYooKassa, auth: tuple[str, str] | None) -> None:
    response = httpx.post(
        f"{fake.api_base}/payments",
        json=payment_body(),
        headers={"Idempotence-Key": "k"},
        auth=auth,
    )
    assert_error(response, 401, "invalid_credentials", None)
    response = httpx.get(f"{fake.api_base}/payments", auth=auth)
    assert_error(response, 401, "invalid_credentials", None)
    assert fake.payments() == []


def test_unknown_objects_are_not_found(api: httpx.Client) -> None:
    missing = "2d000000-000f-5000-8000-000000000000"
    assert_error(api.get(f"/payments/{missing}"), 404, "not_found", "payment_id")
    assert_error(api.get(f"/refunds/{missing}"), 404, "not_found", "refund_id")
    assert_error(api.get("/receipts"), 404, "not_found", None)


def test_fail_next_answers_server_errors_then_recovers(
    fake: FakeYooKassa, api: httpx.Client
) -> None:
    fake.fail_next(500)
    assert_error(post(api, "/payments", payment_body()), 500, "internal_server_error", None)
    fake.fail_next(503, count=2)
    assert api.get("/payments").status_code == 503
    assert post(api, "/payments", payment_body()).status_code == 503
    fake.fail_next(429)
    assert_error(api.get("/payments"), 429, "too_many_requests", None)
    assert fake.payments() == []  # nothing was processed
    assert create(api)["status"] == "pending"
    assert [method for method, _ in fake.requests] == ["POST", "GET", "POST", "GET", "POST"]


def test_a_processed_call_whose_answer_is_lost_replays_on_retry(
    fake: FakeYooKassa, api: httpx.Client
) -> None:
    fake.fail_next(500, processed=True)
    body = payment_body()
    assert post(api, "/payments", body, key="order-42").status_code == 500
    assert len(fake.payments()) == 1  # it happened
    retried = post(api, "/payments", body, key="order-42")
    assert retried.status_code == 200
    assert retried.json()["id"] == fake.payments()[0]["id"]
    assert len(fake.payments()) == 1


# -- idempotence -------------------------------------------------------------------------


def test_every_post_needs_an_idempotence_key_of_at_most_64_characters(
    fake: FakeYooKassa, api: httpx.Client
) -> None:
    missing = api.post("/payments", json=payment_body())
    assert_error(missing, 400, "invalid_request", "Idempotence-Key")
    too_long = post(api, "/payments", payment_body(), key="k" * 65)
    error = assert_error(too_long, 400, "invalid_request", "Idempotence-Key")
    assert "too long" in error["description"]
    assert post(api, "/payments", payment_body(), key="k" * 64).status_code == 200
    refund = api.post("/refunds", json={"payment_id": "x"})
    assert_error(refund, 400, "invalid_request", "Idempotence-Key")
    assert len(fake.payments()) == 1


def test_same_key_same_body_replays_the_very_same_answer(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock
) -> None:
    body = payment_body()
    first = post(api, "/payments", body, key="order-42")
    clock.advance(timedelta(hours=23))
    reordered = dict(reversed(list(body.items())))  # the same JSON, serialised otherwise
    again = api.post(
        "/payments",
        content=json.dumps(reordered, indent=2).encode(),
        headers={"Idempotence-Key": "order-42", "Content-Type": "application/json"},
    )
    assert again.status_code == 200 and again.content == first.content
    assert len(fake.payments()) == 1
    other_key = post(api, "/payments", body, key="order-43")
    assert other_key.json()["id"] != first.json()["id"]
    assert len(fake.payments()) == 2


def test_same_key_another_body_or_path_is_refused(fake: FakeYooKassa, api: httpx.Client) -> None:
    assert post(api, "/payments", payment_body(), key="order-42").status_code == 200
    changed = post(api, "/payments", payment_body("99.00"), key="order-42")
    error = assert_error(changed, 400, "invalid_request", "Idempotence-Key")
    assert error["description"] == "Idempotence key duplicated"
    refund = post(api, "/refunds", {"payment_id": "x"}, key="order-42")
    assert_error(refund, 400, "invalid_request", "Idempotence-Key")
    assert len(fake.payments()) == 1


def test_errors_are_replayed_too_and_keys_expire_after_24_hours(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock
) -> None:
    bad = payment_body(receipt=None)
    first = post(api, "/payments", bad, key="order-42")
    assert first.status_code == 400
    assert post(api, "/payments", bad, key="order-42").content == first.content
    clock.advance(timedelta(hours=24))
    assert post(api, "/payments", payment_body(), key="order-42").status_code == 200
    assert len(fake.payments()) == 1


# -- lists -------------------------------------------------------------------------------


def test_lists_are_newest_first_and_paged_by_cursor(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock
) -> None:
    ids = []
    for _ in range(5):
        ids.append(create(api)["id"])
        clock.advance(timedelta(minutes=10))
    first = api.get("/payments", params={"limit": 2}).json()
    assert first["type"] == "list"
    assert [p["id"] for p in first["items"]] == [ids[4], ids[3]]
    second = api.get("/payments", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [p["id"] for p in second["items"]] == [ids[2], ids[1]]
    create(api)  # a newer payment does not shift the pages already handed out
    third = api.get("/payments", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [p["id"] for p in third["items"]] == [ids[0]]
    assert "next_cursor" not in third
    everything = api.get("/payments").json()
    assert len(everything["items"]) == 6 and "next_cursor" not in everything


def test_list_filters(fake: FakeYooKassa, api: httpx.Client, clock: ManualClock) -> None:
    early = create(api)["id"]
    clock.advance(timedelta(minutes=10))
    middle = create(api)["id"]
    clock.advance(timedelta(minutes=10))
    late = create(api)["id"]
    fake.pay(middle)

    def ids(**params: str) -> list[str]:
        answer = api.get("/payments", params=params)
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["items"]]

    at_middle = "2026-03-01T12:10:00.000Z"
    assert ids(**{"created_at.gte": at_middle}) == [late, middle]
    assert ids(**{"created_at.gt": at_middle}) == [late]
    assert ids(**{"created_at.lte": at_middle}) == [middle, early]
    assert ids(**{"created_at.lt": at_middle}) == [early]
    assert ids(**{"created_at.gte": "2026-03-01T12:00:00+00:00", "created_at.lt": at_middle}) == [
        early
    ]
    assert ids(status="succeeded") == [middle]
    assert ids(status="pending") == [late, early]
    assert ids(**{"captured_at.gte": "2026-03-01T00:00:00Z"}) == [middle]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"status": "paid"}, "status"),
        ({"created_at.gte": "yesterday"}, "created_at.gte"),
    ],
)
def test_list_parameters_are_checked(
    api: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    assert_error(api.get("/payments", params=params), 400, "invalid_request", parameter)
    assert_error(api.get("/refunds", params=params), 400, "invalid_request", parameter)


def test_limit_100_is_fine(api: httpx.Client) -> None:
    assert api.get("/payments", params={"limit": 100}).json() == {"type": "list", "items": []}


# -- the payer's pages -------------------------------------------------------------------


def test_pay_page_success_without_3ds(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    payment = create(api)
    page = httpx.get(pay_url(payment))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "name='card_number'" in page.text and "5555 5555 5555 4444" in page.text
    assert "1234.50 RUB" in page.text and "save this card" not in page.text
    paid = httpx.post(pay_url(payment), data=card_form("5555 5555 5555 4444"))
    assert paid.status_code == 303 and paid.headers["location"] == RETURN_URL
    shown = api.get(f"/payments/{payment['id']}").json()
    assert shown["status"] == "succeeded" and shown["paid"] is True
    assert shown["captured_at"].startswith("2026-03-01T12:00:00")
    assert shown["income_amount"] == {"value": "1191.29", "currency": "RUB"}  # 3.5% fee
    assert shown["refundable"] is True and "confirmation" not in shown
    assert shown["receipt_registration"] == "succeeded"
    assert shown["authorization_details"]["three_d_secure"] == {"applied": False}
    method = shown["payment_method"]
    assert method["type"] == "bank_card" and method["saved"] is False
    assert method["title"] == "Bank card *4444"
    assert method["card"] == {
        "first6": "555555",
        "last4": "4444",
        "expiry_month": "12",
        "expiry_year": "2031",
        "card_type": "MasterCard",
        "issuer_country": "RU",
    }
    assert receiver.events() == [
        {"type": "notification", "event": "payment.succeeded", "object": shown}
    ]
    headers, _ = receiver.received[0]
    assert headers[SOURCE_IP_HEADER.lower()] == "185.71.76.1"
    assert headers["content-type"] == "application/json"
    delivery = fake.webhook_deliveries[0]
    assert (delivery.event_type, delivery.status, delivery.url) == (
        "payment.succeeded",
        200,
        receiver.url,
    )
    assert delivery.event["object"] == shown
    again = httpx.get(pay_url(payment))
    assert (
        again.status_code == 200 and "succeeded" in again.text and "card_number" not in again.text
    )
    assert httpx.post(pay_url(payment), data=card_form(SUCCESS_CARD)).status_code == 409
    assert len(receiver.received) == 1


def test_pay_page_with_3ds_shows_the_code_page_then_succeeds(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    payment = create(api)
    entered = httpx.post(pay_url(payment), data=card_form(THREE_DS_CARD))
    three_ds = f"/payments/{payment['id']}/3ds"
    assert entered.status_code == 303 and entered.headers["location"] == three_ds
    assert httpx.get(pay_url(payment)).headers["location"] == three_ds
    page = httpx.get(fake.base_url + three_ds)
    assert page.status_code == 200 and "name='code'" in page.text and "*4477" in page.text
    assert api.get(f"/payments/{payment['id']}").json()["status"] == "pending"
    assert receiver.received == []
    assert httpx.post(fake.base_url + three_ds, data={"code": ""}).status_code == 400
    done = httpx.post(fake.base_url + three_ds, data={"code": "12345", "action": "confirm"})
    assert done.status_code == 303 and done.headers["location"] == RETURN_URL
    shown = api.get(f"/payments/{payment['id']}").json()
    assert shown["status"] == "succeeded"
    assert shown["authorization_details"]["three_d_secure"] == {"applied": True}
    assert [e["event"] for e in receiver.events()] == ["payment.succeeded"]


def test_3ds_fail_button_and_3ds_failed_card(api: httpx.Client, fake: FakeYooKassa) -> None:
    failed_by_button = create(api)
    httpx.post(pay_url(failed_by_button), data=card_form("4793 1281 6164 4804"))
    url = f"{fake.base_url}/payments/{failed_by_button['id']}/3ds"
    assert httpx.post(url, data={"action": "fail"}).headers["location"] == RETURN_URL
    failing_card = create(api)
    httpx.post(pay_url(failing_card), data=card_form(THREE_DS_FAILED_CARD))
    url = f"{fake.base_url}/payments/{failing_card['id']}/3ds"
    assert httpx.post(url, data={"code": "12345", "action": "confirm"}).status_code == 303
    for payment in (failed_by_button, failing_card):
        shown = fake.payment(payment["id"])
        assert shown["status"] == "canceled" and shown["paid"] is False
        assert shown["cancellation_details"] == {
            "party": "payment_network",
            "reason": "3d_secure_failed",
        }
        assert "confirmation" not in shown and shown["refundable"] is False
    assert [d.event_type for d in fake.webhook_deliveries] == ["payment.canceled"] * 2


def test_decline_card_cancels_with_insufficient_funds(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    payment = create(api)
    declined = httpx.post(pay_url(payment), data=card_form("5555 5555 5555 4600"))
    assert declined.status_code == 303 and declined.headers["location"] == RETURN_URL
    shown = api.get(f"/payments/{payment['id']}").json()
    assert shown["status"] == "canceled" and shown["paid"] is False
    assert shown["cancellation_details"] == {
        "party": "payment_network",
        "reason": "insufficient_funds",
    }
    assert shown["payment_method"]["card"]["last4"] == "4600"
    assert shown["receipt_registration"] == "canceled"
    assert receiver.events() == [
        {"type": "notification", "event": "payment.canceled", "object": shown}
    ]
    assert "canceled" in httpx.get(pay_url(payment)).text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (card_form("4000 0000 0000 0002"), "test card"),
        (card_form("1234"), "test card"),
        (card_form(SUCCESS_CARD, expiry="02/26"), "expired"),
        (card_form(SUCCESS_CARD, expiry="13/30"), "MM/YY"),
        (card_form(SUCCESS_CARD, csc="12"), "CVC"),
    ],
)
def test_bad_card_form_shows_an_error_and_stays_pending(
    fake: FakeYooKassa, api: httpx.Client, form: dict[str, str], message: str
) -> None:
    payment = create(api)
    refused = httpx.post(pay_url(payment), data=form)
    assert refused.status_code == 400 and "class='error'" in refused.text
    assert message in refused.text
    assert fake.payment(payment["id"])["status"] == "pending"
    assert fake.webhook_deliveries == []
    assert httpx.post(pay_url(payment), data=card_form(SUCCESS_CARD)).status_code == 303


def test_expiry_this_month_is_still_valid(fake: FakeYooKassa, api: httpx.Client) -> None:
    payment = create(api)
    assert httpx.post(pay_url(payment), data=card_form(SUCCESS_CARD, "03/26")).status_code == 303


def test_unknown_payment_page(fake: FakeYooKassa) -> None:
    missing = f"{fake.base_url}/payments/2d000000-000f-5000-8000-000000000000/pay"
    assert httpx.get(missing).status_code == 404
    assert httpx.get(f"{fake.base_url}/elsewhere").status_code == 404


def test_pay_hook_takes_the_same_path(fake: FakeYooKassa, api: httpx.Client) -> None:
    plain = create(api)
    assert fake.pay(plain["id"])["status"] == "succeeded"
    with pytest.raises(ValueError, match="nothing to pay"):
        fake.pay(plain["id"])
    with_3ds = create(api)
    waiting = fake.pay(with_3ds["id"], THREE_DS_CARD, three_d_secure="stop")
    assert waiting["status"] == "pending"
    assert httpx.get(pay_url(with_3ds)).status_code == 303  # to the 3-D Secure page
    failed = create(api)
    assert fake.pay(failed["id"], THREE_DS_CARD, three_d_secure="fail")["status"] == "canceled"
    bad = create(api)
    with pytest.raises(ValueError, match="test card"):
        fake.pay(bad["id"], "4000000000000002")
    assert fake.payment(bad["id"])["status"] == "pending"


def test_every_documented_test_card_is_known() -> None:
    assert TEST_CARDS[SUCCESS_CARD].three_d_secure is False
    assert TEST_CARDS[THREE_DS_CARD].three_d_secure is True
    assert TEST_CARDS["4793128161644804"].card_type == "Visa"
    assert TEST_CARDS["2200000000000004"].card_type == "Mir"
    assert TEST_CARDS[DECLINE_CARD].decline == ("payment_network", "insufficient_funds")
    assert TEST_CARDS["5555555555554584"].decline == ("yoo_money", "country_forbidden")
    assert len(TEST_CARDS) == 11 + 3 * 13


@pytest.mark.parametrize(
    ("card", "party", "reason"),
    [
        ("5555555555554535", "payment_network", "call_issuer"),
        ("4141435412630840", "payment_network", "card_expired"),
        ("2202202212312379", "payment_network", "general_decline"),
        ("4119098878796485", "yoo_money", "fraud_suspected"),
    ],
)
def test_other_decline_cards(
    fake: FakeYooKassa, api: httpx.Client, card: str, party: str, reason: str
) -> None:
    shown = fake.pay(create(api)["id"], card)
    assert shown["cancellation_details"] == {"party": party, "reason": reason}


# -- saved cards and off-session charges -------------------------------------------------


def off_session(api: httpx.Client, method_id: str, value: str = "500.00", **extra: Any) -> Json:
    body = payment_body(value, confirmation=None, payment_method_id=method_id, **extra)
    response = post(api, "/payments", body)
    assert response.status_code == 200, response.text
    created: Json = response.json()
    return created


def test_saving_the_card_and_charging_it_off_session(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    first = create(api, save_payment_method=True)
    page = httpx.get(pay_url(first))
    assert "save this card" in page.text and "checkbox" not in page.text
    httpx.post(pay_url(first), data=card_form(SUCCESS_CARD))
    method = fake.payment(first["id"])["payment_method"]
    assert method["saved"] is True
    method_id = method["id"]
    assert PAYMENT_ID.match(method_id)

    renewal = off_session(api, method_id)
    assert renewal["status"] == "succeeded" and renewal["paid"] is True
    assert "confirmation" not in renewal
    assert renewal["payment_method"]["id"] == method_id
    assert renewal["payment_method"]["saved"] is True
    assert renewal["income_amount"] == {"value": "482.50", "currency": "RUB"}
    assert off_session(api, method_id)["payment_method"]["id"] == method_id  # stable
    assert [e["event"] for e in receiver.events()] == ["payment.succeeded"] * 3
    assert receiver.events()[1]["object"] == renewal
    assert fake.receipts_of(renewal["id"])[0]["amount"] == {"value": "500.00", "currency": "RUB"}


def test_unknown_or_unsaved_methods_are_refused(fake: FakeYooKassa, api: httpx.Client) -> None:
    unsaved = fake.pay(create(api)["id"])["payment_method"]["id"]
    for method_id in (unsaved, "2d000000-000f-5000-8000-000000000000"):
        body = payment_body(confirmation=None, payment_method_id=method_id)
        assert_error(post(api, "/payments", body), 400, "invalid_request", "payment_method_id")


def test_off_session_decline_card_and_declined_outcome(
    fake: FakeYooKassa, api: httpx.Client
) -> None:
    poor = fake.add_saved_method(DECLINE_CARD)
    declined = off_session(api, poor)
    assert declined["status"] == "canceled"
    assert declined["cancellation_details"] == {
        "party": "payment_network",
        "reason": "insufficient_funds",
    }
    good = fake.add_saved_method(SUCCESS_CARD)
    fake.set_off_session_outcome(good, "canceled", reason="general_decline")
    assert off_session(api, good)["cancellation_details"]["reason"] == "general_decline"
    assert off_session(api, good)["status"] == "succeeded"  # the outcome was for one charge
    with pytest.raises(KeyError):
        fake.set_off_session_outcome("2d000000-000f-5000-8000-000000000000", "pending")


def test_off_session_pending_until_complete(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver, clock: ManualClock
) -> None:
    method_id = fake.add_saved_method()
    fake.set_off_session_outcome(method_id, "pending")
    pending = off_session(api, method_id)
    assert pending["status"] == "pending" and "confirmation" not in pending
    clock.advance(timedelta(hours=2))  # no confirmation to run out
    assert api.get(f"/payments/{pending['id']}").json()["status"] == "pending"
    assert receiver.received == []
    done = fake.complete(pending["id"], "succeeded")
    assert done["status"] == "succeeded" and done["payment_method"]["id"] == method_id
    assert receiver.events() == [
        {"type": "notification", "event": "payment.succeeded", "object": done}
    ]

    fake.set_off_session_outcome(method_id, "pending")
    second = off_session(api, method_id)
    canceled = fake.complete(second["id"], "canceled", reason="insufficient_funds")
    assert canceled["cancellation_details"] == {
        "party": "payment_network",
        "reason": "insufficient_funds",
    }
    assert receiver.events()[-1]["event"] == "payment.canceled"
    with pytest.raises(ValueError, match="not pending"):
        fake.complete(second["id"], "succeeded")


def test_off_session_charge_after_the_card_expired(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock
) -> None:
    method_id = fake.add_saved_method(expiry="04/26")
    assert off_session(api, method_id)["status"] == "succeeded"
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    expired = off_session(api, method_id)
    assert expired["cancellation_details"] == {
        "party": "payment_network",
        "reason": "card_expired",
    }


# -- two-stage payments ------------------------------------------------------------------


def test_capture_false_waits_for_capture(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    body = payment_body()
    body.pop("capture")  # false by default, as documented
    held = post(api, "/payments", body).json()
    fake.pay(held["id"])
    waiting = api.get(f"/payments/{held['id']}").json()
    assert waiting["status"] == "waiting_for_capture" and waiting["paid"] is True
    assert waiting["expires_at"].startswith("2026-03-08T12:00:00")
    assert "captured_at" not in waiting and waiting["refundable"] is False
    captured = post(api, f"/payments/{held['id']}/capture", {})
    assert captured.json()["status"] == "succeeded"
    assert [e["event"] for e in receiver.events()] == [
        "payment.waiting_for_capture",
        "payment.succeeded",
    ]
    again = post(api, f"/payments/{held['id']}/capture", {})
    assert_error(again, 400, "invalid_request", "payment_id")

    other = post(api, "/payments", dict(body, capture=False)).json()
    fake.pay(other["id"])
    canceled = post(api, f"/payments/{other['id']}/cancel", {}).json()
    assert canceled["cancellation_details"] == {
        "party": "merchant",
        "reason": "canceled_by_merchant",
    }


# -- refunds -----------------------------------------------------------------------------


def refund_body(payment_id: str, value: str, **extra: Any) -> Json:
    body: Json = {
        "payment_id": payment_id,
        "amount": {"value": value, "currency": "RUB"},
        "receipt": receipt((value, "1")),
    }
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def test_refunds_within_bounds_with_receipts(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    payment = create(api)
    fake.pay(payment["id"])
    first = post(api, "/refunds", refund_body(payment["id"], "200.00", description="Unused"))
    assert first.status_code == 200, first.text
    refund = first.json()
    assert REFUND_ID.match(refund["id"])
    assert refund == {
        "id": refund["id"],
        "payment_id": payment["id"],
        "status": "succeeded",
        "created_at": refund["created_at"],
        "amount": {"value": "200.00", "currency": "RUB"},
        "receipt_registration": "succeeded",
        "description": "Unused",
    }
    shown = api.get(f"/payments/{payment['id']}").json()
    assert shown["refunded_amount"] == {"value": "200.00", "currency": "RUB"}
    assert shown["refundable"] is True and shown["status"] == "succeeded"

    too_much = post(api, "/refunds", refund_body(payment["id"], "1034.51"))
    assert_error(too_much, 400, "invalid_request", "amount.value")
    other_currency = refund_body(payment["id"], "10.00")
    other_currency["amount"]["currency"] = "USD"
    assert_error(post(api, "/refunds", other_currency), 400, "invalid_request", "amount.currency")
    no_receipt = refund_body(payment["id"], "10.00", receipt=None)
    assert_error(post(api, "/refunds", no_receipt), 400, "invalid_request", "receipt")
    wrong_receipt = refund_body(payment["id"], "10.00", receipt=receipt(("9.99", "1")))
    assert_error(post(api, "/refunds", wrong_receipt), 400, "invalid_request", "receipt")
    long_text = refund_body(payment["id"], "10.00", description="x" * 251)
    assert_error(post(api, "/refunds", long_text), 400, "invalid_request", "description")

    rest = post(api, "/refunds", refund_body(payment["id"], "1034.50")).json()
    shown = api.get(f"/payments/{payment['id']}").json()
    assert shown["refunded_amount"] == {"value": "1234.50", "currency": "RUB"}
    assert shown["refundable"] is False
    assert_error(
        post(api, "/refunds", refund_body(payment["id"], "0.01")),
        400,
        "invalid_request",
        "amount.value",
    )
    assert api.get(f"/refunds/{rest['id']}").json() == rest
    assert [r["type"] for r in fake.receipts_of(payment["id"])] == ["payment", "refund", "refund"]
    refund_receipts = fake.receipts_of(payment["id"])[1:]
    assert [r["refund_id"] for r in refund_receipts] == [refund["id"], rest["id"]]
    assert refund_receipts[1]["receipt"] == receipt(("1034.50", "1"))
    refund_events = [e for e in receiver.events() if e["event"] == "refund.succeeded"]
    assert [e["object"] for e in refund_events] == [refund, rest]


def test_refund_needs_a_succeeded_payment(fake: FakeYooKassa, api: httpx.Client) -> None:
    pending = create(api)
    response = post(api, "/refunds", refund_body(pending["id"], "10.00"))
    assert_error(response, 400, "invalid_request", "payment_id")
    unknown = refund_body("2d000000-000f-5000-8000-000000000000", "10.00")
    assert_error(post(api, "/refunds", unknown), 400, "invalid_request", "payment_id")
    assert_error(post(api, "/refunds", {}), 400, "invalid_request", "payment_id")


def test_refund_idempotence_and_list(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock
) -> None:
    first_payment, second_payment = create(api), create(api)
    fake.pay(first_payment["id"])
    fake.pay(second_payment["id"])
    body = refund_body(first_payment["id"], "100.00")
    once = post(api, "/refunds", body, key="refund-1")
    twice = post(api, "/refunds", body, key="refund-1")
    assert twice.content == once.content and len(fake.refunds()) == 1
    clock.advance(timedelta(minutes=1))
    later = post(api, "/refunds", refund_body(second_payment["id"], "50.00")).json()
    listed = api.get("/refunds").json()
    assert [r["id"] for r in listed["items"]] == [later["id"], once.json()["id"]]
    by_payment = api.get("/refunds", params={"payment_id": first_payment["id"]}).json()
    assert [r["id"] for r in by_payment["items"]] == [once.json()["id"]]
    paged = api.get("/refunds", params={"limit": 1}).json()
    assert len(paged["items"]) == 1 and "next_cursor" in paged
    assert api.get("/refunds", params={"status": "canceled"}).json()["items"] == []


# -- notifications -----------------------------------------------------------------------


def test_notify_sends_a_duplicate(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    payment = create(api)
    fake.pay(payment["id"])
    headers, body = fake.notify(payment["id"])
    assert headers[SOURCE_IP_HEADER] == "185.71.76.1"
    assert len(receiver.received) == 2 and receiver.received[0][1] == receiver.received[1][1]
    assert receiver.received[1][1] == body
    refund = post(api, "/refunds", refund_body(payment["id"], "1.00")).json()
    fake.notify(refund["id"])
    assert (
        receiver.events()[-1]
        == receiver.events()[-2]
        == {
            "type": "notification",
            "event": "refund.succeeded",
            "object": refund,
        }
    )
    with pytest.raises(ValueError, match="forged_notification"):
        fake.notify(payment["id"], "payment.canceled")
    with pytest.raises(ValueError):
        fake.notify(create(api)["id"])  # pending: nothing to notify


def test_forged_notification_disagrees_without_changing_the_payment(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    payment = create(api)
    headers, body = fake.forged_notification(payment["id"], "payment.succeeded")
    forged = json.loads(body)
    assert forged["event"] == "payment.succeeded"
    assert forged["object"]["id"] == payment["id"]
    assert forged["object"]["status"] == "succeeded" and forged["object"]["paid"] is True
    assert "confirmation" not in forged["object"]
    assert headers[SOURCE_IP_HEADER] == "185.71.76.1"
    assert api.get(f"/payments/{payment['id']}").json() == payment  # still pending
    assert receiver.received == [] and fake.webhook_deliveries == []

    cheap = {"value": "1.00", "currency": "RUB"}
    headers, body = fake.forged_notification(
        payment["id"], "payment.succeeded", send=True, source_ip="203.0.113.9", amount=cheap
    )
    assert json.loads(body)["object"]["amount"] == cheap
    assert receiver.received == [({**receiver.received[0][0]}, body)]
    assert receiver.received[0][0][SOURCE_IP_HEADER.lower()] == "203.0.113.9"
    assert fake.webhook_deliveries[0].event_type == "payment.succeeded"
    assert fake.payment(payment["id"])["status"] == "pending"

    fake.pay(payment["id"])
    _, body = fake.forged_notification(payment["id"], "payment.canceled")
    assert json.loads(body)["object"]["status"] == "canceled"
    _, body = fake.forged_notification(payment["id"], "refund.succeeded")
    refund = json.loads(body)["object"]
    assert refund["payment_id"] == payment["id"] and REFUND_ID.match(refund["id"])
    assert fake.refunds() == []


def test_source_ip_is_configurable_and_the_networks_are_published(
    fake: FakeYooKassa, api: httpx.Client, receiver: Receiver
) -> None:
    fake.source_ip = "77.75.156.35"
    fake.pay(create(api)["id"])
    assert receiver.received[0][0][SOURCE_IP_HEADER.lower()] == "77.75.156.35"
    # YooKassa's published list, as billing.config keeps it (7 networks, one IPv6).
    assert len(YOOKASSA_NETWORKS) == 7 and str(YOOKASSA_NETWORKS[-1]) == "2a02:5180::/32"
    for inside in ("185.71.76.1", "185.71.77.31", "77.75.153.127", "77.75.154.200", "2a02:5180::1"):
        assert is_yookassa_address(inside)
    for outside in ("185.71.76.32", "77.75.156.12", "127.0.0.1", "8.8.8.8", "nonsense", ""):
        assert not is_yookassa_address(outside)


def test_notifications_without_a_webhook_url_are_recorded(clock: ManualClock) -> None:
    fake = FakeYooKassa(SHOP, SECRET, clock=clock)
    fake.serve()
    try:
        with httpx.Client(base_url=fake.api_base, auth=(SHOP, SECRET)) as api:
            fake.pay(create(api)["id"])
        (delivery,) = fake.webhook_deliveries
        assert delivery.url is None and delivery.status is None
        assert delivery.event["event"] == "payment.succeeded"
    finally:
        fake.stop()


def test_background_notifications(clock: ManualClock, receiver: Receiver) -> None:
    fake = FakeYooKassa(SHOP, SECRET, receiver.url, clock=clock, background_webhooks=True)
    fake.serve()
    try:
        with httpx.Client(base_url=fake.api_base, auth=(SHOP, SECRET)) as api:
            payment = create(api)
            paid = httpx.post(pay_url(payment), data=card_form(SUCCESS_CARD))
            assert paid.status_code == 303
        assert fake.wait_for_webhooks(5)
        assert [e["event"] for e in receiver.events()] == ["payment.succeeded"]
        assert fake.webhook_deliveries[0].status == 200
    finally:
        fake.stop()


# -- time --------------------------------------------------------------------------------


def test_unpaid_payment_expires_after_an_hour(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock, receiver: Receiver
) -> None:
    payment = create(api)
    clock.advance(timedelta(minutes=59))
    assert api.get(f"/payments/{payment['id']}").json()["status"] == "pending"
    clock.advance(timedelta(minutes=1))
    shown = api.get(f"/payments/{payment['id']}").json()
    assert shown["status"] == "canceled"
    assert shown["cancellation_details"] == {
        "party": "yoo_money",
        "reason": "expired_on_confirmation",
    }
    assert receiver.events() == [
        {"type": "notification", "event": "payment.canceled", "object": shown}
    ]
    assert "canceled" in httpx.get(pay_url(payment)).text


def test_expire_hook(fake: FakeYooKassa, api: httpx.Client) -> None:
    payment = create(api)
    assert fake.expire(payment["id"])["cancellation_details"]["reason"] == (
        "expired_on_confirmation"
    )
    with pytest.raises(ValueError):
        fake.expire(payment["id"])
    with pytest.raises(KeyError):
        fake.payment("nope")


def test_payments_hook_lists_oldest_first(
    fake: FakeYooKassa, api: httpx.Client, clock: ManualClock
) -> None:
    first = create(api)
    clock.advance(timedelta(seconds=1))
    second = create(api)
    assert [p["id"] for p in fake.payments()] == [first["id"], second["id"]]
