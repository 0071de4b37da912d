"""A small synchronous Telegram Bot API client over httpx (Lambda handlers are sync).

`BotApi.call(method, params)` POSTs to `{base_url}/bot{token}/{method}` and returns the
response's `result`. Failures become exceptions the caller can act on:

- `BotBlocked` (any 403: "bot was blocked by the user", "user is deactivated", "bot can't
  initiate conversation with a user", ...): the user cannot be reached; do not retry.
- `TelegramUnavailable`: network errors and 5xx after retries with backoff (0.5, 1, 2 s), or
  429 whose retry_after is above `max_retry_after` (or still 429 after `max_attempts`); the
  caller may try again later (`retry_after` says when, if Telegram said so).
  Also raised, without sending or waiting, when the invocation has no time left for it
  (billing.deadline): each attempt's timeout is cut to the time left, and a retry whose
  wait would pass the deadline is not made.
- `TelegramError`: any other refusal (400 Bad Request, 401, 404, 409): a bug or a stale
  state such as "message is not modified"; never retried.

Retrying a 5xx or a timeout of a sending method may deliver a message twice; Telegram gives
no idempotency key, and a duplicate notification is better than a lost one.

The bot token is a secret: it is in no exception message, repr or log line (httpx's own
request log is filtered too).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from billing import deadline
from billing.telegram.errors import BotBlocked, TelegramError, TelegramUnavailable

log = logging.getLogger(__name__)

BACKOFF = (0.5, 1.0, 2.0)
REDACTED = "<redacted>"


class _RedactTokens(logging.Filter):
    """Removes registered bot tokens from the records of the logger it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self._tokens: set[str] = set()
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        with self._lock:
            self._tokens.add(token)

    def redact(self, text: str) -> str:
        for token in tuple(self._tokens):
            text = text.replace(token, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._tokens:
            message = record.getMessage()
            cleaned = self.redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACTOR = _RedactTokens()
# httpx logs every request URL at INFO ("HTTP Request: POST https://.../bot<token>/...").
logging.getLogger("httpx").addFilter(_REDACTOR)


class BotApi:
    """One bot's Bot API client; keeps one httpx.Client (connection reuse) until close()."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise ValueError("the bot token is empty")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self._timeout = timeout
        self._client = httpx.Client(transport=transport, timeout=timeout)
        _REDACTOR.add(token)

    def __repr__(self) -> str:
        return f"BotApi(base_url={self.base_url!r}, token={REDACTED!r})"

    def __enter__(self) -> BotApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """Call a Bot API method and return its `result`.

        `params` with a None value are left out (Telegram treats null as absent anyway).
        With `files` (name -> (file name, content, MIME type)) the request is
        multipart/form-data and the other params are sent as form fields, JSON-encoded
        unless they are strings, as Telegram expects.
        """
        given = {key: value for key, value in (params or {}).items() if value is not None}
        url = f"{self.base_url}/bot{self._token}/{method}"
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            timeout = deadline.current().timeout(self._timeout)
            if timeout <= 0:
                raise TelegramUnavailable(0, "no time left in this invocation", method=method)
            try:
                response = self._send(url, given, files, timeout)
            except httpx.HTTPError as exc:
                reason = self._redact(f"network error: {type(exc).__name__}: {exc}")
                unavailable = TelegramUnavailable(0, reason, method=method)
                if last:
                    raise unavailable from None
                self._wait(method, attempt, unavailable)
                continue
            status, body = response.status_code, _json_object(response)
            if status == 200 and body.get("ok") is True:
                return body.get("result")
            error = self._error(method, status, body)
            if error.error_code == 429:
                unavailable = TelegramUnavailable(
                    429, error.description, retry_after=error.retry_after, method=method
                )
                if last or (error.retry_after or 0) > self._max_retry_after:
                    raise unavailable
                self._wait(method, attempt, unavailable)
                continue
            if status >= 500 or error.error_code >= 500:
                unavailable = TelegramUnavailable(
                    error.error_code, error.description, method=method
                )
                if last:
                    raise unavailable
                self._wait(method, attempt, unavailable)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns/raises

    # -- internals ------------------------------------------------------------------------

    def _send(
        self,
        url: str,
        params: Mapping[str, Any],
        files: Mapping[str, tuple[str, bytes, str]] | None,
        timeout: float,
    ) -> httpx.Response:
        if not files:
            return self._client.post(url, json=dict(params), timeout=timeout)
        data = {
            key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            for key, value in params.items()
        }
        return self._client.post(url, data=data, files=dict(files), timeout=timeout)

    def _error(self, method: str, status: int, body: Mapping[str, Any]) -> TelegramError:
        code = body.get("error_code")
        error_code = code if isinstance(code, int) and not isinstance(code, bool) else status
        description = body.get("description")
        if not isinstance(description, str) or not description:
            description = f"HTTP {status} without a Bot API error description"
        description = self._redact(description)
        parameters = body.get("parameters")
        retry_after = None
        if isinstance(parameters, Mapping):
            value = parameters.get("retry_after")
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                retry_after = value
        kind = BotBlocked if error_code == 403 else TelegramError
        return kind(error_code, description, retry_after=retry_after, method=method)

    def _wait(self, method: str, attempt: int, failure: TelegramUnavailable) -> None:
        """Sleeps before the next attempt, or raises `failure` when the wait would leave the
        invocation no time for that attempt."""
        retry_after = failure.retry_after
        delay = float(retry_after) if retry_after is not None else BACKOFF[min(attempt, 3) - 1]
        if delay >= deadline.current().remaining():
            # From None: a network error it replaces names the URL, and the URL the token.
            raise failure from None
        log.warning(
            "telegram %s failed (attempt %d of %d): %s; retrying in %.1f s",
            method,
            attempt,
            self._max_attempts,
            failure.description,
            delay,
        )
        self._sleep(delay)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
