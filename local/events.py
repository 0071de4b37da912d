"""The events and context AWS hands to our functions, built locally.

Shapes follow what the services really send (the samples `sam local generate-event`
prints, kept in tests/data/events/ and copied here as code): API Gateway HTTP API payload
2.0 for the webhooks, an EventBridge scheduled event for the sweep, an SQS batch for the
renewal queue, and a Lambda context with the attributes Powertools reads.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

REGION = "eu-central-1"
# moto's default account, so ARNs here match the ones moto returns.
ACCOUNT_ID = "123456789012"
API_ID = "local"
DEFAULT_TIMEOUT_SECONDS = 15

# Content types HTTP API passes as text; every other body (form posts included, a
# well-known HTTP API surprise) reaches the function base64-encoded.
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in _TEXT_TYPES
        or media.endswith("+json")
        or media.endswith("+xml")
    )


def _header_pairs(headers: Headers) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def http_api_event(
    method: str,
    path: str,
    *,
    headers: Headers,
    body: bytes,
    query: str = "",
    source_ip: str = "127.0.0.1",
    route_key: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    iam_caller: str | None = None,
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for one request.

    `headers` may be a mapping or (name, value) pairs; repeated names are joined with ","
    and names lower-cased, as HTTP API does. The Cookie header moves to `cookies`.
    `route_key` defaults to "METHOD /path", the key of a plain (parameterless) route.
    `iam_caller`, the ARN of a principal, is what the AWS_IAM authorizer adds once it has
    verified the request's SigV4 signature (requestContext.authorizer.iam).
    """
    method = method.upper()
    now = time.time()
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _header_pairs(headers):
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    host = merged.get("host", "127.0.0.1")
    domain, _, port = host.partition(":")
    # What API Gateway adds on its way to the function.
    forwarded = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-forwarded-port", port or "80")
    merged.setdefault("x-amzn-trace-id", _trace_id(now))
    if body:
        merged.setdefault("content-length", str(len(body)))

    key = route_key or f"{method} {path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if query:
        params: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        event["queryStringParameters"] = params
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": key,
        **({"authorizer": {"iam": iam_identity(iam_caller)}} if iam_caller else {}),
        "stage": "$default",
        "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    encoded = False
    if body:
        text: str | None = None
        if _is_text(merged.get("content-type")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            encoded = True
        else:
            event["body"] = text
    event["isBase64Encoded"] = encoded
    return event


def iam_identity(caller_arn: str) -> dict[str, Any]:
    """requestContext.authorizer.iam of a SigV4-signed request, as HTTP API passes it."""
    session = caller_arn.rsplit("/", 1)[-1]
    return {
        "accessKey": "ASIA" + hashlib.sha256(caller_arn.encode()).hexdigest()[:16].upper(),
        "accountId": ACCOUNT_ID,
        "callerId": f"AROALOCALREADER:{session}",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": caller_arn,
        "userId": f"AROALOCALREADER:{session}",
    }


def scheduled_event(now: datetime, *, rule: str = "sip-billing-renewal-sweep") -> dict[str, Any]:
    """The scheduled event the renewal sweep receives at `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("scheduled_event needs a timezone-aware time")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


def sqs_event(
    messages: list[tuple[str, str]],
    *,
    queue_arn: str = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:RenewalQueue",
    receive_count: int = 1,
) -> dict[str, Any]:
    """An SQS event source batch of (messageId, body) messages."""
    sent = int(time.time() * 1000)
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": base64.b64encode(secrets.token_bytes(48)).decode("ascii"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": str(sent),
                    "SenderId": ACCOUNT_ID,
                    "ApproximateFirstReceiveTimestamp": str(sent + 1),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message_id, body in messages
        ]
    }


@dataclass
class FakeContext:
    """What Lambda passes as `context`: the attributes Powertools and handlers read."""

    function_name: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    tenant_id: str | None = None
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = (
                f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
            )
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            day = datetime.now(UTC).strftime("%Y/%m/%d")
            self.log_stream_name = f"{day}/[{self.function_version}]{secrets.token_hex(16)}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
