"""The service against the echo ceiling: one closed-loop run, and the table of medians.

One run (:func:`measure`) starts a fresh target process (the service from a checkout,
or the picows ceiling ``bench/echo_ceiling.py``), holds N authenticated connections
from ``bench/loadgen.py`` in its own process, and keeps the **server's CPU time per
answered request** in the measured window (``/proc/PID/stat``), req/s and p50/p99.
The server runs on CPU 0 and the generator on CPU 1 when the machine has two CPUs and
``taskset``. The ceiling answers every method with the ping reply, so its row for
``get_status`` is a ping echo under the same request stream: the ratio
ceiling/service is then what the method costs above the floor.

``bench/run.py ceiling`` and ``bench/compare.py`` build on it, so both measure the
same way.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from server import REPO, ServiceProcess

LOADGEN = REPO / "bench" / "loadgen.py"
TOKEN_ENV = "BENCH_AUTH_TOKEN"


@dataclass(frozen=True)
class Row:
    """One line of the table: a method under closed-loop load on N connections."""

    method: str
    connections: int
    params: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.method}:{self.connections}"


# Issue 20's table. cam00 is one of the configured test cameras.
ROWS: tuple[Row, ...] = (
    Row("ping", 100),
    Row("ping", 1000),
    Row("get_camera_status", 100, {"device": "cam00"}),
    Row("get_status", 100),
    Row("get_metrics", 100),
)
ROWS_BY_KEY = {row.key: row for row in ROWS}


def test_sources(n: int) -> list[dict[str, Any]]:
    """``n`` test-pattern camera sources, ids cam00, cam01, ..."""
    return [{"type": "test", "id": f"cam{i:02d}", "resolution": "640x360"} for i in range(n)]


def pinning() -> tuple[str | None, str | None]:
    """(server CPUs, generator CPUs) for ``taskset``, or (None, None) when it cannot pin."""
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        return None, None
    return "0", "1"


def run_loadgen(
    srv: ServiceProcess, args: Sequence[str], timeout: float, cpus: str | None
) -> dict[str, Any]:
    """Run bench/loadgen.py in its own process against ``srv``; return its JSON and
    print its summary line."""
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
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
            *args,
            "--json",
            str(out),
        ]
        if cpus:
            cmd = ["taskset", "-c", cpus, *cmd]
        env = dict(os.environ, **{TOKEN_ENV: srv.mint_token()})
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"loadgen failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
                f"\nservice log:\n{srv.log_tail()}"
            )
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        print(f"   {summary}", flush=True)
        result: dict[str, Any] = orjson.loads(out.read_bytes())
        return result


def loadgen_timeout(connections: int, seconds: float) -> float:
    return 120.0 + seconds + connections / 100.0


@dataclass
class Bench:
    """How every run is made: window, warm-up, cameras configured, pinning."""

    duration: float = 5.0
    warmup: float = 2.0
    cameras: int = 8
    pin: bool = True
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server_cpus, self.loadgen_cpus = pinning() if self.pin else (None, None)

    @property
    def note(self) -> str:
        n = len(os.sched_getaffinity(0))
        pinned = "pinned: server CPU 0, generator CPU 1" if self.server_cpus else "not pinned"
        return f"generator (own process) and server share this {n}-CPU machine; {pinned}"

    def service_overrides(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.cameras:
            out["cameras.sources"] = test_sources(self.cameras)
        out.update(self.overrides)
        return out

    def process(self, target: str, source: Path = REPO, connections: int = 1000) -> ServiceProcess:
        return ServiceProcess(
            max_connections=connections + 100,
            overrides=self.service_overrides() if target == "service" else {},
            target=target,
            cpu_list=self.server_cpus,
            source=source,
        )

    def measure(self, row: Row, target: str, source: Path = REPO) -> dict[str, Any]:
        """One closed-loop run of ``row`` against a fresh ``target`` process."""
        args = [
            "--mode",
            "closed",
            "--connections",
            str(row.connections),
            "--duration",
            str(self.duration),
            "--warmup",
            str(self.warmup),
            "--method",
            row.method,
        ]
        if row.params:
            args += ["--params", orjson.dumps(dict(row.params)).decode()]
        with self.process(target, source, row.connections) as srv:
            args += ["--cpu-pid", str(srv.pid)]
            timeout = loadgen_timeout(row.connections, self.duration + self.warmup)
            res = run_loadgen(srv, args, timeout, self.loadgen_cpus)
            ready = srv.time_to_ready
        problems = [
            f"{k} {res[k]}"
            for k in ("errors", "dropped", "connect_failures", "unanswered_after_drain")
            if res.get(k)
        ]
        if problems:
            raise RuntimeError(
                f"unclean run of {row.key} against {target} ({source}): {problems}; "
                f"e.g. {(res.get('error_samples') or [])[:1]}"
            )
        return {
            "cpu_us": res["server_cpu_us_per_request"],
            "rps": res["rps"],
            "p50_ms": res["latency_ms"]["p50"],
            "p99_ms": res["latency_ms"]["p99"],
            "ready_s": ready,
        }


def rotated(sides: Sequence[Any], round_index: int) -> list[Any]:
    """The sides in a round's order: rotated every round, so none always runs first."""
    k = round_index % len(sides)
    return [*sides[k:], *sides[:k]]


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float | None:
    """Median of each round's own num/den: the runs of a round are seconds apart, so
    the drift of a shared machine between rounds cancels out of it."""
    return median([n / d for n, d in zip(num, den, strict=True) if d])


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(
    rows: Sequence[Row],
    runs: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    sides: Sequence[str],
    ceiling: str = "ceiling",
) -> str:
    """Markdown: per row, each side's median CPU-µs/req, the ceiling's, ceiling/side
    (paired), req/s, p50/p99, and how busy each side's one core was (CPU seconds per
    second). ``runs[side][row.key]`` lists that side's runs of the row, one per round."""
    head = ["call", "conns"]
    for side in sides:
        head += [f"{side} CPU-µs/req"]
    head += [f"{ceiling} CPU-µs/req"]
    head += [f"{ceiling}/{side}" for side in sides]
    for side in [*sides, ceiling]:
        head += [f"{side} req/s", f"{side} p50/p99 ms"]
    head += [f"{side} core busy" for side in sides]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.method, f"{row.connections:,}"]
        cpu = {s: [r["cpu_us"] for r in runs[s][row.key]] for s in [*sides, ceiling]}
        for side in [*sides, ceiling]:
            cells.append(fmt(median(cpu[side]), ".1f"))
        for side in sides:
            cells.append(fmt(paired_ratio(cpu[ceiling], cpu[side]), ".2f"))
        for side in [*sides, ceiling]:
            rs = runs[side][row.key]
            p50 = median([r["p50_ms"] for r in rs])
            p99 = median([r["p99_ms"] for r in rs])
            cells += [
                fmt(median([r["rps"] for r in rs]), ",.0f"),
                f"{fmt(p50, '.2f')} / {fmt(p99, '.2f')}",
            ]
        for side in sides:
            busy = median([r["cpu_us"] * r["rps"] / 1e4 for r in runs[side][row.key]])
            cells.append(f"{fmt(busy, '.0f')} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
