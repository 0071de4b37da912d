"""Faults the simulation injects, each drawn from the run's seeded random source.

- A crash between any two DynamoDB writes: every write (PutItem, UpdateItem, DeleteItem,
  TransactWriteItems) that pynamodb dispatches may die just before it is sent or just after
  it succeeded. `Crash` is a BaseException, like a process that dies: no `except Exception`
  in the code under test sees it, so nothing tidies up after it (a claim stays, a second
  write never happens), as on Lambda.
- Around every outside call that moves money: refused before anything happened, or done at
  the provider and the answer lost (a timeout); the reads that decide money (YooKassa's
  payment and refund re-fetches and lists, Telegram's Star transactions) may be refused too.
- An off-session charge at YooKassa may answer `pending` and be decided minutes or hours
  later (succeeded or canceled), told by notification.
- Provider callbacks: lost, repeated, delayed (hence reordered).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.connection.base import Connection

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})


def tables_written(operation_name: str, operation_kwargs: Any) -> set[str]:
    """The tables a write names: its own, or each of a transaction's items'."""
    if operation_name == "TransactWriteItems":
        return {
            str(part["TableName"])
            for item in operation_kwargs.get("TransactItems", [])
            for part in item.values()
        }
    return {str(operation_kwargs["TableName"])}


class Crash(BaseException):
    """The function died here (a Lambda timeout, an out-of-memory kill, a host failure)."""


@dataclass(frozen=True)
class FaultRates:
    crash_before_write: float = 0.01
    crash_after_write: float = 0.01
    call_refused: float = 0.15
    call_answer_lost: float = 0.15
    callback_lost: float = 0.08
    callback_repeated: float = 0.25
    callback_delayed: float = 0.5
    charge_pending: float = 0.2

    @classmethod
    def none(cls) -> FaultRates:
        return cls(0, 0, 0, 0, 0, 0, 0, 0)


class Faults:
    def __init__(self, rng: random.Random, rates: FaultRates) -> None:
        self.rng = rng
        self.rates = rates
        self.injected: Counter[str] = Counter()
        self.armed = False  # crashes only inside a step, never in the checks
        # Every table a write was sent to (or about to be, when a crash came first) since the
        # checks last asked: what they must read again (invariants.Checker).
        self.written: set[str] = set()

    def _chance(self, kind: str, rate: float) -> bool:
        if rate and self.rng.random() < rate:
            self.injected[kind] += 1
            return True
        return False

    # --- outside calls ----------------------------------------------------------------

    def outside_call_fails(self, call: str) -> bool:
        return self.armed and self._chance(f"{call}: refused", self.rates.call_refused)

    def outside_call_lost(self, call: str) -> bool:
        return self.armed and self._chance(f"{call}: answer lost", self.rates.call_answer_lost)

    def charge_pending(self, call: str) -> bool:
        """The provider took the request but has no outcome yet (YooKassa's `pending`)."""
        return self.armed and self._chance(f"{call}: pending", self.rates.charge_pending)

    # --- callbacks --------------------------------------------------------------------

    def copies_of_callback(self) -> int:
        if self._chance("callback lost", self.rates.callback_lost):
            return 0
        if self._chance("callback repeated", self.rates.callback_repeated):
            return self.rng.randint(2, 3)
        return 1

    def callback_delay(self) -> timedelta:
        if self._chance("callback delayed", self.rates.callback_delayed):
            return timedelta(seconds=self.rng.randint(1, 6 * 3600))
        return timedelta(0)

    # --- DynamoDB writes --------------------------------------------------------------

    def before_write(self, operation: str) -> None:
        if self.armed and self._chance(f"crash before {operation}", self.rates.crash_before_write):
            raise Crash(f"before {operation}")

    def after_write(self, operation: str) -> None:
        if self.armed and self._chance(f"crash after {operation}", self.rates.crash_after_write):
            raise Crash(f"after {operation}")

    def take_written(self) -> set[str]:
        """The tables written since the last call."""
        written, self.written = self.written, set()
        return written

    @contextmanager
    def around_writes(self) -> Iterator[None]:
        """Patches pynamodb's one dispatch point for the duration."""
        original = Connection.dispatch
        faults = self

        def dispatch(self: Connection, operation_name: str, operation_kwargs: Any) -> Any:
            if operation_name not in WRITES:
                return original(self, operation_name, operation_kwargs)
            faults.written |= tables_written(operation_name, operation_kwargs)
            faults.before_write(operation_name)
            result = original(self, operation_name, operation_kwargs)
            faults.after_write(operation_name)
            return result

        Connection.dispatch = dispatch  # type: ignore[method-assign]
        try:
            yield
        finally:
            Connection.dispatch = original  # type: ignore[method-assign]

    @contextmanager
    def step(self) -> Iterator[None]:
        self.armed = True
        try:
            yield
        finally:
            self.armed = False
