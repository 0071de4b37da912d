"""The time the current invocation has left, so that no outside call outlives it.

Lambda stops a function at its configured Timeout (template.yaml: 15 s for the webhooks, 60 s
for the renewal function) without running another line: a request still waiting then, or a
sleep before a retry, is work half done and an answer never given. So each handler bounds its
invocation with `per_invocation`, and the clients ask `current()` before they wait:

- `remaining()`: the seconds an outside call may still take, less a safety margin kept to
  log, release a claim and answer;
- `timeout(limit)`: a client's configured timeout cut to what remains (and
  `billing.providers.stripe_gateway.RemainingTimeout` for a client that takes one timeout
  object for all its requests);
- `lease()`: the whole time until the invocation ends, the longest any of its work can run
  (what a claim on that work must last, store/dedupe.py).

The deadline is a context variable, so it is the current invocation's even when the local
stack runs several handlers at once in threads. Outside a handler (the local stack's own
calls, tests, scripts) there is none, and `current()` allows Lambda's maximum of 15 minutes:
the clients' own limits then apply.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Protocol

SAFETY_MARGIN = 1.0  # seconds
LAMBDA_MAX_TIMEOUT = 900.0  # seconds: no invocation runs longer


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    def __init__(
        self,
        seconds_left: float,
        *,
        margin: float = SAFETY_MARGIN,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._ends = monotonic() + max(0.0, seconds_left)
        self._margin = margin

    @classmethod
    def of(cls, context: LambdaContextLike) -> Deadline:
        return cls(context.get_remaining_time_in_millis() / 1000)

    def remaining(self) -> float:
        """Seconds an outside call may still take (0 when none)."""
        return max(0.0, self._ends - self._margin - self._monotonic())

    def timeout(self, limit: float) -> float:
        return min(limit, self.remaining())

    def lease(self) -> timedelta:
        """Until the invocation ends, in whole seconds rounded up."""
        return timedelta(seconds=math.ceil(max(0.0, self._ends - self._monotonic())))


_current: ContextVar[Deadline | None] = ContextVar("deadline", default=None)


def current() -> Deadline:
    return _current.get() or Deadline(LAMBDA_MAX_TIMEOUT, margin=0.0)


@contextmanager
def bounded_by(deadline: Deadline) -> Iterator[Deadline]:
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def per_invocation[E, C: LambdaContextLike, R](handler: Callable[[E, C], R]) -> Callable[[E, C], R]:
    """Decorates a Lambda handler: what it calls is bounded by its invocation's time."""

    @functools.wraps(handler)
    def bounded(event: E, context: C) -> R:
        with bounded_by(Deadline.of(context)):
            return handler(event, context)

    return bounded
