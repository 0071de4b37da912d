"""BotApi against the fake Bot API: results, retries, errors, and a token that never leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from billing.deadline import Deadline, bounded_by
from billing.telegram.client import BotApi, BotBlocked, TelegramError, TelegramUnavailable
from local.fake_bot_api import DEFAULT_TOKEN, FakeBotApi

TOKEN = DEFAULT_TOKEN
USER = 1001


@pytest.fixture
def fake() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def api(fake: FakeBotApi, sleeps: list[float]) -> Iterator[BotApi]:
    client = BotApi(
        base_url="https://api.telegram.org",
        token=TOKEN,
        transport=fake.transport(),
        sleep=sleeps.append,
    )
    yield client
    client.close()
    fake.assert_no_violations()


def test_the_result_is_returned(api: BotApi, fake: FakeBotApi, sleeps: list[float]) -> None:
    message = api.call("sendMessage", {"chat_id": USER, "text": "Hello", "reply_markup": None})
    assert message["text"] == "Hello" and message["chat"]["id"] == USER
    assert api.call("getMe")["username"] == "sip_billing_bot"
    assert fake.calls[0] == ("sendMessage", {"chat_id": USER, "text": "Hello"})
    assert sleeps == []


def test_files_go_as_multipart_with_json_encoded_params(api: BotApi, fake: FakeBotApi) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Open", "url": "https://example.com/i/7"}]]}
    message = api.call(
        "sendDocument",
        {
            "chat_id": USER,
            "caption": "Invoice 7",
            "reply_markup": keyboard,
            "protect_content": True,
        },
        files={"document": ("invoice-7.pdf", b"%PDF-1.7 ...", "application/pdf")},
    )
    assert message["document"]["file_name"] == "invoice-7.pdf"
    assert message["reply_markup"] == keyboard
    _, params = fake.calls[-1]
    assert params["protect_content"] is True and params["chat_id"] == USER
    assert fake.file(message["document"]["file_id"])[1] == b"%PDF-1.7 ..."


def test_429_sleeps_retry_after_then_succeeds(
    api: BotApi, fake: FakeBotApi, sleeps: list[float]
) -> None:
    fake.fail_next("sendMessage", 429, retry_after=2)
    assert api.call("sendMessage", {"chat_id": USER, "text": "x"})["text"] == "x"
    assert sleeps == [2.0]
    assert len(fake.messages(USER)) == 1


def test_429_above_the_cap_is_unavailable_at_once(
    api: BotApi, fake: FakeBotApi, sleeps: list[float]
) -> None:
    fake.fail_next("sendMessage", 429, retry_after=60)
    with pytest.raises(TelegramUnavailable) as caught:
        api.call("sendMessage", {"chat_id": USER, "text": "x"})
    assert (caught.value.error_code, caught.value.retry_after) == (429, 60)
    assert sleeps == []
    assert fake.messages(USER) == []


def test_5xx_is_retried_with_backoff(api: BotApi, fake: FakeBotApi, sleeps: list[float]) -> None:
    fake.fail_next("sendMessage", 500)
    fake.fail_next("sendMessage", 500)
    assert api.call("sendMessage", {"chat_id": USER, "text": "x"})["message_id"] == 1
    assert sleeps == [0.5, 1.0]


def test_persistent_5xx_is_unavailable_after_max_attempts(
    api: BotApi, fake: FakeBotApi, sleeps: list[float]
) -> None:
    for _ in range(4):
        fake.fail_next("sendMessage", 500)
    with pytest.raises(TelegramUnavailable) as caught:
        api.call("sendMessage", {"chat_id": USER, "text": "x"})
    assert caught.value.error_code == 500
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(fake.calls) == 4


def test_network_errors_are_retried_then_unavailable(sleeps: list[float]) -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    with (
        BotApi(
            "https://api.telegram.org",
            TOKEN,
            transport=httpx.MockTransport(refuse),
            sleep=sleeps.append,
        ) as api,
        pytest.raises(TelegramUnavailable) as caught,
    ):
        api.call("getMe")
    assert len(attempts) == 4 and sleeps == [0.5, 1.0, 2.0]
    assert caught.value.error_code == 0 and "ConnectError" in str(caught.value)
    assert TOKEN not in str(caught.value) and "<redacted>" in str(caught.value)


def test_403_is_bot_blocked(api: BotApi, fake: FakeBotApi, sleeps: list[float]) -> None:
    fake.block(USER)
    with pytest.raises(BotBlocked) as caught:
        api.call("sendMessage", {"chat_id": USER, "text": "x"})
    assert caught.value.error_code == 403
    assert caught.value.description == "Forbidden: bot was blocked by the user"
    assert str(caught.value) == "sendMessage: 403 Forbidden: bot was blocked by the user"
    assert sleeps == [] and len(fake.calls) == 1


def test_400_is_an_error_without_retry(api: BotApi, fake: FakeBotApi, sleeps: list[float]) -> None:
    api.call("sendMessage", {"chat_id": USER, "text": "x"})
    with pytest.raises(TelegramError) as caught:
        api.call("editMessageText", {"chat_id": USER, "message_id": 1, "text": "x"})
    assert type(caught.value) is TelegramError
    assert caught.value.error_code == 400
    assert caught.value.description.startswith("Bad Request: message is not modified")
    assert sleeps == [] and len(fake.calls) == 2


def test_the_token_never_leaks(
    fake: FakeBotApi, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = BotApi("https://api.telegram.org", TOKEN, transport=fake.transport(), sleep=sleeps.append)
    fake.fail_next("getMe", 500)
    api.call("getMe")
    wrong = BotApi("https://api.telegram.org", "1:other", transport=fake.transport())
    with pytest.raises(TelegramError) as unauthorized:
        wrong.call("getMe")
    wrong.close()
    assert unauthorized.value.error_code == 401
    fake.block(USER)
    with pytest.raises(BotBlocked) as blocked:
        api.call("sendMessage", {"chat_id": USER, "text": "x"})
    api.close()

    assert TOKEN not in repr(api) and "<redacted>" in repr(api)
    for text in (
        str(unauthorized.value),
        repr(unauthorized.value),
        str(blocked.value),
        repr(blocked.value),
    ):
        assert TOKEN not in text and "1:other" not in text
    assert caplog.records, "httpx logs each request; the redaction must have something to do"
    for record in caplog.records:
        assert TOKEN not in record.getMessage() and "1:other" not in record.getMessage()
    assert any("<redacted>" in record.getMessage() for record in caplog.records)


# --- bounded by the time the invocation has left ------------------------------------------


class FakeTime:
    """A monotonic clock for a Deadline that moves only when the client waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("retry_after", [8, 87])
