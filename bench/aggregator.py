"""HTTP aggregator backend benchmarks: what it costs the service to carry and to beat.

    python bench/aggregator.py import-cost [--runs 5]
    python bench/aggregator.py heartbeat [--beats 2000] [--runs 3]

``import-cost`` starts a fresh interpreter per run, imports the composition root
(``camera_service.app``), then the backend, and reports the RSS and module-count growth
of the second import: what ``registry.backend: http`` adds to the idle service.

``heartbeat`` runs a bare aiohttp receiver (201 to a register, 204 to the rest, no
schema checks) in its own process and sends ``--beats`` sequential heartbeats of the
example document through
``AggregatorBackend.refresh``: per-beat latency (client side, one keep-alive connection)
and the body size. Figures are printed and written as JSON into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import orjson  # noqa: E402
from tests.support.aggregator import example_document  # noqa: E402

from camera_service.registration.aggregator import AggregatorBackend, heartbeat_body  # noqa: E402
from cameras import percentile  # noqa: E402  (bench/ on sys.path)

RESULTS = ROOT / "bench" / "results"

_IMPORT_PROBE = """
import sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
import camera_service.app
before, mods = rss(), len(sys.modules)
import camera_service.registration.aggregator
print(rss() - before, len(sys.modules) - mods)
"""

_RECEIVER = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(status=201 if request.method == "POST" else 204)
app = web.Application()
app.router.add_route("*", "/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def import_cost(runs: int) -> dict[str, Any]:
    kib, modules = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(ROOT / "src")},
        ).stdout.split()
        kib.append(int(out[0]))
        modules.append(int(out[1]))
    return {"rss_kib_median": statistics.median(kib), "rss_kib": kib, "modules": modules}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _beats(port: int, beats: int) -> list[float]:
    backend = AggregatorBackend(f"http://127.0.0.1:{port}/registry/v1", 10.0, token="t" * 32)
    document = example_document()
    try:
        deadline = time.monotonic() + 30
        while True:  # the receiver is a separate process: wait until it listens
            try:
                await backend.register(document)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        times = []
        for _ in range(beats):
            t0 = time.perf_counter()
            await backend.refresh(document, changed=False)
            times.append(time.perf_counter() - t0)
        return times
    finally:
        await backend.close()


def heartbeat(beats: int, runs: int) -> dict[str, Any]:
    per_run = []
    for _ in range(runs):
        port = _free_port()
        receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
        try:
            times = asyncio.run(_beats(port, beats))
        finally:
            receiver.terminate()
            receiver.wait(10)
        per_run.append(
            {
                "p50_ms": percentile(times, 0.50) * 1e3,
                "p99_ms": percentile(times, 0.99) * 1e3,
                "beats_per_s": beats / sum(times),
            }
        )
    body = orjson.dumps(heartbeat_body(example_document(), 1, 10.0))
    return {
        "p50_ms_median": statistics.median(r["p50_ms"] for r in per_run),
        "p99_ms_median": statistics.median(r["p99_ms"] for r in per_run),
        "beats_per_s_median": statistics.median(r["beats_per_s"] for r in per_run),
        "heartbeat_body_bytes": len(body),
        "register_body_bytes": len(orjson.dumps(example_document())),
        "runs": per_run,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    ic = sub.add_parser("import-cost")
    ic.add_argument("--runs", type=int, default=5)
    hb = sub.add_parser("heartbeat")
    hb.add_argument("--beats", type=int, default=2000)
    hb.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if args.what == "import-cost":
        result = import_cost(args.runs)
    else:
        result = heartbeat(args.beats, args.runs)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"aggregator-{args.what}-{int(time.time())}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
