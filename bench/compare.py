#!/usr/bin/env python3
"""Two commits of the service side by side, in interleaved rounds, with the echo ceiling.

    bench/compare.sh 198b029 HEAD
    uv run python bench/compare.py OLD NEW --rounds 5 --duration 8 --only ping:100,rss

A and B are git revisions (each checked out into a temporary worktree, removed at the
end) or directories holding a checkout. Both run on this environment's interpreter and
packages, so only the service's own code differs; each round starts a fresh process
per scenario for A, for B and for the picows echo ceiling (``bench/echo_ceiling.py``),
in an order rotated every round so no side always runs first.

Scenarios (``--only`` picks some):

``ping:100``, ``ping:1000``, ``get_camera_status:100``, ``get_status:100``, ``get_metrics:100``
    closed-loop load from ``bench/loadgen.py`` in its own process (``bench/ceiling.py``:
    the same runs as ``bench/run.py ceiling``, the service with ``--cameras`` test
    cameras, server on CPU 0 and generator on CPU 1); the figure is the **server's CPU
    time per request** in the measured window (``/proc/PID/stat``), steadier on a
    shared machine than req/s, which is printed beside it.
``rss``
    VmRSS of a service that is ready and holds no connection, after a settle time.

Prints each figure's median per side, the ratio of the medians B/A (below 1: B uses
less) and the median of each round's own B/A (steadier when the machine drifts), then
the load scenarios as a markdown table with the ceiling's CPU per request and the
ratios ceiling/A and ceiling/B.
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

import ceiling
from server import REPO, ServiceProcess, read_rss_kb

SCENARIOS = (*ceiling.ROWS_BY_KEY, "rss")


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


def idle_rss(source: Path, ns: argparse.Namespace) -> dict[str, Any]:
    with ServiceProcess(source=source) as srv:
        time.sleep(ns.settle)  # a benchmark's settle time, not synchronization
        kb = read_rss_kb(srv.pid)
    return {"rss_mb": None if kb is None else round(kb / 1024, 2)}


def run_one(
    scenario: str, target: str, source: Path, bench: ceiling.Bench, ns: argparse.Namespace
) -> dict[str, Any]:
    if scenario == "rss":
        return idle_rss(source, ns)
    return bench.measure(ceiling.ROWS_BY_KEY[scenario], target, source)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("a", help="revision or checkout directory (the baseline)")
    p.add_argument("b", help="revision or checkout directory (the change)")
    p.add_argument("--rounds", type=int, default=3, help="A/B pairs per scenario (>= 3)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds a run")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--settle", type=float, default=3.0, help="rss: seconds after ready")
    p.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    p.add_argument("--cameras", type=int, default=8, help="test cameras the service lists")
    p.add_argument("--no-pin", action="store_true", help="do not taskset server/generator")
    ns = p.parse_args(argv)
    scenarios = [s for s in ns.only.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if ns.rounds < 3:
        p.error("--rounds must be at least 3")
    bench = ceiling.Bench(
        duration=ns.duration, warmup=ns.warmup, cameras=ns.cameras, pin=not ns.no_pin
    )
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs")
    print(
        f"# A = {ns.a}, B = {ns.b}; {ns.rounds} interleaved rounds; python "
        f"{sys.version.split()[0]}; {bench.note}; {ns.cameras} test cameras; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {"A": {}, "B": {}, "ceiling": {}}
    with checkout(ns.a) as a, checkout(ns.b) as b:
        for scenario in scenarios:
            sides = [("A", "service", a), ("B", "service", b)]
            if scenario != "rss":
                sides.append(("ceiling", "echo", REPO))
            for r in range(ns.rounds):
                for side, target, source in ceiling.rotated(sides, r):
                    row = run_one(scenario, target, source, bench, ns)
                    runs[side].setdefault(scenario, []).append(row)
                    print(f"  {scenario} round {r + 1} {side}: {row}", flush=True)
            a_runs, b_runs = runs["A"][scenario], runs["B"][scenario]
            for key in ("rss_mb",) if scenario == "rss" else ("cpu_us", "rps"):
                av = [x[key] for x in a_runs]
                bv = [x[key] for x in b_runs]
                ma, mb = statistics.median(av), statistics.median(bv)
                paired = ceiling.paired_ratio(bv, av) or float("nan")
                print(
                    f"{scenario:<22} {key:<7} A {ma:>10.2f}  B {mb:>10.2f}  B/A {mb / ma:.3f}"
                    f"  paired B/A {paired:.3f}  (A {av}, B {bv})",
                    flush=True,
                )
    rows = [ceiling.ROWS_BY_KEY[s] for s in scenarios if s != "rss"]
    if rows:
        print()
        print(ceiling.table(rows, runs, ["A", "B"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
