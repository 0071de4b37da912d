"""The bot simulator behind http://127.0.0.1:8080/: Telegram users played in a browser.

`Simulator(stack)` keeps the simulated users (id, first name, language; user 1001 "Ann"
to begin with) and turns what a person does on the page into the updates Telegram would
send: a text, a pressed inline button, the own contact shared through a request_contact
button, a user picked through a request_users button, an invoice paid (pre-checkout query,
then, if the bot approved it, the successful payment). Each update is built by the
built-in fake Bot API (so it is consistent with the chat it keeps) and delivered to the
real webhook handler by `LocalStack.deliver_update`. Chats, files and the local clock are
read back from the same objects.

Every input is checked here: a bad body, an unknown user or a missing field is a
`SimulatorError` (400, 404 or 503 with a message for the page), never a handler failure.
With another Bot API server (TELEGRAM_API_BASE set) there is no fake to drive and the chat
endpoints answer 503; the clock works either way.
"""

from __future__ import annotations

import html
import json
import math
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from local.fake_bot_api import BOT_USER, FakeBotApi
from local.stack import LocalStack

Json = dict[str, Any]
Outcome = tuple[int, Any]  # HTTP status, JSON payload

PAGE = Path(__file__).with_name("simulator.html")
LANGUAGES = ("en", "ru")
MAX_USER_ID = 2**52  # Telegram: user ids have at most 52 significant bits
MAX_MESSAGE_ID = 2**31 - 1
MAX_NAME = 64  # Telegram's limit for a first name
MAX_TEXT = 4096  # and for a message text
MAX_CALLBACK_DATA = 64  # bytes
MAX_ADVANCE_SECONDS = 100 * 366 * 86400
LATEST_YEAR = 2199  # the clock stays where datetime arithmetic cannot overflow
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{2,30}")
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
UNAVAILABLE = (
    "the bot simulator needs the built-in fake Telegram Bot API; it is off because"
    " TELEGRAM_API_BASE points at another Bot API server (unset it and restart)"
)


class SimulatorError(Exception):
    """A request the simulator refuses: the HTTP status and a message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SimulatedUser:
    id: int
    first_name: str
    language_code: str

    def as_json(self) -> Json:
        return {"id": self.id, "first_name": self.first_name, "language_code": self.language_code}


DEFAULT_USER = SimulatedUser(1001, "Ann", "en")


# ---------------------------------------------------------------------------- input


def parse_body(raw: bytes) -> Json:
    """The request body as a JSON object, or a 400."""
    if not raw.strip():
        raise SimulatorError(400, "a JSON object body is required")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise SimulatorError(400, "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise SimulatorError(400, "the body must be a JSON object")
    return value


def _expect(body: Json, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        expected = ", ".join(f'"{name}"' for name in (*required, *optional))
        raise SimulatorError(400, f'unexpected field "{unknown[0]}" (expected {expected})')
    for name in required:
        if name not in body or body[name] is None:
            raise SimulatorError(400, f'the field "{name}" is required')


def _whole_number(value: object, name: str, maximum: int) -> int:
    """A positive integer given as a JSON number or a string of digits."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    if number is None:
        raise SimulatorError(400, f"{name} must be a whole number, not {_show(value)}")
    if not 1 <= number <= maximum:
        raise SimulatorError(400, f"{name} must be between 1 and {maximum}, not {number}")
    return number


def _text(value: object, name: str, maximum: int) -> str:
    if not isinstance(value, str):
        raise SimulatorError(400, f"{name} must be a string, not {_show(value)}")
    if not value.strip():
        raise SimulatorError(400, f"{name} must not be empty")
    if len(value) > maximum:
        raise SimulatorError(400, f"{name} is longer than {maximum} characters")
    return value


def _show(value: object) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 40 else shown[:37] + "..."


# ---------------------------------------------------------------------------- files


