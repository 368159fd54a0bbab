"""MediaMTX benchmarks against the OpenAPI-checked double.

    python bench/mediamtx.py paths [--cycles 50]     hot-plug -> path added in MediaMTX
    python bench/mediamtx.py restart [--cameras 16] [--runs 5]

The service and the double run in this one process and share its event loop (and so
one core); the double validates every request against MediaMTX's OpenAPI spec, which
a real MediaMTX does not do, so these are upper bounds for the service's own share.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support.mediamtx.double import MediaMtxDouble  # noqa: E402
from tests.support.v4l2tree import FakeV4l2Tree  # noqa: E402

from camera_service.app import Application  # noqa: E402
from camera_service.config import validate  # noqa: E402
from cameras import camera_overrides, percentile, plug  # noqa: E402  (bench/ on sys.path)
from result_file import write_result  # noqa: E402


def settings(tmp: Path, api_url: str, **cameras: Any) -> Any:
    return validate(
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "health": {"host": "127.0.0.1", "port": 0},
            "storage": {"data_dir": str(tmp / "data")},
            "security": {"jwt": {"secret_key": "bench-secret-bench-secret-bench-secret!"}},
            "logging": {"level": "WARNING"},
            "mediamtx": {"api_url": api_url, "check_interval": 0.1},
            "cameras": cameras,
        }
    )


def is_(method: str, name: str) -> Any:
    verb = "add" if method == "POST" else "delete"
    return lambda r: r.method == method and r.path == f"/v3/config/paths/{verb}/{name}"


async def paths(cycles: int) -> dict[str, Any]:
    add: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        tree = FakeV4l2Tree(tmp / "v4l2")
        cams = {k.split(".")[1]: v for k, v in camera_overrides(tree).items()}
        async with MediaMtxDouble(work_dir=tmp) as mtx:
            app = Application(settings(tmp, mtx.api_url, **cams))
            await app.start()
            try:
                for _ in range(cycles):
                    mark = len(mtx.requests)
                    t0 = time.perf_counter()
                    plug(tree, 0)
                    await mtx.wait_for_request(is_("POST", "camera0"), start=mark)
                    add.append((time.perf_counter() - t0) * 1000)
                    mark = len(mtx.requests)
                    tree.remove(0)
                    tree.remove(1)
                    await mtx.wait_for_request(is_("DELETE", "camera0"), start=mark)
            finally:
                await app.stop()
            assert not mtx.violations, mtx.violations
    result = {
        "cycles": cycles,
        "p50_ms": statistics.median(add),
        "p99_ms": percentile(add, 0.99),
        "max_ms": max(add),
    }
    print(
        f"-> hot-plug -> MediaMTX path added: p50 {result['p50_ms']:.1f} ms, p99 "
        f"{result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms ({cycles} cycles; includes "
        "discovery and the format probe)"
    )
    return result


async def restart(cameras: int, runs: int) -> dict[str, Any]:
    detect_and_apply: list[float] = []
    apply_only: list[float] = []
    sources = [{"type": "test", "id": f"cam{i:02d}"} for i in range(cameras)]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with MediaMtxDouble(work_dir=tmp) as mtx:
            app = Application(settings(tmp, mtx.api_url, sources=sources))
            await app.start()
            try:
                await app.media.wait_until(lambda: len(mtx.path_names()) == cameras, 10)
                for _ in range(runs):
                    mark = len(mtx.requests)
                    await mtx.restart()  # every API-made path is gone
                    t0 = time.perf_counter()
                    for i in range(cameras):
                        await mtx.wait_for_request(is_("POST", f"cam{i:02d}"), start=mark)
                    detect_and_apply.append((time.perf_counter() - t0) * 1000)
                    assert len(mtx.path_names()) == cameras
                    # the reconcile alone, against an emptied MediaMTX
                    await mtx.restart()
                    await app.media.wait_until(lambda: len(mtx.path_names()) == cameras, 10)
                    for name in mtx.path_names():
                        await app.media.client.delete_path(name)
                    t0 = time.perf_counter()
                    await app.media.reconcile()
                    apply_only.append((time.perf_counter() - t0) * 1000)
            finally:
                await app.stop()
            assert not mtx.violations, mtx.violations
    result: dict[str, Any] = {
        "cameras": cameras,
        "restart_to_all_paths_ms": {
            "median": statistics.median(detect_and_apply),
            "max": max(detect_and_apply),
            "runs": detect_and_apply,
        },
        "reconcile_ms": {
            "median": statistics.median(apply_only),
            "max": max(apply_only),
            "runs": apply_only,
        },
    }
    print(
        f"-> MediaMTX restart -> all {cameras} paths back: median "
        f"{result['restart_to_all_paths_ms']['median']:.0f} ms (check_interval 0.1 s); the "
        f"reconcile alone: median {result['reconcile_ms']['median']:.0f} ms ({runs} runs)"
    )
    return result


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("paths")
    p.add_argument("--cycles", type=int, default=50)
    p = sub.add_parser("restart")
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.scenario == "paths":
        result = asyncio.run(paths(args.cycles))
    else:
        result = asyncio.run(restart(args.cameras, args.runs))
    out = write_result(f"mediamtx-{args.scenario}", result)
    print(f"   written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
