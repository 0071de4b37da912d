"""Typed views of the incoming Bot API objects the bot acts on (Bot API 10.1).

Only the fields the bot uses are modelled; everything else Telegram sends is ignored, so a
new Bot API version cannot break parsing. `parse_update` never raises: anything that is not
a valid update is None (the webhook answers 200 to it and moves on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class User(_Incoming):
    id: int
    is_bot: bool
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class Chat(_Incoming):
    id: int
    type: str  # "private", "group", "supergroup" or "channel"


class MessageEntity(_Incoming):
    type: str  # "bot_command", "mention", "url", ...
    offset: int  # in UTF-16 code units
    length: int  # in UTF-16 code units
    url: str | None = None
    user: User | None = None


class Contact(_Incoming):
    phone_number: str
    first_name: str
    last_name: str | None = None
    user_id: int | None = None  # set when the contact is a Telegram user


class SharedUser(_Incoming):
    user_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None


class UsersShared(_Incoming):
    request_id: int
    users: list[SharedUser]


class SuccessfulPayment(_Incoming):
    currency: str
    total_amount: int  # in the smallest units of the currency (Stars for XTR)
    invoice_payload: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str = ""  # empty for payments in Telegram Stars


class Message(_Incoming):
    """A message, or an InaccessibleMessage (only chat, message_id and date == 0)."""

    message_id: int
    date: int
    chat: Chat
    from_: User | None = Field(None, alias="from")
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


class CallbackQuery(_Incoming):
    id: str
    from_: User = Field(alias="from")
    message: Message | None = None
    data: str | None = None


class PreCheckoutQuery(_Incoming):
    id: str
    from_: User = Field(alias="from")
    currency: str
    total_amount: int
    invoice_payload: str


class Update(_Incoming):
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


def parse_update(raw: object) -> Update | None:
    """An Update from a decoded JSON object (or JSON text), or None if it is not one."""
    try:
        if isinstance(raw, str | bytes | bytearray):
            return Update.model_validate_json(raw)
        if isinstance(raw, Mapping):
            return Update.model_validate(dict(raw))
    except (ValidationError, ValueError, TypeError, RecursionError):
        return None
    return None
