"""Storage benchmarks: the media scan behind get_storage_info and retention's deletions.

    python bench/storage.py info [--files 100000] [--calls 30]
    python bench/storage.py cleanup [--files 100000] [--delete 10000] [--runs 3]

The service runs as its own process (``bench/server.py``) with its recordings and
snapshots directories holding ``--files`` empty media files (90 % recordings), dated
one minute apart. ``info`` times ``get_storage_info`` over the WebSocket (every call
scans both directories: the file system is the truth) and, for reference, the bare
scan in this process. ``cleanup`` stores a count policy keeping ``files - delete``
files and times ``cleanup_old_files``. Figures are printed and written as JSON into
``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.rpc import RpcClient  # noqa: E402

from camera_service.storage.inventory import scan_media  # noqa: E402
from cameras import percentile  # noqa: E402  (bench/ on sys.path)
from result_file import write_result  # noqa: E402
from server import ServiceProcess  # noqa: E402


def plant(recordings: Path, snapshots: Path, files: int) -> None:
    """``files`` empty media files, oldest first, one minute apart, ending a day ago."""
    recordings.mkdir(parents=True, exist_ok=True)
    snapshots.mkdir(parents=True, exist_ok=True)
    start = time.time() - 86400 - files * 60
    for i in range(files):
        if i % 10 == 9:
            path = snapshots / f"cam{i % 8}_snapshot_{i:07d}.jpg"
        else:
            path = recordings / f"cam{i % 8}_{i:07d}.mp4"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        os.utime(path, (start + i * 60, start + i * 60))


def service(media: Path) -> ServiceProcess:
    return ServiceProcess(
        overrides={
            "storage.recordings_path": str(media / "recordings"),
            "storage.snapshots_path": str(media / "snapshots"),
            "mediamtx.api_url": "http://127.0.0.1:1",
            "server.request_timeout": 300,
        }
    )


async def admin(srv: ServiceProcess) -> RpcClient:
    client = await RpcClient.connect(srv.ws_url)
    await client.call("authenticate", {"auth_token": srv.mint_token()})
    return client


async def info(files: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="storage-bench-") as tmp:
        media = Path(tmp)
        plant(media / "recordings", media / "snapshots", files)
        scans = []
        for _ in range(3):
            t0 = time.perf_counter()
            scan_media(media / "recordings", media / "snapshots")
            scans.append((time.perf_counter() - t0) * 1000)
        with service(media) as srv:
            client = await admin(srv)
            try:
                lat = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    await client.send_raw(
                        json.dumps({"jsonrpc": "2.0", "method": "get_storage_info", "id": 1}),
                        1,
                        timeout=300,
                    )
                    lat.append((time.perf_counter() - t0) * 1000)
            finally:
                await client.close()
    return {
        "files": files,
        "scan_ms_median": round(statistics.median(scans), 1),
        "get_storage_info_ms_p50": round(percentile(lat, 0.5), 1),
        "get_storage_info_ms_p99": round(percentile(lat, 0.99), 1),
    }


async def cleanup(files: int, delete: int, runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="storage-bench-") as tmp:
            media = Path(tmp)
            plant(media / "recordings", media / "snapshots", files)
            with service(media) as srv:
                client = await admin(srv)
                try:
                    await client.call(
                        "set_retention_policy",
                        {"policy_type": "count", "enabled": False, "max_count": files - delete},
                    )
                    t0 = time.perf_counter()
                    reply = await client.send_raw(
                        json.dumps({"jsonrpc": "2.0", "method": "cleanup_old_files", "id": 9}),
                        9,
                        timeout=300,
                    )
                    times.append(time.perf_counter() - t0)
                finally:
                    await client.close()
            assert reply["result"]["files_deleted"] == delete, reply
    seconds = statistics.median(times)
    return {
        "files": files,
        "deleted": delete,
        "cleanup_s_median": round(seconds, 3),
        "files_per_second": round(delete / seconds),
        "runs_s": [round(t, 3) for t in times],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = p.add_subparsers(dest="scenario", required=True)
    i = sub.add_parser("info")
    i.add_argument("--files", type=int, default=100_000)
    i.add_argument("--calls", type=int, default=30)
    c = sub.add_parser("cleanup")
    c.add_argument("--files", type=int, default=100_000)
    c.add_argument("--delete", type=int, default=10_000)
    c.add_argument("--runs", type=int, default=3)
    ns = p.parse_args()
    if ns.scenario == "info":
        result = asyncio.run(info(ns.files, ns.calls))
    else:
        result = asyncio.run(cleanup(ns.files, ns.delete, ns.runs))
    print(json.dumps(result))
    write_result(f"storage-{ns.scenario}", result)


if __name__ == "__main__":
    main()
