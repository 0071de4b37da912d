"""The local stack (`python -m local`, i.e. `make run`) and the events it builds.

The subprocess tests start the stack as a developer would, talk HTTP to it and stop it
with SIGINT; the in-process tests hold the built events against the samples AWS prints
(tests/data/events/).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

from billing.http import body_bytes, route
from local.events import FakeContext, http_api_event, scheduled_event, sqs_event
from local.fake_bot_api import FakeBotApi
from local.server import proxy_reply
from tests.local_process import Running, call, start_local, stop_local

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "data" / "events"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


# ---------------------------------------------------------------------------- subprocess


@pytest.fixture
def local() -> Iterator[Running]:
    running = start_local()
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def start_update(user_id: int = 5550001) -> bytes:
    return json.dumps(
        {
            "update_id": 900001,
            "message": {
                "message_id": 1,
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": "Alice",
                    "language_code": "en",
                },
                "chat": {"id": user_id, "first_name": "Alice", "type": "private"},
                "date": 1767225600,
                "text": "/start",
                "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
            },
        }
    ).encode()


def account_items(moto: str) -> int:
    client = boto3.client("dynamodb", endpoint_url=moto, region_name="eu-central-1")
    count: int = client.scan(TableName="Accounts", Select="COUNT")["Count"]
    return count


def test_ctrl_c_stops_every_child_process() -> None:
    running = start_local()
    child = next(
        line.rsplit(" ", 1)[1] for line in running.lines if "localstripe (child process)" in line
    )
    host, port = child.removeprefix("http://").split(":")
    socket.create_connection((host, int(port)), timeout=5).close()  # it is listening
    assert stop_local(running) == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)


def test_local_stack_serves_the_real_handlers(local: Running) -> None:
    assert local.base.startswith("http://127.0.0.1:")
    assert any(line.strip().endswith("/telegram") for line in local.lines)
    json_headers = {"Content-Type": "application/json"}

    status, headers, body = call(
        local,
        "POST",
        "/telegram",
        start_update(),
        {**json_headers, SECRET_HEADER: "local-webhook-secret"},
    )
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    reply = json.loads(body)
    assert reply["method"] == "sendMessage"
    assert reply["chat_id"] == 5550001
    assert reply["text"].startswith("Welcome")
    assert account_items(local.moto) == 1

    status, _, body = call(
        local, "POST", "/telegram", start_update(), {**json_headers, SECRET_HEADER: "wrong"}
    )
    assert status == 401, body
    status, _, _ = call(local, "POST", "/telegram", start_update(), json_headers)
    assert status == 401

    status, _, body = call(local, "POST", "/payments/stripe", b"{}", json_headers)
    assert status == 401, body  # no Stripe-Signature: refused before anything is read

    status, _, body = call(local, "GET", "/nope")
    assert (status, json.loads(body)) == (404, {"error": "not found"})
    status, headers, _ = call(local, "GET", "/telegram")
    assert (status, headers["allow"]) == (405, "POST")

    status, _, body = call(local, "GET", "/_local/health")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    status, _, body = call(local, "POST", "/_local/sweep")
    assert (status, json.loads(body)) == (200, {"due": 0, "worked": 0, "failed": 0})

    status, headers, body = call(local, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"local-webhook-secret" in body
    assert b'id="menu"' in body  # where the page shows the command menu

    # The stack registered the command menu with its fake Bot API (which checked it
    # against api.json), as `make set-webhook` does; each chat shows it in its language.
    new_user = json.dumps({"id": 1002, "first_name": "Иван", "language_code": "ru"}).encode()
    status, _, body = call(local, "POST", "/_local/users", new_user, json_headers)
    assert status == 201, body
    for user, privacy in ((1001, "What data is stored"), (1002, "Какие данные хранятся")):
        status, _, body = call(local, "GET", f"/_local/chats/{user}")
        assert status == 200, body
        menu = {c["command"]: c["description"] for c in json.loads(body)["commands"]}
        assert "paysupport" in menu and menu["privacy"].startswith(privacy), menu

    # The entitlements read API: the local key stands in for AWS IAM (SigV4).
    status, _, body = call(local, "GET", "/entitlements/1001")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, _, body = call(local, "GET", "/entitlements/1001", None, {"X-Local-Key": "wrong"})
    assert status == 403
    key = {"X-Local-Key": "local-entitlements-key"}
    status, headers, body = call(local, "GET", "/entitlements/1001", None, key)
    assert status == 200, body
    answer = json.loads(body)
    assert (answer["telegram_id"], answer["version"]) == (1001, 0)
    assert answer["products"]["gateway"]["plan"] == "free"
    status, _, _ = call(
        local, "GET", "/entitlements/1001", None, {**key, "If-None-Match": headers["etag"]}
    )
    assert status == 304
    batch = json.dumps({"telegram_ids": [1001, 1002]}).encode()
    status, _, body = call(local, "POST", "/entitlements/batch", batch, {**key, **json_headers})
    assert status == 200, body
    assert [d["telegram_id"] for d in json.loads(body)["entitlements"]] == [1001, 1002]
    status, headers, _ = call(local, "PUT", "/entitlements/batch", b"", key)
    assert (status, headers["allow"]) == (405, "POST")
    status, _, body = call(local, "GET", "/_local/entitlements/1001")
    assert status == 200 and json.loads(body)["entitlements"]["version"] == 0
    status, _, body = call(local, "GET", "/_local/entitlement_events")
    assert (status, json.loads(body)) == (200, {"events": []})

    assert stop_local(local) == 0


def test_oversized_body_is_refused_before_it_is_sent(local: Running) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", local.port, timeout=10)
    try:
        connection.putrequest("POST", "/telegram")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.putheader("Content-Type", "application/json")
        connection.endheaders()  # and no body at all: the answer must not wait for one
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"error": "request body too large"}
    finally:
        connection.close()
    status, _, _ = call(local, "GET", "/_local/health")
    assert status == 200
    assert stop_local(local) == 0


def test_a_second_run_starts_clean() -> None:
    first = start_local()
    try:
        secret = {SECRET_HEADER: "local-webhook-secret", "Content-Type": "application/json"}
        assert call(first, "POST", "/telegram", start_update(7001), secret)[0] == 200
        assert account_items(first.moto) == 1
    finally:
        assert stop_local(first) == 0

    second = start_local()
    try:
        assert account_items(second.moto) == 0
        assert call(second, "GET", "/_local/health")[0] == 200
        assert json.loads(call(second, "POST", "/_local/sweep")[2])["due"] == 0
    finally:
        assert stop_local(second) == 0


# ---------------------------------------------------------------------------- in-process


# What a plain route without authorizer, mTLS, path parameters or stage variables omits.
NOT_SENT_TOP = {"pathParameters", "stageVariables", "cookies"}
NOT_SENT_CONTEXT = {"authentication", "authorizer"}


def test_http_api_event_has_the_shape_api_gateway_sends() -> None:
    expected = sample("http-api-proxy.json")
    event = http_api_event(
        "post",
        "/telegram",
        headers={"Content-Type": "application/json", "User-Agent": "curl/8", "Host": "h:8080"},
        body=b'{"update_id": 1}',
        query="a=1&a=2&b=",
    )
    assert set(event) == set(expected) - NOT_SENT_TOP
    assert set(event["requestContext"]) == set(expected["requestContext"]) - NOT_SENT_CONTEXT
    assert set(event["requestContext"]["http"]) == set(expected["requestContext"]["http"])
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /telegram"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["http"]["userAgent"] == "curl/8"
    assert event["requestContext"]["domainName"] == "h"
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert all(name == name.lower() for name in event["headers"])
    assert route(event) == ("POST", "/telegram")
    # The same value types as the sample's.
    for key, value in expected["requestContext"].items():
        if key in event["requestContext"]:
            assert type(event["requestContext"][key]) is type(value), key


def test_headers_are_lower_cased_and_joined_and_cookies_moved() -> None:
    event = http_api_event(
        "GET",
        "/x",
        headers=[("X-Multi", "1"), ("x-multi", "2"), ("Cookie", "a=1; b=2")],
        body=b"",
    )
    assert event["headers"]["x-multi"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event


@pytest.mark.parametrize(
    ("content_type", "payload", "encoded"),
    [
        ("application/json", '{"text": "привет"}'.encode(), False),
        ("text/plain; charset=utf-8", b"hello", False),
        ("application/vnd.api+json", b"{}", False),
        ("application/json", b"\xff\xfe not utf-8", True),
        ("application/octet-stream", bytes(range(256)), True),
        ("application/x-www-form-urlencoded", b"a=1&b=2", True),
    ],
)
def test_body_round_trips(content_type: str, payload: bytes, encoded: bool) -> None:
    event = http_api_event("POST", "/p", headers={"Content-Type": content_type}, body=payload)
    assert event["isBase64Encoded"] is encoded
    if encoded:
        assert base64.b64decode(event["body"]) == payload
    else:
        assert event["body"] == payload.decode()
    assert body_bytes(event) == payload


def test_scheduled_and_sqs_events_have_the_sample_shapes() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    scheduled = scheduled_event(now)
    assert set(sample("scheduled-event.json")) <= set(scheduled)
    assert scheduled["time"] == "2026-03-01T12:00:00Z"
    assert scheduled["detail-type"] == "Scheduled Event"

    expected = sample("sqs-receive-message.json")["Records"][0]
    records = sqs_event([("m-1", "Hello from SQS!"), ("m-2", "{}")])["Records"]
    assert [r["messageId"] for r in records] == ["m-1", "m-2"]
    assert set(records[0]) == set(expected)
    assert set(records[0]["attributes"]) == set(expected["attributes"])
    assert records[0]["md5OfBody"] == expected["md5OfBody"]


def test_fake_context_satisfies_powertools() -> None:
    context = FakeContext("sip-billing-TelegramWebhookFunction")
    model = build_lambda_context_model(context)
    assert model.function_name == "sip-billing-TelegramWebhookFunction"
    assert model.function_memory_size == 512
    assert model.function_arn.endswith(":function:sip-billing-TelegramWebhookFunction")
    assert model.function_request_id != FakeContext("x").aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 15_000
    assert context.function_version == "$LATEST"
    assert context.log_group_name == "/aws/lambda/sip-billing-TelegramWebhookFunction"


def test_proxy_responses_map_back_to_http() -> None:
    reply = proxy_reply(
        {
            "statusCode": 201,
            "headers": {"content-type": "image/png", "x-a": "1"},
            "cookies": ["s=1; Path=/"],
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    assert reply.status == 201
    assert reply.body == b"\x89PNG"
    assert ("Set-Cookie", "s=1; Path=/") in reply.headers
    assert ("content-type", "image/png") in reply.headers
    plain = proxy_reply({"due": 0})
    assert (plain.status, json.loads(plain.body)) == (200, {"due": 0})
    empty = proxy_reply({"statusCode": 204})
    assert (empty.status, empty.body) == (204, b"")


# ---------------------------------------------------------------------- other Bot APIs


@pytest.fixture
def other_bot_api() -> Iterator[FakeBotApi]:
    """A Bot API server of its own, as a developer's own test server would be."""
    fake = FakeBotApi(require_https_webhook=False)
    fake.base_url = fake.serve()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


