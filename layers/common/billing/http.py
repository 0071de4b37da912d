"""API Gateway HTTP API (payload 2.0) events in, Lambda proxy responses out."""

from __future__ import annotations

import base64
import json
from typing import Any

Event = dict[str, Any]
Response = dict[str, Any]

# Webhook bodies (Telegram updates, provider events) are a few KB; API Gateway would pass up
# to 10 MB. Anything far larger than a real one is refused unread.
MAX_BODY = 256 * 1024


def header(event: Event, name: str) -> str | None:
    """HTTP API lower-cases header names; look up case-insensitively anyway."""
    headers = event.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def body_bytes(event: Event) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            return b""
    return body.encode()


def limited_body(event: Event, limit: int = MAX_BODY) -> bytes | None:
    """The request body, or None when it is over `limit` bytes (answer `too_large()`).

    The event's text is measured before anything decodes it: base64 takes 4 characters per
    3 bytes and UTF-8 at least one byte per character, so a text longer than twice the limit
    is over it either way, and a huge body is refused without being copied.
    """
    raw = event.get("body")
    if isinstance(raw, str) and len(raw) > 2 * limit:
        return None
    body = body_bytes(event)
    return body if len(body) <= limit else None


def too_large() -> Response:
    return json_response(413, {"error": "request body too large"})


def route(event: Event) -> tuple[str, str]:
    """(method, path) of the request, e.g. ("POST", "/payments/stripe")."""
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method", "")).upper(), str(event.get("rawPath") or http.get("path", ""))


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(payload, ensure_ascii=False),
    }
