"""A localstripe server (fake Stripe API) for the whole test session.

Use it from any test module with

    from tests.localstripe_fixture import localstripe  # noqa: F401

and take `localstripe: LocalStripe` as a fixture argument: `localstripe.base_url` is the
`api_base` for `StripeGateway`, `localstripe.api_key` its key, and the helpers create card
payment methods, attach them and register webhook endpoints. The server is shared by the
session (objects from other tests stay visible: create your own customers); it is stopped
at the end. Under pytest-xdist every worker has its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.localstripe_peer import LocalStripe


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    peer = LocalStripe()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
