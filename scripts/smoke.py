"""A read-only check of a running stack, deployed or local (`make run`):

    make smoke URL=https://<api>.execute-api.<region>.amazonaws.com [STACK=sip-billing]
    make smoke URL=http://127.0.0.1:8080

- every webhook refuses an unsigned (or wrongly signed) request, and every entitlements
  route a request without AWS IAM: each answers 4xx, never 2xx (it would have acted) and
  never 5xx (the route or its function is broken);
- each route is there: an answer comes from the function or the authorizer, not API
  Gateway's 404 for a route it does not know;
- the schedules are present and enabled: EventBridge Scheduler's renewal sweep and
  reconciliation of the stack (AWS credentials that may scheduler:GetSchedule), or the local
  stack's timers (GET /_local/schedules).

Nothing is written: every request is refused before the functions read or write anything.
Prints one line per check; exit status 1 when any fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UPDATE = json.dumps(
    {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": "/start",
            "from": {"id": 1, "is_bot": False, "first_name": "Smoke"},
            "chat": {"id": 1, "type": "private"},
        },
    }
).encode()
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    refused: frozenset[int]  # the statuses that say "refused, as it should be"


PROBES = (
    Probe("telegram without the secret", "POST", "/telegram", UPDATE, JSON, frozenset({401})),
    Probe(
        "telegram with a wrong secret",
        "POST",
        "/telegram",
        UPDATE,
        {**JSON, "x-telegram-bot-api-secret-token": "not-the-secret"},
        frozenset({401}),
    ),
    Probe("stripe unsigned", "POST", "/payments/stripe", b"{}", JSON, frozenset({400, 401})),
    Probe(
        "stripe badly signed",
        "POST",
        "/payments/stripe",
        b"{}",
        {**JSON, "stripe-signature": "t=1,v1=00"},
        frozenset({400, 401}),
    ),
    Probe("paypal unsigned", "POST", "/payments/paypal", b"{}", JSON, frozenset({400, 401})),
    Probe("crypto pay unsigned", "POST", "/payments/cryptopay", b"{}", JSON, frozenset({400, 401})),
    Probe(
        "yookassa, wrong path secret",
        "POST",
        "/payments/yookassa/not-the-secret",
        b"{}",
        JSON,
        frozenset({400, 401, 403, 404}),
    ),
    Probe("entitlements without AWS IAM", "GET", "/entitlements/1", None, {}, frozenset({403})),
    Probe(
        "entitlements batch without AWS IAM",
        "POST",
        "/entitlements/batch",
        b'{"telegram_ids": [1]}',
        JSON,
        frozenset({403}),
    ),
)


def request(base: str, probe: Probe) -> tuple[int, bytes]:
    url = base.rstrip("/") + probe.path  # main() allows http(s) bases only
    sent = urllib.request.Request(  # noqa: S310
        url, data=probe.body, headers=probe.headers, method=probe.method
    )
    try:
        with urllib.request.urlopen(sent, timeout=20) as answer:  # noqa: S310
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as refused:
        return int(refused.code), refused.read()


def check_route(base: str, probe: Probe) -> str | None:
    """None when the route refused as it should; else what is wrong."""
    status, body = request(base, probe)
    if status in probe.refused:
        return None
    if status == 404 and b'"message":"Not Found"' in body.replace(b" ", b""):
        return "404 from API Gateway: the route is not deployed"
    return f"answered {status} (expected {', '.join(map(str, sorted(probe.refused)))})"


def local_schedules(base: str) -> dict[str, float]:
    status, body = request(base, Probe("", "GET", "/_local/schedules", None, {}, frozenset()))
    if status != 200:
        raise RuntimeError(f"GET /_local/schedules answered {status}")
    return {s["name"]: float(s["every_seconds"]) for s in json.loads(body)["schedules"]}


def aws_schedules(stack: str, region: str, endpoint: str | None) -> dict[str, float]:
    import boto3

    scheduler = boto3.client("scheduler", region_name=region, endpoint_url=endpoint)
    found = {}
    for name in (f"{stack}-renewal-sweep", f"{stack}-reconcile"):
        schedule = scheduler.get_schedule(Name=name)
        if schedule["State"] == "ENABLED":
            found[name.removeprefix(f"{stack}-")] = 0.0  # the expression, not a number
    return found


def run(base: str, schedules: Callable[[], dict[str, float]]) -> list[tuple[str, str | None]]:
    results: list[tuple[str, str | None]] = []
    for probe in PROBES:
        try:
            results.append((f"{probe.method} {probe.path}: {probe.name}", check_route(base, probe)))
        except OSError as error:
            results.append((f"{probe.method} {probe.path}: {probe.name}", f"no answer: {error}"))
    try:
        present = schedules()
        for name in ("renewal-sweep", "reconcile"):
            results.append(
                (f"schedule {name}", None if name in present else "missing or not enabled")
            )
    except Exception as error:
        results.append(("schedules", f"could not be read: {error}"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the stack's base URL")
    parser.add_argument("--stack", default="sip-billing", help="for the deployed schedules")
    parser.add_argument("--region", default="eu-central-1")
    parser.add_argument("--endpoint-url", help="an AWS endpoint (tests)")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error("--url must be an http:// or https:// address")
    local = "://127.0.0.1" in args.url or "://localhost" in args.url

    def schedules() -> dict[str, Any]:
        if local:
            return local_schedules(args.url)
        return aws_schedules(args.stack, args.region, args.endpoint_url)

    results = run(args.url, schedules)
    for name, problem in results:
        print(f"ok   {name}" if problem is None else f"FAIL {name}: {problem}")
    failed = sum(problem is not None for _, problem in results)
    print(f"smoke: {len(results) - failed} of {len(results)} checks passed against {args.url}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
