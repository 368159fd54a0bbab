"""Snapshot benchmark: take_snapshot over WebSocket, warm and cold.

    python bench/snapshots.py [--warm 50] [--cold 15] [--up 15]

The service runs as its own process (``bench/server.py``) with one test-pattern camera
(640x360, 15 fps, H.264 with a 1 s GOP); the MediaMTX double and its real RTSP data
plane (FFmpeg publisher, relay) run in this process. Timed: request sent -> reply read.

* ``warm``: ``snapshots.warm: [lab]``; every snapshot is served from the grabber's
  latest keyframe (the result's ``source`` is checked): a file write, no process.
* ``cold``: nobody reads the camera; before each try the bench waits until the double
  reports the path not ready and without readers (``on_demand_close_after`` 1 s), so
  each snapshot starts the on-demand publisher and waits for its first keyframe.
* ``up`` (for information): the stream is already running (kept by a warm grabber)
  but the snapshot asks for PNG, which the grabber does not keep: a one-shot FFmpeg
  joins the running stream and waits for the next keyframe (0-1 s with a 1 s GOP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.rpc import RpcClient  # noqa: E402
from tests.support.mediamtx.dataplane import DataPlane  # noqa: E402

from cameras import percentile  # noqa: E402  (bench/ on sys.path)
from live_camera import live_camera  # noqa: E402
from result_file import write_result  # noqa: E402

WAIT = 60.0
LAB = {"device": "lab"}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
    }


async def take(client: RpcClient, params: dict[str, Any], source: str) -> float:
    """One take_snapshot, timed; it must succeed from ``source``."""
    msg = {"jsonrpc": "2.0", "method": "take_snapshot", "params": params, "id": "s"}
    t0 = time.perf_counter()
    reply = await client.send_raw(json.dumps(msg), "s", WAIT)
    elapsed = (time.perf_counter() - t0) * 1000
    result = reply.get("result") or {}
    if result.get("status") != "completed" or result.get("source") != source:
        raise RuntimeError(f"expected a {source} snapshot, got {reply}")
    return elapsed


async def stream_closed(plane: DataPlane) -> None:
    await plane.wait_state("lab", lambda s: not s["ready"] and not s["readers"], WAIT)


async def run(warm: bool, body: Any) -> dict[str, Any]:
    overrides = {
        "mediamtx.on_demand_close_after": 1.0,
        "snapshots.warm": ["lab"] if warm else [],
    }
    async with live_camera("snapshots-bench-", overrides, restart_pause=0.2) as cam:
        result: dict[str, Any] = await body(cam.client, cam.plane)
        result["rss_mb_after"] = (rss := cam.srv.rss_kb()) and round(rss / 1024, 1)
    return result


async def bench_warm(trials: int, up_trials: int) -> dict[str, Any]:
    async def body(client: RpcClient, plane: DataPlane) -> dict[str, Any]:
        # The grabber needs the path and a first keyframe: wait for a warm result.
        async with asyncio.timeout(WAIT):
            while True:
                msg = {"jsonrpc": "2.0", "method": "take_snapshot", "id": "w"}
                reply = await client.send_raw(json.dumps({**msg, "params": LAB}), "w", WAIT)
                if reply.get("result", {}).get("source") == "warm":
                    break
        warm = [await take(client, LAB, "warm") for _ in range(trials)]
        up = [await take(client, {**LAB, "format": "png"}, "stream") for _ in range(up_trials)]
        return {"warm": summary(warm), "stream_up_png": summary(up)}

    return await run(True, body)


async def bench_cold(trials: int) -> dict[str, Any]:
    async def body(client: RpcClient, plane: DataPlane) -> dict[str, Any]:
        cold = []
        for _ in range(trials):
            await stream_closed(plane)
            cold.append(await take(client, LAB, "stream"))
        return {"cold": summary(cold)}

    return await run(False, body)


async def bench(warm: int, cold: int, up: int) -> dict[str, Any]:
    return {**await bench_warm(warm, up), **await bench_cold(cold)}


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--warm", type=int, default=50)
    p.add_argument("--cold", type=int, default=15)
    p.add_argument("--up", type=int, default=15)
    ns = p.parse_args()
    result = asyncio.run(bench(ns.warm, ns.cold, ns.up))
    print(json.dumps(result))
    write_result("snapshots", result)


if __name__ == "__main__":
    main()
