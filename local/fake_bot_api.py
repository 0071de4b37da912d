"""An in-memory Telegram Bot API for tests and the local stack.

It behaves like api.telegram.org for the methods a billing bot uses and checks EVERY call
against the Bot API contract (local/bot_api_contract.py, from contracts/telegram-bot-api):
a violation is answered as the real server would (HTTP 400 {"ok": false, "error_code": 400,
"description": "Bad Request: ..."}; 404 "Not Found" for an unknown method) and recorded in
`violations`, so that a test can assert that the bot never broke the contract.

Three ways in, one behaviour:
- `handle(method, params, files)` - a direct call;
- `transport()` - an httpx.MockTransport: `BotApi(base_url="https://api.telegram.org",
  token=fake.token, transport=fake.transport())`;
- `serve()` - a real HTTP server on 127.0.0.1 (for the local stack): JSON, urlencoded and
  multipart bodies and query-string parameters, as the real server accepts them.
`apply_webhook_reply(body)` performs a method call returned in a webhook response body
(`{"method": "sendMessage", ...}`), as Telegram does.

State kept per chat: the messages (bot's and user's, one message_id counter per chat, shaped
like real Message objects), the current reply keyboard, answered callback and pre-checkout
queries, uploaded files, the webhook and the command lists. Builders (`user_message`,
`press_button`, `pre_checkout`, `successful_payment`) make the updates a user would cause,
consistent with that state. `block(user_id)`, `deactivate(user_id)` and `fail_next(...)`
inject the failures a bot must survive.

Telegram Stars: the bot's Star transactions are kept as getStarTransactions returns them
(StarTransaction objects, oldest first). `successful_payment` of an XTR invoice records the
incoming one: its id is the payment's telegram_payment_charge_id ("stx" and 86 URL-safe
characters, unique per payment), amount the Stars, date the fake's clock, source a
TransactionPartnerUser {"type": "user", "transaction_type": "invoice_payment", "user",
"invoice_payload"}; other currencies record nothing. `refundStarPayment(user_id,
telegram_payment_charge_id)` answers True once per charge and records the outgoing refund
(the SAME id, the same amount, date now, the same partner as `receiver`); a second refund is
400 "Bad Request: CHARGE_ALREADY_REFUNDED"; a charge the bot never received from that user
(unknown, or another user's) is 400 "Bad Request: CHARGE_NOT_FOUND" - both state errors, not
violations. `getStarTransactions(offset=0, limit=100)` pages the list; `getMyStarBalance`
answers the balance (incoming minus outgoing) as a StarAmount. Hooks: `star_transactions()`,
`star_balance()`; the refund calls are `calls_of("refundStarPayment")`.

Violations, besides the contract's: an empty telegram_payment_charge_id or a user_id that is
not positive in refundStarPayment (refused by Telegram too: 'Parameter
"telegram_payment_charge_id" is required', "invalid user_id specified"), and - stricter than
Telegram, which clamps them silently - a getStarTransactions limit outside 1-100 or a
negative offset (a bot asking for 1000 gets 100 and may take that page for the last).

Known simplifications: text sent with parse_mode HTML is stored as Telegram shows it (tags
removed, entities decoded) but without `entities`; Markdown text is stored as sent; files
given by URL are not fetched; inline messages (inline_message_id) do not exist here. A Stars
refund neither posts the `refunded_payment` service message to the chat nor is refused for a
low balance (no such refusal is documented; the balance may go negative, as StarAmount
allows); `fail_next("refundStarPayment", 400, "Bad Request: BALANCE_TOO_LOW")` injects one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message as MimeHeaders
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from local.bot_api_contract import BotApiContract, ContractViolation, html_plain_text
from local.http_peer import LoopbackServer, Reply

# The most Stars one invoice may ask (Telegram's currencies.json, XTR max_amount).
STARS_MAX_AMOUNT = 10_000
DEFAULT_TOKEN = "123456789:TEST-fake-bot-token"  # noqa: S105 - a test fixture, not a secret
BOT_USER: dict[str, Any] = {
    "id": 999000,
    "is_bot": True,
    "first_name": "SIP Billing Bot",
    "username": "sip_billing_bot",
}

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CHARGE_ALREADY_REFUNDED = "Bad Request: CHARGE_ALREADY_REFUNDED"
CHARGE_NOT_FOUND = "Bad Request: CHARGE_NOT_FOUND"
STARS = "XTR"
STAR_TRANSACTIONS_LIMIT = 100  # getStarTransactions: "Values between 1-100 are accepted"
BLOCKED = "Forbidden: bot was blocked by the user"
DEACTIVATED = "Forbidden: user is deactivated"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
DEFAULT_FAULTS = {
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_PATH = re.compile(r"/bot([^/]*)/([^/]+)")

Json = dict[str, Any]
Result = tuple[int, Json]
FileTuple = tuple[str, bytes, str]


class _ApiError(Exception):
    """A refusal that depends on state (not found, blocked, ...), not on the contract."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True)
