"""Figure 6: build size. `sam build` (the Makefile's `build` target; .aws-sam/build is
reused when it is newer than template.yaml, layers/common and functions), then the unzipped
size of each function directory and of the layer, and the layer's biggest distributions.
Lambda's limit is 250 MB unzipped for a function and all its layers together.
"""

from __future__ import annotations

import csv
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.report import ROOT, Figure, Row

NAME = "build_size"
BUILD = ROOT / ".aws-sam" / "build"
LAYER = "CommonLayer"
MB = 1024 * 1024  # Lambda's "250 MB" is 262 144 000 bytes: MiB, as here
LIMIT_MB = 250
TARGET_MB = 50
SOURCES = (ROOT / "template.yaml", ROOT / "layers" / "common", ROOT / "functions")
# What the python3.13 runtime provides besides the standard library (not bundled).
LAMBDA_RUNTIME_PACKAGES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)


def _files(root: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".pyc"):
                yield Path(directory) / name


def _newest_source() -> float:
    newest = 0.0
    for source in SOURCES:
        paths = [source] if source.is_file() else _files(source)
        newest = max([newest, *(path.stat().st_mtime for path in paths)])
    return newest


def ensure_build() -> dict[str, Any]:
    """Runs `make build` unless .aws-sam/build is newer than every source."""
    marker = BUILD / "template.yaml"
    if marker.exists() and marker.stat().st_mtime > _newest_source():
        return {"built": False, "seconds": 0.0}
    started = time.perf_counter()
    done = subprocess.run(["make", "build"], check=False, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"built": True, "seconds": round(time.perf_counter() - started, 1)}


def size(root: Path) -> int:
    """Bytes of the regular files under root, as unzipped on Lambda."""
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def layer_site() -> Path:
    return BUILD / LAYER / "python"


def top_levels(site: Path) -> frozenset[str]:
    """Importable top-level names in a site-packages directory."""
    names = set()
    for entry in site.iterdir():
        if entry.name.endswith((".dist-info", ".data", ".pth")) or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            names.add(entry.name)
        elif entry.suffix in {".py", ".so"}:
            names.add(entry.name.split(".")[0])
    return frozenset(names)


def distributions(site: Path) -> list[tuple[str, int]]:
    """(distribution, bytes) per installed distribution (from its RECORD), biggest first;
    what no RECORD lists is counted under its own top-level name (e.g. billing)."""
    claimed: set[Path] = set()
    sizes: dict[str, int] = {}
    for record in site.glob("*.dist-info/RECORD"):
        name = record.parent.name.split("-")[0]
        total = 0
        with record.open(newline="") as stream:
            for row in csv.reader(stream):
                if not row:
                    continue
                path = (site / row[0]).resolve()
                if path in claimed or not path.is_file():
                    continue
                claimed.add(path)
                total += path.stat().st_size
        sizes[name] = sizes.get(name, 0) + total
    for entry in site.iterdir():
        unclaimed = [p for p in ([entry] if entry.is_file() else _all(entry)) if p not in claimed]
        if unclaimed:
            key = entry.name.split(".")[0]
            sizes[key] = sizes.get(key, 0) + sum(p.stat().st_size for p in unclaimed)
    return sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)


def _all(root: Path) -> Iterator[Path]:
    for directory, _, files in os.walk(root):
        for name in files:
            yield (Path(directory) / name).resolve()


def run() -> Figure:
    build = ensure_build()
    layer_bytes = size(BUILD / LAYER)
    functions = sorted(p.name for p in BUILD.iterdir() if p.is_dir() and p.name != LAYER)
    rows = [
        Row(
            NAME,
            "layer CommonLayer",
            "MB unzipped",
            f"{layer_bytes / MB:.1f}",
            baseline=f"limit {LIMIT_MB}",
            ratio=f"{layer_bytes / MB / LIMIT_MB:.2f}x",
            target=f"< {TARGET_MB} MB",
            ok=layer_bytes / MB < TARGET_MB,
            data={"bytes": layer_bytes},
        )
    ]
    for function in functions:
        own = size(BUILD / function)
        total = own + layer_bytes
        rows.append(
            Row(
                NAME,
                function.removesuffix("Function"),
                "MB: own (+ layer)",
                f"{own / MB:.3f} ({total / MB:.1f})",
                baseline=f"limit {LIMIT_MB}",
                ratio=f"{total / MB / LIMIT_MB:.2f}x",
                target=f"< {TARGET_MB} MB",
                ok=total / MB < TARGET_MB,
                data={"bytes": own, "with_layer_bytes": total},
            )
        )
    packages = distributions(layer_site())
    for name, count in packages[:8]:
        note = " (in the runtime)" if name.lower() in LAMBDA_RUNTIME_PACKAGES else ""
        rows.append(Row(NAME, f"layer: {name}{note}", "MB unzipped", f"{count / MB:.1f}"))
    return Figure(
        NAME,
        rows,
        details={
            "build": build,
            "layer_distributions_mb": [(name, round(b / MB, 2)) for name, b in packages],
            "mb": "MiB (2^20 bytes)",
        },
    )
