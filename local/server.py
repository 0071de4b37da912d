"""The local API Gateway: HTTP requests in, HTTP API (payload 2.0) events to the real
handlers, their Lambda proxy responses back out as HTTP.

Routes are template.yaml's (POST /telegram, POST /payments/{stripe,paypal,cryptopay},
POST /payments/yookassa/{secret}, and the entitlements read API, GET
/entitlements/{telegram_id} and POST /entitlements/batch, whose AWS IAM check is replaced by
the local key in the X-Local-Key header: 403 {"message": "Forbidden"} without it) plus the
local stack's own (LOCAL_ROUTES, LOCAL_PATTERN_ROUTES; the logic is local/simulator.py):

    GET  /                                  the bot simulator page (and this route list)
    GET  /_local/health                     readiness
    POST /_local/sweep                      the renewal sweep now -> {"due", "worked", "failed"}
    POST /_local/reconcile                  payment reconciliation now -> {"seen", "expired", ...}
    GET  /_local/clock                      -> {"now": "<ISO 8601>"}
    POST /_local/clock                      {"advance_seconds": N} or {"set": "<ISO 8601>"}
    GET  /_local/users                      the simulated users [{"id", "first_name", ...}]
    POST /_local/users                      {"id", "first_name", "language_code": "en"|"ru"}
    GET  /_local/chats/{user_id}            {"user", "messages", "reply_keyboard"} (the page)
    GET  /_local/chats/{user_id}/messages   the chat's messages, as the fake Bot API keeps them
    POST /_local/chats/{user_id}/send       {"text"}
    POST /_local/chats/{user_id}/press      {"message_id", "data"}: an inline button
    POST /_local/chats/{user_id}/contact    {"phone_number"}: the user's own contact
    POST /_local/chats/{user_id}/share_user {"user_id"}: via the request_users button
    POST /_local/chats/{user_id}/pay_invoice {"message_id"}: pre-checkout, then the payment
    GET  /_local/files/{file_id}            a file the bot sent (inline, with its type)
    GET  /_local/entitlements/{user_id}     {"entitlements", "etag", "last_event"}: what the
                                            read API answers, the sink's last event of theirs
    GET  /_local/entitlement_events         {"events": [...]}: what the sink received, newest
                                            first (EventBridge envelopes)
    GET  /_local/schedules                  {"schedules": [{"name", "every_seconds"}]}

The user and chat endpoints need the built-in fake Bot API and answer 503 when
TELEGRAM_API_BASE points elsewhere; a bad request to any of them is a 400 JSON
{"error": "..."}. Differences from API Gateway, on purpose:
an unknown path is 404 and a known path with another method 405 (API Gateway answers 404
to both); a handler that raises is answered 500 {"error": "handler failed"} with the
traceback logged (API Gateway answers 500 {"message": "Internal Server Error"}).
"""

from __future__ import annotations

import base64
import hmac
import html
import ipaddress
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from local.events import ACCOUNT_ID, http_api_event
from local.simulator import Outcome, Simulator, SimulatorError, content_disposition, render_page
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
# YooKassa's notification URL ends in a secret segment: /payments/yookassa/{secret}.
YOOKASSA_ROUTE = "/payments/yookassa/"
# The entitlements routes take AWS IAM (SigV4) callers in AWS. Here the local key in this
# header stands in for the signature: without it the answer is API Gateway's own 403, and
# with it the function sees the caller the authorizer would name.
LOCAL_KEY_HEADER = "X-Local-Key"
LOCAL_READER_ARN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/EntitlementsReaderRole/local"
ENTITLEMENTS_ONE = re.compile(r"/entitlements/([^/]+)")
ENTITLEMENTS_BATCH = "/entitlements/batch"


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


