"""Figure: set-up that fits the command. Seconds from a fresh `git clone` of this repository
to `make run`'s `ready:` line (a new .venv, the local stack's install, its start), for the
committed HEAD and for BASELINE (the commit before issue 13, whose `make run` installed
every developer tool), measured one after the other in the same run. pip's cache is left as
it is: on a machine that has installed the project before (this one), that is a warm cache
and the figures are mostly unpacking and compiling; a first-ever install adds downloads
to both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.report import ROOT, Figure, Row

NAME = "setup"
BASELINE = "fa2dcde"
TARGET_SHARE = 1 / 3
LIMIT_SECONDS = 1800


def time_to_ready(revision: str) -> float:
    with tempfile.TemporaryDirectory(prefix="setup-bench-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", revision], check=True)
        log = Path(scratch) / "run.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
        )
        env["PORT"] = "0"
        started = time.perf_counter()
        with log.open("w") as out:
            run = subprocess.Popen(
                ["make", "run"],
                cwd=clone,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            while "ready:" not in log.read_text(errors="replace"):
                if run.poll() is not None:
                    raise RuntimeError(f"make run ended: {log.read_text()[-2000:]}")
                if time.perf_counter() - started > LIMIT_SECONDS:
                    raise RuntimeError("make run did not get ready")
                time.sleep(0.2)
            return time.perf_counter() - started
        finally:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(timeout=60)


def run() -> Figure:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    before = time_to_ready(BASELINE)
    now = time_to_ready(head)
    share = now / before
    row = Row(
        NAME,
        f"fresh clone to make run's ready: ({head})",
        "s, pip cache as on this machine",
        f"{now:.1f}",
        baseline=f"{before:.1f} at {BASELINE}",
        ratio=f"{share:.2f}x",
        target=f"< {TARGET_SHARE:.2f}x",
        ok=share < TARGET_SHARE,
        data={"seconds": now, "baseline_seconds": before},
    )
    return Figure(NAME, [row], details={"baseline": BASELINE, "head": head})
