"""Calls of the telephony side's interfaces for the tests: the read API's handler with the
events API Gateway sends, and the change events as the event source mapping delivers them
(the fixtures that set these up are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.config import Settings
from functions.entitlement_events import app as events_app
from functions.entitlements_api import app
from local.entitlement_sink import EventSink
from local.entitlement_stream import EntitlementStream
from local.events import FakeContext, http_api_event

READER = "arn:aws:sts::123456789012:assumed-role/EntitlementsReaderRole/sip-gateway"


def get(
    telegram_id: str, *, caller: str | None = READER, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    event = http_api_event(
        "GET",
        f"/entitlements/{telegram_id}",
        headers=headers or {},
        body=b"",
        route_key="GET /entitlements/{telegram_id}",
        path_parameters={"telegram_id": telegram_id},
        iam_caller=caller,
    )
    return app.lambda_handler(event, FakeContext("entitlements-api"))  # type: ignore[no-any-return]


def post_batch(
    body: bytes, *, caller: str | None = READER, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    event = http_api_event(
        "POST",
        "/entitlements/batch",
        headers={"content-type": "application/json", **(headers or {})},
        body=body,
        iam_caller=caller,
    )
    return app.lambda_handler(event, FakeContext("entitlements-api"))  # type: ignore[no-any-return]


@dataclass
class Delivery:
    settings: Settings
    sink: EventSink

    def stream(self) -> EntitlementStream:
        """A new event source mapping: it starts at the stream's oldest record."""
        return EntitlementStream(
            self.settings.aws_endpoint_url or "",
            self.settings.region,
            self.settings.entitlements_table,
            lambda event: events_app.lambda_handler(event, FakeContext("entitlement-events")),
        )

    def details(self, stream: EntitlementStream) -> list[dict[str, Any]]:
        stream.drain()
        return [event["detail"] for event in self.sink.receive()]
