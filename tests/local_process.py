"""`python -m local` (what `make run` starts) as a child process, the way a developer runs
it: started with PORT=0, read until its `ready:` line, talked to over HTTP, stopped with
SIGINT. Used by the local-stack and browser tests."""

from __future__ import annotations

import http.client
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60
EXIT_TIMEOUT = 10


@dataclass
class Running:
    process: subprocess.Popen[str]
    base: str
    moto: str
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.base.rstrip("/").rsplit(":", 1)[1])


def _pump(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def start_local(**extra: str) -> Running:
    env = dict(os.environ)
    env.update(
        PORT="0",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="eu-central-1",
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "TELEGRAM_WEBHOOK_SECRET"):
        env.pop(name, None)
    env.update(extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str | None] = queue.Queue()
    # Drain both pipes for the whole run: handler logs must never fill a pipe and block.
    threading.Thread(target=_pump, args=(process.stdout, out), daemon=True).start()
    errors: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stderr, errors), daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = out.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        lines.append(line)
        if line.startswith("ready: "):
            moto = next(
                text.rsplit(" ", 1)[1] for text in lines if text.strip().startswith("moto ")
            )
            return Running(process, line.removeprefix("ready: "), moto, lines)
    process.kill()
    process.wait()
    stderr = []
    while not errors.empty():
        stderr.append(errors.get() or "")
    pytest.fail("no ready line:\n" + "\n".join(lines + stderr))


def stop_local(running: Running) -> int:
    running.process.send_signal(signal.SIGINT)
    try:
        return running.process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        pytest.fail(f"python -m local did not exit within {EXIT_TIMEOUT}s of SIGINT")


def call(
    running: Running,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()
