#!/usr/bin/env python3
"""A copy of the service with its request path compiled by mypyc, to measure.

    uv run --with setuptools python bench/mypyc_build.py DIR
    bench/compare.sh . DIR --rounds 3 --only ping:100,ping:1000
    uv run python bench/ws_path.py --instructions --src DIR

Copies this checkout's ``src/`` and ``pyproject.toml`` into DIR and compiles, in place,
the modules every request runs through (:data:`MODULES`) with mypyc, which comes with
mypy (a dev dependency) and needs setuptools, a C compiler and Python's headers. What
is not compiled stays Python and imports the compiled modules as any other.

One change is made to the copy's source first, and it would be part of adopting the
build: the dispatcher recognises a step that waits by ``type(x) is CoroutineType``,
which a compiled ``async def`` does not return (mypyc gives each its own awaitable
type); the copy checks for ``__await__`` too. The compiled copy is an experiment and
does not pass the suite: tests that expect ``ValueError`` where a compiled signature
raises ``TypeError``, and those of the SDK's frame parser (a Python subclass of a
compiled class), fail; ``tests/integration/test_websocket.py`` crashes at its weak
reference to a closed ``Connection``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

MODULES = (
    "camera_service/net/wsframes.py",
    "camera_service/api/websocket.py",
    "camera_service/api/jsonrpc.py",
    "camera_service/api/dispatch.py",
    "camera_service/api/session.py",
    "camera_service/auth/ratelimit.py",
    "camera_service/observability/metrics.py",
)

# (file, what the interpreted source says, what the compiled copy needs)
EDITS = (
    (
        "camera_service/api/dispatch.py",
        "        if type(outcome) is CoroutineType:",
        '        if type(outcome) is CoroutineType or hasattr(outcome, "__await__"):',
    ),
    (
        "camera_service/api/dispatch.py",
        "return await result if isinstance(result, CoroutineType) else result",
        'return await result if hasattr(result, "__await__") else result',
    ),
)


def build(target: Path) -> None:
    if target.exists():
        raise SystemExit(f"{target} exists: give a new directory")
    target.mkdir(parents=True)
    shutil.copytree(REPO / "src", target / "src")
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")
    for name, old, new in EDITS:
        path = target / "src" / name
        text = path.read_text()
        if old not in text:
            raise SystemExit(f"{name}: {old.strip()!r} not found; update EDITS")
        path.write_text(text.replace(old, new))
    env = dict(os.environ, MYPYPATH="src")
    cmd = [sys.executable, "-m", "mypyc", *(f"src/{m}" for m in MODULES)]
    subprocess.run(cmd, cwd=target, env=env, check=True)
    shutil.rmtree(target / "build")
    built = sorted(p.relative_to(target) for p in (target / "src").rglob("*.so"))
    print("\n".join(map(str, built)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", type=Path, help="a new directory for the compiled copy")
    build(p.parse_args().target.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
