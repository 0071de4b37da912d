"""The fake Bot API behaves like the real one and enforces the contract on every call."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.fake_bot_api import BOT_USER, DEFAULT_TOKEN, NOT_MODIFIED, FakeBotApi

USER = 1001
KEYBOARD = {"inline_keyboard": [[{"text": "Renew", "callback_data": "renew:1"}]]}


@pytest.fixture
def fake() -> FakeBotApi:
    return FakeBotApi(clock=lambda: 1_750_000_000.0)


def ok(answer: tuple[int, dict[str, Any]]) -> Any:
    status, body = answer
    assert status == 200, body
    assert body["ok"] is True
    return body["result"]


def test_messages_are_kept_per_chat_with_their_own_ids(fake: FakeBotApi) -> None:
    first = ok(
        fake.handle("sendMessage", {"chat_id": USER, "text": "Hi", "reply_markup": KEYBOARD})
    )
    ok(fake.handle("sendMessage", {"chat_id": 2002, "text": "Other chat"}))
    second = ok(
        fake.handle("sendMessage", {"chat_id": USER, "text": "<b>Bold</b>", "parse_mode": "HTML"})
    )

    assert first == {
        "message_id": 1,
        "from": BOT_USER,
        "chat": {"id": USER, "type": "private"},
        "date": 1_750_000_000,
        "text": "Hi",
        "reply_markup": KEYBOARD,
    }
    assert second["message_id"] == 2 and second["text"] == "Bold"
    assert [m["text"] for m in fake.messages(USER)] == ["Hi", "Bold"]
    assert [m["message_id"] for m in fake.messages(2002)] == [1]
    assert fake.messages(3003) == []
    assert fake.violations == []


def test_user_messages_share_the_chat_and_its_counter(fake: FakeBotApi) -> None:
    update = fake.user_message(USER, "/start ref_42", first_name="Anna", language_code="ru")
    message = update["message"]
    assert message["from"] == {
        "id": USER,
        "is_bot": False,
        "first_name": "Anna",
        "language_code": "ru",
    }
    assert message["chat"] == {"id": USER, "type": "private", "first_name": "Anna"}
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    reply = ok(fake.handle("sendMessage", {"chat_id": USER, "text": "Welcome"}))
    assert (message["message_id"], reply["message_id"]) == (1, 2)


def test_a_violation_is_answered_400_and_recorded(fake: FakeBotApi) -> None:
    status, body = fake.handle("sendMessage", {"chat_id": USER, "text": ""})
    assert (status, body) == (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: text is empty (must be 1-4096 characters)",
        },
    )
    assert fake.violations == [
        "sendMessage: Bad Request: text is empty (must be 1-4096 characters)"
    ]
    assert fake.messages(USER) == []
    with pytest.raises(AssertionError, match="text is empty"):
        fake.assert_no_violations()


def test_an_unknown_method_is_404_and_a_violation(fake: FakeBotApi) -> None:
    status, body = fake.handle("sendMesage", {"chat_id": USER, "text": "x"})
    assert status == 404 and body["error_code"] == 404
    assert fake.violations and fake.violations[0].startswith("sendMesage: Not Found")


def test_editing_a_message(fake: FakeBotApi) -> None:
    sent = ok(
        fake.handle("sendMessage", {"chat_id": USER, "text": "Pay?", "reply_markup": KEYBOARD})
    )
    edit = {
        "chat_id": USER,
        "message_id": sent["message_id"],
        "text": "Pay?",
        "reply_markup": KEYBOARD,
    }

    assert fake.handle("editMessageText", edit) == (
        400,
        {"ok": False, "error_code": 400, "description": NOT_MODIFIED},
    )
    edited = ok(fake.handle("editMessageText", {**edit, "text": "Paid", "reply_markup": None}))
    assert edited["text"] == "Paid" and "reply_markup" not in edited and "edit_date" in edited
    assert fake.message(USER, sent["message_id"]) == edited

    status, body = fake.handle("editMessageText", {**edit, "message_id": 99})
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")

    ok(
        fake.handle(
            "editMessageReplyMarkup", {"chat_id": USER, "message_id": 1, "reply_markup": KEYBOARD}
        )
    )
    status, body = fake.handle(
        "editMessageReplyMarkup", {"chat_id": USER, "message_id": 1, "reply_markup": KEYBOARD}
    )
    assert (status, body["description"]) == (400, NOT_MODIFIED)
    assert fake.violations == []  # state errors are not contract violations


def test_a_users_message_cannot_be_edited_and_deleting_works_once(fake: FakeBotApi) -> None:
    fake.user_message(USER, "hello")
    status, body = fake.handle("editMessageText", {"chat_id": USER, "message_id": 1, "text": "x"})
    assert (status, body["description"]) == (400, "Bad Request: message can't be edited")
    assert ok(fake.handle("deleteMessage", {"chat_id": USER, "message_id": 1})) is True
    status, body = fake.handle("deleteMessage", {"chat_id": USER, "message_id": 1})
    assert (status, body["description"]) == (400, "Bad Request: message to delete not found")
    assert fake.messages(USER) == []


def test_a_blocked_user_answers_403(fake: FakeBotApi) -> None:
    ok(fake.handle("sendMessage", {"chat_id": USER, "text": "Hi"}))
    fake.block(USER)
    for method, params in [
        ("sendMessage", {"chat_id": USER, "text": "Hi"}),
        ("sendChatAction", {"chat_id": USER, "action": "typing"}),
        ("editMessageText", {"chat_id": USER, "message_id": 1, "text": "x"}),
    ]:
        assert fake.handle(method, params) == (
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        )
    ok(fake.handle("sendMessage", {"chat_id": 2002, "text": "others still work"}))
    fake.deactivate(2002)
    assert fake.handle("sendMessage", {"chat_id": 2002, "text": "x"})[1]["description"] == (
        "Forbidden: user is deactivated"
    )
    fake.unblock(USER)
    ok(fake.handle("sendMessage", {"chat_id": USER, "text": "back"}))


def test_a_callback_query_can_be_answered_once(fake: FakeBotApi) -> None:
    sent = ok(
        fake.handle("sendMessage", {"chat_id": USER, "text": "Renew?", "reply_markup": KEYBOARD})
    )
    update = fake.press_button(USER, sent["message_id"], text="Renew")
    query = update["callback_query"]
    assert query["data"] == "renew:1" and query["message"]["message_id"] == sent["message_id"]
    assert query["from"]["id"] == USER

    assert ok(
        fake.handle("answerCallbackQuery", {"callback_query_id": query["id"], "text": "Done"})
    )
    status, body = fake.handle("answerCallbackQuery", {"callback_query_id": query["id"]})
    assert (status, body["description"]) == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    assert fake.callback_answers[query["id"]] == {"callback_query_id": query["id"], "text": "Done"}
    with pytest.raises(LookupError, match="no button"):
        fake.press_button(USER, sent["message_id"], data="cancel")


def test_get_updates_honours_offsets(fake: FakeBotApi) -> None:
    for text in ("one", "two", "three"):
        fake.push_update(fake.user_message(USER, text))
    updates = ok(fake.handle("getUpdates", {}))
    assert [u["message"]["text"] for u in updates] == ["one", "two", "three"]
    first_id = updates[0]["update_id"]

    again = ok(fake.handle("getUpdates", {"offset": first_id + 1, "limit": 1}))
    assert [u["message"]["text"] for u in again] == ["two"]
    assert [u["message"]["text"] for u in ok(fake.handle("getUpdates", {}))] == ["two", "three"]
    assert [u["message"]["text"] for u in ok(fake.handle("getUpdates", {"offset": -1}))] == [
        "three"
    ]
    assert ok(fake.handle("getUpdates", {"offset": updates[-1]["update_id"] + 1})) == []
    assert ok(fake.handle("getWebhookInfo", {}))["pending_update_count"] == 0


def test_webhook_and_get_updates_conflict(fake: FakeBotApi) -> None:
    status, body = fake.handle("setWebhook", {"url": "http://insecure.example/telegram"})
    assert (status, body["description"]) == (
        400,
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
    )
    assert (
        fake.handle("setWebhook", {"url": "https://x.example/telegram", "secret_token": "a b"})[0]
        == 400
    )
    assert fake.handle(
        "setWebhook", {"url": "https://x.example/telegram", "secret_token": "s3cr-t_"}
    ) == (
        200,
        {"ok": True, "result": True, "description": "Webhook was set"},
    )
    assert ok(fake.handle("getWebhookInfo", {}))["url"] == "https://x.example/telegram"
    assert fake.handle("getUpdates", {})[0] == 409
    assert fake.handle("deleteWebhook", {})[1]["description"] == "Webhook was deleted"
    assert ok(fake.handle("getUpdates", {})) == []


def test_commands_are_kept_per_scope_and_language(fake: FakeBotApi) -> None:
    commands = [{"command": "start", "description": "Start"}]
    ru = [{"command": "start", "description": "Начать"}]
    assert ok(fake.handle("setMyCommands", {"commands": commands})) is True
    ok(fake.handle("setMyCommands", {"commands": ru, "language_code": "ru"}))
    assert ok(fake.handle("getMyCommands", {})) == commands
    assert ok(fake.handle("getMyCommands", {"language_code": "ru"})) == ru
    assert ok(fake.handle("getMyCommands", {"scope": {"type": "all_private_chats"}})) == []
    assert ok(fake.handle("getMe", {}))["username"] == "sip_billing_bot"


def test_fault_injection(fake: FakeBotApi) -> None:
    fake.fail_next("sendMessage", 429, retry_after=3)
    fake.fail_next("sendMessage", 500)
    assert fake.handle("sendMessage", {"chat_id": USER, "text": "x"}) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert fake.handle("sendMessage", {"chat_id": USER, "text": "x"})[0] == 500
    ok(fake.handle("sendMessage", {"chat_id": USER, "text": "x"}))
    assert len(fake.calls_of("sendMessage")) == 3


def test_invoices_and_stars_payments(fake: FakeBotApi) -> None:
    invoice = {
        "chat_id": USER,
        "title": "Premium",
        "description": "One month",
        "payload": "order:7",
        "currency": "XTR",
        "prices": [{"label": "Premium", "amount": 250}],
    }
    sent = ok(fake.handle("sendInvoice", invoice))
    assert sent["invoice"] == {
        "title": "Premium",
        "description": "One month",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 250,
    }
    two_prices = {**invoice, "prices": [*invoice["prices"], {"label": "Tax", "amount": 1}]}
    assert fake.handle("sendInvoice", two_prices)[0] == 400
    assert fake.violations == [
        "sendInvoice: Bad Request: prices must contain exactly one item for payments in"
        " Telegram Stars, got 2"
    ]
    fake.violations.clear()

    query = fake.pre_checkout(USER, sent["message_id"])["pre_checkout_query"]
    assert (query["invoice_payload"], query["total_amount"]) == ("order:7", 250)
    with pytest.raises(RuntimeError):
        fake.successful_payment(USER, sent["message_id"])
    ok(fake.handle("answerPreCheckoutQuery", {"pre_checkout_query_id": query["id"], "ok": True}))
    assert (
        fake.handle("answerPreCheckoutQuery", {"pre_checkout_query_id": query["id"], "ok": True})[0]
        == 400
    )
    payment = fake.successful_payment(USER, sent["message_id"])["message"]["successful_payment"]
    assert payment["invoice_payload"] == "order:7" and payment["currency"] == "XTR"


# -- Telegram Stars: transactions and refunds ---------------------------------------------

OTHER = 2002


def paid(fake: FakeBotApi, user: int, stars: int, payload: str, currency: str = "XTR") -> str:
    """Send an invoice, approve its pre-checkout query, pay it; the charge id."""
    invoice: dict[str, Any] = {
        "chat_id": user,
        "title": "Top-up",
        "description": f"{stars} units",
        "payload": payload,
        "currency": currency,
        "prices": [{"label": "Top-up", "amount": stars}],
    }
    if currency != "XTR":
        invoice["provider_token"] = "284685063:TEST:fake"
    sent = ok(fake.handle("sendInvoice", invoice))
    query = fake.pre_checkout(user, sent["message_id"])["pre_checkout_query"]
    ok(fake.handle("answerPreCheckoutQuery", {"pre_checkout_query_id": query["id"], "ok": True}))
    message = fake.successful_payment(user, sent["message_id"])["message"]
    charge_id: str = message["successful_payment"]["telegram_payment_charge_id"]
    return charge_id


def refund(fake: FakeBotApi, user: int, charge_id: str) -> tuple[int, dict[str, Any]]:
    return fake.handle(
        "refundStarPayment", {"user_id": user, "telegram_payment_charge_id": charge_id}
    )


def test_a_stars_payment_is_an_incoming_star_transaction(fake: FakeBotApi) -> None:
    fake.user_message(USER, "/start", first_name="Anna", username="anna")
    charge_id = paid(fake, USER, 250, "order:7")
    again = paid(fake, USER, 250, "order:7")

    assert re.fullmatch(r"stx[A-Za-z0-9_-]{86}", charge_id), charge_id
    assert again != charge_id
    anna = {
        "id": USER,
        "is_bot": False,
        "first_name": "Anna",
        "username": "anna",
        "language_code": "en",
    }
    first = {
        "id": charge_id,
        "amount": 250,
        "date": 1_750_000_000,
        "source": {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": anna,
            "invoice_payload": "order:7",
        },
    }
    assert fake.star_transactions()[0] == first
    listed = ok(fake.handle("getStarTransactions", {}))
    assert listed == {"transactions": fake.star_transactions()}
    assert [t["id"] for t in listed["transactions"]] == [charge_id, again]
    assert fake.star_balance() == 500
    assert ok(fake.handle("getMyStarBalance", {})) == {"amount": 500}
    fake.star_transactions().clear()  # a copy
    assert len(fake.star_transactions()) == 2
    assert fake.violations == []


def test_a_card_payment_records_no_star_transaction(fake: FakeBotApi) -> None:
    charge_id = paid(fake, USER, 1999, "order:8", currency="EUR")
    assert fake.star_transactions() == []
    assert ok(fake.handle("getStarTransactions", {})) == {"transactions": []}
    assert fake.star_balance() == 0
    status, body = refund(fake, USER, charge_id)
    assert (status, body["description"]) == (400, "Bad Request: CHARGE_NOT_FOUND")
    assert fake.violations == []


def test_a_stars_payment_is_refunded_once() -> None:
    clock = [1_750_000_000.0]
    fake = FakeBotApi(clock=lambda: clock[0])
    charge_id = paid(fake, USER, 250, "order:7")
    clock[0] += 3600

    assert refund(fake, USER, charge_id) == (200, {"ok": True, "result": True})
    incoming, outgoing = fake.star_transactions()
    assert outgoing == {
        "id": charge_id,  # a refund keeps the id of the payment it refunds
        "amount": 250,
        "date": 1_750_003_600,
        "receiver": incoming["source"],
    }
    assert "source" not in outgoing and "receiver" not in incoming
    assert fake.star_balance() == 0

    assert refund(fake, USER, charge_id) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: CHARGE_ALREADY_REFUNDED"},
    )
    assert len(fake.star_transactions()) == 2
    assert [c["telegram_payment_charge_id"] for c in fake.calls_of("refundStarPayment")] == [
        charge_id,
        charge_id,
    ]
    assert fake.violations == []  # refusals for the state, not for the call


def test_a_foreign_or_unknown_charge_is_not_refunded(fake: FakeBotApi) -> None:
    charge_id = paid(fake, USER, 100, "order:1")
    for user, charge in [(OTHER, charge_id), (USER, "stxNOPE"), (USER, charge_id.upper())]:
        assert refund(fake, user, charge) == (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: CHARGE_NOT_FOUND"},
        )
    assert len(fake.star_transactions()) == 1 and fake.star_balance() == 100
    assert fake.violations == []
    ok(refund(fake, USER, charge_id))  # the owner's refund still works


def test_star_transactions_are_paged(fake: FakeBotApi) -> None:
    charges = [paid(fake, USER if n % 2 else OTHER, n, f"order:{n}") for n in range(1, 6)]
    ok(refund(fake, OTHER, charges[1]))

    def page(**params: int) -> list[str]:
        return [t["id"] for t in ok(fake.handle("getStarTransactions", params))["transactions"]]

    everything = [*charges, charges[1]]
    assert page() == everything
    assert page(offset=2, limit=2) == everything[2:4]
    assert page(offset=5) == [charges[1]]
    assert page(offset=6) == []
    assert page(offset=99, limit=1) == []
    assert page(limit=1) == everything[:1]
    assert page(limit=100) == everything
    assert fake.star_balance() == sum(range(1, 6)) - 2
    assert fake.violations == []

    refused: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "limit must be 1-100, got 0"),
        ({"limit": 101}, "limit must be 1-100, got 101"),
        ({"offset": -1}, "offset must be non-negative, got -1"),
        ({"limit": "10"}, "limit must be Integer, got String"),
    ]
    for params, described in refused:
        status, body = fake.handle("getStarTransactions", params)
        assert status == 400 and described in body["description"], body
    assert len(fake.violations) == 4


def test_star_transactions_through_http(fake: FakeBotApi) -> None:
    charge_id = paid(fake, USER, 40, "order:40")
    with httpx.Client(transport=fake.transport(), base_url="https://api.telegram.org") as client:
        listed = client.get(
            f"/bot{DEFAULT_TOKEN}/getStarTransactions", params={"offset": 0, "limit": 10}
        )
        assert [t["id"] for t in listed.json()["result"]["transactions"]] == [charge_id]
        refunded = client.post(
            f"/bot{DEFAULT_TOKEN}/refundStarPayment",
            data={"user_id": str(USER), "telegram_payment_charge_id": charge_id},
        )
        assert refunded.json() == {"ok": True, "result": True}
    assert fake.calls_of("refundStarPayment") == [
        {"user_id": USER, "telegram_payment_charge_id": charge_id}
    ]
    assert fake.violations == []


@pytest.mark.parametrize(
    ("params", "description"),
    [
        (
            {"telegram_payment_charge_id": "stxA"},
            "Bad Request: user_id is empty (required parameter of refundStarPayment)",
        ),
        (
            {"user_id": USER},
            "Bad Request: telegram_payment_charge_id is empty"
            " (required parameter of refundStarPayment)",
        ),
        (
            {"user_id": str(USER), "telegram_payment_charge_id": "stxA"},
            "Bad Request: user_id must be Integer, got String",
        ),
        (
            {"user_id": USER, "telegram_payment_charge_id": 42},
            "Bad Request: telegram_payment_charge_id must be String, got Integer",
        ),
        (
            {"user_id": USER, "telegram_payment_charge_id": ""},
            'Bad Request: Parameter "telegram_payment_charge_id" is required',
        ),
        (
            {"user_id": 0, "telegram_payment_charge_id": "stxA"},
            "Bad Request: invalid user_id specified",
        ),
        (
            {"user_id": USER, "telegram_payment_charge_id": "stxA", "amount": 5},
            'Bad Request: unknown parameter "amount" for method refundStarPayment'
            " (Telegram would ignore it; the contract rejects it to catch typos)",
        ),
    ],
)
def test_refund_contract_violations(
    fake: FakeBotApi, params: dict[str, Any], description: str
) -> None:
    charge_id = paid(fake, USER, 10, "order:10")
    assert fake.handle("refundStarPayment", params) == (
        400,
        {"ok": False, "error_code": 400, "description": description},
    )
    assert fake.violations == [f"refundStarPayment: {description}"]
    assert len(fake.star_transactions()) == 1  # nothing refunded
    ok(refund(fake, USER, charge_id))


def test_a_refund_failure_can_be_injected(fake: FakeBotApi) -> None:
    charge_id = paid(fake, USER, 10, "order:10")
    fake.fail_next("refundStarPayment", 400, "Bad Request: BALANCE_TOO_LOW")
    assert refund(fake, USER, charge_id)[1]["description"] == "Bad Request: BALANCE_TOO_LOW"
    assert fake.star_balance() == 10
    ok(refund(fake, USER, charge_id))
    assert fake.star_balance() == 0


def test_send_document_multipart_through_the_transport(fake: FakeBotApi) -> None:
    content = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n"
    with httpx.Client(transport=fake.transport()) as client:
        response = client.post(
            f"https://api.telegram.org/bot{DEFAULT_TOKEN}/sendDocument",
            data={
                "chat_id": str(USER),
                "caption": "Invoice № 7",
                "reply_markup": json.dumps(KEYBOARD),
                "disable_notification": "true",
            },
            files={"document": ("invoice-7.pdf", content, "application/pdf")},
        )
    assert response.status_code == 200, response.text
    message = response.json()["result"]
    document = message["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == (
        "invoice-7.pdf",
        "application/pdf",
        len(content),
    )
    assert message["caption"] == "Invoice № 7" and message["reply_markup"] == KEYBOARD
    assert fake.file(document["file_id"]) == ("invoice-7.pdf", content, "application/pdf")
    method, params = fake.calls[-1]
    assert method == "sendDocument" and params["chat_id"] == USER
    assert params["disable_notification"] is True
    # A file_id is accepted again; an unknown one is not.
    ok(fake.handle("sendDocument", {"chat_id": USER, "document": document["file_id"]}))
    status, body = fake.handle("sendDocument", {"chat_id": USER, "document": "nonsense"})
    assert (status, body["description"]) == (
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )
    assert fake.violations == []


def test_token_and_paths_are_checked(fake: FakeBotApi) -> None:
    with httpx.Client(transport=fake.transport(), base_url="https://api.telegram.org") as client:
        wrong = client.post("/bot1:wrong/getMe")
        assert (wrong.status_code, wrong.json()) == (
            401,
            {"ok": False, "error_code": 401, "description": "Unauthorized"},
        )
        assert client.get("/favicon.ico").status_code == 404
        assert client.get(f"/bot{DEFAULT_TOKEN}/getMe").json()["result"]["id"] == BOT_USER["id"]
    assert fake.calls == [("getMe", {})]


def test_a_webhook_reply_is_applied_like_a_call(fake: FakeBotApi) -> None:
    assert fake.apply_webhook_reply({}) is None
    assert fake.apply_webhook_reply(b"") is None
    status, _ = fake.apply_webhook_reply(
        {"method": "sendMessage", "chat_id": USER, "text": "Hi"}
    ) or (0, {})
    assert status == 200 and fake.messages(USER)[0]["text"] == "Hi"
    bad = fake.apply_webhook_reply(json.dumps({"method": "sendMessage", "chat_id": USER}))
    assert bad is not None and bad[0] == 400
    assert fake.violations == [
        "sendMessage: Bad Request: text is empty (required parameter of sendMessage)"
    ]


def test_reply_keyboards_are_the_chats_state(fake: FakeBotApi) -> None:
    keyboard = {
        "keyboard": [[{"text": "Choose", "request_users": {"request_id": 7}}], ["Cancel"]],
        "one_time_keyboard": True,
    }
    sent = ok(
        fake.handle("sendMessage", {"chat_id": USER, "text": "Whom?", "reply_markup": keyboard})
    )
    assert "reply_markup" not in sent  # Telegram echoes only inline keyboards
    assert fake.reply_keyboard(USER) == keyboard
    ok(
        fake.handle(
            "sendMessage",
            {"chat_id": USER, "text": "ok", "reply_markup": {"remove_keyboard": True}},
        )
    )
    assert fake.reply_keyboard(USER) is None
    shared = {"request_id": 7, "users": [{"user_id": 2002, "first_name": "Bob"}]}
    assert fake.user_message(USER, users_shared=shared)["message"]["users_shared"] == shared


@pytest.fixture
def served(fake: FakeBotApi) -> Iterator[str]:
    base_url = fake.serve()
    yield base_url
    fake.stop()


def test_the_http_server_speaks_the_same_protocol(fake: FakeBotApi, served: str) -> None:
    assert served.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=served, timeout=5) as client:
        sent = client.post(
            f"/bot{DEFAULT_TOKEN}/sendMessage", json={"chat_id": USER, "text": "Привет"}
        )
        assert sent.status_code == 200 and sent.json()["result"]["text"] == "Привет"
        got = client.get(
            f"/bot{DEFAULT_TOKEN}/sendChatAction", params={"chat_id": USER, "action": "typing"}
        )
        assert got.json() == {"ok": True, "result": True}
        form = client.post(
            f"/bot{DEFAULT_TOKEN}/deleteMessage", data={"chat_id": USER, "message_id": 1}
        )
        assert form.json() == {"ok": True, "result": True}
        upload = client.post(
            f"/bot{DEFAULT_TOKEN}/sendDocument",
            data={"chat_id": str(USER)},
            files={"document": ("a.pdf", b"%PDF-1.7", "application/pdf")},
        )
        assert upload.json()["result"]["document"]["file_size"] == 8
        bad = client.post(f"/bot{DEFAULT_TOKEN}/sendMessage", json={"chat_id": USER, "text": ""})
        assert bad.status_code == 400 and bad.json()["description"].startswith(
            "Bad Request: text is empty"
        )
        assert client.post("/botWRONG/getMe").status_code == 401
    assert fake.chat_actions == [(USER, "typing")]
    assert len(fake.violations) == 1
