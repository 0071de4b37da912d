"""Real API Gateway HTTP API (payload 2.0) events for the handlers, from the shapes
`sam local generate-event` prints (tests/data/events)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from local.events import FakeContext

EVENTS = Path(__file__).resolve().parents[1] / "data" / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http_event(path: str, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("http-api-proxy.json"))
    event["rawPath"] = path
    event["routeKey"] = f"POST {path}"
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = f"POST {path}"
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    return event


def call(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    return handler(event, FakeContext("test-function"))  # type: ignore[no-any-return]
