"""verify_webhook / sign_webhook: Stripe's webhook signature scheme, without the SDK."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing.providers.stripe_signature import InvalidSignature, sign_webhook, verify_webhook

SECRET = "whsec_test_secret"
NOW = 1_772_366_400  # 2026-03-01T12:00:00Z
EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "charge.refunded",
    "data": {"object": {"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 500}},
}
BODY = json.dumps(EVENT).encode()


def v1(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_a_valid_signature_returns_the_event() -> None:
    header = sign_webhook(BODY, SECRET, NOW)

    assert header == f"t={NOW},v1={v1(BODY, SECRET, NOW)}"
    assert verify_webhook(BODY, header, SECRET, now=NOW) == EVENT


def test_a_signature_within_the_tolerance_is_accepted_both_ways() -> None:
    assert verify_webhook(BODY, sign_webhook(BODY, SECRET, NOW - 300), SECRET, now=NOW) == EVENT
    assert verify_webhook(BODY, sign_webhook(BODY, SECRET, NOW + 300), SECRET, now=NOW) == EVENT
    assert verify_webhook(BODY, sign_webhook(BODY, SECRET, NOW - 30), SECRET, now=NOW, tolerance=60)


def test_a_tampered_body_is_rejected() -> None:
    header = sign_webhook(BODY, SECRET, NOW)
    tampered = BODY.replace(b"500", b"501")

    with pytest.raises(InvalidSignature, match="matches"):
        verify_webhook(tampered, header, SECRET, now=NOW)


def test_a_single_changed_byte_anywhere_is_rejected() -> None:
    header = sign_webhook(BODY, SECRET, NOW)
    for index in range(0, len(BODY), 7):
        changed = bytearray(BODY)
        changed[index] ^= 0x20
        with pytest.raises(InvalidSignature):
            verify_webhook(bytes(changed), header, SECRET, now=NOW)


def test_the_wrong_secret_is_rejected() -> None:
    header = sign_webhook(BODY, "whsec_someone_else", NOW)

    with pytest.raises(InvalidSignature):
        verify_webhook(BODY, header, SECRET, now=NOW)


def test_an_old_timestamp_is_rejected() -> None:
    header = sign_webhook(BODY, SECRET, NOW - 301)

    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_webhook(BODY, header, SECRET, now=NOW)


def test_a_future_timestamp_is_rejected() -> None:
    header = sign_webhook(BODY, SECRET, NOW + 301)

    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_webhook(BODY, header, SECRET, now=NOW)


def test_a_replayed_timestamp_cannot_be_moved() -> None:
    # Re-sending an old delivery with a fresh `t` breaks the signature, which covers `t`.
    old = sign_webhook(BODY, SECRET, NOW - 3600)
    signature = old.split(",v1=")[1]

    with pytest.raises(InvalidSignature, match="matches"):
        verify_webhook(BODY, f"t={NOW},v1={signature}", SECRET, now=NOW)


@pytest.mark.parametrize("header", [None, ""], ids=["missing", "empty"])
def test_a_missing_header_is_rejected(header: str | None) -> None:
    with pytest.raises(InvalidSignature, match="no Stripe-Signature header"):
        verify_webhook(BODY, header, SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=,v1=abc",
        f"t=abc,v1={v1(BODY, SECRET, NOW)}",
        f"t=-{NOW},v1={v1(BODY, SECRET, NOW)}",
        f"t={NOW}",
        f"v1={v1(BODY, SECRET, NOW)}",
        f"t={NOW},v0={v1(BODY, SECRET, NOW)}",
        f"t={NOW},v1=",
        f"t={NOW},v1=ünïcödé",
        f"t={NOW};v1={v1(BODY, SECRET, NOW)}",
        ",,,",
    ],
)
def test_a_garbled_header_is_rejected(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_webhook(BODY, header, SECRET, now=NOW)


def test_any_one_of_several_v1_signatures_may_match() -> None:
    # While a secret is rolled Stripe signs with both; a v0 (test-mode) entry is ignored.
    good = v1(BODY, SECRET, NOW)
    bad = v1(BODY, "whsec_old", NOW)

    for header in (
        f"t={NOW},v1={bad},v1={good}",
        f"t={NOW},v1={good},v1={bad}",
        f"t={NOW}, v1={bad}, v0={bad}, v1={good}",
        f"v1={good},t={NOW}",
    ):
        assert verify_webhook(BODY, header, SECRET, now=NOW) == EVENT

    with pytest.raises(InvalidSignature):
        verify_webhook(BODY, f"t={NOW},v1={bad},v0={good}", SECRET, now=NOW)


def test_an_empty_secret_never_verifies() -> None:
    with pytest.raises(InvalidSignature):
        verify_webhook(BODY, sign_webhook(BODY, "", NOW), "", now=NOW)


def test_a_signed_body_that_is_not_a_json_object_is_rejected() -> None:
    for body in (b"not json", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(InvalidSignature):
            verify_webhook(body, sign_webhook(body, SECRET, NOW), SECRET, now=NOW)


def test_stripes_own_library_agrees() -> None:
    import stripe

    header = sign_webhook(BODY, SECRET, NOW)
    # The SDK only rejects old timestamps against the wall clock: give it a huge tolerance.
    assert stripe.WebhookSignature.verify_header(BODY.decode(), header, SECRET, tolerance=10**10)


def test_the_module_verifies_without_loading_the_sdk() -> None:
    # In a fresh interpreter: the webhook path and building a gateway never import stripe.
    code = (
        "import sys\n"
        "from billing.providers.stripe_gateway import StripeGateway\n"
        "from billing.providers.stripe_signature import sign_webhook, verify_webhook\n"
        "StripeGateway('sk_test_x', 'https://api.stripe.com')\n"
        'body = b\'{"id": "evt_1"}\'\n'
        "assert verify_webhook(body, sign_webhook(body, 's', 1), 's', now=1) == {'id': 'evt_1'}\n"
        "assert 'stripe' not in sys.modules, 'stripe was imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "layers" / "common")},
        check=True,
    )
