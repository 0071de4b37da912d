"""Figure 6: build size. `sam build` (the Makefile's `build` target, via
benchmarks/artifact.py: .aws-sam/build is reused when newer than its sources), then the
unzipped size of each function directory and of the layer (bytecode included), the layer's
biggest distributions, and two checks of the build itself: every module has its .pyc, and
nothing the python3.13 runtime provides is shipped. Lambda's limit is 250 MB unzipped for a
function and all its layers together.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.artifact import BUILD, LAYER, ensure_build
from benchmarks.report import Figure, Row

NAME = "build_size"
MB = 1024 * 1024  # Lambda's "250 MB" is 262 144 000 bytes: MiB, as here
LIMIT_MB = 250
TARGET_MB = 50
FUNCTION_TARGET_KB = 64  # "a few KB": the handler module and its bytecode
# What the python3.13 runtime provides besides the standard library (not bundled).
LAMBDA_RUNTIME_PACKAGES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)


def bytecode_missing(root: Path) -> tuple[int, list[str]]:
    """(modules, those without a cpython-313 .pyc next to them in __pycache__)."""
    tag = sys.implementation.cache_tag
    sources = list(root.rglob("*.py"))
    missing = [
        str(p.relative_to(root))
        for p in sources
        if not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").is_file()
    ]
    return len(sources), missing


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
    """(distribution, bytes) per installed distribution (from its RECORD), biggest first.
    What no RECORD lists (the bytecode packaging/compile.py wrote after pip) counts for the
    distribution that owns its top-level folder, else under its own name (e.g. billing)."""
    claimed: set[Path] = set()
    sizes: dict[str, int] = {}
    owner: dict[str, str] = {}  # top-level name -> distribution
    for record in site.glob("*.dist-info/RECORD"):
        name = record.parent.name.split("-")[0]
        total = 0
        with record.open(newline="") as stream:
            for row in csv.reader(stream):
                if not row:
                    continue
                top = row[0].split("/")[0]
                if not top.endswith(".dist-info") and top != "..":
                    owner.setdefault(top.split(".")[0], name)
                path = (site / row[0]).resolve()
                if path in claimed or not path.is_file():
                    continue
                claimed.add(path)
                total += path.stat().st_size
        sizes[name] = sizes.get(name, 0) + total
    for entry in site.iterdir():
        unclaimed = [p for p in ([entry] if entry.is_file() else _all(entry)) if p not in claimed]
        if unclaimed:
            key = owner.get(entry.name.split(".")[0], entry.name.split(".")[0])
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
            "MB unzipped, bytecode included",
            f"{layer_bytes / MB:.1f}",
            baseline=f"limit {LIMIT_MB}",
            ratio=f"{layer_bytes / MB / LIMIT_MB:.2f}x",
            target=f"<= {TARGET_MB} MB",
            ok=layer_bytes / MB <= TARGET_MB,
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
                "KB own (MB with the layer)",
                f"{own / 1024:.1f} ({total / MB:.1f})",
                baseline=f"limit {LIMIT_MB} MB",
                ratio=f"{total / MB / LIMIT_MB:.2f}x",
                target=f"< {FUNCTION_TARGET_KB} KB",
                ok=own / 1024 < FUNCTION_TARGET_KB,
                data={"bytes": own, "with_layer_bytes": total},
            )
        )
    modules, missing = 0, []
    for root in [BUILD / LAYER, *(BUILD / f for f in functions)]:
        count, lacking = bytecode_missing(root)
        modules += count
        missing += lacking
    rows.append(
        Row(
            NAME,
            "bytecode in the build",
            "modules without .pyc / modules",
            f"{len(missing)} / {modules}",
            target="0",
            ok=not missing,
            data={"missing": missing[:50]},
        )
    )
    shipped = top_levels(layer_site()) & LAMBDA_RUNTIME_PACKAGES
    rows.append(
        Row(
            NAME,
            "runtime packages in the layer",
            "boto3, botocore, ... shipped",
            ", ".join(sorted(shipped)) or "none",
            target="none",
            ok=not shipped,
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
