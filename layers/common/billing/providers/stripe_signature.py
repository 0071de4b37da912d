"""Stripe's webhook signature (Stripe-Signature), standard library only: this runs on
every delivery, before the Stripe SDK or the payment code is loaded."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any


class InvalidSignature(Exception):
    """A webhook whose Stripe-Signature header is missing, malformed, wrong or too old."""


_SCHEME = "v1"
_DIGITS = re.compile(r"[0-9]+")


def sign_webhook(body: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header value Stripe would send for `body` at `timestamp`."""
    return f"t={timestamp},{_SCHEME}={_signature(body, secret, timestamp)}"


def verify_webhook(
    body: bytes, signature_header: str | None, secret: str, *, now: int, tolerance: int = 300
) -> dict[str, Any]:
    """The event in `body` if `signature_header` proves Stripe sent it within `tolerance` s.

    Stripe's scheme: "t=<unix time>,v1=<hex HMAC-SHA256 of f'{t}.{body}'>[,v1=...][,v0=...]";
    any one matching v1 signature is enough (several appear while a secret is rolled).
    """
    if not secret:
        raise InvalidSignature("no webhook secret configured")
    timestamp, candidates = _parse_signature_header(signature_header)
    expected = _signature(body, secret, timestamp).encode("ascii")
    if not any(
        hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
        for candidate in candidates
    ):
        raise InvalidSignature("no Stripe-Signature signature matches the body")
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(f"Stripe-Signature timestamp {timestamp} is outside the tolerance")
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidSignature("the signed body is not JSON") from exc
    if not isinstance(event, dict):
        raise InvalidSignature("the signed body is not a JSON object")
    return event


def _parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise InvalidSignature("no Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t" and timestamp is None:
            if not _DIGITS.fullmatch(value):
                raise InvalidSignature("malformed timestamp in Stripe-Signature")
            timestamp = int(value)
        elif name == _SCHEME:
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignature("no timestamp in Stripe-Signature")
    if not candidates:
        raise InvalidSignature("no v1 signature in Stripe-Signature")
    return timestamp, candidates


def _signature(body: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
