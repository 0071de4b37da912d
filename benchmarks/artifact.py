"""The artifact as deployed, and a twin of it that runs on this machine.

`sam build` (the Makefile's `build`) writes .aws-sam/build: the layer and each function,
built by packaging/Makefile for arm64. This machine is x86_64, so the figures run on a
twin: the same recipe run with LAMBDA_PLATFORM=manylinux2014_x86_64 into
.aws-sam/twin/CommonLayer, whose files are checked to be those of the arm64 layer but for
the compiled extensions (`same_files`). The functions are platform-free and used as built.
Next to them, .aws-sam/twin/runtime holds what the python3.13 runtime provides
(packaging/lambda-runtime.txt: boto3, botocore, ...), compiled as the runtime ships it.

`environment(case)` gives a fresh interpreter's environment that sees only these (the
interpreter is started with -S, so the venv's site-packages are not on the path), with
bytecode writing off; the twin's folders are made read-only, as /opt and /var/task are.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
TWIN = ROOT / ".aws-sam" / "twin"
LAYER = "CommonLayer"
SOURCES = (
    ROOT / "template.yaml",
    ROOT / "layers" / "common",
    ROOT / "functions",
    ROOT / "packaging",
)
FUNCTIONS = {
    "telegram_webhook": "TelegramWebhookFunction",
    "payment_webhook": "PaymentWebhookFunction",
    "renewal_cron": "RenewalCronFunction",
    "reconcile": "ReconcileFunction",
    "entitlements_api": "EntitlementsApiFunction",
    "entitlement_events": "EntitlementEventsFunction",
}


def _files(root: Path) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.extend(Path(directory) / name for name in files if not name.endswith(".pyc"))
    return found


def _newest_source() -> float:
    newest = 0.0
    for source in SOURCES:
        paths = [source] if source.is_file() else _files(source)
        newest = max([newest, *(path.stat().st_mtime for path in paths)])
    return newest


def _run(command: list[str], **kwargs: Any) -> None:
    done = subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


def _writable(root: Path) -> None:
    if not root.exists():
        return
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
    root.chmod(root.stat().st_mode | stat.S_IWUSR)


def _read_only(root: Path) -> None:
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def ensure_build() -> dict[str, Any]:
    """`make build` unless .aws-sam/build is newer than every source."""
    marker = BUILD / "template.yaml"
    if marker.exists() and marker.stat().st_mtime > _newest_source():
        return {"built": False, "seconds": 0.0}
    started = time.perf_counter()
    _run(["make", "build"], cwd=ROOT)
    return {"built": True, "seconds": round(time.perf_counter() - started, 1)}


def ensure_twin() -> dict[str, Any]:
    """The x86_64 twin of the built layer and the runtime's packages, rebuilt when stale."""
    build = ensure_build()
    marker = TWIN / ".built"
    if marker.exists() and marker.stat().st_mtime > (BUILD / "template.yaml").stat().st_mtime:
        return {**build, "twin_built": False}
    started = time.perf_counter()
    _writable(TWIN)
    _run(["rm", "-rf", str(TWIN)])
    python = sys.executable  # the venv's 3.13, as `make build` puts first on PATH
    _run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT / "layers" / "common"),
            "-f",
            str(ROOT / "packaging" / "Makefile"),
            "build-CommonLayer",
            f"ARTIFACTS_DIR={TWIN / LAYER}",
            "LAMBDA_PLATFORM=manylinux2014_x86_64",
            f"PYTHON={python}",
        ]
    )
    runtime = TWIN / "runtime"
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--target",
            str(runtime),
            "-r",
            str(ROOT / "packaging" / "lambda-runtime.txt"),
        ]
    )
    _run([python, str(ROOT / "packaging" / "compile.py"), str(runtime)])
    differences = same_files(BUILD / LAYER, TWIN / LAYER)
    if differences:
        raise RuntimeError(f"the twin differs from the built layer: {differences[:10]}")
    _read_only(TWIN)
    marker.parent.chmod(marker.parent.stat().st_mode | stat.S_IWUSR)
    marker.touch()
    marker.parent.chmod(marker.parent.stat().st_mode & ~stat.S_IWUSR)
    return {**build, "twin_built": True, "twin_seconds": round(time.perf_counter() - started, 1)}


def _comparable(root: Path) -> set[str]:
    """Relative paths, with what legitimately differs between platforms left out: compiled
    extensions (their names carry the platform), wheel tags and the records listing them."""
    names = set()
    for directory, _, files in os.walk(root):
        for name in files:
            relative = str((Path(directory) / name).relative_to(root))
            if name.endswith(".so") or name in {"WHEEL", "RECORD"}:
                continue
            names.add(relative)
    return names


def same_files(built: Path, twin: Path) -> list[str]:
    """What one has and the other lacks (empty when the twin is faithful)."""
    a, b = _comparable(built), _comparable(twin)
    return sorted(f"only built: {p}" for p in a - b) + sorted(f"only twin: {p}" for p in b - a)


def function_dir(function: str) -> Path:
    return BUILD / FUNCTIONS[function]


def python_path(function: str | None) -> str:
    """The module search path Lambda gives a function: its code, the layer, the runtime."""
    parts = [function_dir(function)] if function else []
    parts += [TWIN / LAYER / "python", TWIN / "runtime"]
    return os.pathsep.join(str(part) for part in parts)


def environment(function: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for `python -S` in the twin: no venv, no bytecode written."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": python_path(function),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "sip-billing",
        "POWERTOOLS_METRICS_NAMESPACE": "SipBilling",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "RENEWAL_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/renewals",
        "ENTITLEMENTS_BUS_NAME": "sip-billing-entitlements",
        # Unreachable on purpose: nothing in a probe may leave this machine.
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "PAYPAL_API_BASE": "http://127.0.0.1:9",
        "CRYPTOPAY_API_BASE": "http://127.0.0.1:9",
    }
    env.update(extra or {})
    return env