class _Ok:
    result: Any
    description: str | None = None


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None


@dataclass
class _Stored:
    message: Json
    content: tuple[str, ...] = ()  # what "message is not modified" compares
    payload: str | None = None  # an invoice's payload
    pre_checkout_ok: bool = False


@dataclass
class _StarCharge:
    """A Stars payment the bot received: whose, how much, for which invoice, refunded yet."""

    user_id: int
    amount: int
    partner: Json  # the TransactionPartnerUser, the source of the payment and receiver of a refund
    refunded: bool = False


@dataclass
class _Chat:
    messages: dict[int, _Stored] = field(default_factory=dict)
    next_id: int = 1
    reply_keyboard: Json | None = None


def _error(status: int, description: str, parameters: Json | None = None) -> Result:
    body: Json = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body


def _markup_key(markup: object) -> str:
    return json.dumps(markup, sort_keys=True, ensure_ascii=False)


def _text_content(text: str, parse_mode: object, entities: object) -> tuple[str, str]:
    """(text as shown, formatting) of a message text, for the not-modified comparison."""
    if parse_mode == "HTML":
        return html_plain_text(text), text
    if parse_mode is None:
        return text, html.escape(text, quote=False) + _markup_key(entities or [])
    return text, f"{parse_mode}:{text}"


def _attached_names(value: object) -> Iterator[str]:
    """Names of multipart parts referenced as "attach://<name>" anywhere in a value."""
    if isinstance(value, str) and value.startswith("attach://"):
        yield value.removeprefix("attach://")
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _attached_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _attached_names(item)


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, FileTuple]]:
    """Fields and files of a multipart/form-data body (name -> value, name -> file tuple)."""
    headers = MimeHeaders()
    headers["content-type"] = content_type
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, str] = {}
    files: dict[str, FileTuple] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        part = MimeHeaders()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                part[name.strip()] = value.strip()
        field_name = part.get_param("name", header="content-disposition")
        if not isinstance(field_name, str):
            continue
        filename = part.get_filename()
        if filename is not None:
            files[field_name] = (filename, data, part.get_content_type())
        else:
            fields[field_name] = data.decode("utf-8", "replace")
    return fields, files