# Shown on the page, in this order; the module docstring has the bodies.
LOCAL_ROUTE_LIST: tuple[tuple[str, str], ...] = (
    ("GET /", "this page: the bot simulator"),
    ("GET /_local/health", "readiness"),
    ("POST /_local/sweep", "run the renewal sweep now"),
    ("POST /_local/reconcile", "run the payment reconciliation now"),
    ("GET /_local/clock", "the local clock"),
    ("POST /_local/clock", 'move it: {"advance_seconds": N} or {"set": "<ISO 8601>"}'),
    ("GET /_local/users", "the simulated Telegram users"),
    ("POST /_local/users", 'add one: {"id", "first_name", "language_code"}'),
    ("GET /_local/chats/{user_id}", "a chat: messages, the reply keyboard, the command menu"),
    ("GET /_local/chats/{user_id}/messages", "a chat's messages"),
    ("POST /_local/chats/{user_id}/send", '{"text"}'),
    ("POST /_local/chats/{user_id}/press", '{"message_id", "data"}: press an inline button'),
    ("POST /_local/chats/{user_id}/contact", '{"phone_number"}: share the own contact'),
    ("POST /_local/chats/{user_id}/share_user", '{"user_id"}: pick a user as asked'),
    ("POST /_local/chats/{user_id}/pay_invoice", '{"message_id"}: pay a Telegram invoice'),
    ("GET /_local/files/{file_id}", "a file the bot sent"),
    ("GET /_local/entitlements/{user_id}", "a user's entitlements and their last change event"),
    ("GET /_local/entitlement_events", "the entitlements.changed events the sink received"),
    ("GET /_local/schedules", "what runs on a timer (the sweep, reconciliation, the stream)"),
)


