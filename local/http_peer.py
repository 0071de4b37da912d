"""The HTTP plumbing the local fakes (Bot API, PayPal, Crypto Pay) share.

- `LoopbackServer(name, respond)`: a ThreadingHTTPServer on a daemon thread that hands
  every request to `respond(method, target, headers, body) -> Reply` (headers lower-cased,
  body read by Content-Length) and writes the Reply back.
- `WebhookOutbox`: posts webhooks as a provider does, at once or from a worker thread, and
  records every delivery.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


# (method, request target as sent: path and query, lower-cased headers, body) -> the answer
Respond = Callable[[str, str, dict[str, str], bytes], Reply]


class LoopbackServer:
    """Serves `respond` over HTTP/1.1 for the HTTP verbs in `methods` (others answer 501)."""

    def __init__(
        self, name: str, respond: Respond, methods: Iterable[str] = ("GET", "POST")
    ) -> None:
        self.name = name  # "fake PayPal": in errors and as the thread's name
        self._respond = respond
        self._methods = tuple(methods)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving on host:port (0: any free port); returns the base URL."""
        if self._server is not None:
            raise RuntimeError(f"the {self.name} is already serving")
        respond = self._respond

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; with Nagle's algorithm on, the body waits
            # for the client's delayed ACK (up to 40 ms a request on keep-alive connections),
            # which no real peer adds and which made every fake Bot API call cost ~30 ms.
            disable_nagle_algorithm = True

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                reply = respond(self.command, self.path, headers, body)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request lines carry bot tokens, credentials and access tokens

        for method in self._methods:
            setattr(Handler, f"do_{method}", Handler.answer)
        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.name,
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return f"http://{host}:{server.server_address[1]}"

    def stop(self) -> None:
        """Stop the server started by start() (no-op if none)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


# What a delivery record is built from: (url, headers, body, status, error); status is the
# receiver's HTTP status, None if not sent or it failed (then error says why).
type Record[D] = Callable[[str | None, dict[str, str], bytes, int | None, str | None], D]


class WebhookOutbox:
    """Posts webhook bodies: at once (the caller waits), or, with `background`, in order from
    one worker thread after the call that caused them was answered, as real providers do.
    The local stack needs `background`: a webhook handler that calls the provider back
    (capture on CHECKOUT.ORDER.APPROVED) must not wait for its own next webhook."""

    def __init__(self, *, background: bool, timeout: float) -> None:
        self.background = background
        self.timeout = timeout
        self._queue: queue.Queue[_Outgoing | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def deliver[D](
        self,
        url: str | None,
        signed: tuple[dict[str, str], bytes],
        record: Record[D],
        deliveries: list[D],
    ) -> tuple[dict[str, str], bytes]:
        """send() the signed (headers, body) to url (if any), then append
        record(url, headers, body, status, error) to `deliveries`; returns (headers, body).
        `record` is e.g. functools.partial(SomeDelivery, event_id, event_type)."""
        headers, body = signed

        def done(status: int | None, error: str | None) -> None:
            delivery = record(url, headers, body, status, error)
            with self._lock:
                deliveries.append(delivery)

        self.send(url, headers, body, done)
        return headers, body

    def send(
        self,
        url: str | None,
        headers: Mapping[str, str],
        body: bytes,
        done: Callable[[int | None, str | None], None],
    ) -> None:
        """POST body to url (if any) and call done(status, error) with the outcome."""
        item = _Outgoing(url, dict(headers), body, done)
        if not self.background:
            self._post(item)
            return
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="webhooks", daemon=True)
                self._worker.start()
        self._queue.put(item)

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook was posted; False if `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=self.timeout + 1)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._post(item)
            finally:
                self._queue.task_done()

    def _post(self, item: _Outgoing) -> None:
        status: int | None = None
        error: str | None = None
        if item.url:
            try:
                status = httpx.post(
                    item.url, content=item.body, headers=item.headers, timeout=self.timeout
                ).status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        item.done(status, error)


@dataclass(frozen=True)
class _Outgoing:
    url: str | None
    headers: dict[str, str]
    body: bytes
    done: Callable[[int | None, str | None], None]


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook POST (or, without webhook_url, one event that would have been sent)."""

    event_id: str
    event_type: str
    url: str | None
    headers: dict[str, str]
    body: bytes
    status: int | None  # the receiver's HTTP status; None if not sent or it failed
    error: str | None = None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed
