"""Figure 1: cold start of what is deployed, in CPU time, each handler against the floor.

Each case is a fresh interpreter (`python -S`, so only the paths given are seen) running
benchmarks/first_request.py on the x86_64 twin of the built artifact (benchmarks/artifact.py:
the layer and function as `sam build` made them, the python3.13 runtime's boto3/botocore,
read-only, no bytecode written). It runs the handler's first invocation up to the moment
its first DynamoDB request would leave, and reports the process's CPU time (user + system)
from interpreter start. The floor is the same for `import boto3; boto3.client("dynamodb")`
and one GetItem. Runs alternate between the cases, so every ratio is measured side by side.

A secondary line times the source tree in the dev venv (modules compiled into __pycache__
by a warm-up), as this figure did before it measured the artifact.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import artifact
from benchmarks.report import ROOT, Figure, Row, median

NAME = "cold_start"
RUNS = 9
TARGET_RATIO = 1.3
PROBE = ROOT / "benchmarks" / "first_request.py"
FLOOR = "floor"
# Case -> the function whose code it runs.
CASES = {
    "telegram": "telegram_webhook",
    "payment": "payment_webhook",
    "renewal": "renewal_cron",
    "sweep": "renewal_cron",
    "reconcile": "reconcile",
    "entitlements": "entitlements_api",
    "entitlement_events": "entitlement_events",
}
TARGETED = ("telegram", "payment", "renewal")  # the handlers the target names


def probe(case: str, env: dict[str, str], *options: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-S", *options, str(PROBE), case],
        check=False,
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"probe {case} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def twin_env(case: str) -> dict[str, str]:
    return artifact.environment(CASES.get(case))


def source_env(case: str) -> dict[str, str]:
    site = sysconfig.get_paths()["purelib"]
    function = CASES.get(case)
    parts = [str(ROOT / "functions" / function)] if function else []
    parts += [str(ROOT / "layers" / "common"), site]
    env = artifact.environment(None)
    env.pop("PYTHONDONTWRITEBYTECODE")
    env["PYTHONPATH"] = ":".join(parts)
    return env


def import_costs(case: str, top: int = 10) -> dict[str, Any]:
    """`python -X importtime` of a case on the twin: self time per top-level package."""
    result = probe(case, twin_env(case), "-X", "importtime")
    by_package: dict[str, int] = defaultdict(int)
    for line in result["stderr"].splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, _, name = line.split(":", 1)[1].split("|", 2)
        by_package[name.strip().split(".")[0]] += int(self_us)
    ranked = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)
    return {
        "case": case,
        "total_ms": round(sum(by_package.values()) / 1000, 1),
        "by_package_ms": [(name, round(us / 1000, 1)) for name, us in ranked[:top]],
    }


def _measure(
    envs: dict[str, dict[str, str]], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """CPU ms of `runs` probes per case, interleaved, and what each case had imported."""
    cpu: dict[str, list[float]] = {case: [] for case in envs}
    modules: dict[str, list[str]] = {}
    for case, env in envs.items():  # warm-up: the page cache (and the source tree's .pyc)
        modules[case] = probe(case, env)["modules"]
    for _ in range(runs):
        for case, env in envs.items():
            cpu[case].append(probe(case, env)["cpu_ms"])
    return cpu, modules


def run() -> Figure:
    built = artifact.ensure_twin()
    cases = (FLOOR, *CASES)
    twin, imported = _measure({case: twin_env(case) for case in cases}, RUNS)
    floor = median(twin[FLOOR])
    rows = [
        Row(
            NAME,
            "artifact: floor (boto3 + client + GetItem)",
            "CPU ms to first DynamoDB request",
            f"{floor:.0f}",
            data={"cpu_ms": twin[FLOOR]},
        )
    ]
    for case in CASES:
        value = median(twin[case])
        ratio = value / floor
        targeted = case in TARGETED
        rows.append(
            Row(
                NAME,
                f"artifact: {case}",
                "CPU ms to first DynamoDB request",
                f"{value:.0f}",
                baseline=f"{floor:.0f}",
                ratio=f"{ratio:.2f}x",
                target=f"<= {TARGET_RATIO}x" if targeted else "",
                ok=ratio <= TARGET_RATIO if targeted else None,
                data={"cpu_ms": twin[case], "ratio": ratio},
            )
        )
    checks = [probe("validation", twin_env("payment")) for _ in range(RUNS)]
    parts = {key: median([c[key] for c in checks]) for key in checks[0] if key.endswith("_ms")}
    validating = sum(parts.values())
    share = validating / median(twin["payment"])
    rows.append(
        Row(
            NAME,
            "artifact: validation on the cold path",
            "CPU ms: msgspec import + read settings + read catalog",
            f"{validating:.1f} ({' + '.join(f'{v:.1f}' for v in parts.values())})",
            baseline=f"payment {median(twin['payment']):.0f}",
            ratio=f"{share:.1%}",
            target="< 5 % of init",
            ok=share < 0.05,
            data={"parts_ms": parts, "share": share},
        )
    )
    source, _ = _measure({case: source_env(case) for case in (FLOOR, *TARGETED)}, 3)
    source_floor = median(source[FLOOR])
    for case in TARGETED:
        value = median(source[case])
        rows.append(
            Row(
                NAME,
                f"source tree (venv, cached .pyc): {case}",
                "CPU ms to first DynamoDB request",
                f"{value:.0f}",
                baseline=f"{source_floor:.0f}",
                ratio=f"{value / source_floor:.2f}x",
                data={"cpu_ms": source[case], "floor_cpu_ms": source[FLOOR]},
            )
        )
    worst = max(TARGETED, key=lambda case: median(twin[case]))
    costs = import_costs(worst)
    for package, ms in costs["by_package_ms"][:6]:
        rows.append(Row(NAME, f"import: {package}", f"self ms, {worst}, artifact", f"{ms:.1f}"))
    return Figure(
        NAME,
        rows,
        details={
            "runs": RUNS,
            "python": sys.executable,
            "build": built,
            "twin": str(Path(artifact.TWIN).relative_to(ROOT)),
            "modules_at_first_request": {case: imported[case] for case in CASES},
            "importtime": costs,
        },
    )
