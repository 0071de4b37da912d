"""The Crypto Pay client against the fake Crypto Pay (real HTTP on loopback)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from billing.clock import ManualClock
from billing.errors import InvalidAmount, UnsupportedCurrency
from billing.providers.cryptopay import (
    SIGNATURE_HEADER,
    CryptoPayClient,
    CryptoPayUpdate,
    CryptoPayWebhookError,
    UnsupportedUpdate,
    parse_webhook,
    verify_signature,
)
from billing.providers.errors import ProviderRejected, ProviderUnavailable
from local.fake_cryptopay import FakeCryptoPay

TOKEN = "4242:AAtestCryptoPayTokenDoNotLog"


@pytest.fixture
def fake() -> Iterator[FakeCryptoPay]:
    fake = FakeCryptoPay(TOKEN, None)
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def client(fake: FakeCryptoPay) -> Iterator[CryptoPayClient]:
    with CryptoPayClient(fake.base_url, TOKEN) as client:
        yield client


def create(client: CryptoPayClient, order_id: str = "ord-1", amount: int = 1250) -> int:
    return client.create_invoice(
        order_id=order_id, amount=amount, currency="EUR", description="SIP number, 1 month"
    ).invoice_id


def test_create_invoice_in_fiat(fake: FakeCryptoPay, client: CryptoPayClient) -> None:
    invoice = client.create_invoice(
        order_id="ord-1", amount=32130, currency="EUR", description="SIP number, 1 month"
    )
    assert invoice.status == "active" and invoice.hash
    assert invoice.pay_url == f"{fake.base_url}/pay/{invoice.hash}"
    shown = fake.invoice(invoice.invoice_id)
    assert shown["currency_type"] == "fiat" and shown["fiat"] == "EUR"
    assert shown["amount"] == "321.3"
    assert shown["accepted_assets"] == ["BTC", "ETH", "USDT", "TON"]
    assert shown["payload"] == "ord-1" and shown["description"] == "SIP number, 1 month"
    assert shown["expiration_date"] > shown["created_at"]
    assert fake.requests == ["createInvoice"]


def test_pay_sends_a_signed_invoice_paid_update(
    fake: FakeCryptoPay, client: CryptoPayClient
) -> None:
    invoice_id = create(client)
    headers, body = fake.pay(invoice_id, asset="TON")
    assert verify_signature(body, headers[SIGNATURE_HEADER], TOKEN)
    assert client.verify_webhook_signature(body, headers[SIGNATURE_HEADER])
    update = parse_webhook(body)
    assert isinstance(update, CryptoPayUpdate)
    assert (update.update_type, update.invoice_id, update.order_id, update.status) == (
        "invoice_paid",
        invoice_id,
        "ord-1",
        "paid",
    )
    assert (update.amount, update.currency, update.paid_asset) == (1250, "EUR", "TON")
    assert update.paid_at and update.request_date and update.paid_amount
    assert fake.signed_update(invoice_id) == (headers, body)
    state = client.get_invoice(invoice_id)
    assert state is not None
    assert (state.status, state.order_id, state.amount, state.currency) == (
        "paid",
        "ord-1",
        1250,
        "EUR",
    )
    assert client.get_invoice(999) is None


def test_signature_is_hmac_of_the_raw_body_keyed_by_sha256_of_the_token(
    fake: FakeCryptoPay, client: CryptoPayClient
) -> None:
    invoice_id = create(client)
    fake.pay(invoice_id)
    headers, body = fake.signed_update(invoice_id)
    key = hashlib.sha256(TOKEN.encode()).digest()
    assert headers[SIGNATURE_HEADER] == hmac.new(key, body, hashlib.sha256).hexdigest()
    assert verify_signature(body, headers[SIGNATURE_HEADER].upper(), TOKEN)


def test_tampered_body_wrong_token_or_missing_signature_fail(
    fake: FakeCryptoPay, client: CryptoPayClient
) -> None:
    invoice_id = create(client)
    headers, body = fake.pay(invoice_id)
    signature = headers[SIGNATURE_HEADER]
    tampered = body.replace(b'"amount":"12.5"', b'"amount":"1250"')
    assert tampered != body
    assert not verify_signature(tampered, signature, TOKEN)
    assert not verify_signature(body, signature, "4242:AAanotherToken")
    assert not verify_signature(body, None, TOKEN)
    assert not verify_signature(body, "", TOKEN)
    assert not verify_signature(body, "zz-not-hex-ü", TOKEN)
    assert not verify_signature(body, signature, "")


def test_pay_page_pays_and_sends_the_webhook(fake: FakeCryptoPay) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    fake.webhook_url = f"http://127.0.0.1:{server.server_address[1]}/payments/cryptopay"
    try:
        with CryptoPayClient(fake.base_url, TOKEN) as client:
            invoice = client.create_invoice(
                order_id="ord-2", amount=500, currency="USD", description="Top-up"
            )
        page = httpx.get(invoice.pay_url)
        assert page.status_code == 200 and "Pay" in page.text and "5 USD" in page.text
        paid = httpx.post(invoice.pay_url, data={"asset": "USDT"})
        assert paid.status_code == 200 and "paid" in paid.text
        assert httpx.post(invoice.pay_url, data={"asset": "USDT"}).status_code == 409
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1
    headers, body = received[0]
    lower = {key.lower(): value for key, value in headers.items()}
    assert verify_signature(body, lower[SIGNATURE_HEADER], TOKEN)
    update = parse_webhook(body)
    assert (update.order_id, update.amount, update.currency, update.paid_asset) == (
        "ord-2",
        500,
        "USD",
        "USDT",
    )
    assert fake.webhook_deliveries[0].status == 200


def test_wrong_token_is_unauthorized(fake: FakeCryptoPay) -> None:
    with (
        CryptoPayClient(fake.base_url, "4242:wrong-token-secret") as client,
        pytest.raises(ProviderRejected) as caught,
    ):
        create(client)
    assert (caught.value.status, caught.value.name) == (401, "UNAUTHORIZED")
    assert "wrong-token-secret" not in str(caught.value) + repr(client)


def test_error_envelope_and_unknown_method(fake: FakeCryptoPay) -> None:
    response = httpx.post(f"{fake.base_url}/api/createInvoice", json={"amount": "1"})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": {"code": 401, "name": "UNAUTHORIZED"}}
    unknown = httpx.get(
        f"{fake.base_url}/api/noSuchMethod", headers={"Crypto-Pay-API-Token": TOKEN}
    )
    assert unknown.status_code == 405
    assert unknown.json()["error"] == {"code": 405, "name": "METHOD_NOT_FOUND"}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"currency_type": "fiat", "fiat": "EUR", "amount": "abc"}, "AMOUNT_INVALID"),
        ({"currency_type": "fiat", "fiat": "EUR", "amount": "-1"}, "AMOUNT_INVALID"),
        ({"currency_type": "fiat", "fiat": "EUR", "amount": "1.005"}, "AMOUNT_INVALID"),
        ({"currency_type": "fiat", "fiat": "XXX", "amount": "1"}, "CURRENCY_INVALID"),
        ({"currency_type": "crypto", "asset": "DOGE", "amount": "1"}, "CURRENCY_INVALID"),
        ({"currency_type": "cash", "amount": "1"}, "CURRENCY_TYPE_INVALID"),
        (
            {"currency_type": "fiat", "fiat": "EUR", "amount": "1", "accepted_assets": "BTC,XRP"},
            "ACCEPTED_ASSETS_INVALID",
        ),
        (
            {"currency_type": "fiat", "fiat": "EUR", "amount": "1", "expires_in": 0},
            "EXPIRES_IN_INVALID",
        ),
        (
            {"currency_type": "fiat", "fiat": "EUR", "amount": "1", "description": "x" * 1025},
            "DESCRIPTION_TOO_LONG",
        ),
    ],
)
def test_create_invoice_validation(fake: FakeCryptoPay, params: dict[str, Any], name: str) -> None:
    response = httpx.post(
        f"{fake.base_url}/api/createInvoice", json=params, headers={"Crypto-Pay-API-Token": TOKEN}
    )
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": {"code": 400, "name": name}}


def test_get_and_form_parameters_work_like_post_json(fake: FakeCryptoPay) -> None:
    headers = {"Crypto-Pay-API-Token": TOKEN}
    created = httpx.get(
        f"{fake.base_url}/api/createInvoice",
        params={"currency_type": "fiat", "fiat": "RUB", "amount": "990", "payload": "ord-r"},
        headers=headers,
    ).json()
    assert created["ok"] and created["result"]["amount"] == "990"
    listed = httpx.post(
        f"{fake.base_url}/api/getInvoices",
        data={"invoice_ids": str(created["result"]["invoice_id"])},
        headers=headers,
    ).json()
    assert [i["payload"] for i in listed["result"]["items"]] == ["ord-r"]


def test_bad_amounts_and_currencies_never_reach_crypto_pay(
    fake: FakeCryptoPay, client: CryptoPayClient
) -> None:
    with pytest.raises(InvalidAmount):
        create(client, amount=0)
    with pytest.raises(UnsupportedCurrency):
        client.create_invoice(order_id="o", amount=100, currency="GBP", description="x")
    assert fake.requests == []


def test_expired_invoice_cannot_be_paid() -> None:
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    fake = FakeCryptoPay(TOKEN, None, clock=clock)
    fake.serve()
    try:
        with CryptoPayClient(fake.base_url + "/api", TOKEN) as client:
            invoice = client.create_invoice(
                order_id="ord-x", amount=100, currency="EUR", description="x", expires_in=60
            )
            clock.advance(timedelta(seconds=61))
            state = client.get_invoice(invoice.invoice_id)
            assert state is not None and state.status == "expired"
        with pytest.raises(ValueError, match="expired"):
            fake.pay(invoice.invoice_id)
        with pytest.raises(ValueError, match="not paid"):
            fake.signed_update(invoice.invoice_id)
    finally:
        fake.stop()


def test_server_errors_and_timeouts_are_unavailable(
    fake: FakeCryptoPay, client: CryptoPayClient
) -> None:
    fake.fail_next(500)
    with pytest.raises(ProviderUnavailable) as caught:
        create(client)
    assert caught.value.status == 500 and caught.value.retryable
    assert create(client) == 1

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with (
        CryptoPayClient(fake.base_url, TOKEN, transport=httpx.MockTransport(timeout)) as broken,
        pytest.raises(ProviderUnavailable, match="ConnectTimeout"),
    ):
        create(broken)


def test_malformed_answers_are_unavailable() -> None:
    answers = iter(
        [
            httpx.Response(200, text="not json"),
            httpx.Response(200, json={"ok": True, "result": {"invoice_id": "7"}}),
            httpx.Response(502, text="Bad Gateway"),
        ]
    )
    transport = httpx.MockTransport(lambda request: next(answers))
    with CryptoPayClient("https://pay.crypt.bot", TOKEN, transport=transport) as client:
        for _ in range(3):
            with pytest.raises(ProviderUnavailable):
                create(client)


def test_requests_carry_the_token_header_and_fiat_fields() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "ok": True,
                "result": {"invoice_id": 5, "bot_invoice_url": "https://t.me/CryptoBot?start=IVx"},
            },
        )

    with CryptoPayClient(
        "https://pay.crypt.bot", TOKEN, transport=httpx.MockTransport(handler)
    ) as client:
        invoice = client.create_invoice(
            order_id="ord-5", amount=1250, currency="usd", description="d", expires_in=900
        )
    assert invoice.pay_url == "https://t.me/CryptoBot?start=IVx"
    request = seen[0]
    assert str(request.url) == "https://pay.crypt.bot/api/createInvoice"
    assert request.headers["Crypto-Pay-API-Token"] == TOKEN
    sent = json.loads(request.content)
    assert sent["currency_type"] == "fiat" and sent["fiat"] == "USD"
    assert sent["amount"] == "12.50" and sent["accepted_assets"] == "BTC,ETH,USDT,TON"
    assert sent["payload"] == "ord-5" and sent["expires_in"] == 900


# -- parsing ----------------------------------------------------------------------------


def invoice_paid(**invoice: Any) -> bytes:
    payload = {
        "invoice_id": 3,
        "status": "paid",
        "currency_type": "fiat",
        "fiat": "RUB",
        "amount": "990.5",
        "payload": "ord-3",
        "paid_at": "2025-01-01T00:00:00.000Z",
        **invoice,
    }
    update = {
        "update_id": 11,
        "update_type": "invoice_paid",
        "request_date": "2025-01-01T00:00:01.000Z",
        "payload": payload,
    }
    return json.dumps(update).encode()


def test_parse_real_shape() -> None:
    update = CryptoPayClient.parse_webhook(invoice_paid())
    assert (update.update_id, update.invoice_id, update.order_id) == (11, 3, "ord-3")
    assert (update.amount, update.currency, update.paid_at) == (
        99050,
        "RUB",
        "2025-01-01T00:00:00.000Z",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff",
        b"[1]",
        b'{"update_type": "invoice_paid", "payload": {}}',
        b'{"update_id": 1, "update_type": "invoice_paid"}',
        b'{"update_id": 1, "update_type": "invoice_paid", "payload": {"invoice_id": 1}}',
        invoice_paid(amount="abc"),
        invoice_paid(amount="1.005"),
        invoice_paid(fiat="GBP"),
        invoice_paid(currency_type="crypto", asset="TON"),
        invoice_paid(invoice_id="3"),
        invoice_paid(payload=None),
    ],
)
def test_malformed_updates_raise_a_typed_error(body: bytes) -> None:
    with pytest.raises(CryptoPayWebhookError):
        parse_webhook(body)


def test_unsupported_update_type_is_told_apart() -> None:
    with pytest.raises(UnsupportedUpdate) as caught:
        parse_webhook(b'{"update_id": 9, "update_type": "check_activated", "payload": {}}')
    assert (caught.value.update_id, caught.value.update_type) == (9, "check_activated")


# -- reads for reconciliation ------------------------------------------------------------


def test_paid_invoices_lists_the_paid_ones_newest_first(
    fake: FakeCryptoPay, client: CryptoPayClient
) -> None:
    first = create(client, "ord-1", 1250)
    create(client, "ord-2", 900)  # stays active
    third = client.create_invoice(
        order_id="ord-3", amount=99000, currency="RUB", description="x"
    ).invoice_id
    fourth = create(client, "ord-4", 100)
    fake.pay(first, asset="TON")
    fake.pay(third, asset="USDT")
    fake.expire(fourth)

    paid = client.paid_invoices()
    assert [(i.invoice_id, i.order_id, i.status) for i in paid] == [
        (third, "ord-3", "paid"),
        (first, "ord-1", "paid"),
    ]
    assert [(i.amount, i.currency, i.paid_asset) for i in paid] == [
        (99000, "RUB", "USDT"),
        (1250, "EUR", "TON"),
    ]
    assert all(i.paid_at and i.paid_amount for i in paid)
    assert paid[1].paid_at == fake.invoice(first)["paid_at"]
    assert fake.requests[-1] == "getInvoices"

    assert [i.invoice_id for i in client.paid_invoices(count=1)] == [third]
    assert [i.invoice_id for i in client.paid_invoices(count=1, offset=1)] == [first]
    assert client.paid_invoices(offset=2) == []


def test_paid_invoices_sends_the_documented_parameters() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        item = {
            "invoice_id": 9,
            "hash": "IVabc",
            "currency_type": "fiat",
            "fiat": "USD",
            "amount": "12.5",
            "status": "paid",
            "payload": "ord-9",
            "paid_at": "2026-01-01T10:00:00.000Z",
            "paid_asset": "BTC",
            "paid_amount": "0.0002",
        }
        crypto = {**item, "invoice_id": 8, "currency_type": "crypto", "asset": "TON"}
        del crypto["fiat"]
        return httpx.Response(200, json={"ok": True, "result": {"items": [item, crypto]}})

    with CryptoPayClient(
        "https://pay.crypt.bot", TOKEN, transport=httpx.MockTransport(handler)
    ) as client:
        [invoice] = client.paid_invoices(count=50, offset=100)  # the crypto-priced one is not ours
    assert seen == [{"status": "paid", "count": 50, "offset": 100}]
    assert (invoice.invoice_id, invoice.order_id, invoice.amount, invoice.currency) == (
        9,
        "ord-9",
        1250,
        "USD",
    )
    assert invoice.paid_at == "2026-01-01T10:00:00.000Z"


@pytest.mark.parametrize(("count", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_paid_invoices_checks_paging_before_calling(
    fake: FakeCryptoPay, client: CryptoPayClient, count: int, offset: int
) -> None:
    with pytest.raises(ValueError, match=r"count|offset"):
        client.paid_invoices(count=count, offset=offset)
    assert fake.requests == []


def test_paid_invoices_with_a_malformed_answer_is_unavailable() -> None:
    answers = iter(
        [
            httpx.Response(200, json={"ok": True, "result": [{"invoice_id": 1}]}),
            httpx.Response(
                200,
                json={
                    "ok": True,
                    "result": {"items": [{"invoice_id": 1, "currency_type": "fiat"}]},
                },
            ),
        ]
    )
    transport = httpx.MockTransport(lambda request: next(answers))
    with CryptoPayClient("https://pay.crypt.bot", TOKEN, transport=transport) as client:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                client.paid_invoices()


def test_the_fakes_get_invoices_filters_like_crypto_pay(fake: FakeCryptoPay) -> None:
    headers = {"Crypto-Pay-API-Token": TOKEN}

    def call(method: str, **params: Any) -> Any:
        return httpx.post(f"{fake.base_url}/api/{method}", json=params, headers=headers).json()

    eur = call("createInvoice", currency_type="fiat", fiat="EUR", amount="5", payload="a")
    ton = call("createInvoice", currency_type="crypto", asset="TON", amount="2", payload="b")
    eur_id, ton_id = eur["result"]["invoice_id"], ton["result"]["invoice_id"]
    fake.pay(ton_id)

    def ids(**params: Any) -> list[int]:
        return [i["invoice_id"] for i in call("getInvoices", **params)["result"]["items"]]

    assert ids() == [ton_id, eur_id]
    assert ids(status="paid") == [ton_id] and ids(status="active") == [eur_id]
    assert ids(fiat="EUR") == [eur_id] and ids(asset="TON") == [ton_id]
    assert ids(invoice_ids=f"{eur_id},{ton_id}", count=1, offset=1) == [eur_id]
    for params, name in (
        ({"status": "expired"}, "STATUS_INVALID"),
        ({"count": 0}, "COUNT_INVALID"),
        ({"count": 1001}, "COUNT_INVALID"),
        ({"offset": -1}, "OFFSET_INVALID"),
        ({"invoice_ids": "1,x"}, "INVOICE_IDS_INVALID"),
    ):
        assert call("getInvoices", **params) == {"ok": False, "error": {"code": 400, "name": name}}
