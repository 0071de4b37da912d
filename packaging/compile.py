"""Compile every module under a build folder to bytecode, in place, for Lambda.

`unchecked-hash` .pyc files are used without comparing the source's mtime, so the zip's
timestamps cannot make them stale; stale caches from the source tree are removed first so
only what this interpreter compiled ships. Refuses any interpreter but 3.13, whose bytecode
the python3.13 runtime reads.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
from pathlib import Path


def main(root: Path) -> int:
    if sys.version_info[:2] != (3, 13):
        print(f"compile.py needs Python 3.13 (the Lambda runtime), not {sys.version}")
        return 1
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache)
    ok = compileall.compile_dir(
        root,
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
