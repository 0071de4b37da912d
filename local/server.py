"""The local API Gateway: HTTP requests in, HTTP API (payload 2.0) events to the real
handlers, their Lambda proxy responses back out as HTTP.

Routes are template.yaml's (POST /telegram, POST /payments/{stripe,paypal,cryptopay}) plus
a few of the local stack's own under /_local/. Differences from API Gateway, on purpose:
an unknown path is 404 and a known path with another method 405 (API Gateway answers 404
to both); a handler that raises is answered 500 {"error": "handler failed"} with the
traceback logged (API Gateway answers 500 {"message": "Internal Server Error"}).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.events import http_api_event
from local.stack import LocalStack

log = logging.getLogger("local.server")

MAX_BODY_BYTES = 1024 * 1024  # API Gateway's own limit is 10 MB; no webhook comes close.
# As billing.telegram_gate names it; not imported, as that would load the handlers' modules
# (and Powertools) before the stack has set their environment.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name

# (method, path) -> function key of LocalStack.FUNCTIONS
LAMBDA_ROUTES: Mapping[tuple[str, str], str] = {
    ("POST", "/telegram"): "telegram_webhook",
    ("POST", "/payments/stripe"): "payment_webhook",
    ("POST", "/payments/paypal"): "payment_webhook",
    ("POST", "/payments/cryptopay"): "payment_webhook",
}


class Reply:
    """An HTTP response to write: status, headers (repeatable) and body."""

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []

    @classmethod
    def json(cls, status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(status, body, [("Content-Type", "application/json"), *(headers or [])])

    @classmethod
    def html(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode(), [("Content-Type", "text/html; charset=utf-8")])


def proxy_reply(result: Any) -> Reply:
    """A Lambda proxy (payload 2.0) response as HTTP, the way HTTP API maps it.

    A dict with `statusCode` is a proxy response; anything else is returned as a 200 JSON
    body (HTTP API's rule for 2.0 responses without a status code).
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        return Reply.json(200, result)
    status = int(result["statusCode"])
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw))
    else:
        body = str(raw).encode()
    return Reply(status, body, headers)


def _page(stack: LocalStack, base: str) -> str:
    routes = "".join(
        f"<li><code>{method} {html.escape(base.rstrip('/') + path)}</code> &rarr; {name}</li>"
        for (method, path), name in LAMBDA_ROUTES.items()
    )
    local = "".join(
        f"<li><code>{html.escape(route)}</code> &mdash; {html.escape(text)}</li>"
        for route, text in (
            ("GET /_local/health", "readiness"),
            ("POST /_local/sweep", "run the renewal sweep now"),
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sip-billing local stack</title></head>
<body style="font-family: sans-serif; max-width: 50em; margin: 2em auto">
<h1>sip-billing local stack is running</h1>
<p>The real Lambda handlers behind a local API Gateway (HTTP API, payload 2.0), with
DynamoDB, SSM and SQS served by moto at <code>{html.escape(stack.moto_endpoint)}</code>.</p>
<h2>Routes</h2><ul>{routes}</ul>
<p>Telegram updates need the header
<code>{SECRET_HEADER}: {html.escape(stack.webhook_secret)}</code>.</p>
<h2>Local endpoints</h2><ul>{local}</ul>
</body></html>
"""


class LocalHandler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"
    server_version = "sip-billing-local"
    sys_version = ""
    _body_read = False

    # ------------------------------------------------------------------ plumbing

    def _dispatch(self) -> None:
        started = time.monotonic()
        self._body_read = False
        path, _, query = self.path.partition("?")
        try:
            reply = self._route(path, query)
        except Exception:
            log.error("request failed: %s %s\n%s", self.command, path, traceback.format_exc())
            reply = Reply.json(500, {"error": "handler failed"})
        if not self._body_read and self._declared_length() > 0:
            # A body nobody read would be taken for the next request on this connection.
            self.close_connection = True
        try:
            self._write(reply)
        except ConnectionError:
            log.debug("client went away before the response: %s %s", self.command, path)
            self.close_connection = True
        log.info(
            "%s %s %d %.0fms", self.command, path, reply.status, (time.monotonic() - started) * 1e3
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        names = {name.lower() for name, _ in reply.headers}
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "apigw-requestid" not in names:
            self.send_header("apigw-requestid", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def version_string(self) -> str:
        return self.server_version

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it, not after "100 Continue"."""
        if self._declared_length() > MAX_BODY_BYTES:
            self.close_connection = True
            self._write(Reply.json(413, {"error": "request body too large"}))
            log.info("%s %s 413 0ms", self.command, self.path.partition("?")[0])
            return False
        return super().handle_expect_100()

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own lines (and errors) go through our logger, at debug level."""
        log.debug(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request is written by _dispatch instead."""

    def read_body(self) -> bytes | Reply:
        """The request body, or the error reply when it cannot or may not be read."""
        self._body_read = True
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return Reply.json(411, {"error": "a Content-Length is required"})
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self.close_connection = True
            return Reply.json(400, {"error": "bad Content-Length"})
        if length > MAX_BODY_BYTES:
            # Not read: close the connection rather than drain a body we refuse.
            self.close_connection = True
            return Reply.json(413, {"error": "request body too large"})
        return self.rfile.read(length)

    # ------------------------------------------------------------------ routes

    def _route(self, path: str, query: str) -> Reply:
        method = self.command
        function = LAMBDA_ROUTES.get((method, path))
        if function is not None:
            return self._lambda(function, path, query)
        local = LOCAL_ROUTES.get((method, path))
        if local is not None:
            return local(self)
        allowed = sorted(m for (m, p) in (*LAMBDA_ROUTES, *LOCAL_ROUTES) if p == path)
        if allowed:
            self._discard_body()
            return Reply.json(405, {"error": "method not allowed"}, [("Allow", ", ".join(allowed))])
        self._discard_body()
        return Reply.json(404, {"error": "not found"})

    def _discard_body(self) -> None:
        self.read_body()

    def _lambda(self, function: str, path: str, query: str) -> Reply:
        body = self.read_body()
        if isinstance(body, Reply):
            return body
        event = http_api_event(
            self.command,
            path,
            headers=list(self.headers.items()),
            body=body,
            query=query,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        try:
            result = self.server.stack.invoke(function, event)
            return proxy_reply(result)
        except Exception:
            log.error(
                "%s raised on %s %s\n%s", function, self.command, path, traceback.format_exc()
            )
            return Reply.json(500, {"error": "handler failed"})

    def _home(self) -> Reply:
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        return Reply.html(200, _page(self.server.stack, f"http://{host}/"))

    def _health(self) -> Reply:
        return Reply.json(200, {"status": "ready"})

    def _sweep(self) -> Reply:
        self._discard_body()
        return Reply.json(200, self.server.stack.run_sweep())


# The local stack's own pages and controls; later parts (bot simulator, fake providers,
# clock panel) add theirs here.
LocalRoute = Callable[[LocalHandler], Reply]
LOCAL_ROUTES: dict[tuple[str, str], LocalRoute] = {
    ("GET", "/"): LocalHandler._home,
    ("GET", "/_local/health"): LocalHandler._health,
    ("POST", "/_local/sweep"): LocalHandler._sweep,
}


class LocalServer(ThreadingHTTPServer):
    """`LocalServer(stack, port)`; `serve_forever()` in a thread, `shutdown()` from another."""

    daemon_threads = True

    def __init__(self, stack: LocalStack, port: int = 8080, host: str = "127.0.0.1") -> None:
        self.stack = stack
        super().__init__((host, port), LocalHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/"