class FakeBotApi:
    """See the module docstring. All public methods are thread-safe."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        contract: BotApiContract | None = None,
        clock: Callable[[], float] = time.time,
        require_https_webhook: bool = True,
    ) -> None:
        self.token = token
        self.contract = contract if contract is not None else BotApiContract.load()
        self.require_https_webhook = require_https_webhook
        self._clock = clock
        self._lock = threading.RLock()
        self._updates_ready = threading.Condition(self._lock)
        self.calls: list[tuple[str, Json]] = []
        self.violations: list[str] = []
        self.callback_answers: dict[str, Json] = {}
        self.pre_checkout_answers: dict[str, Json] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook: Json = {}
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, Json] = {}
        self._blocked: dict[int, str] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._updates: list[Json] = []
        self._next_update_id = 1
        self._next_query_id = 1
        self._files: dict[str, FileTuple] = {}
        self._pre_checkouts: dict[str, tuple[int, int]] = {}
        self._star_transactions: list[Json] = []
        self._star_charges: dict[str, _StarCharge] = {}
        self._next_charge = 1
        self._http = LoopbackServer("fake Bot API", self._respond)
        self._methods: dict[str, Callable[[Json], Any]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendInvoice": self._send_invoice,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "refundStarPayment": self._refund_star_payment,
            "getStarTransactions": self._get_star_transactions,
            "getMyStarBalance": self._get_my_star_balance,
            "sendChatAction": self._send_chat_action,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getUpdates": self._get_updates,
        }

    # -- the three ways in ----------------------------------------------------------------

    def handle(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, FileTuple] | None = None,
    ) -> Result:
        """Perform one Bot API call; (HTTP status, response body) as the server answers."""
        files = dict(files or {})
        with self._lock:
            attached = set(_attached_names(dict(params)))
            given: Json = {**params, **{k: v for k, v in files.items() if k not in attached}}
            self.calls.append((method, copy.deepcopy(given)))
            try:
                self.contract.check(method, given)
            except ContractViolation as violation:
                return self._violation(method, violation)
            queue = self._faults.get(method)
            if queue:
                fault = queue.popleft()
                parameters = {"retry_after": fault.retry_after} if fault.retry_after else None
                return _error(fault.status, fault.description, parameters)
            implementation = self._methods.get(method)
            if implementation is None:
                description = f"Bad Request: method {method} is not implemented by the fake Bot API"
                self.violations.append(f"{method}: {description}")
                return _error(400, description)
            try:
                self._check_reachable(given)
                outcome = implementation({**given, "_files": files})
            except ContractViolation as violation:
                return self._violation(method, violation)
            except _ApiError as error:
                return _error(error.status, error.description, error.parameters)
        body: Json = {"ok": True}
        if isinstance(outcome, _Ok):
            body["result"] = outcome.result
            if outcome.description:
                body["description"] = outcome.description
        else:
            body["result"] = outcome
        return 200, body

    def handle_http(
        self, verb: str, path: str, query: str, content_type: str | None, body: bytes
    ) -> Result:
        """One HTTP request to https://api.telegram.org/bot<token>/<method>."""
        match = _PATH.fullmatch(path)
        if match is None or verb not in {"GET", "POST"}:
            return _error(404, "Not Found")
        if match[1] != self.token:
            return _error(401, "Unauthorized")
        method = match[2]
        raw: dict[str, str] = dict(parse_qsl(query, keep_blank_values=True))
        params: Json = {}
        files: dict[str, FileTuple] = {}
        kind = (content_type or "").split(";")[0].strip().lower()
        if body and kind == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                return _error(400, "Bad Request: can't parse JSON object")
            if not isinstance(decoded, dict):
                return _error(400, "Bad Request: the request body must be a JSON object")
            params.update(decoded)
        elif body and kind == "application/x-www-form-urlencoded":
            raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif body and kind == "multipart/form-data":
            try:
                fields, files = parse_multipart(content_type or "", body)
            except ValueError as exc:
                return _error(400, f"Bad Request: {exc}")
            raw.update(fields)
        for name, value in raw.items():
            params.setdefault(name, self.contract.decode_form_value(method, name, value))
        return self.handle(method, params, files)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering every request from this fake (no network)."""

        def answer(request: httpx.Request) -> httpx.Response:
            status, payload = self.handle_http(
                request.method,
                request.url.path,
                request.url.query.decode(),
                request.headers.get("content-type"),
                request.read(),
            )
            return httpx.Response(status, json=payload)

        return httpx.MockTransport(answer)

    def apply_webhook_reply(self, body: Mapping[str, Any] | str | bytes | None) -> Result | None:
        """Perform the method call a webhook answered with, as Telegram does; None if the
        body names no method (Telegram then does nothing)."""
        if isinstance(body, str | bytes):
            try:
                body = json.loads(body) if body else None
            except ValueError:
                return None
        if not isinstance(body, Mapping) or "method" not in body:
            return None
        method = body["method"]
        params = {key: value for key, value in body.items() if key != "method"}
        if not isinstance(method, str):
            description = f"Bad Request: webhook reply method must be a string, got {method!r}"
            with self._lock:
                self.calls.append((str(method), copy.deepcopy(params)))
                self.violations.append(f"webhook reply: {description}")
            return _error(400, description)
        return self.handle(method, params)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start a threaded HTTP server speaking the Bot API protocol; returns its base URL."""
        return self._http.start(host, port)

    def stop(self) -> None:
        """Stop the HTTP server started by serve() (no-op if none)."""
        self._http.stop()

    def _respond(self, verb: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urlsplit(target)
        status, payload = self.handle_http(
            verb, unquote(url.path), url.query, headers.get("content-type"), body
        )
        return Reply(status, json.dumps(payload, ensure_ascii=False).encode())

    # -- fault injection and inspection ----------------------------------------------------

    def block(self, user_id: int) -> None:
        """The user blocks the bot: calls to their chat answer 403."""
        with self._lock:
            self._blocked[user_id] = BLOCKED

    def deactivate(self, user_id: int) -> None:
        """The user deletes their account: calls to their chat answer 403."""
        with self._lock:
            self._blocked[user_id] = DEACTIVATED

    def unblock(self, user_id: int) -> None:
        with self._lock:
            self._blocked.pop(user_id, None)

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next call of `method` (after the contract check) fails with this answer;
        calling it n times queues n failures."""
        text = description or DEFAULT_FAULTS.get(status, f"Error {status}")
        with self._lock:
            self._faults.setdefault(method, deque()).append(
                _Fault(status, text.format(retry_after=retry_after), retry_after)
            )

    def assert_no_violations(self) -> None:
        with self._lock:
            if self.violations:
                raise AssertionError("Bot API contract violations:\n" + "\n".join(self.violations))

    def messages(self, chat_id: int) -> list[Json]:
        """The chat's messages (the bot's and the user's), oldest first, deleted ones gone."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return []
            return [copy.deepcopy(s.message) for s in chat.messages.values()]

    def message(self, chat_id: int, message_id: int) -> Json | None:
        with self._lock:
            stored = self._find(chat_id, message_id)
            return None if stored is None else copy.deepcopy(stored.message)

    def last_message(self, chat_id: int) -> Json | None:
        found = self.messages(chat_id)
        return found[-1] if found else None

    def reply_keyboard(self, chat_id: int) -> Json | None:
        """The reply keyboard the user currently sees in this chat, if any."""
        with self._lock:
            chat = self._chats.get(chat_id)
            return copy.deepcopy(chat.reply_keyboard) if chat else None

    def menu(self, chat_id: int, language_code: str | None = None) -> list[Json]:
        """The command menu a user with this language sees in their private chat, as
        Telegram picks it from what setMyCommands registered: the narrowest scope first
        (the chat, all private chats, the default), each in the user's language, then
        without one."""
        scopes = ({"type": "chat", "chat_id": chat_id}, {"type": "all_private_chats"}, None)
        with self._lock:
            for scope in scopes:
                for language in (language_code or "", ""):
                    key = self._commands_key({"scope": scope, "language_code": language})
                    if key in self.commands:
                        return copy.deepcopy(self.commands[key])
            return []

    def file(self, file_id: str) -> FileTuple:
        """(file name, content, MIME type) of a file the bot uploaded."""
        with self._lock:
            return self._files[file_id]

    def calls_of(self, method: str) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(params) for name, params in self.calls if name == method]

    def star_transactions(self) -> list[Json]:
        """The bot's Star transactions, oldest first, as getStarTransactions lists them."""
        with self._lock:
            return copy.deepcopy(self._star_transactions)

    def star_balance(self) -> int:
        """The bot's Stars: incoming transactions minus outgoing ones (refunds)."""
        with self._lock:
            return self._balance()

    # -- updates: what users do -----------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> Json:
        """Queue an update for getUpdates (an update_id is assigned if missing)."""
        with self._lock:
            queued = dict(update)
            if "update_id" not in queued:
                queued["update_id"] = self._take_update_id()
            else:
                self._next_update_id = max(self._next_update_id, int(queued["update_id"]) + 1)
            self._updates.append(queued)
            self._updates_ready.notify_all()
            return copy.deepcopy(queued)

    def user_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        **content: Any,
    ) -> Json:
        """The update of a user writing to the bot in their private chat (not queued; pass it
        to the webhook or to push_update). `content` adds message fields such as contact,
        users_shared or forward_origin. A leading /command gets its bot_command entity."""
        with self._lock:
            user = self._remember_user(user_id, first_name, last_name, username, language_code)
            fields: Json = dict(content)
            if text is not None:
                fields["text"] = text
                if text.startswith("/") and "entities" not in fields:
                    command = text.split()[0]
                    length = len(command.encode("utf-16-le")) // 2
                    fields["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            stored = self._new_message(user_id, user, fields)
            return {
                "update_id": self._take_update_id(),
                "message": copy.deepcopy(stored.message),
            }

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        *,
        text: str | None = None,
        data: str | None = None,
    ) -> Json:
        """The update of the user pressing an inline button (found by its text or its
        callback_data) of a message the bot sent; LookupError if there is no such button."""
        with self._lock:
            stored = self._find(chat_id, message_id)
            if stored is None:
                raise LookupError(f"no message {message_id} in chat {chat_id}")
            rows = (stored.message.get("reply_markup") or {}).get("inline_keyboard", [])
            buttons = [button for row in rows for button in row]
            for button in buttons:
                if (text is None or button.get("text") == text) and (
                    data is None or button.get("callback_data") == data
                ):
                    break
            else:
                labels = [(b.get("text"), b.get("callback_data")) for b in buttons]
                raise LookupError(f"no button text={text!r} data={data!r} among {labels}")
            if "callback_data" not in button:
                raise LookupError(f"button {button.get('text')!r} is not a callback button")
            query = {
                "id": self._take_query_id(),
                "from": self._user(chat_id),
                "message": copy.deepcopy(stored.message),
                "chat_instance": str(-(10**18) - chat_id),
                "data": button["callback_data"],
            }
            return {"update_id": self._take_update_id(), "callback_query": query}

    def pre_checkout(self, chat_id: int, message_id: int) -> Json:
        """The update of the user pressing Pay on an invoice the bot sent."""
        with self._lock:
            stored = self._invoice(chat_id, message_id)
            invoice = stored.message["invoice"]
            query_id = self._take_query_id()
            self._pre_checkouts[query_id] = (chat_id, message_id)
            query = {
                "id": query_id,
                "from": self._user(chat_id),
                "currency": invoice["currency"],
                "total_amount": invoice["total_amount"],
                "invoice_payload": stored.payload,
            }
            return {"update_id": self._take_update_id(), "pre_checkout_query": query}

    def successful_payment(self, chat_id: int, message_id: int) -> Json:
        """The update Telegram sends once the payment of an invoice went through; only after
        the bot answered its pre-checkout query with ok=True, as with the real server."""
        with self._lock:
            stored = self._invoice(chat_id, message_id)
            if not stored.pre_checkout_ok:
                raise RuntimeError("the bot has not approved a pre-checkout query of this invoice")
            invoice = stored.message["invoice"]
            user = self._user(chat_id)
            stars = invoice["currency"] == STARS
            charge_id = (
                self._take_charge_id(chat_id, message_id)
                if stars
                else f"stxFAKE{chat_id}_{message_id}_{self._clock():.0f}"
            )
            payment = {
                "currency": invoice["currency"],
                "total_amount": invoice["total_amount"],
                "invoice_payload": stored.payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            }
            if stars:
                partner: Json = {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": user,
                }
                if stored.payload is not None:
                    partner["invoice_payload"] = stored.payload
                charge = _StarCharge(chat_id, invoice["total_amount"], partner)
                self._star_charges[charge_id] = charge
                self._record_star_transaction(charge_id, charge, incoming=True)
            paid = self._new_message(chat_id, user, {"successful_payment": payment})
            return {"update_id": self._take_update_id(), "message": copy.deepcopy(paid.message)}

    # -- internals ------------------------------------------------------------------------

    def _violation(self, method: str, violation: ContractViolation) -> Result:
        self.violations.append(f"{method}: {violation.description}")
        return _error(violation.error_code, violation.description)

    def _take_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _take_query_id(self) -> str:
        query_id = str(4_000_000_000_000_000 + self._next_query_id)
        self._next_query_id += 1
        return query_id

    def _take_charge_id(self, chat_id: int, message_id: int) -> str:
        """A Stars telegram_payment_charge_id shaped like Telegram's ("stx" and URL-safe
        base64), unique per payment and reproducible for the same sequence of payments."""
        seed = f"{self.token}:{chat_id}:{message_id}:{self._next_charge}".encode()
        self._next_charge += 1
        digest = hashlib.sha512(seed).digest()
        return "stx" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _record_star_transaction(
        self, charge_id: str, charge: _StarCharge, *, incoming: bool
    ) -> None:
        self._star_transactions.append(
            {
                "id": charge_id,
                "amount": charge.amount,
                "date": int(self._clock()),
                "source" if incoming else "receiver": copy.deepcopy(charge.partner),
            }
        )

    def _balance(self) -> int:
        return sum(t["amount"] if "source" in t else -t["amount"] for t in self._star_transactions)

    def _remember_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> Json:
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                user[key] = value
        self._users[user_id] = user
        return user

    def _user(self, user_id: int) -> Json:
        known = self._users.get(user_id)
        if known is None:
            known = self._remember_user(user_id, "Test", None, None, "en")
        return dict(known)

    def _chat_object(self, chat_id: int) -> Json:
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}
        chat: Json = {"id": chat_id, "type": "private"}
        user = self._users.get(chat_id)
        if user is not None:
            chat.update({k: user[k] for k in ("first_name", "last_name", "username") if k in user})
        return chat

    def _chat(self, chat_id: int) -> _Chat:
        return self._chats.setdefault(chat_id, _Chat())

    def _find(self, chat_id: int, message_id: object) -> _Stored | None:
        chat = self._chats.get(chat_id)
        if chat is None or not isinstance(message_id, int):
            return None
        return chat.messages.get(message_id)

    def _invoice(self, chat_id: int, message_id: int) -> _Stored:
        stored = self._find(chat_id, message_id)
        if stored is None or "invoice" not in stored.message:
            raise LookupError(f"no invoice message {message_id} in chat {chat_id}")
        return stored

    def _new_message(self, chat_id: int, sender: Json, fields: Json) -> _Stored:
        chat = self._chat(chat_id)
        message: Json = {
            "message_id": chat.next_id,
            "from": dict(sender),
            "chat": self._chat_object(chat_id),
            "date": int(self._clock()),
            **fields,
        }
        chat.next_id += 1
        stored = _Stored(message)
        chat.messages[message["message_id"]] = stored
        return stored

    @staticmethod
    def _chat_id(params: Json) -> int:
        value = params.get("chat_id")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        raise _ApiError(400, "Bad Request: chat not found")

    def _check_reachable(self, params: Json) -> None:
        if params.get("chat_id") is None:
            return
        reason = self._blocked.get(self._chat_id(params))
        if reason is not None:
            raise _ApiError(403, reason)

    def _bot_message(self, params: Json, fields: Json) -> Json:
        """Store a message the bot sends; apply its reply_markup as the real server does."""
        chat_id = self._chat_id(params)
        reply = params.get("reply_parameters")
        if reply is not None:
            target = self._find(int(reply.get("chat_id") or chat_id), reply["message_id"])
            if target is not None:
                fields["reply_to_message"] = copy.deepcopy(target.message)
                fields["reply_to_message"].pop("reply_to_message", None)
            elif not reply.get("allow_sending_without_reply"):
                raise _ApiError(400, "Bad Request: message to be replied not found")
        markup = params.get("reply_markup")
        chat = self._chat(chat_id)
        if isinstance(markup, Mapping):
            if "inline_keyboard" in markup:
                fields["reply_markup"] = copy.deepcopy(dict(markup))
            elif "keyboard" in markup:
                chat.reply_keyboard = copy.deepcopy(dict(markup))
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        stored = self._new_message(chat_id, BOT_USER, fields)
        text = params.get("text")
        if isinstance(text, str):
            self._set_text(stored, params)
        return copy.deepcopy(stored.message)

    @staticmethod
    def _set_text(stored: _Stored, params: Json) -> None:
        entities = params.get("entities")
        shown, formatting = _text_content(params["text"], params.get("parse_mode"), entities)
        stored.message["text"] = shown
        stored.content = (shown, formatting)
        if entities and params.get("parse_mode") is None:
            stored.message["entities"] = copy.deepcopy(entities)
        else:
            stored.message.pop("entities", None)

    def _editable(self, params: Json) -> _Stored:
        if params.get("inline_message_id") is not None:
            raise _ApiError(400, EDIT_NOT_FOUND)
        stored = self._find(self._chat_id(params), params.get("message_id"))
        if stored is None:
            raise _ApiError(400, EDIT_NOT_FOUND)
        if stored.message.get("from", {}).get("id") != BOT_USER["id"]:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return stored

    # -- methods --------------------------------------------------------------------------

    def _get_me(self, params: Json) -> Json:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: Json) -> Json:
        return self._bot_message(params, {})

    def _edit_message_text(self, params: Json) -> Json:
        stored = self._editable(params)
        if "text" not in stored.message:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        shown, formatting = _text_content(
            params["text"], params.get("parse_mode"), params.get("entities")
        )
        markup = params.get("reply_markup")
        old_markup = stored.message.get("reply_markup")
        if (shown, formatting) == stored.content and _markup_key(markup) == _markup_key(old_markup):
            raise _ApiError(400, NOT_MODIFIED)
        self._set_text(stored, params)
        self._set_markup(stored, markup)
        return copy.deepcopy(stored.message)

    def _edit_message_reply_markup(self, params: Json) -> Json:
        stored = self._editable(params)
        markup = params.get("reply_markup")
        if _markup_key(markup) == _markup_key(stored.message.get("reply_markup")):
            raise _ApiError(400, NOT_MODIFIED)
        self._set_markup(stored, markup)
        return copy.deepcopy(stored.message)

    def _set_markup(self, stored: _Stored, markup: object) -> None:
        if markup is None:
            stored.message.pop("reply_markup", None)
        else:
            stored.message["reply_markup"] = copy.deepcopy(markup)
        stored.message["edit_date"] = int(self._clock())

    def _delete_message(self, params: Json) -> bool:
        chat = self._chats.get(self._chat_id(params))
        if chat is None or chat.messages.pop(params["message_id"], None) is None:
            raise _ApiError(400, DELETE_NOT_FOUND)
        return True

    def _answer_callback_query(self, params: Json) -> bool:
        query_id = params["callback_query_id"]
        if query_id in self.callback_answers:
            raise _ApiError(400, QUERY_TOO_OLD)
        self.callback_answers[query_id] = {k: v for k, v in params.items() if k != "_files"}
        return True

    def _send_document(self, params: Json) -> Json:
        document = params["document"]
        if isinstance(document, str) and document.startswith("attach://"):
            document = params["_files"].get(document.removeprefix("attach://"))
            if document is None:
                raise _ApiError(400, "Bad Request: file must be uploaded as multipart/form-data")
        if isinstance(document, bytes | bytearray):
            document = ("file", bytes(document), "application/octet-stream")
        if isinstance(document, tuple):
            name, content, mime = document
            file_id = f"BQACAgIAAxkDAAF{len(self._files) + 1:08d}"
            self._files[file_id] = (name, bytes(content), mime)
            meta = {"file_name": name, "mime_type": mime, "file_size": len(content)}
        elif document in self._files:
            file_id = document
            name, content, mime = self._files[file_id]
            meta = {"file_name": name, "mime_type": mime, "file_size": len(content)}
        elif re.match(r"https?://", document):
            file_id = f"BQACAgIAAxkDAAF{len(self._files) + 1:08d}"
            name = urlsplit(document).path.rsplit("/", 1)[-1] or "file"
            self._files[file_id] = (name, b"", "application/octet-stream")
            meta = {"file_name": name, "mime_type": "application/octet-stream"}
        else:
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        fields: Json = {
            "document": {"file_id": file_id, "file_unique_id": f"AgAD{file_id[-8:]}", **meta}
        }
        caption = params.get("caption")
        if caption:
            fields["caption"] = (
                html_plain_text(caption) if params.get("parse_mode") == "HTML" else caption
            )
        return self._bot_message(params, fields)

    def _send_invoice(self, params: Json) -> Json:
        prices = params["prices"]
        total = sum(price["amount"] for price in prices)
        if params["currency"] == "XTR":
            if len(prices) != 1:
                raise ContractViolation(
                    "Bad Request: prices must contain exactly one item for payments in Telegram"
                    f" Stars, got {len(prices)}"
                )
            if params.get("provider_token"):
                raise ContractViolation(
                    "Bad Request: provider_token must be empty for payments in Telegram Stars"
                )
            if total > STARS_MAX_AMOUNT:  # currencies.json: XTR max_amount
                raise ContractViolation("Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        if total <= 0:
            raise ContractViolation("Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        invoice = {
            "title": params["title"],
            "description": params["description"],
            "start_parameter": params.get("start_parameter", ""),
            "currency": params["currency"],
            "total_amount": total,
        }
        message = self._bot_message(params, {"invoice": invoice})
        self._chats[self._chat_id(params)].messages[message["message_id"]].payload = params[
            "payload"
        ]
        return message

    def _answer_pre_checkout_query(self, params: Json) -> bool:
        query_id = params["pre_checkout_query_id"]
        if query_id in self.pre_checkout_answers:
            raise _ApiError(400, QUERY_TOO_OLD)
        self.pre_checkout_answers[query_id] = {k: v for k, v in params.items() if k != "_files"}
        invoice = self._pre_checkouts.get(query_id)
        if invoice is not None and params["ok"]:
            stored = self._find(*invoice)
            if stored is not None:
                stored.pre_checkout_ok = True
        return True

    def _refund_star_payment(self, params: Json) -> bool:
        user_id, charge_id = params["user_id"], params["telegram_payment_charge_id"]
        if user_id <= 0:
            raise ContractViolation("Bad Request: invalid user_id specified")
        if not charge_id:
            raise ContractViolation(
                'Bad Request: Parameter "telegram_payment_charge_id" is required'
            )
        charge = self._star_charges.get(charge_id)
        if charge is None or charge.user_id != user_id:
            raise _ApiError(400, CHARGE_NOT_FOUND)
        if charge.refunded:
            raise _ApiError(400, CHARGE_ALREADY_REFUNDED)
        charge.refunded = True
        self._record_star_transaction(charge_id, charge, incoming=False)
        return True

    def _get_star_transactions(self, params: Json) -> Json:
        offset = params.get("offset")
        limit = params.get("limit")
        offset = 0 if offset is None else offset
        limit = STAR_TRANSACTIONS_LIMIT if limit is None else limit
        if offset < 0:
            raise ContractViolation(
                f"Bad Request: offset must be non-negative, got {offset}"
                " (Telegram would take 0; the contract rejects it to catch the bug)"
            )
        if not 1 <= limit <= STAR_TRANSACTIONS_LIMIT:
            raise ContractViolation(
                f"Bad Request: limit must be 1-{STAR_TRANSACTIONS_LIMIT}, got {limit}"
                " (Telegram would clamp it; the contract rejects it to catch the bug)"
            )
        return {"transactions": copy.deepcopy(self._star_transactions[offset : offset + limit])}

    def _get_my_star_balance(self, params: Json) -> Json:
        return {"amount": self._balance()}

    def _send_chat_action(self, params: Json) -> bool:
        self.chat_actions.append((self._chat_id(params), params["action"]))
        return True

    def _set_webhook(self, params: Json) -> _Ok:
        url = params["url"]
        if not url:
            return self._delete_webhook(params)
        if self.require_https_webhook and not url.startswith("https://"):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {k: v for k, v in params.items() if k not in {"_files", "certificate"}}
        return _Ok(True, "Webhook was set")

    def _delete_webhook(self, params: Json) -> _Ok:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        had = bool(self.webhook.get("url"))
        self.webhook = {}
        return _Ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _get_webhook_info(self, params: Json) -> Json:
        info: Json = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("ip_address", "max_connections", "allowed_updates"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    @staticmethod
    def _commands_key(params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return _markup_key(scope), params.get("language_code") or ""

    def _set_my_commands(self, params: Json) -> bool:
        self.commands[self._commands_key(params)] = copy.deepcopy(params["commands"])
        return True

    def _get_my_commands(self, params: Json) -> list[Json]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: Json) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _get_updates(self, params: Json) -> list[Json]:
        if self.webhook.get("url"):
            raise _ApiError(409, WEBHOOK_CONFLICT)
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        if isinstance(offset, int) and offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:
            self._updates = self._updates[offset:]
        timeout = params.get("timeout") or 0
        if not self._updates and timeout > 0:
            self._updates_ready.wait_for(lambda: bool(self._updates), timeout=min(timeout, 50))
        return copy.deepcopy(self._updates[:limit])
