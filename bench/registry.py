"""etcd registration: what the registry sees, and how fast.

    python bench/registry.py [--changes 100] [--ops 300] [--runs 3]

Starts a real etcd (Debian's ``/usr/bin/etcd``) on loopback and the service in this
process, registered there with a one-hour lease (so no periodic refresh interferes).

``push``: a health component of the service changes state; the time until a watch on
the instance's key sees the new document (the registrar coalesces 50 ms of changes
before it writes, so this is the floor of the figure). ``ops``: the etcd client's put
(the 2.5 KB registration document), get and lease keepalive, one at a time. Medians over
``--runs`` runs; figures are printed and written as JSON into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import orjson  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402

from camera_service.app import Application  # noqa: E402
from camera_service.net.etcd import EtcdClient  # noqa: E402
from camera_service.observability.health import Status  # noqa: E402
from result_file import write_result  # noqa: E402  (bench/ on sys.path)

KEY = "/bench/instances/bench"


def quantiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"p50": round(statistics.median(ms), 3), "p95": round(ms[int(len(ms) * 0.95)], 3)}


async def timed(n: int, op: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        await op()
        ms.append((time.perf_counter() - t0) * 1000)
    return quantiles(ms)


async def one_run(work: Path, changes: int, ops: int) -> dict[str, Any]:
    async with EtcdServer(work / "etcd") as etcd:
        registry: dict[str, Any] = {"backend": "etcd", "endpoints": [etcd.url], "ttl": 3600}
        registry.update({"prefix": "/bench/instances/", "instance_id": "bench"})
        app = Application(make_settings(work, registry=registry, logging={"level": "WARNING"}))
        await app.start()
        client = EtcdClient([etcd.url])
        seen: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()

        async def watch() -> None:
            async for raw in client.watch(KEY):
                if raw is not None:
                    seen.put_nowait((time.perf_counter(), orjson.loads(raw)))

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            probe = app.health.register("bench_probe", critical=False)
            while (await seen.get())[1]["health"]["components"].get("registry") != "healthy":
                pass
            push = []
            for i in range(changes):
                want = Status.DEGRADED if i % 2 == 0 else Status.HEALTHY
                t0 = time.perf_counter()
                probe.set(want)
                while True:
                    at, doc = await seen.get()
                    if doc["health"]["components"].get("bench_probe") == want.value:
                        push.append((at - t0) * 1000)
                        break
            document = await client.get(KEY)
            assert document is not None
            lease = await client.grant(3600)
            result = {
                "push_ms": quantiles(push),
                "document_bytes": len(document),
                "put_ms": await timed(ops, lambda: client.put("/bench/op", document, lease)),
                "get_ms": await timed(ops, lambda: client.get(KEY)),
                "keepalive_ms": await timed(ops, lambda: client.keepalive(lease)),
            }
        finally:
            watcher.cancel()
            await asyncio.wait({watcher})
            await client.close()
            await app.stop()
        return result


def median_of(runs: list[dict[str, Any]], key: str, q: str) -> float:
    return round(float(statistics.median(r[key][q] for r in runs)), 3)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(await one_run(Path(tmp), args.changes, args.ops))
        r = runs[-1]
        print("   run:", {k: v for k, v in r.items()})
    summary = {
        key: {q: median_of(runs, key, q) for q in ("p50", "p95")}
        for key in ("push_ms", "put_ms", "get_ms", "keepalive_ms")
    }
    print(f"-> medians of {args.runs} runs: {summary}; document {runs[0]['document_bytes']} B")
    print("   written", write_result("registry", {"runs": runs, "median": summary}))


if __name__ == "__main__":
    asyncio.run(main())
