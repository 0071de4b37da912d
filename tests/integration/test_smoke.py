"""`make smoke`: the read-only check of a running stack passes against the local stack (what
`make run` starts), fails against a server that accepts anything, and reads a deployed
stack's schedules from EventBridge Scheduler."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from scripts import smoke
from tests.local_process import start_local, stop_local


def test_the_local_stack_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    running = start_local()
    try:
        assert smoke.main(["--url", running.base]) == 0
    finally:
        assert stop_local(running) == 0
    printed = capsys.readouterr().out
    checks = len(smoke.PROBES) + 2
    assert f"smoke: {checks} of {checks} checks passed" in printed
    assert "FAIL" not in printed


class _AcceptsAnything(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def careless_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AcceptsAnything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_stack_that_acts_on_unsigned_requests_fails(
    careless_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smoke.main(["--url", careless_server]) == 1
    printed = capsys.readouterr().out
    assert printed.count("FAIL") == len(smoke.PROBES) + 1  # every route, and the schedules
    assert "FAIL schedules: could not be read" in printed
    assert "POST /telegram: telegram without the secret: answered 200 (expected 401)" in printed


def test_a_deployed_stacks_schedules_are_read_from_the_scheduler(aws_endpoint: str) -> None:
    scheduler = boto3.client("scheduler", region_name="eu-central-1", endpoint_url=aws_endpoint)
    target = {
        "Arn": "arn:aws:lambda:eu-central-1:123456789012:function:f",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }
    for name, state in (("smoke-renewal-sweep", "ENABLED"), ("smoke-reconcile", "DISABLED")):
        scheduler.create_schedule(
            Name=name,
            ScheduleExpression="rate(10 minutes)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
            State=state,
        )
    try:
        found = smoke.aws_schedules("smoke", "eu-central-1", aws_endpoint)
        assert set(found) == {"renewal-sweep"}  # a disabled schedule does not count
    finally:
        for name in ("smoke-renewal-sweep", "smoke-reconcile"):
            scheduler.delete_schedule(Name=name)
