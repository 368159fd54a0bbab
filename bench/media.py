"""Media index benchmarks: list_recordings over a large index, and its rescans.

    python bench/media.py list [--files 100000] [--calls 300]
    python bench/media.py rescan [--files 100000] [--runs 5]

The recordings directory gets ``--files`` empty recordings named as the service names
them (``cameraN_YYYY-MM-DD_HH-MM-SS.mp4``, 8 cameras, one file a minute). They are
indexed before the service starts, through the index's own reconcile (the code the
service runs at start on an unknown directory; its time is reported), and then marked
probed with a duration: empty files have none, and 100,000 ffprobe runs in the
background would measure FFmpeg, not listing. The service (its own process, see
``bench/server.py``) then starts on that database, reconciles the directory again in
the background (every file unchanged) and the first call waits for that.

Timed over one WebSocket, one call at a time: the first page (limit 100), a deep page
(offset 90 % in), one camera's first page and deep page, and a since/until window.

``rescan`` times, in this process, what the index does when inotify saw a change the
service's own events do not explain: one reconcile of the recordings directory with
``--files`` files in it, unchanged, and with one file copied in. The reconcile holds
the database thread, so listings wait for it. Figures are printed and written as
JSON into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.rpc import RpcClient  # noqa: E402

from camera_service.db import Database  # noqa: E402
from camera_service.storage.index import IndexStore  # noqa: E402
from cameras import percentile  # noqa: E402  (bench/ on sys.path)
from result_file import write_result  # noqa: E402
from server import ServiceProcess  # noqa: E402

CAMERAS = 8
START = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


def plant(recordings: Path, files: int) -> None:
    """``files`` empty recordings, one a minute, cameras in turn."""
    recordings.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        when = datetime.fromtimestamp(START + i * 60, UTC).strftime("%Y-%m-%d_%H-%M-%S")
        path = recordings / f"camera{i % CAMERAS}_{when}.mp4"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def pre_index(data_dir: Path, recordings: Path, snapshots: Path) -> float:
    """Index the directory as the service does at start; seconds the reconcile took."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(data_dir / "camera-service.db")
    try:
        store = IndexStore(database, {"recording": recordings, "snapshot": snapshots})
        t0 = time.perf_counter()
        store.reconcile("recording", startup=True, now=time.time())
        seconds = time.perf_counter() - t0
        with database.transaction() as conn:
            conn.execute("UPDATE media_files SET probed = 1, duration = 1800.0")
    finally:
        database.close()
    return seconds


def request(params: dict[str, Any], rid: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "list_recordings", "params": params, "id": rid})


async def timed(client: RpcClient, params: dict[str, Any], calls: int) -> dict[str, Any]:
    lat = []
    reply: dict[str, Any] = {}
    for i in range(calls):
        t0 = time.perf_counter()
        reply = await client.send_raw(request(params, i), i, timeout=300)
        lat.append((time.perf_counter() - t0) * 1000)
    assert "result" in reply and len(reply["result"]["files"]) > 0, reply
    return {
        "p50_ms": round(percentile(lat, 0.5), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "total": reply["result"]["total"],
    }


async def list_bench(files: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        media = Path(tmp)
        recordings, snapshots = media / "recordings", media / "snapshots"
        snapshots.mkdir()
        plant(recordings, files)
        reconcile_s = pre_index(media / "data", recordings, snapshots)
        srv = ServiceProcess(
            overrides={
                "storage.data_dir": str(media / "data"),
                "storage.recordings_path": str(recordings),
                "storage.snapshots_path": str(snapshots),
                "mediamtx.api_url": "http://127.0.0.1:1",
            }
        )
        with srv:
            client = await RpcClient.connect(srv.ws_url)
            try:
                await client.call("authenticate", {"auth_token": srv.mint_token("viewer")})
                t0 = time.perf_counter()
                await client.send_raw(request({"limit": 1}, 0), 0, timeout=300)
                first_call_ms = (time.perf_counter() - t0) * 1000
                per_camera = files // CAMERAS
                mid = datetime.fromtimestamp(START + files * 30, UTC)
                window = {
                    "since": mid.isoformat(),
                    "until": datetime.fromtimestamp(mid.timestamp() + 6000, UTC).isoformat(),
                }
                scenarios: dict[str, dict[str, Any]] = {
                    "first_page": {"limit": 100},
                    "deep_page": {"limit": 100, "offset": files * 9 // 10},
                    "camera_first_page": {"limit": 100, "device": "/dev/video3"},
                    "camera_deep_page": {
                        "limit": 100,
                        "offset": per_camera * 9 // 10,
                        "device": "camera3",
                    },
                    "time_window": {"limit": 100, **window},
                }
                results = {name: await timed(client, p, calls) for name, p in scenarios.items()}
                rss_kb = srv.rss_kb()
            finally:
                await client.close()
    return {
        "files": files,
        "calls": calls,
        "reconcile_new_s": round(reconcile_s, 2),
        "time_to_ready_s": round(srv.time_to_ready or 0, 2),
        "first_call_ms": round(first_call_ms, 1),
        "rss_mb": rss_kb and round(rss_kb / 1024, 1),
        **results,
    }


def rescan_bench(files: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        media = Path(tmp)
        recordings, snapshots = media / "recordings", media / "snapshots"
        snapshots.mkdir()
        plant(recordings, files)
        new_s = pre_index(media / "data", recordings, snapshots)
        database = Database(media / "data" / "camera-service.db")
        try:
            store = IndexStore(database, {"recording": recordings, "snapshot": snapshots})
            unchanged, one_new, cpu = [], [], []
            for i in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                store.reconcile("recording", startup=False, now=time.time())
                unchanged.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                os.close(os.open(recordings / f"by hand {i}.mp4", os.O_CREAT | os.O_WRONLY))
                t0 = time.perf_counter()
                store.reconcile("recording", startup=False, now=time.time())
                one_new.append(time.perf_counter() - t0)
        finally:
            database.close()
    return {
        "files": files,
        "runs": runs,
        "reconcile_new_s": round(new_s, 3),
        "rescan_unchanged_s": [round(t, 3) for t in unchanged],
        "rescan_unchanged_cpu_s": [round(t, 3) for t in cpu],
        "rescan_one_new_s": [round(t, 3) for t in one_new],
        "rescan_p50_s": round(sorted(unchanged)[len(unchanged) // 2], 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = p.add_subparsers(dest="scenario", required=True)
    s = sub.add_parser("list")
    s.add_argument("--files", type=int, default=100_000)
    s.add_argument("--calls", type=int, default=300)
    s = sub.add_parser("rescan")
    s.add_argument("--files", type=int, default=100_000)
    s.add_argument("--runs", type=int, default=5)
    ns = p.parse_args()
    if ns.scenario == "rescan":
        result = rescan_bench(ns.files, ns.runs)
    else:
        result = asyncio.run(list_bench(ns.files, ns.calls))
    print(json.dumps(result))
    write_result(f"media-{ns.scenario}", result)


if __name__ == "__main__":
    main()
