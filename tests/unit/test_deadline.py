"""The invocation's deadline: built from the Lambda context, current while a handler runs,
and followed by the provider clients' timeouts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from billing import deadline
from billing.deadline import Deadline, bounded_by, per_invocation
from billing.providers.cryptopay import CryptoPayClient
from billing.providers.remaining_timeout import RemainingTimeout
from billing.providers.stripe_gateway import StripeGateway
from local.events import FakeContext

FROZEN = 100.0


def frozen() -> float:
    return FROZEN


def test_a_handler_runs_within_its_context_and_nothing_else_does() -> None:
    seen: list[float] = []

    @per_invocation
    def handler(event: dict[str, Any], context: FakeContext) -> None:
        seen.append(deadline.current().remaining())

    handler({}, FakeContext("f", timeout_seconds=15))
    assert 13.5 < seen[0] <= 14.0  # 15 s less the 1 s safety margin
    # Outside a handler: Lambda's maximum, the clients' own limits apply.
    assert deadline.current().remaining() > 899


def test_the_lease_covers_the_whole_invocation_rounded_up() -> None:
    assert Deadline(14.2, monotonic=frozen).lease() == timedelta(seconds=15)
    assert Deadline(14.2, monotonic=frozen).remaining() == pytest.approx(13.2)
    assert Deadline(0.5, monotonic=frozen).remaining() == 0.0


def test_a_remaining_timeout_is_read_at_each_request() -> None:
    timeout = RemainingTimeout(10.0)
    assert httpx.Timeout(timeout).read == 10.0
    with bounded_by(Deadline(3.5, monotonic=frozen)):
        assert httpx.Timeout(timeout).as_dict() == dict.fromkeys(
            ("connect", "read", "write", "pool"), 2.5
        )
    with bounded_by(Deadline(0, monotonic=frozen)):
        assert httpx.Timeout(timeout).read == 0.001


def test_stripe_requests_wait_at_most_the_time_left() -> None:
    gateway = StripeGateway("sk_test_deadline", "https://stripe.test", max_network_retries=0)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://stripe.test/v1/customers").mock(
            return_value=httpx.Response(200, json={"id": "cus_1", "object": "customer"})
        )
        with bounded_by(Deadline(4.5, monotonic=frozen)):
            gateway.ensure_customer(payer_id=1, existing=None, idempotency_key="customer:1")
    assert route.calls.last.request.extensions["timeout"]["read"] == 3.5


def test_crypto_pay_requests_wait_at_most_the_time_left() -> None:
    timeouts: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json={"ok": True, "result": {"items": []}})

    client = CryptoPayClient("https://pay.test", "1:token", transport=httpx.MockTransport(answer))
    with bounded_by(Deadline(4.5, monotonic=frozen)):
        assert client.get_invoice(7) is None
    assert timeouts == [3.5]
