"""Callback data: short "action:arg:arg" strings that fit Telegram's 64-byte limit.

Callback data comes back from the client and is never trusted: decoding only splits it;
every action re-reads the object and re-checks that the pressing user may act on it now.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BYTES = 64
SEPARATOR = ":"


class CallbackTooLong(ValueError):
    pass


@dataclass(frozen=True)
class Pressed:
    action: str
    args: tuple[str, ...]

    def arg(self, index: int) -> str | None:
        return self.args[index] if index < len(self.args) else None


def encode(action: str, *args: object) -> str:
    parts = [action, *(str(arg) for arg in args)]
    if any(SEPARATOR in part for part in parts):
        raise ValueError(f"callback parts may not contain {SEPARATOR!r}: {parts}")
    data = SEPARATOR.join(parts)
    if not 1 <= len(data.encode()) <= MAX_BYTES:
        raise CallbackTooLong(f"callback data must be 1-64 bytes, got {data!r}")
    return data


def decode(data: object) -> Pressed | None:
    if not isinstance(data, str) or not data or len(data.encode()) > MAX_BYTES:
        return None
    action, *args = data.split(SEPARATOR)
    return Pressed(action, tuple(args))
