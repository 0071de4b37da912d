"""Runs one handler's first invocation up to its first DynamoDB request, then reports.

`python first_request.py CASE` in a fresh interpreter whose path holds the code under test
(the built artifact for `make bench`, the source tree for tests/unit/test_boundaries.py).
It imports the handler module and calls `lambda_handler` with a realistic event (a Telegram
update with the right secret, a signed Stripe event, an SQS batch, a scheduler tick).
Every AWS request is caught where botocore would put it on the wire: SSM's GetParameter is
answered with a test secret, and the first DynamoDB request ends the run. At that moment the
probe prints, as one JSON line, the process's CPU time since it started (user + system), the
top-level packages imported, and the request that was reached; then it exits at once.

So a case costs exactly what a cold start costs before the function can reach DynamoDB:
interpreter start, imports, the composition root, the event's parsing and authentication,
the clients created and the request built and signed. The floor case does the same for
"import boto3, create one DynamoDB client, send a GetItem".

Standard library only, besides botocore (the Lambda runtime's), so that it runs against
any path it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import sys
import time
from typing import Any

import botocore.endpoint
from botocore.awsrequest import AWSResponse

WEBHOOK_SECRET = "probe-webhook-secret"
STRIPE_WEBHOOK_SECRET = "whsec_probe"
CASES = (
    "floor",
    "telegram",
    "payment",
    "renewal",
    "sweep",
    "reconcile",
    "entitlements",
    "entitlement_events",
)


def _report(reached: str) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    modules = sorted({name.split(".")[0] for name in sys.modules})
    line = {
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
        "reached": reached,
        "modules": modules,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    os._exit(0)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _send(self: Any, request: Any) -> AWSResponse:
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else str(target)
    # The first request to the store: DynamoDB, or for the stream function the bus.
    if target.startswith("DynamoDB_") or target == "AWSEvents.PutEvents":
        _report(target)
    if target == "AmazonSSM.GetParameter":
        name = json.loads(request.body)["Name"]
        value = STRIPE_WEBHOOK_SECRET if "stripe" in name else WEBHOOK_SECRET
        body = json.dumps({"Parameter": {"Name": name, "Type": "SecureString", "Value": value}})
        return AWSResponse(request.url, 200, {}, _Body(body.encode()))
    raise RuntimeError(f"the probe does not answer {target or request.url}")


botocore.endpoint.Endpoint._send = _send  # type: ignore[method-assign]


class Context:
    function_name = "probe"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:probe"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/probe"
    log_stream_name = "probe"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def _http(path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {"http": {"method": "POST", "path": path}},
        "body": body,
        "isBase64Encoded": False,
    }


def telegram_event() -> dict[str, Any]:
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 1001, "type": "private"},
            "from": {"id": 1001, "is_bot": False, "first_name": "Probe", "language_code": "en"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    secret = {"x-telegram-bot-api-secret-token": WEBHOOK_SECRET}
    return _http("/telegram", json.dumps(update), secret)


def stripe_event() -> dict[str, Any]:
    event = {
        "id": "evt_probe",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": {"object": "checkout.session", "payment_status": "paid"}},
    }
    body = json.dumps(event)
    stamp = str(int(time.time()))
    mac = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.{body}".encode(), hashlib.sha256)
    return _http("/payments/stripe", body, {"stripe-signature": f"t={stamp},v1={mac.hexdigest()}"})


def sqs_event() -> dict[str, Any]:
    record = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": json.dumps({"subscription_id": "probe"}),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:renewals",
        "awsRegion": "eu-central-1",
    }
    return {"Records": [record]}


def entitlements_event() -> dict[str, Any]:
    """GET /entitlements/{telegram_id} as the AWS_IAM authorizer passes it on."""
    path = "/entitlements/1001"
    return {
        "version": "2.0",
        "routeKey": "GET /entitlements/{telegram_id}",
        "rawPath": path,
        "headers": {},
        "pathParameters": {"telegram_id": "1001"},
        "requestContext": {
            "http": {"method": "GET", "path": path},
            "authorizer": {
                "iam": {"userArn": "arn:aws:sts::123456789012:assumed-role/Reader/probe"}
            },
        },
        "isBase64Encoded": False,
    }


def stream_event() -> dict[str, Any]:
    """One Entitlements stream record (a connect: version 1, a Gateway grant)."""
    grant = {
        "subscription_id": "sub-1",
        "options": {"lines": 2, "extra_sessions": 0, "api_access": False},
        "valid_until": "2027-06-01T00:00:00.000000Z",
    }
    image = {
        "pk": {"S": "customer#1001"},
        "version": {"N": "1"},
        "updated_at": {"S": "2026-12-01T00:00:00.000000Z"},
        "grant#gateway": {"S": json.dumps(grant)},
    }
    record = {
        "eventID": "1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-central-1",
        "dynamodb": {
            "ApproximateCreationDateTime": time.time(),
            "Keys": {"pk": image["pk"]},
            "NewImage": image,
            "SequenceNumber": "100",
            "SizeBytes": 300,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": "arn:aws:dynamodb:eu-central-1:123456789012:table/E/stream/x",
    }
    return {"Records": [record]}


HANDLERS = {
    "telegram": ("telegram_webhook", telegram_event),
    "payment": ("payment_webhook", stripe_event),
    "renewal": ("renewal_cron", sqs_event),
    "sweep": ("renewal_cron", lambda: {"source": "scheduler", "detail-type": "Scheduled Event"}),
    "reconcile": ("reconcile", lambda: {"source": "scheduler"}),
    "entitlements": ("entitlements_api", entitlements_event),
    "entitlement_events": ("entitlement_events", stream_event),
}


def validation() -> None:
    """The cost of validating on the cold path (CPU ms each): msgspec's import, reading
    the settings from the environment, reading the catalog from its TOML. The modules that
    define them are imported first: they are code a handler imports in any case."""
    import pynamodb.models  # noqa: F401 - what any handler has loaded before these

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (usage.ru_utime + usage.ru_stime) * 1000

    marks = [cpu()]
    import msgspec  # noqa: F401

    marks.append(cpu())
    from billing.config import settings

    marks.append(cpu())
    settings()
    marks.append(cpu())
    from billing.domain.catalog import default_catalog

    marks.append(cpu())
    default_catalog()
    marks.append(cpu())
    line = {
        "msgspec_import_ms": marks[1] - marks[0],
        "settings_ms": marks[3] - marks[2],
        "catalog_ms": marks[5] - marks[4],
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    os._exit(0)


def run(case: str) -> None:
    if case == "validation":
        validation()
    if case == "floor":
        import boto3

        client = boto3.client("dynamodb")
        client.get_item(TableName="Accounts", Key={"pk": {"S": "probe"}})
    else:
        import importlib

        _, make_event = HANDLERS[case]
        app = importlib.import_module("app")
        app.lambda_handler(make_event(), Context())
    _report("nothing")  # the handler ended without a DynamoDB request


if __name__ == "__main__":
    run(sys.argv[1])
