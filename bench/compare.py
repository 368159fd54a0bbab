#!/usr/bin/env python3
"""Two commits of the service side by side, in interleaved rounds (A B A B ...).

    uv run python bench/compare.py 2e7be90 HEAD
    uv run python bench/compare.py OLD NEW --rounds 5 --duration 8 --only ping:100,rss

A and B are git revisions (each checked out into a temporary worktree, removed at the
end) or directories holding a checkout. Both run on this environment's interpreter and
packages, so only the service's own code differs; each round starts a fresh service
process per scenario for A, then for B, and the order flips every round so neither
side always runs first.

Scenarios (``--only`` picks some):

``ping:100``, ``ping:1000``, ``get_status:100``, ``get_metrics:100``,
``get_camera_status:100`` (16 test-pattern cameras, ``{"device": "cam00"}``)
    closed-loop load from ``bench/loadgen.py`` in its own process; the figure is the
    **server's CPU time per request** in the measured window (``/proc/PID/stat``),
    steadier on a shared machine than req/s, which is printed beside it.
``rss``
    VmRSS of a service that is ready and holds no connection, after a settle time.

Prints each figure's median per side, the ratio of the medians B/A (below 1: B uses
less) and the median of each round's own B/A (steadier when the machine drifts). The
whole output is plain text meant to be pasted into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from server import REPO, ServiceProcess, read_rss_kb

LOADGEN = REPO / "bench" / "loadgen.py"
TOKEN_ENV = "BENCH_TOKEN"
SCENARIOS = (
    "ping:100",
    "ping:1000",
    "get_status:100",
    "get_metrics:100",
    "get_camera_status:100",
    "rss",
)
# Methods about a camera: the service gets this many test-pattern sources (cam00...)
# and each request names the first.
CAMERA_METHODS = {"get_camera_status": 16}


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """A directory holding ``rev``: the directory itself, or a temporary worktree."""
    path = Path(rev)
    if path.is_dir() and (path / "src" / "camera_service").is_dir():
        yield path.resolve()
        return
    tmp = Path(tempfile.mkdtemp(prefix="compare-"))
    tree = tmp / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), rev],
        check=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False
        )
        with contextlib.suppress(OSError):
            tmp.rmdir()


def load(source: Path, method: str, conns: int, ns: argparse.Namespace) -> dict[str, Any]:
    """One closed-loop run against a fresh service from ``source``."""
    cameras = CAMERA_METHODS.get(method, 0)
    sources = [
        {"type": "test", "id": f"cam{i:02d}", "resolution": "640x360"} for i in range(cameras)
    ]
    overrides = {"cameras.sources": sources} if cameras else {}
    with (
        ServiceProcess(max_connections=conns + 100, source=source, overrides=overrides) as srv,
        tempfile.TemporaryDirectory(prefix="compare-lg-") as tmp,
    ):
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(LOADGEN),
            "--host",
            srv.host,
            "--port",
            str(srv.port),
            "--token-env",
            TOKEN_ENV,
            "--mode",
            "closed",
            "--connections",
            str(conns),
            "--duration",
            str(ns.duration),
            "--warmup",
            str(ns.warmup),
            "--method",
            method,
            "--cpu-pid",
            str(srv.pid),
            "--json",
            str(out),
        ]
        if cameras:
            cmd += ["--params", '{"device": "cam00"}']
        env = dict(os.environ, **{TOKEN_ENV: srv.mint_token()})
        timeout = 120.0 + ns.duration + ns.warmup + conns / 100.0
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"loadgen failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    if result.get("errors") or result.get("dropped") or result.get("connect_failures"):
        raise RuntimeError(f"unclean run against {source}: {result.get('error_samples')}")
    return {"cpu_us": result["server_cpu_us_per_request"], "rps": result["rps"]}


def idle_rss(source: Path, ns: argparse.Namespace) -> dict[str, Any]:
    with ServiceProcess(source=source) as srv:
        time.sleep(ns.settle)  # a benchmark's settle time, not synchronization
        kb = read_rss_kb(srv.pid)
    return {"rss_mb": None if kb is None else round(kb / 1024, 2)}


def run_one(scenario: str, source: Path, ns: argparse.Namespace) -> dict[str, Any]:
    if scenario == "rss":
        return idle_rss(source, ns)
    method, conns = scenario.split(":")
    return load(source, method, int(conns), ns)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("a", help="revision or checkout directory (the baseline)")
    p.add_argument("b", help="revision or checkout directory (the change)")
    p.add_argument("--rounds", type=int, default=3, help="A/B pairs per scenario (>= 3)")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds a run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--settle", type=float, default=3.0, help="rss: seconds after ready")
    p.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ns = p.parse_args(argv)
    scenarios = [s for s in ns.only.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if ns.rounds < 3:
        p.error("--rounds must be at least 3")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs")
    print(
        f"# A = {ns.a}, B = {ns.b}; {ns.rounds} interleaved rounds; python {sys.version.split()[0]}"
    )
    with checkout(ns.a) as a, checkout(ns.b) as b:
        for scenario in scenarios:
            figures: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
            for r in range(ns.rounds):
                order = (("A", a), ("B", b)) if r % 2 == 0 else (("B", b), ("A", a))
                for side, source in order:
                    row = run_one(scenario, source, ns)
                    for key, value in row.items():
                        figures[side].setdefault(key, []).append(value)
                    print(f"  {scenario} round {r + 1} {side}: {row}", flush=True)
            for key in figures["A"]:
                a_runs, b_runs = figures["A"][key], figures["B"][key]
                ma, mb = median(a_runs), median(b_runs)
                # Each round's own B/A: the two ran minutes apart at most, so the drift
                # of a shared machine between rounds cancels out of it.
                paired = median([b / a for a, b in zip(a_runs, b_runs, strict=True)])
                print(
                    f"{scenario:<16} {key:<7} A {ma:>10.2f}  B {mb:>10.2f}  B/A {mb / ma:.3f}"
                    f"  paired B/A {paired:.3f}  (A {a_runs}, B {b_runs})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
