"""An httpx timeout cut to the current invocation's time (billing.deadline), for clients built
once per container that hold one timeout for all their requests: the Stripe SDK's
HTTPXClient. Its own module so that httpx loads with the Stripe client, not with every
handler (billing.deadline is imported by all of them)."""

from __future__ import annotations

import httpx

from billing.deadline import current


class RemainingTimeout(httpx.Timeout):
    """`limit` cut to the current invocation's time, read anew for every request: httpx
    copies a Timeout's fields as it builds each one."""

    def __init__(self, limit: float) -> None:
        # No super().__init__(): it would assign the fields this class computes.
        self._limit = limit

    @property
    def connect(self) -> float:  # type: ignore[override]
        # At least 1 ms: a zero socket timeout means non-blocking mode, not "give up now".
        return max(0.001, current().timeout(self._limit))

    read = write = pool = connect