def content_disposition(name: str) -> str:
    """An inline Content-Disposition for a file name (RFC 6266, with a UTF-8 form)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"inline; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(name, safe='')}"


def safe_mime(mime: str) -> str:
    return mime if _MIME.fullmatch(mime or "") else "application/octet-stream"


# ---------------------------------------------------------------------------- simulator


class Simulator:
    """See the module docstring. Thread-safe: the page polls while an action runs."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self._users: dict[int, SimulatedUser] = {DEFAULT_USER.id: SimulatedUser(1001, "Ann", "en")}

    @property
    def available(self) -> bool:
        return self._stack.fake_telegram is not None

    def _fake(self) -> FakeBotApi:
        fake = self._stack.fake_telegram
        if fake is None:
            raise SimulatorError(503, UNAVAILABLE)
        return fake

    # -- users ----------------------------------------------------------------------------

    def users(self) -> Outcome:
        self._fake()
        with self._lock:
            return 200, [user.as_json() for user in self._users.values()]

    def add_user(self, raw: bytes) -> Outcome:
        """Creates a user (201) or renames one / changes their language (200)."""
        self._fake()
        body = parse_body(raw)
        _expect(body, ("id", "first_name"), ("language_code",))
        user_id = _whole_number(body["id"], "id", MAX_USER_ID)
        if user_id == BOT_USER["id"]:
            raise SimulatorError(400, f"{user_id} is the bot's own id")
        first_name = _text(body["first_name"], "first_name", MAX_NAME).strip()
        language = body.get("language_code") or "en"
        if language not in LANGUAGES:
            raise SimulatorError(400, f"language_code must be one of {', '.join(LANGUAGES)}")
        with self._lock:
            created = user_id not in self._users
            self._users[user_id] = SimulatedUser(user_id, first_name, str(language))
            return (201 if created else 200), self._users[user_id].as_json()

    def _user(self, raw_id: str) -> SimulatedUser:
        user_id = _whole_number(raw_id, "the user id", MAX_USER_ID)
        with self._lock:
            user = self._users.get(user_id)
        if user is None:
            raise SimulatorError(400, f"unknown user {user_id}: add it first (POST /_local/users)")
        return user

    # -- reading chats --------------------------------------------------------------------

    def chat(self, raw_id: str) -> Outcome:
        """What the page shows: the user, the chat's messages, the reply keyboard and the
        command menu Telegram shows this user (registered with setMyCommands)."""
        fake = self._fake()
        user = self._user(raw_id)
        return 200, {
            "user": user.as_json(),
            "messages": fake.messages(user.id),
            "reply_keyboard": fake.reply_keyboard(user.id),
            "commands": fake.menu(user.id, user.language_code),
        }

    def messages(self, raw_id: str) -> Outcome:
        fake = self._fake()
        return 200, fake.messages(self._user(raw_id).id)

    def file(self, file_id: str) -> tuple[str, bytes, str]:
        """(name, content, MIME type) of a file the bot sent."""
        fake = self._fake()
        try:
            name, content, mime = fake.file(file_id)
        except KeyError:
            raise SimulatorError(404, f"no file {file_id!r}") from None
        return name, content, safe_mime(mime)

    # -- what a user does -----------------------------------------------------------------

    def send(self, raw_id: str, raw: bytes) -> Outcome:
        fake = self._fake()
        user = self._user(raw_id)
        body = parse_body(raw)
        _expect(body, ("text",))
        text = _text(body["text"], "text", MAX_TEXT).strip()
        return 200, self._deliver(fake.user_message(user.id, text, **self._sender(user)))

    def press(self, raw_id: str, raw: bytes) -> Outcome:
        """An inline button of a bot message pressed; the bot's answer to the callback
        query (the text a client shows as a toast or an alert) comes back as "answer"."""
        fake = self._fake()
        user = self._user(raw_id)
        body = parse_body(raw)
        _expect(body, ("message_id", "data"))
        message_id = _whole_number(body["message_id"], "message_id", MAX_MESSAGE_ID)
        data = body["data"]
        if not isinstance(data, str) or not data:
            raise SimulatorError(400, f"data must be a non-empty string, not {_show(data)}")
        if len(data.encode()) > MAX_CALLBACK_DATA:
            raise SimulatorError(400, f"data is longer than {MAX_CALLBACK_DATA} bytes")
        try:
            update = fake.press_button(user.id, message_id, data=data)
        except LookupError as error:
            raise SimulatorError(400, str(error)) from None
        outcome = self._deliver(update)
        answer = fake.callback_answers.get(update["callback_query"]["id"])
        outcome["answer"] = dict(answer) if answer is not None else None
        return 200, outcome

    def contact(self, raw_id: str, raw: bytes) -> Outcome:
        """The user's own phone number, as a request_contact button shares it: Telegram
        sets contact.user_id to the sender."""
        fake = self._fake()
        user = self._user(raw_id)
        body = parse_body(raw)
        _expect(body, ("phone_number",))
        phone = _text(body["phone_number"], "phone_number", 32).strip()
        if not _PHONE.fullmatch(phone):
            raise SimulatorError(
                400, f"phone_number must be digits with an optional leading +, not {_show(phone)}"
            )
        contact = {"phone_number": phone, "first_name": user.first_name, "user_id": user.id}
        return 200, self._deliver(fake.user_message(user.id, contact=contact, **self._sender(user)))

    def share_user(self, raw_id: str, raw: bytes) -> Outcome:
        """A user picked through the request_users button of the current reply keyboard."""
        fake = self._fake()
        user = self._user(raw_id)
        body = parse_body(raw)
        _expect(body, ("user_id",))
        shared_id = _whole_number(body["user_id"], "user_id", MAX_USER_ID)
        request = _users_request(fake.reply_keyboard(user.id))
        if request is None:
            raise SimulatorError(
                400, "the bot has not asked to pick a user (no request_users button is shown)"
            )
        if request.get("user_is_bot") is True:
            raise SimulatorError(400, "the bot asked for a bot, which the simulator cannot share")
        shared: Json = {"user_id": shared_id}
        with self._lock:
            known = self._users.get(shared_id)
        if known is not None and request.get("request_name"):
            shared["first_name"] = known.first_name
        users_shared = {"request_id": request["request_id"], "users": [shared]}
        update = fake.user_message(user.id, users_shared=users_shared, **self._sender(user))
        return 200, self._deliver(update)

    def pay_invoice(self, raw_id: str, raw: bytes) -> Outcome:
        """Pay pressed on an invoice: the pre-checkout query goes to the bot; only if the bot
        approved it does Telegram take the money and send the successful payment. Refused:
        {"paid": false, "error_message": ...} (the bot's reason, as the client shows it)."""
        fake = self._fake()
        user = self._user(raw_id)
        body = parse_body(raw)
        _expect(body, ("message_id",))
        message_id = _whole_number(body["message_id"], "message_id", MAX_MESSAGE_ID)
        try:
            update = fake.pre_checkout(user.id, message_id)
        except LookupError as error:
            raise SimulatorError(400, str(error)) from None
        checked = self._deliver(update)
        answer = fake.pre_checkout_answers.get(update["pre_checkout_query"]["id"])
        if answer is None or not answer.get("ok"):
            reason = (answer or {}).get("error_message") or (
                "the bot did not answer the pre-checkout query"
                if answer is None
                else "the bot refused the payment"
            )
            return 200, {"paid": False, "error_message": reason, "pre_checkout": checked}
        try:
            paid = fake.successful_payment(user.id, message_id)
        except RuntimeError as error:  # the approval did not reach the fake
            return 200, {"paid": False, "error_message": str(error), "pre_checkout": checked}
        return 200, {"paid": True, "pre_checkout": checked, **self._deliver(paid)}

    # -- the clock ------------------------------------------------------------------------

    def clock(self) -> Outcome:
        return 200, {"now": self._stack.clock.now().isoformat()}

    def move_clock(self, raw: bytes) -> Outcome:
        """{"advance_seconds": N} (N >= 0) or {"set": "<ISO 8601 with a time zone>"}."""
        body = parse_body(raw)
        if len(body) != 1 or not ({"advance_seconds", "set"} & set(body)):
            raise SimulatorError(
                400, 'give exactly one of {"advance_seconds": N} or {"set": "<ISO 8601>"}'
            )
        clock = self._stack.clock
        if "set" in body:
            clock.set(_moment(body["set"]))
        else:
            seconds = body["advance_seconds"]
            if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                raise SimulatorError(400, f"advance_seconds must be a number, not {_show(seconds)}")
            if not math.isfinite(seconds) or not 0 <= seconds <= MAX_ADVANCE_SECONDS:
                raise SimulatorError(
                    400, f"advance_seconds must be between 0 and {MAX_ADVANCE_SECONDS}"
                )
            delta = timedelta(seconds=seconds)
            if (clock.now() + delta).year > LATEST_YEAR:
                raise SimulatorError(400, f"the clock cannot go past the year {LATEST_YEAR}")
            clock.advance(delta)
        return self.clock()

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _sender(user: SimulatedUser) -> Json:
        return {"first_name": user.first_name, "language_code": user.language_code}

    def _deliver(self, update: Json) -> Json:
        delivered = self._stack.deliver_update(update)
        return {"status": delivered["status"], "reply": delivered["reply"]}


