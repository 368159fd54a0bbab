"""Recording control benchmark: start_recording / stop_recording over WebSocket.

    python bench/recordings.py [--cycles 30]

The service runs as its own process (``bench/server.py``) with one test-pattern camera;
the MediaMTX double and its real RTSP data plane (FFmpeg publisher, relay, FFmpeg
recorder, segment hooks) run in this process. Each cycle: start_recording (timed),
wait for STARTED (the first segment's create hook: the real name), stop_recording
(timed), wait for STOPPED (the last segment completed). The publisher stays up between
cycles (``on_demand_close_after`` 60 s), as for a camera someone is watching.

Timed: the two calls (request sent -> reply read), and for information how long the
notifications took (start -> STARTED is the recorder's start-up plus one part; stop ->
STOPPED is the recorder closing the file plus the complete hook).
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

from cameras import percentile  # noqa: E402  (bench/ on sys.path)
from live_camera import live_camera  # noqa: E402
from result_file import write_result  # noqa: E402


async def status(client: RpcClient, wanted: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            note = await client.notification(60)
            params: dict[str, Any] = note["params"]
            if note["method"] == "recording_status_update":
                if params["status"] == "FAILED":
                    raise RuntimeError(f"recording failed: {params}")
                if params["status"] == wanted:
                    return params


async def call_ms(client: RpcClient, method: str, params: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    await client.call(method, params)
    return (time.perf_counter() - t0) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 0.5), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
    }


async def bench(cycles: int) -> dict[str, Any]:
    start: list[float] = []
    stop: list[float] = []
    to_started: list[float] = []
    to_stopped: list[float] = []
    overrides = {"mediamtx.on_demand_close_after": 60.0}
    async with live_camera("recordings-bench-", overrides) as cam:
        client = cam.client
        for _ in range(cycles):
            t0 = time.perf_counter()
            start.append(await call_ms(client, "start_recording", {"device": "lab"}))
            await status(client, "STARTED")
            to_started.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            stop.append(await call_ms(client, "stop_recording", {"device": "lab"}))
            await status(client, "STOPPED")
            to_stopped.append((time.perf_counter() - t0) * 1000)
        rss_kb = cam.srv.rss_kb()
    return {
        "cycles": cycles,
        "start_recording": summary(start),
        "stop_recording": summary(stop),
        "start_to_STARTED": summary(to_started),
        "stop_to_STOPPED": summary(to_stopped),
        "rss_mb_after": rss_kb and round(rss_kb / 1024, 1),
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=30)
    ns = p.parse_args()
    result = asyncio.run(bench(ns.cycles))
    print(json.dumps(result))
    write_result("recordings", result)


if __name__ == "__main__":
    main()