def test_a_429_longer_than_the_time_left_is_unavailable_at_once(
    fake: FakeBotApi, retry_after: int
) -> None:
    time = FakeTime()
    fake.fail_next("sendMessage", 429, retry_after=retry_after)
    with (
        BotApi(
            "https://api.telegram.org", TOKEN, transport=fake.transport(), sleep=time.sleep
        ) as api,
        bounded_by(Deadline(5, margin=0, monotonic=time)),
        pytest.raises(TelegramUnavailable) as caught,
    ):
        api.call("sendMessage", {"chat_id": USER, "text": "x"})
    assert (caught.value.error_code, caught.value.retry_after) == (429, retry_after)
    assert time.sleeps == [] and fake.messages(USER) == []


def test_timeouts_are_retried_only_while_time_is_left() -> None:
    time = FakeTime()
    waited: list[float | None] = []

    def too_slow(request: httpx.Request) -> httpx.Response:
        read = request.extensions["timeout"]["read"]
        waited.append(read)
        time.now += read
        raise httpx.ReadTimeout("no answer", request=request)

    with (
        BotApi(
            "https://api.telegram.org",
            TOKEN,
            transport=httpx.MockTransport(too_slow),
            sleep=time.sleep,
        ) as api,
        bounded_by(Deadline(12, margin=0, monotonic=time)),
        pytest.raises(TelegramUnavailable) as caught,
    ):
        api.call("getMe")
    # 10 s (the configured timeout), 0.5 s backoff, then only the 1.5 s left; no more.
    assert waited == [10.0, 1.5] and time.sleeps == [0.5]
    assert time.now == 12.0
    assert caught.value.error_code == 0


def test_each_attempt_waits_at_most_the_time_left(fake: FakeBotApi) -> None:
    time = FakeTime()
    timeouts: list[dict[str, float | None]] = []
    answer = fake.transport()

    def timed(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return answer.handle_request(request)

    with (
        BotApi("https://api.telegram.org", TOKEN, transport=httpx.MockTransport(timed)) as api,
        bounded_by(Deadline(4.5, margin=1.0, monotonic=time)),
    ):
        api.call("getMe")
    assert timeouts == [{"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}]


def test_no_time_left_sends_nothing(fake: FakeBotApi) -> None:
    time = FakeTime()
    with (
        BotApi(
            "https://api.telegram.org", TOKEN, transport=fake.transport(), sleep=time.sleep
        ) as api,
        bounded_by(Deadline(0.5, margin=1.0, monotonic=time)),
        pytest.raises(TelegramUnavailable),
    ):
        api.call("sendMessage", {"chat_id": USER, "text": "x"})
    assert fake.calls == [] and time.sleeps == []
