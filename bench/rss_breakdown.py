#!/usr/bin/env python3
"""Where the idle service's RSS goes (issue 8): one command, figures printed and JSON.

    python bench/rss_breakdown.py            # median of 3 runs per figure
    python bench/rss_breakdown.py --runs 5 --top 20

Every figure comes from a fresh interpreter (``sys.executable``, so the venv) that
reads its own ``VmRSS`` from ``/proc/self/status``:

* ``baseline``: the bare interpreter (with ``site``), and with asyncio + uvloop.
* ``imports``: each library the service loads, imported alone over asyncio + uvloop
  (RSS and module count it adds; dependencies they share count in each of them).
* ``stages``: one process walking the service's startup: ``import pydantic`` ->
  ``camera_service.config`` (the config models) -> settings validated ->
  ``camera_service.app`` + ``.cli`` (every params model and the rest of the service) ->
  ``Application.start()`` with default settings (loopback ports 0, a temp data dir, no
  MediaMTX reachable; one malloc arena, as ``run`` sets) -> the service's own post-start
  trim (gc + ``malloc_trim``).
* ``heap``: the same startup under ``tracemalloc`` (a separate process: tracing costs
  memory itself), top allocating files and packages after ``Application.start()``.
  pydantic-core's Rust allocations are not traced; its cost shows in ``stages``.
* ``importtime``: ``python -X importtime -c "import camera_service.app"``: modules per
  top-level package and the slowest imports (self time).
* ``marginal``: what a group of modules costs on top of everything else the started
  service holds (what making it lazy would save): one process imports the started
  service's modules, in their order, with the group's modules replaced by empty stand-ins,
  collects and trims (gc + ``malloc_trim``), then imports the real group and does the
  same; the RSS difference. A group that something else still needs shows as 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from result_file import write_result

REPO = Path(__file__).resolve().parent.parent

PRELUDE = """
import sys
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
"""

# What the service process loads on top of asyncio + uvloop (third-party and the larger
# stdlib pieces), each measured alone over that floor.
FLOOR = "import asyncio, uvloop"
IMPORTS = [
    "pydantic",
    "yaml",
    "orjson",
    "httptools",
    "sqlite3",
    "ctypes",
    "zoneinfo",
    "importlib.metadata",
    "logging.handlers",
    "uuid",
    "camera_service.config",
    "camera_service.app",
]

STAGES = (
    PRELUDE
    + """
