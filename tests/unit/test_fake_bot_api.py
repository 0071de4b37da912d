"""The fake Bot API behaves like the real one and enforces the contract on every call."""

from __future__ import annotations

import json
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