def test_telegram_api_base_sends_the_bots_calls_to_that_server(
    other_bot_api: FakeBotApi,
) -> None:
    running = start_local(
        TELEGRAM_API_BASE=other_bot_api.base_url,  # type: ignore[attr-defined]
        TELEGRAM_BOT_TOKEN=other_bot_api.token,
    )
    try:
        assert any(
            "Bot API for the bot's calls: " + other_bot_api.base_url in line  # type: ignore[attr-defined]
            for line in running.lines
        )
        headers = {"content-type": "application/json", SECRET_HEADER: "local-webhook-secret"}
        update = other_bot_api.user_message(7001, "/subscriptions", first_name="Ann")
        status, _, body = call(running, "POST", "/telegram", json.dumps(update).encode(), headers)
        assert status == 200
        other_bot_api.apply_webhook_reply(json.loads(body))  # Telegram performs the reply
        shown = other_bot_api.last_message(7001)
        assert shown is not None and shown["reply_markup"]["inline_keyboard"]
        data = shown["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        press = other_bot_api.press_button(7001, shown["message_id"], data=data)
        status, _, _ = call(running, "POST", "/telegram", json.dumps(press).encode(), headers)
        assert status == 200
        # The answer to the press went from the stack straight to this server.
        assert [c["callback_query_id"] for c in other_bot_api.calls_of("answerCallbackQuery")] == [
            press["callback_query"]["id"]
        ]
        assert other_bot_api.violations == []
    finally:
        assert stop_local(running) == 0


def test_polling_mode_reads_get_updates_and_answers_through_the_bot_api(
    other_bot_api: FakeBotApi,
) -> None:
    running = start_local(
        MODE="polling",
        TELEGRAM_API_BASE=other_bot_api.base_url,  # type: ignore[attr-defined]
        TELEGRAM_BOT_TOKEN=other_bot_api.token,
    )
    try:
        other_bot_api.push_update(other_bot_api.user_message(7002, "/start", first_name="Bo"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            shown = other_bot_api.last_message(7002)
            if shown is not None and (shown.get("from") or {}).get("is_bot"):
                break
            time.sleep(0.2)
        assert shown is not None and shown["text"].startswith("Welcome"), shown
        assert other_bot_api.calls_of("deleteWebhook")  # polling and a webhook exclude
        assert other_bot_api.violations == []
    finally:
        assert stop_local(running) == 0
