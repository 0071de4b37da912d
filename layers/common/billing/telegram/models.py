"""Typed views of the incoming Bot API objects the bot acts on (Bot API 10.1).

Only the fields the bot uses are modelled; everything else Telegram sends is ignored, so a
new Bot API version cannot break parsing. `parse_update` never raises: anything that is not
a valid update is None (the webhook answers 200 to it and moves on).

The types are frozen msgspec Structs that ignore unknown fields: msgspec rather than
pydantic, whose import and model building were a third of a cold start's floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


class _Incoming(msgspec.Struct, frozen=True, kw_only=True):
    pass


class User(_Incoming, frozen=True, kw_only=True):
    id: int
    is_bot: bool
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class Chat(_Incoming, frozen=True, kw_only=True):
    id: int
    type: str  # "private", "group", "supergroup" or "channel"


class MessageEntity(_Incoming, frozen=True, kw_only=True):
    type: str  # "bot_command", "mention", "url", ...
    offset: int  # in UTF-16 code units
    length: int  # in UTF-16 code units
    url: str | None = None
    user: User | None = None


class Contact(_Incoming, frozen=True, kw_only=True):
    phone_number: str
    first_name: str
    last_name: str | None = None
    user_id: int | None = None  # set when the contact is a Telegram user


class SharedUser(_Incoming, frozen=True, kw_only=True):
    user_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None


class UsersShared(_Incoming, frozen=True, kw_only=True):
    request_id: int
    users: list[SharedUser]


class SuccessfulPayment(_Incoming, frozen=True, kw_only=True):
    currency: str
    total_amount: int  # in the smallest units of the currency (Stars for XTR)
    invoice_payload: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str = ""  # empty for payments in Telegram Stars


class Message(_Incoming, frozen=True, kw_only=True):
    """A message, or an InaccessibleMessage (only chat, message_id and date == 0)."""

    message_id: int
    date: int
    chat: Chat
    from_: User | None = msgspec.field(default=None, name="from")
    text: str | None = None
    entities: list[MessageEntity] | None = None
    contact: Contact | None = None
    users_shared: UsersShared | None = None
    successful_payment: SuccessfulPayment | None = None
    forward_origin: dict[str, Any] | None = None

    @property
    def accessible(self) -> bool:
        """False for an InaccessibleMessage (a message the bot can no longer see)."""
        return self.date != 0

    def command(self) -> tuple[str, str] | None:
        """("/start", "payload") for a message that begins with a bot command, else None.
        A "@botname" suffix is dropped and the command lower-cased."""
        if not self.text:
            return None
        for entity in self.entities or ():
            if entity.type == "bot_command" and entity.offset == 0:
                head, _, rest = self.text.partition(" ")
                return head.split("@", 1)[0].lower(), rest.strip()
        return None


class CallbackQuery(_Incoming, frozen=True, kw_only=True):
    id: str
    from_: User = msgspec.field(name="from")
    message: Message | None = None
    data: str | None = None


class PreCheckoutQuery(_Incoming, frozen=True, kw_only=True):
    id: str
    from_: User = msgspec.field(name="from")
    currency: str
    total_amount: int
    invoice_payload: str


class Update(_Incoming, frozen=True, kw_only=True):
    update_id: int
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None
    pre_checkout_query: PreCheckoutQuery | None = None

    @property
    def sender(self) -> User | None:
        """The user who caused the update, whatever its kind."""
        for part in (self.callback_query, self.pre_checkout_query):
            if part is not None:
                return part.from_
        message = self.message or self.edited_message
        return message.from_ if message is not None else None


# Lax as the Bot API's JSON may be: "123" is taken for an int and 1 for true (as before, with
# pydantic's default mode); a float with a fraction, or an int for a string, is refused.
_decoder = msgspec.json.Decoder(Update, strict=False)


def parse_update(raw: object) -> Update | None:
    """An Update from JSON text (bytes or str) or a decoded JSON object, or None if it is
    not one.

    JSON text is refused if it is not UTF-8 anywhere, even in fields we ignore (so ED A0 80,
    a surrogate as CESU-8 writes it), or holds an escaped lone surrogate (\\ud800): DynamoDB
    would refuse them. A decoded object is refused if a lone surrogate is in what the update
    keeps. Nesting deeper than msgspec's recursion limit raises RecursionError there, caught
    here as any other invalid input.
    """
    try:
        if isinstance(raw, bytes | bytearray):
            # msgspec checks UTF-8 only in the strings it keeps (it refuses escaped lone
            # surrogates everywhere): the whole text is checked first.
            raw.decode("utf-8")
            return _decoder.decode(raw)
        if isinstance(raw, str):
            # A str with a lone surrogate cannot be UTF-8 encoded: msgspec raises.
            return _decoder.decode(raw)
        if isinstance(raw, Mapping):
            update = msgspec.convert(dict(raw), type=Update, strict=False)
            # Refuses lone surrogates in what the update keeps (UnicodeEncodeError).
            msgspec.json.encode(update)
            return update
    # ValueError covers msgspec's DecodeError and ValidationError, and UnicodeError.
    except (ValueError, TypeError, RecursionError):
        return None
    return None