def _users_request(keyboard: Json | None) -> Json | None:
    """The request_users of the reply keyboard's first such button, if any."""
    for row in (keyboard or {}).get("keyboard", []):
        for button in row:
            request = button.get("request_users") if isinstance(button, dict) else None
            if isinstance(request, dict) and "request_id" in request:
                return request
    return None


def _moment(value: object) -> datetime:
    if not isinstance(value, str):
        raise SimulatorError(400, f"set must be an ISO 8601 string, not {_show(value)}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise SimulatorError(400, f"set is not an ISO 8601 time: {_show(value)}") from None
    if moment.tzinfo is None:
        raise SimulatorError(400, 'set needs a time zone, e.g. "2026-03-01T12:00:00Z"')
    if not 2000 <= moment.year <= LATEST_YEAR:
        raise SimulatorError(400, f"set must be between the years 2000 and {LATEST_YEAR}")
    return moment


def render_page(*, routes_html: str, available: bool) -> str:
    """The simulator page (local/simulator.html) with the route list (HTML) filled in."""
    text = PAGE.read_text(encoding="utf-8")
    for key, value in {
        "{{routes}}": routes_html,
        "{{simulator}}": "on" if available else "off",
        "{{unavailable}}": html.escape(UNAVAILABLE),
    }.items():
        text = text.replace(key, value)
    return text
