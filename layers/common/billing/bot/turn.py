"""One update being handled: who pressed or wrote what, and the calls to answer with."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.bot.calls import Call, Screen, answer_callback, edit_message, send_message
from billing.bot.texts import error_text, t
from billing.errors import BillingError


@dataclass
class Turn:
    user_id: int
    chat_id: int
    lang: str
    # Set for a button press: the message to edit in place and the query to answer.
    message_id: int | None = None
    callback_id: str | None = None
    calls: list[Call] = field(default_factory=list)
    _answered: bool = False

    def show(self, screen: Screen) -> None:
        """Navigation edits the message that was pressed; a command sends a new one."""
        if self.message_id is not None:
            self.calls.append(edit_message(self.chat_id, self.message_id, screen))
        else:
            self.calls.append(send_message(self.chat_id, screen))

    def send(self, screen: Screen) -> None:
        self.calls.append(send_message(self.chat_id, screen))

    def text(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)

    def error(self, error: BillingError) -> str:
        """A refusal as the reader reads it (never the code's own message)."""
        return error_text(self.lang, error)

    def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the button press (once); a plain message has nothing to answer."""
        if self.callback_id is None or self._answered:
            return
        self._answered = True
        # First, so the client stops its spinner even if a later call fails.
        self.calls.insert(0, answer_callback(self.callback_id, text, alert=alert))

    def finish(self) -> list[Call]:
        self.answer()
        return self.calls
