"""Camera benchmarks: hot-plug -> notification latency, startup discovery, ready time.

    python bench/cameras.py hotplug [--cycles 50]
    python bench/cameras.py discovery [--cameras 8] [--runs 5]
    python bench/cameras.py ready [--cameras 8] [--runs 3]

The V4L2 tree is the fake one the tests use (tests/support/v4l2tree.py): plain files
under a temp dir. Its nodes cannot answer the QUERYCAP ioctl (a real device does, in
microseconds), so every node is identified through the v4l2-ctl fallback: one process
per node. Discovery figures here are therefore an upper bound for real hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support.v4l2tree import FakeV4l2Tree  # noqa: E402

from result_file import write_result  # noqa: E402  (bench/ is on sys.path: run as a script)
from server import ServiceProcess  # noqa: E402


def constant(value: Any) -> Any:
    return lambda: value


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


DATA = ROOT / "tests" / "data" / "v4l2"

# The tests' fake v4l2-ctl is a Python script (~0.1 s to start); v4l2-ctl is a small C
# tool. This /bin/sh stand-in prints the same recorded outputs at about a C tool's cost,
# so the figures measure the service, not the double. Even /dev/videoN numbers are C920
# capture nodes, odd ones their metadata nodes (how `plug` lays the tree out).
STAND_IN = """#!/bin/sh
dev=""; mode=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d|--device) dev="$2"; shift ;;
    --device=*) dev="${1#--device=}" ;;
    --info) mode=info ;;
    --list-formats-ext) mode=formats ;;
  esac
  shift
done
[ -e "$dev" ] || { echo "Cannot open device $dev, exiting." >&2; exit 1; }
case "$dev" in
  *[13579]) info=c920_meta_info; formats=meta_formats ;;
  *) info=c920_info; formats=c920_formats ;;
esac
if [ "$mode" = info ]; then exec cat "DATA/$info.txt"; else exec cat "DATA/$formats.txt"; fi
"""


def stand_in(tree: FakeV4l2Tree) -> Path:
    path = tree.root / "v4l2-ctl-sh"
    path.write_text(STAND_IN.replace("DATA/", f"{DATA}/"))
    path.chmod(0o755)
    return path


def camera_overrides(tree: FakeV4l2Tree) -> dict[str, Any]:
    return {
        "cameras.device_root": str(tree.device_root),
        "cameras.sysfs_root": str(tree.sysfs_root),
        "cameras.v4l2_ctl": str(stand_in(tree)),
        "cameras.poll_interval": 60.0,  # measure inotify, not the safety-net poll
    }


def plug(tree: FakeV4l2Tree, n: int) -> None:
    tree.add_camera(n, f"cam {n}", "046d", "082d", serial=f"S{n:04d}", port=f"1-{n + 1}")
    tree.add_metadata_node(n + 1, of_port=f"1-{n + 1}")


async def next_status(ws: aiohttp.ClientWebSocketResponse, camera_id: str, status: str) -> None:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 10)
        data = orjson.loads(msg.data)
        p = data.get("params") or {}
        if (
            data.get("method") == "camera_status_update"
            and p.get("camera_id") == camera_id
            and p.get("status") == status
        ):
            return


async def hotplug(cycles: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tree = FakeV4l2Tree(Path(tmp) / "v4l2")
        with ServiceProcess(overrides=camera_overrides(tree)) as srv:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws") as ws,
            ):
                await ws.send_json(
                    {
                        "jsonrpc": "2.0",
                        "method": "authenticate",
                        "id": 1,
                        "params": {"auth_token": srv.mint_token("viewer")},
                    }
                )
                await ws.receive()
                add: list[float] = []
                remove: list[float] = []
                for _ in range(cycles):
                    t0 = time.perf_counter()
                    plug(tree, 0)
                    await next_status(ws, "camera0", "CONNECTED")
                    add.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    tree.remove(0)
                    tree.remove(1)
                    await next_status(ws, "camera0", "DISCONNECTED")
                    remove.append((time.perf_counter() - t0) * 1000)
    result: dict[str, Any] = {
        "cycles": cycles,
        "add_ms": {"p50": statistics.median(add), "p99": percentile(add, 0.99), "max": max(add)},
        "remove_ms": {
            "p50": statistics.median(remove),
            "p99": percentile(remove, 0.99),
            "max": max(remove),
        },
    }
    print(
        f"-> hot-plug add -> camera_status_update: p50 {result['add_ms']['p50']:.1f} ms, "
        f"p99 {result['add_ms']['p99']:.1f} ms; remove: p50 {result['remove_ms']['p50']:.1f} "
        f"ms, p99 {result['remove_ms']['p99']:.1f} ms ({cycles} cycles)"
    )
    return result


async def discovery(cameras: int, runs: int) -> dict[str, Any]:
    from camera_service.cameras.monitor import CameraMonitor
    from camera_service.cameras.registry import CameraRegistry
    from camera_service.config import validate
    from camera_service.events import EventBus
    from camera_service.observability.health import Health

    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            tree = FakeV4l2Tree(Path(tmp) / "v4l2")
            for i in range(cameras):
                plug(tree, 2 * i)
            cfg = validate(
                {"cameras": {k.split(".")[1]: v for k, v in camera_overrides(tree).items()}}
            )
            registry = CameraRegistry(EventBus())
            monitor = CameraMonitor(
                constant(cfg.cameras),
                constant(cfg.resources),
                registry,
                Health().register("camera_monitor"),
            )
            t0 = time.perf_counter()
            await monitor.start()  # returns once every camera is listed (probing continues)
            times.append((time.perf_counter() - t0) * 1000)
            assert len(registry) == cameras, len(registry)
            await monitor.stop()
    result = {"cameras": cameras, "runs_ms": times, "median_ms": statistics.median(times)}
    print(
        f"-> startup discovery of {cameras} cameras (+{cameras} metadata nodes): median "
        f"{result['median_ms']:.1f} ms over {runs} runs {[round(t, 1) for t in times]}"
    )
    return result


def ready(cameras: int, runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            tree = FakeV4l2Tree(Path(tmp) / "v4l2")
            for i in range(cameras):
                plug(tree, 2 * i)
            with ServiceProcess(overrides=camera_overrides(tree)) as srv:
                times.append(srv.time_to_ready or 0.0)
    result = {"cameras": cameras, "runs_s": times, "median_s": statistics.median(times)}
    print(
        f"-> spawn -> /health/ready with {cameras} cameras: median {result['median_s']:.3f} s "
        f"over {runs} runs"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("hotplug")
    p.add_argument("--cycles", type=int, default=50)
    for name in ("discovery", "ready"):
        p = sub.add_parser(name)
        p.add_argument("--cameras", type=int, default=8)
        p.add_argument("--runs", type=int, default=5 if name == "discovery" else 3)
    args = parser.parse_args()
    if args.scenario == "hotplug":
        result = asyncio.run(hotplug(args.cycles))
    elif args.scenario == "discovery":
        result = asyncio.run(discovery(args.cameras, args.runs))
    else:
        result = ready(args.cameras, args.runs)
    out = write_result(f"cameras-{args.scenario}", result)
    print(f"   written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
