"""The bot simulator of the local stack (GET / and /_local/*): a LocalStack and its
LocalServer in this process, driven over HTTP as the page drives them."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.fake_bot_api import FakeBotApi
from local.server import LocalServer
from local.stack import LocalStack

PAGE_IDS = (
    "user-select",
    "new-user-id",
    "new-user-name",
    "new-user-lang",
    "new-user-add",
    "message-input",
    "send",
    "transcript",
    "clock-now",
    "advance-days",
    "advance",
    "run-sweep",
    "sweep-result",
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Served:
    stack: LocalStack
    server: LocalServer
    http: httpx.Client

    @property
    def fake(self) -> FakeBotApi:
        assert self.stack.fake_telegram is not None
        return self.stack.fake_telegram

    def add_user(self, user_id: int, name: str, language: str = "en") -> None:
        response = self.http.post(
            "/_local/users", json={"id": user_id, "first_name": name, "language_code": language}
        )
        assert response.status_code == 201, response.text

    def send(self, user_id: int, text: str) -> dict[str, Any]:
        response = self.http.post(f"/_local/chats/{user_id}/send", json={"text": text})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == 200
        result: dict[str, Any] = response.json()
        return result

    def messages(self, user_id: int) -> list[dict[str, Any]]:
        response = self.http.get(f"/_local/chats/{user_id}/messages")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def screen(self, user_id: int) -> str:
        texts = [m["text"] for m in self.messages(user_id) if m["from"]["is_bot"] and "text" in m]
        return str(texts[-1])

    def press(self, user_id: int, label: str) -> dict[str, Any]:
        """Presses the newest bot message's inline button whose text starts with label."""
        for message in reversed(self.messages(user_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"].startswith(label) and "callback_data" in button:
                        response = self.http.post(
                            f"/_local/chats/{user_id}/press",
                            json={
                                "message_id": message["message_id"],
                                "data": button["callback_data"],
                            },
                        )
                        assert response.status_code == 200, response.text
                        result: dict[str, Any] = response.json()
                        return result
        raise LookupError(f"no button {label!r}; screen: {self.screen(user_id)!r}")


@pytest.fixture(scope="module")
def served(aws_endpoint: str) -> Iterator[Served]:
    # moto keeps its state in the process: start from nothing, as `make run` does.
    reset = urllib.request.Request(f"{aws_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    stack = LocalStack(environ={"POWERTOOLS_LOG_LEVEL": "WARNING"}).start()
    try:
        server = LocalServer(stack, port=0)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                yield Served(stack, server, client)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    finally:
        stack.stop()


def test_the_home_page_is_the_simulator(served: Served) -> None:
    response = served.http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for element in PAGE_IDS:
        assert f'id="{element}"' in page, element
    assert 'data-simulator="on"' in page
    assert "local-webhook-secret" in page  # the route list is still there
    assert "/_local/chats/{user_id}/press" in page
    assert "{{" not in page  # every placeholder filled


def test_users_are_listed_and_created(served: Served) -> None:
    users = served.http.get("/_local/users").json()
    assert users[0] == {"id": 1001, "first_name": "Ann", "language_code": "en"}

    created = served.http.post(
        "/_local/users", json={"id": 3001, "first_name": "Иван", "language_code": "ru"}
    )
    assert created.status_code == 201
    assert created.json() == {"id": 3001, "first_name": "Иван", "language_code": "ru"}
    renamed = served.http.post("/_local/users", json={"id": "3001", "first_name": "Ivan"})
    assert renamed.status_code == 200
    assert renamed.json() == {"id": 3001, "first_name": "Ivan", "language_code": "en"}
    assert {"id": 3001, "first_name": "Ivan", "language_code": "en"} in served.http.get(
        "/_local/users"
    ).json()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "body is required"),
        (b'{"first_name": "Bob"}', '"id" is required'),
        (b'{"id": 5, "first_name": ""}', "must not be empty"),
        (b'{"id": 0, "first_name": "Bob"}', "between 1 and"),
        (b'{"id": true, "first_name": "Bob"}', "whole number"),
        (b'{"id": "abc", "first_name": "Bob"}', "whole number"),
        (b'{"id": 5, "first_name": "Bob", "language_code": "de"}', "one of en, ru"),
        (b'{"id": 5, "first_name": "Bob", "admin": true}', 'unexpected field "admin"'),
    ],
)
def test_a_bad_user_is_refused(served: Served, body: bytes, reason: str) -> None:
    response = served.http.post(
        "/_local/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_a_user_talks_to_the_bot(served: Served) -> None:
    served.add_user(2001, "Bea")
    started = served.send(2001, "/start")
    assert started["reply"]["method"] == "sendMessage"
    messages = served.messages(2001)
    assert [m["from"]["is_bot"] for m in messages] == [False, True]
    assert messages[0]["text"] == "/start"
    assert messages[1]["text"].startswith("Welcome")

    served.send(2001, "/language")
    pressed = served.press(2001, "Русский")
    assert pressed["status"] == 200
    assert pressed["answer"]["callback_query_id"]
    assert served.screen(2001) == "Язык: русский."
    served.send(2001, "/language")
    served.press(2001, "English")

    chat = served.http.get("/_local/chats/2001").json()
    assert chat["user"]["id"] == 2001 and chat["reply_keyboard"] is None
    assert len(chat["messages"]) == len(served.messages(2001))


def test_a_contact_and_a_picked_user_are_shared(served: Served) -> None:
    served.add_user(2101, "Cid")
    served.send(2101, "/start")
    served.send(2101, "/billing")
    served.press(2101, "Share my phone")
    keyboard = served.http.get("/_local/chats/2101").json()["reply_keyboard"]
    assert keyboard["keyboard"][0][0]["request_contact"] is True

    shared = served.http.post("/_local/chats/2101/contact", json={"phone_number": "+49 30 901820"})
    assert shared.status_code == 200, shared.text
    contact = [m for m in served.messages(2101) if "contact" in m][-1]["contact"]
    assert contact == {"phone_number": "+49 30 901820", "first_name": "Cid", "user_id": 2101}
    assert any("Billing details" in m.get("text", "") for m in served.messages(2101)[-2:])
    assert served.http.get("/_local/chats/2101").json()["reply_keyboard"] is None

    # No request_users button shown yet: nothing to answer.
    refused = served.http.post("/_local/chats/2101/share_user", json={"user_id": 2102})
    assert refused.status_code == 400
    assert "request_users" in refused.json()["error"]

    served.send(2101, "/subscriptions")
    served.press(2101, "Connect for another user")
    before = len(served.messages(2101))
    picked = served.http.post("/_local/chats/2101/share_user", json={"user_id": 2102})
    assert picked.status_code == 200, picked.text
    messages = served.messages(2101)
    assert messages[before]["users_shared"]["users"] == [{"user_id": 2102}]
    assert messages[-1]["from"]["is_bot"] and len(messages) > before + 1


def test_a_telegram_invoice_is_paid(served: Served) -> None:
    served.add_user(2201, "Dora")
    served.send(2201, "/start")
    served.send(2201, "/billing")
    served.press(2201, "Country")
    served.send(2201, "DE")
    served.http.post("/_local/chats/2201/contact", json={"phone_number": "+49 30 901820"})
    served.send(2201, "/balance")
    served.press(2201, "Top up")
    served.press(2201, "EUR")
    served.press(2201, "10.00 EUR")
    served.press(2201, "Card in Telegram")
    invoice = [m for m in served.messages(2201) if "invoice" in m][-1]
    assert invoice["invoice"]["total_amount"] == 1000

    paid = served.http.post(
        "/_local/chats/2201/pay_invoice", json={"message_id": invoice["message_id"]}
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["paid"] is True
    assert "Payment of 10.00 EUR received" in served.screen(2201)

    again = served.http.post(
        "/_local/chats/2201/pay_invoice", json={"message_id": invoice["message_id"]}
    )
    assert again.json()["paid"] is False
    assert "can no longer be paid" in again.json()["error_message"]

    not_an_invoice = served.http.post("/_local/chats/2201/pay_invoice", json={"message_id": 1})
    assert not_an_invoice.status_code == 400
    assert "no invoice" in not_an_invoice.json()["error"]


def test_a_document_is_served_inline(served: Served) -> None:
    served.add_user(2301, "Eve")
    served.send(2301, "/start")
    status, body = served.fake.handle(
        "sendDocument",
        {"chat_id": 2301, "document": "attach://pdf"},
        {"pdf": ("INV-000042.pdf", PDF, "application/pdf")},
    )
    assert status == 200, body
    document = served.messages(2301)[-1]["document"]
    assert document["file_name"] == "INV-000042.pdf"

    response = served.http.get(f"/_local/files/{document['file_id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith('inline; filename="INV-000042.pdf"')
    assert response.content == PDF

    missing = served.http.get("/_local/files/BQAnothing")
    assert missing.status_code == 404 and "no file" in missing.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("GET", "/_local/chats/4242/messages", None, 400, "unknown user 4242"),
        ("GET", "/_local/chats/abc/messages", None, 400, "whole number"),
        ("POST", "/_local/chats/4242/send", {"text": "hi"}, 400, "unknown user"),
        ("POST", "/_local/chats/1001/send", {}, 400, '"text" is required'),
        ("POST", "/_local/chats/1001/send", {"text": "   "}, 400, "must not be empty"),
        ("POST", "/_local/chats/1001/send", {"text": 5}, 400, "must be a string"),
        ("POST", "/_local/chats/1001/press", {"message_id": 1}, 400, '"data" is required'),
        ("POST", "/_local/chats/1001/press", {"message_id": 99, "data": "x"}, 400, "no message"),
        ("POST", "/_local/chats/1001/press", {"message_id": -1, "data": "x"}, 400, "between"),
        ("POST", "/_local/chats/1001/contact", {"phone_number": "call me"}, 400, "digits"),
        ("POST", "/_local/chats/1001/share_user", {"user_id": "x"}, 400, "whole number"),
        ("POST", "/_local/chats/1001/pay_invoice", {}, 400, '"message_id" is required'),
        ("GET", "/_local/chats/1001/send", None, 405, "method not allowed"),
        ("POST", "/_local/chats/1001/unknown", {}, 404, "not found"),
    ],
)
def test_bad_chat_requests_are_refused(
    served: Served, method: str, path: str, body: Any, status: int, reason: str
) -> None:
    response = served.http.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    if status == 405:
        assert response.headers["allow"] == "POST"


def test_the_clock_moves_and_the_sweep_runs(served: Served) -> None:
    before = datetime.fromisoformat(served.http.get("/_local/clock").json()["now"])
    assert abs(before - served.stack.clock.now()) < timedelta(seconds=5)

    moved = served.http.post("/_local/clock", json={"advance_seconds": 86400})
    assert moved.status_code == 200
    after = datetime.fromisoformat(moved.json()["now"])
    assert timedelta(days=1) <= after - before < timedelta(days=1, seconds=5)

    target = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    at = served.http.post("/_local/clock", json={"set": "2030-05-01T12:00:00Z"})
    assert at.status_code == 200
    assert timedelta(0) <= datetime.fromisoformat(at.json()["now"]) - target < timedelta(seconds=5)

    swept = served.http.post("/_local/sweep")
    assert swept.status_code == 200
    assert set(swept.json()) >= {"due", "worked", "failed"}

    for body, reason in (
        ({}, "exactly one of"),
        ({"advance_seconds": 1, "set": "2030-01-01T00:00:00Z"}, "exactly one of"),
        ({"advance_days": 1}, "exactly one of"),
        ({"advance_seconds": -5}, "between 0 and"),
        ({"advance_seconds": "10"}, "must be a number"),
        ({"set": "tomorrow"}, "not an ISO 8601 time"),
        ({"set": "2030-05-01T12:00:00"}, "needs a time zone"),
        ({"set": "9999-12-31T00:00:00Z"}, "between the years"),
    ):
        refused = served.http.post("/_local/clock", json=body)
        assert refused.status_code == 400, body
        assert reason in refused.json()["error"], body
    served.http.post("/_local/clock", json={"set": datetime.now(UTC).isoformat()})


def test_without_the_built_in_fake_the_simulator_is_off(served: Served) -> None:
    fake = served.stack.fake_telegram
    served.stack.fake_telegram = None  # as with TELEGRAM_API_BASE pointing elsewhere
    try:
        for path in ("/_local/users", "/_local/chats/1001", "/_local/files/x"):
            response = served.http.get(path)
            assert response.status_code == 503, path
            assert "built-in fake" in response.json()["error"]
        page = served.http.get("/").text
        assert 'data-simulator="off"' in page and "needs the built-in fake" in page
        assert served.http.get("/_local/clock").status_code == 200
    finally:
        served.stack.fake_telegram = fake
