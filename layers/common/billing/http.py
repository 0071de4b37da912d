"""API Gateway HTTP API (payload 2.0) events in, Lambda proxy responses out."""

from __future__ import annotations

import base64
import json
from typing import Any

Event = dict[str, Any]
Response = dict[str, Any]


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


def route(event: Event) -> tuple[str, str]:
    """(method, path) of the request, e.g. ("POST", "/payments/stripe")."""
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method", "")).upper(), str(event.get("rawPath") or http.get("path", ""))


def json_response(status: int, payload: Any) -> Response:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload, ensure_ascii=False),
    }