out = {"interpreter": rss()}
import asyncio, gc, json, os, tempfile
from pathlib import Path
import uvloop
out["asyncio_uvloop"] = rss()
import pydantic
from pydantic import BaseModel, TypeAdapter
out["pydantic"] = rss()
from camera_service import config
out["config_models"] = rss()
tmp = tempfile.mkdtemp()
settings = config.validate({
    "server": {"host": "127.0.0.1", "port": 0},
    "health": {"host": "127.0.0.1", "port": 0},
    "storage": {"data_dir": tmp},
    "security": {"jwt": {"secret_key": "x" * 32}},
    "logging": {"level": "WARNING"},
    "mediamtx": {"api_url": "http://127.0.0.1:1"},
})
out["settings"] = rss()
from camera_service.app import Application
import camera_service.cli  # what `python -m camera_service run` loads besides
out["app_imported"] = rss()
def all_models(cls):
    seen = set()
    todo = [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen
models = [m for m in all_models(BaseModel) if m.__module__.startswith("camera_service")]
cfg = [m for m in models if m.__module__ == "camera_service.config"]
out["models"] = {"total": len(models), "config": len(cfg),
                 "modules": sorted({m.__module__ for m in models})}
out["modules_loaded"] = len(sys.modules)
async def main():
    app = Application(settings)
    await app.start()
    out["started_before_trim"] = rss()
    # start() ends with the trim; run it again to see what one more pass frees
    from camera_service.app.lifecycle import release_startup_garbage
    release_startup_garbage()
    out["started"] = rss()
    await app.stop()
from camera_service.app.lifecycle import one_malloc_arena
one_malloc_arena()  # as `camera-service run` does before its loop starts
uvloop.run(main())
print(json.dumps(out))
"""
)

HEAP = (
    STAGES.replace(
        'out = {"interpreter": rss()}',
        'import tracemalloc; tracemalloc.start(1)\nout = {"interpreter": rss()}',
    )
    .replace(
        '    out["started_before_trim"] = rss()',
        "    gc.collect()\n    SNAP.append(tracemalloc.take_snapshot())\n"
        '    out["started_before_trim"] = rss()',
    )
    .replace("out = {", "SNAP = []\nout = {")
    + """
snap = SNAP[0].filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
by_file = snap.statistics("filename")
total = sum(s.size for s in by_file)
def package(path):
    parts = Path(path).parts
    for anchor in ("site-packages", "camera_service"):
        if anchor in parts:
            i = parts.index(anchor)
            if anchor == "camera_service":
                return anchor
            return parts[i + 1].removesuffix(".py")
    if "python3.11" in parts or path.startswith("<frozen"):
        return "stdlib" if not path.startswith("<frozen importlib") else "module loading"
    return "other"
by_pkg = {}
for s in by_file:
    key = package(s.traceback[0].filename)
    by_pkg[key] = by_pkg.get(key, 0) + s.size
print(json.dumps({
    "traced_kib": total / 1024,
    "by_package_kib": {k: v / 1024 for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])},
    "top_files": [
        {"file": s.traceback[0].filename.replace(str(Path(sys.prefix)), "<venv>"),
         "kib": s.size / 1024, "blocks": s.count}
        for s in by_file[:TOP]
    ],
}))
"""
)


def python(code: str, *args: str, args_after: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; ``args`` are interpreter options, or with
    ``args_after`` the script's own arguments (``sys.argv[1:]``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMERA_SERVICE_")}
    argv = ["-c", code, *args] if args_after else [*args, "-c", code]
    with tempfile.TemporaryDirectory() as home:
        env["HOME"] = home  # no user config or state leaks in
        return subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
            check=True,
        )


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline(runs: int) -> dict[str, float]:
    bare = [last_json(python(PRELUDE + "print(rss())")) for _ in range(runs)]
    floor = [last_json(python(PRELUDE + FLOOR + "\nprint(rss())")) for _ in range(runs)]
    return {
        "interpreter_kib": statistics.median(bare),
        "asyncio_uvloop_kib": statistics.median(floor),
    }


def import_cost(module: str, runs: int) -> dict[str, Any]:
    code = PRELUDE + (
        f"{FLOOR}\na = rss(); n = len(sys.modules)\nimport {module}\n"
        "import json; print(json.dumps([rss() - a, len(sys.modules) - n - 1]))"
    )
    rows = [last_json(python(code)) for _ in range(runs)]
    return {
        "module": module,
        "rss_kib": statistics.median(r[0] for r in rows),
        "modules": statistics.median(r[1] for r in rows),
    }


def stages(runs: int) -> dict[str, Any]:
    rows = [last_json(python(STAGES)) for _ in range(runs)]
    keys = [k for k, v in rows[0].items() if isinstance(v, int) and k != "modules_loaded"]
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    steps = {}
    prev = None
    for k in keys:
        steps[k] = {"rss_kib": med[k], "delta_kib": None if prev is None else med[k] - med[prev]}
        prev = k
    return {
        "steps": steps,
        "models": rows[0]["models"],
        "modules_loaded": rows[0]["modules_loaded"],
    }


def importtime(top: int) -> dict[str, Any]:
    proc = python("import camera_service.app", "-X", "importtime")
    per_pkg: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, cum_us, name = (p.strip() for p in line.replace("import time:", "|").split("|"))
        per_pkg[name.split(".")[0]] = per_pkg.get(name.split(".")[0], 0) + 1
        rows.append(
            {"module": name, "self_ms": int(self_us) / 1000, "cumulative_ms": int(cum_us) / 1000}
        )
    rows.sort(key=lambda r: -r["self_ms"])
    pkgs = sorted(per_pkg.items(), key=lambda kv: -kv[1])
    return {
        "modules": len(rows),
        "modules_per_package": dict(pkgs[:top]),
        "slowest_self": rows[:top],
    }


# The modules a started service holds, in the order they were imported.
HELD = (
    STAGES.split("async def main():")[0]
    + """
async def main():
    app = Application(settings)
    await app.start()
    print(json.dumps(list(sys.modules)))
    await app.stop()
uvloop.run(main())
"""
)

MARGINAL = (
    PRELUDE
    + """
import ctypes, gc, importlib, importlib.machinery, json, types
order, group = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def ours(name):
    return any(name == g or name.startswith(g + ".") for g in group)
class Anything:  # what an importer of a stand-in gets for every name
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return Anything()
    def __getattr__(self, name): return Anything()
    def __getitem__(self, key): return Anything()
    def __or__(self, other): return self
    __ror__ = __or__
    def __mro_entries__(self, bases): return (object,)
