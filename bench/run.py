#!/usr/bin/env python3
"""camera-service benchmark scenarios: one command each, median of >= 3 runs.

    python bench/run.py ceiling        # issue 20's table: the service vs the echo ceiling
    python bench/run.py throughput --method ping --connections 100,1000
    python bench/run.py throughput --method get_server_info --connections 100
    python bench/run.py open-loop --connections 1000 --rate 20000
    python bench/run.py open-loop --method get_status --connections 100 --rate 5000
    python bench/run.py throughput --method get_camera_status --params '{"device": "cam00"}' \
        --cameras 16 --connections 100
    python bench/run.py hold --connections 10000 --interval 1
    python bench/run.py rss --connections 1000
    python bench/run.py rss --connections 0      # idle RSS only, no load generator
    python bench/run.py startup --cameras 8
    python bench/run.py rss --connections 10 --cameras 10
    python bench/run.py all

Every scenario starts the service itself (``bench/server.py``: temp config, free ports,
random JWT secret) and drives it with ``bench/loadgen.py`` in a separate process, so
the generator never shares the server's interpreter -- it does share the machine's
CPUs, which the output says. ``--cameras N`` configures N test-pattern sources
(``cam00``...) so the camera methods have cameras to list; without a MediaMTX they
are listed but not streamed. Figures are printed and written as JSON into
``bench/results/`` (gitignored). ``--target echo`` runs the same scenario against the
picows echo ceiling (``bench/echo_ceiling.py``). ``ceiling`` runs both in interleaved
rounds (``bench/ceiling.py``), pinned, and prints the markdown table of CPU-µs per
request, the ratio ceiling/service, req/s and p50/p99, then idle RSS, KB per idle
connection and time to ready.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

import ceiling
from ceiling import loadgen_timeout, run_loadgen, test_sources
from server import REPO, ServiceProcess

BENCH = REPO / "bench"
RESULTS = BENCH / "results"


# --- environment ----------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_mb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_mb = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        uvloop_version: str | None = importlib.metadata.version("uvloop")
    except importlib.metadata.PackageNotFoundError:
        uvloop_version = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_total_mb": mem_mb,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": platform.release(),
        "uvloop": uvloop_version,
    }


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class Ctx:
    """Options shared by every scenario."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.runs: int = ns.runs
        self.target: str = ns.target
        self.overrides: dict[str, Any] = dict(ns.overrides)
        if ns.cameras:
            self.overrides.setdefault("cameras.sources", test_sources(ns.cameras))
        can_pin = ns.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
        if ns.pin and not can_pin:
            print("# --pin ignored: taskset missing or fewer than 2 CPUs", file=sys.stderr)
        self.server_cpus: str | None = "0" if can_pin else None
        self.loadgen_cpus: str | None = "1" if can_pin else None
        self.machine = machine_info()
        n = self.machine["usable_cpus"]
        self.note = f"generator (own process) and server share this {n}-CPU machine" + (
            "; pinned: server CPU 0, generator CPU 1" if can_pin else "; not pinned"
        )

    def service(self, max_connections: int) -> ServiceProcess:
        return ServiceProcess(
            max_connections=max_connections,
            overrides=self.overrides,
            target=self.target,
            cpu_list=self.server_cpus,
        )

    def repeat_loadgen(
        self, conns: int, args: Sequence[str], seconds: float
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """``self.runs`` generator runs against one service; (results, warnings)."""
        with self.service(max_connections=conns + 100) as srv:
            with_cpu = [*args, "--cpu-pid", str(srv.pid)]
            runs = [
                self.loadgen(srv, with_cpu, loadgen_timeout(conns, seconds))
                for _ in range(self.runs)
            ]
        return runs, [p for r in runs for p in warn_if_unclean(r)]

    def loadgen(self, srv: ServiceProcess, args: Sequence[str], timeout: float) -> dict[str, Any]:
        """Run bench/loadgen.py in its own process against ``srv``; return its JSON."""
        return run_loadgen(srv, args, timeout, self.loadgen_cpus)


def median(values: Sequence[float | int | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def warn_if_unclean(res: dict[str, Any]) -> list[str]:
    problems = []
    if res.get("connect_failures"):
        problems.append(f"connect failures {res['connect_failures']}")
    if res.get("errors"):
        problems.append(
            f"{res['errors']} error replies, e.g. {(res.get('error_samples') or [])[:1]}"
        )
    if res.get("dropped"):
        problems.append(f"{res['dropped']} connections dropped")
    if res.get("unanswered_after_drain"):
        problems.append(f"{res['unanswered_after_drain']} requests never answered")
    for p in problems:
        print(f"   WARNING: {p}", flush=True)
    return problems


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


# --- scenarios ------------------------------------------------------------------------


def scenario_throughput(ctx: Ctx) -> dict[str, Any]:
    ns = ctx.ns
    rows = []
    for conns in ns.connections:
        print(f"== throughput {ns.method} connections={conns} (closed loop, {ctx.runs} runs)")
        args = [
            "--mode",
            "closed",
            "--connections",
            str(conns),
            "--duration",
            str(ns.duration),
            "--warmup",
            str(ns.warmup),
            "--method",
            ns.method,
        ]
        if ns.params:
            args += ["--params", ns.params]
        runs, problems = ctx.repeat_loadgen(conns, args, ns.duration + ns.warmup)
        row: dict[str, Any] = {
            "connections": conns,
            "method": ns.method,
            "rps_median": median([r.get("rps") for r in runs]),
            "p50_ms_median": median([r["latency_ms"]["p50"] for r in runs]),
            "p99_ms_median": median([r["latency_ms"]["p99"] for r in runs]),
            "max_ms_max": max((r["latency_ms"]["max"] or 0.0) for r in runs),
            "errors_total": sum(r["errors"] for r in runs),
            "generator_cpu_percent_median": median([r.get("generator_cpu_percent") for r in runs]),
            "rps_runs": [r.get("rps") for r in runs],
            "problems": problems,
            "runs": runs,
        }
        rows.append(row)
        print(
            f"-> {ns.method} x{conns}: median {fmt(row['rps_median'], ',.0f')} req/s, "
            f"median p50 {fmt(row['p50_ms_median'])} ms, median p99 "
            f"{fmt(row['p99_ms_median'])} ms, errors {row['errors_total']} "
            f"(runs: {row['rps_runs']}; generator CPU "
            f"{fmt(row['generator_cpu_percent_median'], '.0f')}%)",
            flush=True,
        )
    return {"params": {"method": ns.method, "duration_s": ns.duration}, "results": rows}


def scenario_open_loop(ctx: Ctx) -> dict[str, Any]:
    ns = ctx.ns
    conns, rate = ns.connections, ns.rate
    print(f"== open-loop {ns.method} connections={conns} rate={rate:g}/s ({ctx.runs} runs)")
    args = [
        "--mode",
        "open",
        "--connections",
        str(conns),
        "--rate",
        str(rate),
        "--duration",
        str(ns.duration),
        "--warmup",
        str(ns.warmup),
        "--method",
        ns.method,
    ]
    if ns.params:
        args += ["--params", ns.params]
    runs, problems = ctx.repeat_loadgen(conns, args, ns.duration + ns.warmup)
    row: dict[str, Any] = {
        "connections": conns,
        "offered_rps": rate,
        "achieved_rps_median": median([r.get("rps") for r in runs]),
        "p50_ms_median": median([r["latency_ms"]["p50"] for r in runs]),
        "p90_ms_median": median([r["latency_ms"]["p90"] for r in runs]),
        "p99_ms_median": median([r["latency_ms"]["p99"] for r in runs]),
        "max_ms_max": max((r["latency_ms"]["max"] or 0.0) for r in runs),
        "service_p99_ms_median": median([r["service_latency_ms"]["p99"] for r in runs]),
        "send_lag_p99_ms_median": median([r["send_lag_ms"]["p99"] for r in runs]),
        "unanswered_at_end_median": median([r.get("in_flight_at_end") for r in runs]),
        "unanswered_after_drain_max": max(r.get("unanswered_after_drain", 0) for r in runs),
        "errors_total": sum(r["errors"] for r in runs),
        "problems": problems,
        "runs": runs,
    }
    print(
        f"-> offered {rate:g}/s: achieved {fmt(row['achieved_rps_median'], ',.0f')} req/s, "
        f"p50 {fmt(row['p50_ms_median'])} p90 {fmt(row['p90_ms_median'])} "
        f"p99 {fmt(row['p99_ms_median'])} ms (from scheduled send; from actual send p99 "
        f"{fmt(row['service_p99_ms_median'])} ms, send lag p99 "
        f"{fmt(row['send_lag_p99_ms_median'])} ms), max {fmt(row['max_ms_max'])} ms, "
        f"unanswered at end {fmt(row['unanswered_at_end_median'], '.0f')} "
        f"(after drain {row['unanswered_after_drain_max']}), errors {row['errors_total']}",
        flush=True,
    )
    return {
        "params": {"method": ns.method, "duration_s": ns.duration, "warmup_s": ns.warmup},
        "results": [row],
    }


def scenario_hold(ctx: Ctx) -> dict[str, Any]:
    """N authenticated connections held, each sending one request every ``interval``
    seconds (staggered, open loop: latency from the scheduled send)."""
    ns = ctx.ns
    conns = ns.connections
    print(
        f"== hold {conns} connections, each {ns.method} every {ns.interval:g} s "
        f"for {ns.duration:g} s ({ctx.runs} runs)"
    )
    args = [
        "--mode",
        "hold",
        "--connections",
        str(conns),
        "--interval",
        str(ns.interval),
        "--duration",
        str(ns.duration),
        "--method",
        ns.method,
    ]
    runs, problems = ctx.repeat_loadgen(conns, args, ns.duration)
    row: dict[str, Any] = {
        "connections": conns,
        "interval_s": ns.interval,
        "alive_at_end_min": min(r.get("alive_at_end", 0) for r in runs),
        "rps_median": median([r.get("rps") for r in runs]),
        "p50_ms_median": median([r["latency_ms"]["p50"] for r in runs]),
        "p99_ms_median": median([r["latency_ms"]["p99"] for r in runs]),
        "max_ms_max": max((r["latency_ms"]["max"] or 0.0) for r in runs),
        "ramp_s_median": median([r.get("ramp_s") for r in runs]),
        "server_cpu_percent_median": median([r.get("server_cpu_percent") for r in runs]),
        "errors_total": sum(r["errors"] for r in runs),
        "problems": problems,
        "runs": runs,
    }
    print(
        f"-> {row['alive_at_end_min']}/{conns} connections alive; "
        f"{fmt(row['rps_median'], ',.0f')} req/s; p50 {fmt(row['p50_ms_median'])} "
        f"p99 {fmt(row['p99_ms_median'])} ms, max {fmt(row['max_ms_max'])} ms; "
        f"ramp {fmt(row['ramp_s_median'])} s; server CPU "
        f"{fmt(row['server_cpu_percent_median'], '.0f')} % of a core; errors {row['errors_total']}",
        flush=True,
    )
    return {"params": {"method": ns.method, "duration_s": ns.duration}, "results": [row]}


def scenario_rss(ctx: Ctx) -> dict[str, Any]:
    ns = ctx.ns
    conns = ns.connections
    if conns == 0:
        return scenario_idle_rss(ctx)
    print(f"== rss: idle, then {conns} idle authenticated connections ({ctx.runs} runs)")
    runs = []
    for _ in range(ctx.runs):
        with ctx.service(max_connections=conns + 100) as srv:
            time.sleep(ns.settle)
            idle = srv.rss_kb()
            res = ctx.loadgen(
                srv,
                [
                    "--mode",
                    "hold",
                    "--connections",
                    str(conns),
                    "--duration",
                    str(ns.hold),
                    "--rss-pid",
                    str(srv.pid),
                    "--settle",
                    str(ns.settle),
                ],
                loadgen_timeout(conns, ns.hold + ns.settle),
            )
            time.sleep(ns.settle)
            after = srv.rss_kb()
        held = res.get("server_rss_kb", {}).get("held_kb")
        est = res["connections_established"]
        per_conn = (held - idle) / est if held and idle and est else None
        run = {
            "idle_kb": idle,
            "held_kb": held,
            "after_close_kb": after,
            "connections": est,
            "kb_per_connection": per_conn,
            "problems": warn_if_unclean(res),
            "loadgen": res,
        }
        print(
            f"   idle {fmt(idle and idle / 1024, '.1f')} MB, with {est} conns "
            f"{fmt(held and held / 1024, '.1f')} MB ({fmt(per_conn, '.1f')} KB/conn), "
            f"after close {fmt(after and after / 1024, '.1f')} MB",
            flush=True,
        )
        runs.append(run)
    row: dict[str, Any] = {
        "connections": conns,
        "idle_mb_median": median([r["idle_kb"] and r["idle_kb"] / 1024 for r in runs]),
        "held_mb_median": median([r["held_kb"] and r["held_kb"] / 1024 for r in runs]),
        "kb_per_connection_median": median([r["kb_per_connection"] for r in runs]),
        "after_close_mb_median": median(
            [r["after_close_kb"] and r["after_close_kb"] / 1024 for r in runs]
        ),
        "runs": runs,
    }
    print(
        f"-> RSS idle {fmt(row['idle_mb_median'], '.1f')} MB; with {conns} connections "
        f"{fmt(row['held_mb_median'], '.1f')} MB = "
        f"{fmt(row['kb_per_connection_median'], '.1f')} KB/connection; after close "
        f"{fmt(row['after_close_mb_median'], '.1f')} MB (medians)",
        flush=True,
    )
    return {"params": {"hold_s": ns.hold, "settle_s": ns.settle}, "results": [row]}


def scenario_idle_rss(ctx: Ctx) -> dict[str, Any]:
    """``rss --connections 0``: idle RSS only (``--settle`` s after ready), no generator."""
    ns = ctx.ns
    print(f"== rss: idle, {ns.settle:g} s after ready ({ctx.runs} runs)")
    idle = []
    for _ in range(ctx.runs):
        with ctx.service(max_connections=100) as srv:
            time.sleep(ns.settle)  # a benchmark's settle time, not synchronization
            kb = srv.rss_kb()
        idle.append(kb)
        print(f"   idle {fmt(kb and kb / 1024, '.1f')} MB", flush=True)
    idle_mb = median([kb and kb / 1024 for kb in idle])
    row = {"connections": 0, "idle_mb_median": idle_mb, "runs": [{"idle_kb": kb} for kb in idle]}
    print(f"-> RSS idle {fmt(idle_mb, '.1f')} MB (median)", flush=True)
    return {"params": {"settle_s": ns.settle}, "results": [row]}


def scenario_startup(ctx: Ctx) -> dict[str, Any]:
    print(f"== startup: spawn -> GET /health/ready 200 ({ctx.runs} runs)")
    runs = []
    for _ in range(ctx.runs):
        srv = ctx.service(max_connections=1000)
        with srv:
            ready = srv.time_to_ready
            rss = srv.rss_kb()
        runs.append(
            {
                "time_to_ready_s": ready,
                "rss_at_ready_kb": rss,
                "shutdown_s": srv.shutdown_seconds,
                "exit_code": srv.returncode,
            }
        )
        print(
            f"   ready in {fmt(ready, '.3f')} s, RSS {fmt(rss and rss / 1024, '.1f')} MB, "
            f"SIGTERM -> exit {fmt(srv.shutdown_seconds, '.3f')} s (rc {srv.returncode})",
            flush=True,
        )
    row: dict[str, Any] = {
        "time_to_ready_s_median": median([r["time_to_ready_s"] for r in runs]),
        "shutdown_s_median": median([r["shutdown_s"] for r in runs]),
        "runs": runs,
    }
    print(
        f"-> time to ready {fmt(row['time_to_ready_s_median'], '.3f')} s (median; "
        f"polled every 10 ms), shutdown {fmt(row['shutdown_s_median'], '.3f')} s",
        flush=True,
    )
    return {"params": {}, "results": [row]}


def scenario_ceiling(ctx: Ctx) -> dict[str, Any]:
    """Issue 20's table: the service and the picows echo ceiling in interleaved rounds,
    then the figures the service must keep (idle RSS, per connection, time to ready)."""
    ns = ctx.ns
    rows = [ceiling.ROWS_BY_KEY[k] for k in ns.rows]
    bench = ceiling.Bench(
        duration=ns.duration,
        warmup=ns.warmup,
        cameras=ns.cameras,
        pin=ns.pin,
        overrides=ctx.overrides,
    )
    sides = {"service": "service", "ceiling": "echo"}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {} for s in sides}
    keeps: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    print(f"# {bench.note}; service with {ns.cameras} test cameras; {ctx.runs} rounds")
    for r in range(ctx.runs):
        for row in rows:
            for side in ceiling.rotated(list(sides), r):
                print(f"== round {r + 1} {row.key} {side}", flush=True)
                runs[side].setdefault(row.key, []).append(bench.measure(row, sides[side]))
        if not ns.no_keeps:
            keeps.append(measure_keeps(ctx, ns.rss_connections))
    ready = ceiling.median([x["ready_s"] for rs in runs["service"].values() for x in rs])
    m = ctx.machine
    load = os.getloadavg()
    print()
    print(
        f"Machine: {m['usable_cpus']} CPUs, {m['cpu_model']}, {m['python']}, kernel "
        f"{m['kernel']}, uvloop {m['uvloop']}; {bench.note}; load average before the run "
        f"{load_before:.2f}, after {load[0]:.2f}. Service at {git_revision()} with "
        f"{ns.cameras} test cameras; medians of {ctx.runs} interleaved rounds, "
        f"{ns.duration:g} s windows; CPU from /proc/PID/stat; ratio = median of each "
        f"round's ceiling/service."
    )
    print()
    print(ceiling.table(rows, runs, ["service"]))
    out: dict[str, Any] = {"runs": runs, "ready_s_median": ready, "keeps": keeps}
    if keeps:
        out["keeps_median"] = {
            k: ceiling.median([x[k] for x in keeps]) for k in ("idle_mb", "kb_per_connection")
        }
        print()
        print("| keep | target | today |")
        print("|---|---|---|")
        print(f"| idle RSS | < 45 MB | {fmt(out['keeps_median']['idle_mb'], '.1f')} MB |")
        print(
            f"| per idle authenticated connection ({ns.rss_connections:,} held) | < 25 KB | "
            f"{fmt(out['keeps_median']['kb_per_connection'], '.1f')} KB |"
        )
    print(f"| spawn → ready, {ns.cameras} cameras | < 1 s | {fmt(ready, '.3f')} s |")
    return {
        "params": {
            "rows": ns.rows,
            "duration_s": ns.duration,
            "warmup_s": ns.warmup,
            "cameras": ns.cameras,
            "pinned": bench.server_cpus is not None,
        },
        "results": [out],
    }


def measure_keeps(ctx: Ctx, conns: int) -> dict[str, Any]:
    """Idle RSS of a service without cameras, then with ``conns`` idle authenticated
    connections (KB each)."""
    settle = 2.0
    with ServiceProcess(max_connections=conns + 100, overrides={}) as srv:
        time.sleep(settle)  # a benchmark's settle time, not synchronization
        idle = srv.rss_kb()
        args = ["--mode", "hold", "--connections", str(conns), "--duration", "3"]
        args += ["--rss-pid", str(srv.pid), "--settle", str(settle)]
        res = ctx.loadgen(srv, args, loadgen_timeout(conns, 3 + settle))
    held = res.get("server_rss_kb", {}).get("held_kb")
    est = res["connections_established"]
    return {
        "idle_mb": idle / 1024 if idle else None,
        "kb_per_connection": (held - idle) / est if held and idle and est else None,
        "connections": est,
    }


SCENARIOS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "throughput": scenario_throughput,
    "open-loop": scenario_open_loop,
    "hold": scenario_hold,
    "rss": scenario_rss,
    "startup": scenario_startup,
    "ceiling": scenario_ceiling,
}


# --- CLI ------------------------------------------------------------------------------


def parse_set(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE, e.g. mediamtx.manage=never")
    return key.strip(), yaml.safe_load(value)


def parse_ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected integers like 100,1000") from exc


def common_options() -> argparse.ArgumentParser:
    """The options every scenario takes, as a new parent parser each call: subparsers
    built from one parent share its actions, so one scenario's ``set_defaults`` (the
    ceiling's cameras and pinning) would become every scenario's default."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--runs", type=int, default=3, help="runs per figure (median; >= 3)")
    common.add_argument(
        "--target",
        choices=("service", "echo"),
        default="service",
        help="the real service, or the picows echo ceiling",
    )
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=parse_set,
        default=[],
        metavar="KEY=VALUE",
        help="extra service config, dotted (repeatable), e.g. mediamtx.manage=never",
    )
    common.add_argument(
        "--pin", action="store_true", help="taskset: server on CPU 0, generator on CPU 1"
    )
    common.add_argument("--results-dir", type=Path, default=RESULTS)
    common.add_argument(
        "--cameras", type=int, default=0, help="configure N test-pattern sources cam00..."
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
    )
    sub = p.add_subparsers(dest="scenario", required=True)

    t = sub.add_parser("throughput", parents=[common_options()], help="closed loop req/s and p99")
    t.add_argument("--method", default="ping", help="ping, get_server_info, ...")
    t.add_argument("--params", default=None, help="JSON object sent as params")
    t.add_argument("--connections", type=parse_ints, default=[100, 1000])
    t.add_argument("--duration", type=float, default=10.0)
    t.add_argument("--warmup", type=float, default=2.0)

    o = sub.add_parser("open-loop", parents=[common_options()], help="fixed offered rate, latency")
    o.add_argument("--method", default="ping")
    o.add_argument("--params", default=None, help="JSON object sent as params")
    o.add_argument("--connections", type=int, default=1000)
    o.add_argument("--rate", type=float, default=20000.0, help="total offered req/s")
    o.add_argument("--duration", type=float, default=10.0)
    o.add_argument("--warmup", type=float, default=2.0)

    h = sub.add_parser(
        "hold", parents=[common_options()], help="N connections, one request each/interval"
    )
    h.add_argument("--method", default="ping")
    h.add_argument("--connections", type=int, default=10_000)
    h.add_argument("--interval", type=float, default=1.0, help="seconds between requests")
    h.add_argument("--duration", type=float, default=10.0)

    r = sub.add_parser("rss", parents=[common_options()], help="server RSS idle and per connection")
    r.add_argument("--connections", type=int, default=1000)
    r.add_argument("--hold", type=float, default=5.0, help="seconds the connections are held")
    r.add_argument("--settle", type=float, default=2.0, help="seconds before each RSS sample")

    sub.add_parser("startup", parents=[common_options()], help="spawn -> /health/ready 200")
    c = sub.add_parser(
        "ceiling",
        parents=[common_options()],
        help="service vs picows echo ceiling, interleaved rounds",
    )
    c.add_argument(
        "--rows",
        type=lambda t: [k for k in t.split(",") if k],
        default=list(ceiling.ROWS_BY_KEY),
        help="comma-separated: " + ",".join(ceiling.ROWS_BY_KEY),
    )
    c.add_argument("--duration", type=float, default=5.0, help="measured seconds a run")
    c.add_argument("--warmup", type=float, default=2.0)
    c.add_argument("--no-pin", dest="pin", action="store_false", help="do not taskset")
    c.add_argument("--rss-connections", type=int, default=1000)
    c.add_argument("--no-keeps", action="store_true", help="skip the RSS runs")
    c.set_defaults(pin=True, cameras=8)
    sub.add_parser("all", parents=[common_options()], help="every scenario with its defaults")
    return p


def run_one(name: str, ns: argparse.Namespace, ctx: Ctx, argv: Sequence[str]) -> Path:
    started = dt.datetime.now(dt.UTC)
    body = SCENARIOS[name](ctx)
    doc = {
        "scenario": name,
        "command": "python bench/run.py " + shlex.join(argv),
        "started": started.isoformat(timespec="seconds"),
        "runs_per_figure": ctx.runs,
        "statistic": f"median of {ctx.runs} runs",
        "target": ctx.target,
        "config_overrides": ctx.overrides,
        "machine": ctx.machine,
        "note": ctx.note,
        "git_revision": git_revision(),
        **body,
    }
    ns.results_dir.mkdir(parents=True, exist_ok=True)
    path: Path = ns.results_dir / f"{name}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    print(f"   written {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.runs < 3:
        print(f"# note: --runs {ns.runs} < 3; figures are not publishable", file=sys.stderr)
    ctx = Ctx(ns)
    m = ctx.machine
    print(
        f"# machine: {m['usable_cpus']}/{m['nproc']} CPUs, {m['cpu_model']}, {m['python']}, "
        f"kernel {m['kernel']}; target={ctx.target}; {ctx.note}",
        flush=True,
    )
    if ns.scenario == "all":
        defaults = build_parser()
        for name in SCENARIOS:
            sub_ns = defaults.parse_args([name])
            shared = ("runs", "target", "overrides", "pin", "results_dir", "cameras")
            # The ceiling table needs its cameras (get_camera_status) and its pinning.
            for key in ("runs", "overrides", "results_dir") if name == "ceiling" else shared:
                setattr(sub_ns, key, getattr(ns, key))
            sub_ctx = Ctx(sub_ns)
            run_one(name, sub_ns, sub_ctx, [name, *argv[1:]])
    else:
        run_one(ns.scenario, ns, ctx, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
