"""Memory of the service with cameras streaming and recording (issue 8: RSS < 120 MB
with 10 cameras).

    python bench/live_rss.py [--cameras 10] [--runs 3] [--settle 5]

The service runs as its own process (``bench/server.py``) with ``--cameras`` test-pattern
sources ``cam00``.. (640x360, 15 fps, H.264 with a 1 s GOP, as ``bench/snapshots.py``);
the MediaMTX double and its real RTSP data plane (FFmpeg publishers, relay, FFmpeg
recorders) run in this process. Each run is a fresh stack, measured in stages, each
``--settle`` seconds after it is reached:

* ``ready``: every camera's path added on MediaMTX, no stream up (they are on demand);
* ``recording``: ``start_recording`` for every camera; each recording holds its stream
  up with an RTSP reader in the service's own loop (``media/holder.py``), so every
  publisher runs; reached on every ``STARTED``. The default configuration;
* ``stopped``: ``stop_recording`` for every camera; reached on every ``STOPPED``;
* ``warm``: ``snapshots.warm`` set to every camera (config rewritten, SIGHUP), so the
  service's keyframe grabbers (one FFmpeg each, opt-in) hold every stream up; reached
  when every camera answers ``take_snapshot`` from its warm keyframe;
* ``warm_recording``: additionally recording every camera again.

Figures per stage: VmRSS and PSS (``/proc/PID/smaps_rollup``: shared pages divided among
the processes sharing them, so the FFmpeg library pages shared by all readers count
once) of the service process, of its descendants (the FFmpeg readers it spawned), and
their sums. The MediaMTX side (this process: the double, its RTSP proxy and the bench's
client; plus its children: relay, publishers, recorders) is reported apart: it is not
the service's memory. Medians over ``--runs``; every run's figures in the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.rpc import RpcClient  # noqa: E402
from tests.support.mediamtx.dataplane import DataPlane  # noqa: E402

from live_camera import live_camera  # noqa: E402  (bench/ on sys.path)
from result_file import write_result  # noqa: E402
from server import read_proc_kb, read_rss_kb  # noqa: E402

WAIT = 60.0
STAGES = ("ready", "recording", "stopped", "warm", "warm_recording")


def camera(i: int) -> dict[str, Any]:
    return {"type": "test", "id": f"cam{i:02d}", "resolution": "640x360", "fps": 15}


# --- memory of process trees -------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads'); [] when it is gone."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def descendants(pid: int, skip: int | None = None) -> list[int]:
    """Every process below ``pid``, leaving out ``skip`` and its own descendants."""
    out: list[int] = []
    todo = [c for c in children(pid) if c != skip]
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(c for c in children(child) if c != skip)
    return out


def read_pss_kb(pid: int) -> int | None:
    """Proportional set size in KiB (None when it is gone or unreadable)."""
    return read_proc_kb(pid, "smaps_rollup", "Pss:")


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "?"


@dataclass(slots=True)
class Usage:
    rss_kb: int = 0
    pss_kb: int = 0
    processes: int = 0

    def add(self, pid: int) -> None:
        rss, pss = read_rss_kb(pid), read_pss_kb(pid)
        if rss is not None:  # gone meanwhile (e.g. a hook): not counted
            self.rss_kb += rss
            self.pss_kb += pss or 0
            self.processes += 1

    def mb(self) -> dict[str, float | int]:
        return {
            "rss_mb": round(self.rss_kb / 1024, 1),
            "pss_mb": round(self.pss_kb / 1024, 1),
            "processes": self.processes,
        }


def usage(pids: list[int]) -> Usage:
    u = Usage()
    for pid in pids:
        u.add(pid)
    return u


def measure(service_pid: int) -> dict[str, Any]:
    """The service, its descendants, both; the MediaMTX side apart."""
    below = descendants(service_pid)
    service, kids = usage([service_pid]), usage(below)
    total = Usage(
        service.rss_kb + kids.rss_kb,
        service.pss_kb + kids.pss_kb,
        service.processes + kids.processes,
    )
    mtx_kids = descendants(os.getpid(), skip=service_pid)
    return {
        "service": service.mb(),
        "children": kids.mb(),
        "children_by_name": sorted(comm(p) for p in below),
        "total": total.mb(),
        "mediamtx_side": {
            "bench_process": usage([os.getpid()]).mb(),
            "children": usage(mtx_kids).mb(),
        },
    }


# --- stages ------------------------------------------------------------------------------


async def warm_snapshot(client: RpcClient, plane: DataPlane, device: str) -> None:
    """Until ``device`` answers from its grabber's kept keyframe. Asked once its stream
    has a reader (the grabber): before its first keyframe the answer comes from a
    one-shot capture of the stream (or -1012 past ``resources.max_snapshots``)."""
    await plane.wait_state(device, lambda s: s["ready"] and s["readers"], WAIT)
    async with asyncio.timeout(WAIT):
        while True:
            reply = await client.request("take_snapshot", {"device": device})
            if reply.get("result", {}).get("source") == "warm":
                return
            await asyncio.sleep(0.2)  # a bench poll, not synchronisation of a test


async def all_status(client: RpcClient, devices: set[str], wanted: str) -> None:
    left = set(devices)
    async with asyncio.timeout(WAIT):
        while left:
            note = await client.notification(WAIT)
            if note["method"] != "recording_status_update":
                continue
            params = note["params"]
            if params["status"] == "FAILED":
                raise RuntimeError(f"recording failed: {params}")
            if params["status"] == wanted:
                left.discard(params["device"])


async def one_run(cameras: int, settle: float) -> dict[str, Any]:
    sources = [camera(i) for i in range(cameras)]
    ids = [s["id"] for s in sources]
    overrides = {
        "mediamtx.on_demand_close_after": 60.0,
        "snapshots.warm": [],
        "resources.max_recordings": max(8, cameras),
        "resources.max_streams": max(16, cameras),
    }
    stages: dict[str, Any] = {}
    async with live_camera("live-rss-bench-", overrides, sources, restart_pause=0.2) as cam:
        client, srv = cam.client, cam.srv

        async def stage(name: str) -> None:
            await asyncio.sleep(settle)  # let readers reach their steady working set
            stages[name] = measure(srv.pid)
            s = stages[name]
            print(
                f"#   {name:9s} service {s['service']['rss_mb']:6.1f} MB, "
                f"children {s['children']['processes']:2d} {s['children']['rss_mb']:6.1f} MB "
                f"(PSS {s['children']['pss_mb']:.1f}), total {s['total']['rss_mb']:6.1f} MB "
                f"(PSS {s['total']['pss_mb']:.1f})",
                file=sys.stderr,
            )

        await stage("ready")

        async def record_all() -> None:
            await asyncio.gather(*(client.call("start_recording", {"device": d}) for d in ids))
            await all_status(client, set(ids), "STARTED")

        async def stop_all() -> None:
            await asyncio.gather(*(client.call("stop_recording", {"device": d}) for d in ids))
            await all_status(client, set(ids), "STOPPED")

        await record_all()
        await stage("recording")
        await stop_all()
        await stage("stopped")

        t0 = time.perf_counter()
        srv.reload({"snapshots.warm": ids})
        await asyncio.gather(*(warm_snapshot(client, cam.plane, d) for d in ids))
        stages["warm_reached_s"] = round(time.perf_counter() - t0, 2)
        await stage("warm")
        await record_all()
        await stage("warm_recording")
        await stop_all()
    return stages


def median_of(runs: list[dict[str, Any]], stage: str, *keys: str) -> float:
    values = []
    for run in runs:
        node = run[stage]
        for key in keys:
            node = node[key]
        values.append(node)
    return round(float(statistics.median(values)), 1)


async def bench(cameras: int, runs: int, settle: float) -> dict[str, Any]:
    all_runs = []
    for n in range(runs):
        print(f"# run {n + 1}/{runs}", file=sys.stderr)
        all_runs.append(await one_run(cameras, settle))
    medians = {
        stage: {
            part: {
                "rss_mb": median_of(all_runs, stage, part, "rss_mb"),
                "pss_mb": median_of(all_runs, stage, part, "pss_mb"),
            }
            for part in ("service", "children", "total")
        }
        for stage in STAGES
    }
    for stage in STAGES:
        medians[stage]["mediamtx_side"] = {
            part: median_of(all_runs, stage, "mediamtx_side", part, "rss_mb")
            for part in ("bench_process", "children")
        }
    return {
        "cameras": cameras,
        "runs": runs,
        "settle_s": settle,
        "median": medians,
        "each": all_runs,
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cameras", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=5.0, help="seconds in a stage before measuring")
    ns = p.parse_args()
    result = asyncio.run(bench(ns.cameras, ns.runs, ns.settle))
    print(json.dumps(result["median"], indent=1))
    print(f"# written to {write_result('live_rss', result)}", file=sys.stderr)


if __name__ == "__main__":
    main()