class StandIn(types.ModuleType):
    __path__ = []
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()
class StandIns:
    @staticmethod
    def find_spec(name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, StandIns) if ours(name) else None
    @staticmethod
    def create_module(spec): return StandIn(spec.name)
    @staticmethod
    def exec_module(module): pass
def load(names):
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
def settle():
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss()
sys.meta_path.insert(0, StandIns)
load(m for m in order if not ours(m))
sys.meta_path.remove(StandIns)
for name in [m for m in sys.modules if ours(m)]:
    del sys.modules[name]
before = settle()
load(m for m in order if ours(m))
print(json.dumps(settle() - before))
"""
)

# Groups for ``marginal``: what stays (needed at idle, by us or a library) and, for
# comparison, what the service imports on first use only.
GROUPS = {
    "yaml (the config file)": ["yaml", "_yaml"],
    "sqlite3 (the database)": ["sqlite3", "_sqlite3"],
    "the API methods, OpenRPC and the contract": [
        "camera_service.api.methods",
        "camera_service.api.openrpc",
        "camera_service.api.contract",
    ],
    "hashlib + hmac (pydantic.types imports secrets)": ["hmac", "hashlib", "_hashlib", "secrets"],
    "decimal (pydantic-core)": ["decimal", "_decimal", "fractions", "numbers"],
    "argparse (the CLI)": ["argparse"],
    "lazy: the RTSP client": [
        "camera_service.net.rtsp",
        "camera_service.net.h264",
        "camera_service.net.rtsp_reader",
    ],
    "lazy: MQTT and webhooks": [
        "camera_service.integrations.mqtt",
        "camera_service.integrations.webhooks",
        "camera_service.integrations.signing",
    ],
    "lazy: the dashboard's importlib.resources, zipfile, gzip": [
        "importlib.resources",
        "importlib.readers",
        "zipfile",
        "gzip",
    ],
    "lazy: email.utils (Last-Modified)": ["email", "calendar"],
}


def marginal(runs: int) -> dict[str, float]:
    held = last_json(python(HELD))
    skip = ("__main__", "camera_service.__main__")
    order = [m for m in held if m not in skip]
    out = {}
    for name, group in GROUPS.items():
        # A lazy group is not held: imported last, it shows what it would cost.
        names = order + [m for m in group if m not in order]
        rows = [
            last_json(python(MARGINAL, json.dumps(names), json.dumps(group), args_after=True))
            for _ in range(runs)
        ]
        out[name] = statistics.median(rows)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("--top", type=int, default=15, help="rows in the top lists")
    ns = ap.parse_args()

    base = baseline(ns.runs)
    print(
        f"interpreter {base['interpreter_kib'] / 1024:.1f} MB; "
        f"+ asyncio + uvloop {base['asyncio_uvloop_kib'] / 1024:.1f} MB",
        flush=True,
    )
    imports = [import_cost(m, ns.runs) for m in IMPORTS]
    for row in imports:
        print(
            f"  import {row['module']:<24} +{row['rss_kib'] / 1024:5.1f} MB "
            f"{row['modules']:4.0f} modules"
        )
    st = stages(ns.runs)
    for name, step in st["steps"].items():
        delta = "" if step["delta_kib"] is None else f" (+{step['delta_kib'] / 1024:.1f})"
        print(f"  stage {name:<20} {step['rss_kib'] / 1024:5.1f} MB{delta}")
    print(
        f"  pydantic models in camera_service: {st['models']['total']} "
        f"({st['models']['config']} config)"
    )
    heap = last_json(python(HEAP.replace("TOP", str(ns.top))))
    print(f"  traced heap after start: {heap['traced_kib'] / 1024:.1f} MB")
    for pkg, kib in list(heap["by_package_kib"].items())[: ns.top]:
        print(f"    {pkg:<24} {kib / 1024:5.2f} MB")
    it = importtime(ns.top)
    print(f"  modules imported by camera_service.app: {it['modules']}")
    margins = marginal(ns.runs)
    print("  marginal RSS of a group over the rest of the started service:")
    for name, kib in margins.items():
        print(f"    {name:<58} {kib / 1024:5.2f} MB")
    out = write_result(
        "rss-breakdown",
        {
            "runs": ns.runs,
            "baseline": base,
            "imports": imports,
            "stages": st,
            "heap": heap,
            "importtime": it,
            "marginal_kib": margins,
        },
    )
    print(f"-> {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