def _page(stack: LocalStack, base: str, simulator: Simulator) -> str:
    routes = "".join(
        f"<li><code>{method} {html.escape(base.rstrip('/') + path)}</code> &rarr; {name}</li>"
        for (method, path), name in LAMBDA_ROUTES.items()
    )
    local = "".join(
        f"<li><code>{html.escape(route)}</code> &mdash; {html.escape(text)}</li>"
        for route, text in LOCAL_ROUTE_LIST
    )
    bot_api = (
        "the built-in fake Bot API"
        if simulator.available
        else f"<code>{html.escape(stack.telegram_api_base)}</code>"
    )
    routes_html = f"""<p>The real Lambda handlers behind a local API Gateway (HTTP API, payload
2.0), with DynamoDB, SSM and SQS served by moto at <code>{html.escape(stack.moto_endpoint)}</code>
and the bot's Bot API calls answered by {bot_api}.</p>
<h3>Routes</h3><ul>{routes}</ul>
<p>Telegram updates need the header
<code>{SECRET_HEADER}: {html.escape(stack.webhook_secret)}</code>.</p>
<h3>Entitlements (the telephony side's read API)</h3><ul>
<li><code>GET {html.escape(base.rstrip("/"))}/entitlements/{{telegram_id}}</code></li>
<li><code>POST {html.escape(base.rstrip("/"))}/entitlements/batch</code>
<code>{{"telegram_ids": [...]}}</code></li></ul>
<p>AWS IAM (SigV4) in AWS; here the header
<code>{LOCAL_KEY_HEADER}: {html.escape(stack.entitlements_key)}</code> stands in for it.</p>
<h3>Local endpoints</h3><ul>{local}</ul>"""
    return render_page(routes_html=routes_html, available=simulator.available)


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
        if function is None and method == "POST" and path.startswith(YOOKASSA_ROUTE):
            function = "payment_webhook"
        if function is not None:
            return self._lambda(function, path, query)
        entitlements = self._entitlements_route(method, path)
        if entitlements is not None:
            return self._entitlements(path, query, *entitlements)
        local = LOCAL_ROUTES.get((method, path))
        if local is not None:
            return local(self)
        allowed = {m for (m, p) in (*LAMBDA_ROUTES, *LOCAL_ROUTES) if p == path}
        if path == ENTITLEMENTS_BATCH:
            allowed.add("POST")
        elif ENTITLEMENTS_ONE.fullmatch(path):
            allowed.add("GET")
        for route_method, pattern, route in LOCAL_PATTERN_ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method:
                return route(self, *(unquote(group) for group in match.groups()))
            allowed.add(route_method)
        if allowed:
            self._discard_body()
            allow = ", ".join(sorted(allowed))
            return Reply.json(405, {"error": "method not allowed"}, [("Allow", allow)])
        self._discard_body()
        return Reply.json(404, {"error": "not found"})

    def _source_ip(self) -> str:
        """The peer's address, as API Gateway reports it. The local fake YooKassa posts over
        loopback and names the address it stands for (inside YooKassa's networks, or
        outside for a test) in a header; that header counts from loopback only, and the
        deployed API never reads one."""
        from local.fake_yookassa import SOURCE_IP_HEADER

        peer = self.client_address[0]
        named = self.headers.get(SOURCE_IP_HEADER)
        if named and ipaddress.ip_address(peer).is_loopback:
            return named
        return peer

    def _discard_body(self) -> None:
        self.read_body()

    @staticmethod
    def _entitlements_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """(route key, path parameters) of an entitlements route, as template.yaml has them."""
        if method == "POST" and path == ENTITLEMENTS_BATCH:
            return f"POST {ENTITLEMENTS_BATCH}", {}
        one = ENTITLEMENTS_ONE.fullmatch(path)
        if method == "GET" and one is not None and path != ENTITLEMENTS_BATCH:
            return "GET /entitlements/{telegram_id}", {"telegram_id": unquote(one.group(1))}
        return None

    def _entitlements(
        self, path: str, query: str, route_key: str, parameters: dict[str, str]
    ) -> Reply:
        given = self.headers.get(LOCAL_KEY_HEADER) or ""
        if not hmac.compare_digest(given.encode(), self.server.stack.entitlements_key.encode()):
            self._discard_body()
            return Reply.json(403, {"message": "Forbidden"})  # what API Gateway answers
        return self._lambda(
            "entitlements_api",
            path,
            query,
            route_key=route_key,
            path_parameters=parameters,
            iam_caller=LOCAL_READER_ARN,
        )

    def _lambda(
        self,
        function: str,
        path: str,
        query: str,
        *,
        route_key: str | None = None,
        path_parameters: dict[str, str] | None = None,
        iam_caller: str | None = None,
    ) -> Reply:
        body = self.read_body()
        if isinstance(body, Reply):
            return body
        headers = [(k, v) for k, v in self.headers.items() if k.lower() != LOCAL_KEY_HEADER.lower()]
        event = http_api_event(
            self.command,
            path,
            headers=headers,
            body=body,
            query=query,
            source_ip=self._source_ip(),
            route_key=route_key,
            path_parameters=path_parameters,
            iam_caller=iam_caller,
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
        server = self.server
        return Reply.html(200, _page(server.stack, f"http://{host}/", server.simulator))

    def _health(self) -> Reply:
        return Reply.json(200, {"status": "ready"})

    def _sweep(self) -> Reply:
        self._discard_body()
        return Reply.json(200, self.server.stack.run_sweep())

    def _reconcile(self) -> Reply:
        self._discard_body()
        return Reply.json(200, self.server.stack.run_reconcile())

    # ------------------------------------------------------------------ the simulator

    def _simulate(self, action: Callable[[bytes], Outcome]) -> Reply:
        """Run a simulator action on the request body; its refusals become JSON errors."""
        body = self.read_body()
        if isinstance(body, Reply):
            return body
        try:
            status, payload = action(body)
        except SimulatorError as error:
            return Reply.json(error.status, {"error": error.message})
        return Reply.json(status, payload)

    def _clock(self) -> Reply:
        return self._simulate(lambda _: self.server.simulator.clock())

    def _move_clock(self) -> Reply:
        return self._simulate(self.server.simulator.move_clock)

    def _users(self) -> Reply:
        return self._simulate(lambda _: self.server.simulator.users())

    def _add_user(self) -> Reply:
        return self._simulate(self.server.simulator.add_user)

    def _user_entitlements(self, user_id: str) -> Reply:
        """What the telephony side reads for the user (through the read API's function,
        as the local reader) and the last change event the sink received for them."""
        if not re.fullmatch(r"[1-9][0-9]{0,15}", user_id):
            return Reply.json(400, {"error": "user_id must be a positive integer"})
        stack = self.server.stack
        event = http_api_event(
            "GET",
            f"/entitlements/{user_id}",
            headers={},
            body=b"",
            route_key="GET /entitlements/{telegram_id}",
            path_parameters={"telegram_id": user_id},
            iam_caller=LOCAL_READER_ARN,
        )
        answer = stack.invoke("entitlements_api", event)
        if answer["statusCode"] != 200:
            return proxy_reply(answer)
        latest = stack.event_sink.latest(int(user_id)) if stack.event_sink else None
        return Reply.json(
            200,
            {
                "entitlements": json.loads(answer["body"]),
                "etag": answer["headers"]["etag"],
                "last_event": latest,
            },
        )

    def _schedules(self) -> Reply:
        """What runs on a timer here, as EventBridge Scheduler runs it in AWS."""
        schedules = self.server.stack.schedules
        return Reply.json(
            200,
            {"schedules": [{"name": n, "every_seconds": s} for n, s in schedules.items()]},
        )

    def _entitlement_events(self) -> Reply:
        """The change events the sink received, newest first."""
        sink = self.server.stack.event_sink
        events = list(reversed(sink.events)) if sink else []
        return Reply.json(200, {"events": events})

    def _chat(self, user_id: str) -> Reply:
        return self._simulate(lambda _: self.server.simulator.chat(user_id))

    def _messages(self, user_id: str) -> Reply:
        return self._simulate(lambda _: self.server.simulator.messages(user_id))

    def _chat_action(self, user_id: str, action: str) -> Reply:
        simulator = self.server.simulator
        perform: Callable[[str, bytes], Outcome] = {
            "send": simulator.send,
            "press": simulator.press,
            "contact": simulator.contact,
            "share_user": simulator.share_user,
            "pay_invoice": simulator.pay_invoice,
        }[action]
        return self._simulate(lambda body: perform(user_id, body))

    def _file(self, file_id: str) -> Reply:
        self._discard_body()
        try:
            name, content, mime = self.server.simulator.file(file_id)
        except SimulatorError as error:
            return Reply.json(error.status, {"error": error.message})
        headers = [
            ("Content-Type", mime),
            ("Content-Disposition", content_disposition(name)),
            ("X-Content-Type-Options", "nosniff"),
        ]
        return Reply(200, content, headers)


# The local stack's own pages and controls; later parts (fake providers) add theirs here.
LocalRoute = Callable[[LocalHandler], Reply]
LOCAL_ROUTES: dict[tuple[str, str], LocalRoute] = {
    ("GET", "/"): LocalHandler._home,
    ("GET", "/_local/health"): LocalHandler._health,
    ("POST", "/_local/sweep"): LocalHandler._sweep,
    ("POST", "/_local/reconcile"): LocalHandler._reconcile,
    ("GET", "/_local/clock"): LocalHandler._clock,
    ("POST", "/_local/clock"): LocalHandler._move_clock,
    ("GET", "/_local/users"): LocalHandler._users,
    ("POST", "/_local/users"): LocalHandler._add_user,
    ("GET", "/_local/entitlement_events"): LocalHandler._entitlement_events,
    ("GET", "/_local/schedules"): LocalHandler._schedules,
}

# Routes with path parameters: the pattern's groups, URL-decoded, are the arguments.
PatternRoute = Callable[..., Reply]
_SEGMENT = r"([^/]+)"
LOCAL_PATTERN_ROUTES: list[tuple[str, re.Pattern[str], PatternRoute]] = [
    ("GET", re.compile(rf"/_local/chats/{_SEGMENT}"), LocalHandler._chat),
    ("GET", re.compile(rf"/_local/chats/{_SEGMENT}/messages"), LocalHandler._messages),
    (
        "POST",
        re.compile(rf"/_local/chats/{_SEGMENT}/(send|press|contact|share_user|pay_invoice)"),
        LocalHandler._chat_action,
    ),
    ("GET", re.compile(rf"/_local/files/{_SEGMENT}"), LocalHandler._file),
    ("GET", re.compile(rf"/_local/entitlements/{_SEGMENT}"), LocalHandler._user_entitlements),
]


class LocalServer(ThreadingHTTPServer):
    """`LocalServer(stack, port)`; `serve_forever()` in a thread, `shutdown()` from another."""

    daemon_threads = True

    def __init__(self, stack: LocalStack, port: int = 8080, host: str = "127.0.0.1") -> None:
        self.stack = stack
        self.simulator = Simulator(stack)
        super().__init__((host, port), LocalHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/"
