"""Figure 1: cold start. Each handler module imported, and `billing.runtime.runtime()` built,
in a fresh interpreter (PYTHONPATH=layers/common:., template.yaml's POWERTOOLS_* variables,
the tables and AWS_ENDPOINT_URL of a moto server), against the floor: a fresh interpreter
that imports boto3 and creates one DynamoDB client. Runs alternate between the cases, so
the ratio is measured side by side. Then `python -X importtime` of the slowest handler.

Two import sets: the dev venv as it is, and "Lambda-like": the same interpreter with every
top-level module hidden that is neither in the standard library, the built layer
(.aws-sam/build) nor the python3.13 runtime (boto3 and its dependencies). The venv holds
optional extras that botocore and httpx import when present (awscrt, pyOpenSSL, rich), which
Lambda does not have; they slow the floor and the handlers alike.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.env import FAKE_AWS_ENV, POWERTOOLS_ENV
from benchmarks.report import ROOT, Figure, Row, median

NAME = "cold_start"
RUNS = 7
TARGET_RATIO = 1.3
HANDLERS = (
    "functions.telegram_webhook.app",
    "functions.payment_webhook.app",
    "functions.renewal_cron.app",
)
FLOOR = "floor"

_TIMED = """
import json, time
started = time.perf_counter()
{body}
print(json.dumps({{"in_process_ms": (time.perf_counter() - started) * 1000}}))
"""
_LAMBDA_LIKE = """
import sys

class _NotOnLambda:
    hidden = frozenset({hidden!r})

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if path is None and name in cls.hidden:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on Lambda)", name=name)
        return None

sys.meta_path.insert(0, _NotOnLambda)
"""
_HANDLER = """
import importlib
importlib.import_module({module!r})
from billing.runtime import runtime
runtime()
"""
_FLOOR = """
import boto3
boto3.client("dynamodb")
"""


VENV, LAMBDA_LIKE = "venv", "Lambda-like"


def _code(case: str, mode: str, hidden: frozenset[str]) -> str:
    code = _FLOOR if case == FLOOR else _HANDLER.format(module=case)
    if mode == LAMBDA_LIKE:
        code = _LAMBDA_LIKE.format(hidden=sorted(hidden)) + code
    return code


def not_on_lambda() -> frozenset[str]:
    """Top-level modules of the venv's site-packages that neither the built layer nor the
    python3.13 runtime has (the layer is built first if needed)."""
    from benchmarks.build_size import (
        LAMBDA_RUNTIME_PACKAGES,
        ensure_build,
        layer_site,
        top_levels,
    )

    ensure_build()
    on_lambda = top_levels(layer_site()) | LAMBDA_RUNTIME_PACKAGES
    venv: set[str] = set()
    for directory in site.getsitepackages():
        venv |= top_levels(Path(directory))
    return frozenset(venv - on_lambda)


def environment(endpoint: str) -> dict[str, str]:
    from billing.config import Settings

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))
    }
    env.update(FAKE_AWS_ENV)
    env.update(POWERTOOLS_ENV)
    defaults = Settings()
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
            "AWS_ENDPOINT_URL": endpoint,
            "ACCOUNTS_TABLE": defaults.accounts_table,
            "SUBSCRIPTIONS_TABLE": defaults.subscriptions_table,
            "BALANCES_TABLE": defaults.balances_table,
            "ORDERS_TABLE": defaults.orders_table,
            "IDEMPOTENCY_TABLE": defaults.idempotency_table,
        }
    )
    return env


def _run(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall ms of the whole interpreter, ms inside it after start-up)."""
    code = _TIMED.format(body=code)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, cwd=ROOT, capture_output=True, text=True
    )
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"cold start failed:\n{code}\n{done.stderr[-2000:]}")
    inside = json.loads(done.stdout.strip().splitlines()[-1])["in_process_ms"]
    return wall, float(inside)


def import_costs(code: str, env: dict[str, str], top: int = 12) -> dict[str, Any]:
    """`python -X importtime`: self time summed per top-level package, biggest first, and the
    slowest single imports by cumulative time at the top of the import tree."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    by_package: dict[str, int] = defaultdict(int)
    roots: list[tuple[int, str]] = []
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        self_time, cumulative = int(self_us), int(cumulative_us)
        module = name.rstrip()[1:]  # one space after the bar, then two per nesting level
        depth = (len(module) - len(module.lstrip())) // 2
        module = module.strip()
        by_package[module.split(".")[0]] += self_time
        total += self_time
        if depth == 0:
            roots.append((cumulative, module))
    packages = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)
    return {
        "total_ms": round(total / 1000, 1),
        "by_package_ms": [(name, round(us / 1000, 1)) for name, us in packages[:top]],
        "slowest_roots_ms": [
            (name, round(us / 1000, 1)) for us, name in sorted(roots, reverse=True)[:top]
        ],
    }


def run() -> Figure:
    from benchmarks.stack import stack

    env = environment(stack().endpoint)
    modes: tuple[str, ...] = (VENV, LAMBDA_LIKE)
    skipped = ""
    try:
        hidden = not_on_lambda()
    except (RuntimeError, OSError) as error:  # no layer build: the venv only
        hidden, modes = frozenset(), (VENV,)
        skipped = f"{LAMBDA_LIKE} skipped: {error}"[:300]
    cases = [(mode, case) for mode in modes for case in (FLOOR, *HANDLERS)]
    codes = {key: _code(key[1], key[0], hidden) for key in cases}
    for key in cases:  # warm-up: byte-code caches, the page cache
        _run(codes[key], env)
    wall: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    inside: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    for _ in range(RUNS):
        for key in cases:
            w, i = _run(codes[key], env)
            wall[key].append(w)
            inside[key].append(i)
    rows: list[Row] = []
    details: dict[str, Any] = {
        "runs": RUNS,
        "python": sys.executable,
        "hidden_in_lambda_like": sorted(hidden),
        "skipped": skipped,
    }
    for mode in modes:
        floor = median(wall[mode, FLOOR])
        rows.append(
            Row(
                NAME,
                f"{mode}: floor (boto3 + client)",
                "process ms (in-process)",
                f"{floor:.0f} ({median(inside[mode, FLOOR]):.0f})",
                data={"wall_ms": wall[mode, FLOOR], "in_process_ms": inside[mode, FLOOR]},
            )
        )
        for case in HANDLERS:
            value = median(wall[mode, case])
            ratio = value / floor
            rows.append(
                Row(
                    NAME,
                    f"{mode}: {case.split('.')[1]}",
                    "process ms (in-process)",
                    f"{value:.0f} ({median(inside[mode, case]):.0f})",
                    baseline=f"{floor:.0f}",
                    ratio=f"{ratio:.2f}x",
                    target=f"<= {TARGET_RATIO}x",
                    ok=ratio <= TARGET_RATIO,
                    data={
                        "wall_ms": wall[mode, case],
                        "in_process_ms": inside[mode, case],
                        "ratio": ratio,
                    },
                )
            )
        medians = {case: median(wall[mode, case]) for case in HANDLERS}
        worst = max(HANDLERS, key=medians.__getitem__)
        details[f"importtime_{mode}"] = {
            "handler": worst,
            **import_costs(codes[mode, worst], env),
        }
    costs = details[f"importtime_{modes[-1]}"]
    for package, ms in costs["by_package_ms"][:8]:
        rows.append(
            Row(
                NAME,
                f"import: {package}",
                f"self ms, {costs['handler'].split('.')[1]}, {modes[-1]}",
                f"{ms:.1f}",
            )
        )
    return Figure(NAME, rows, details=details)
