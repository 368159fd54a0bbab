"""The service's CPU per dashboard viewer with a 16-camera grid open, over HLS and WebRTC.

    python bench/dashboard_grid.py [--cameras 16] [--viewers 1 2 4] [--window 15]
                                   [--rounds 3] [--transports hls webrtc]

Runs the service as its own process with the MediaMTX double (Control API, RTSP data
plane, HLS server, WHEP server) and ``--cameras`` test-pattern cameras at 320x180,
10 fps (``tests/support/dashboard_stack.py``), and Debian's Chromium (headless)
through Playwright, all on loopback. Each round measures, over ``--window`` seconds,
the service process's user + system CPU time (``/proc/PID/stat``) in these stages:

- ``idle``: no browser. The service's own work: MediaMTX checks, camera polls.
- ``core``: the ceiling, measured now: the CPU a busy process gets over the window on
  this (shared) machine, in ms per second; 1000 on an idle core.
- for each transport (``hls``: the double's WHEP server answers 404, so the page goes
  to HLS; ``webrtc``: every tile over WHEP), ``V`` viewers for each ``--viewers``:
  V pages signed in as viewers, each with the whole grid on screen and every tile
  playing over that transport (the window starts once all tiles report it). What
  the service does for them: their WebSocket sessions, status polls, media tokens,
  and MediaMTX's authorization requests (every HLS playlist and segment; one per WHEP
  session).

The transports' order alternates between rounds. Per round, per viewer = (stage -
idle) / V, and its ratio to the round's ``core``; the figures are the medians over
the rounds. The budget is 5 % of one core per viewer: ``budget_ratio`` = per viewer /
(0.05 x core), at most 1. The video itself is MediaMTX's work, not the service's;
the double's FFmpeg processes, its aiortc peers and Chromium share the machine's
cores, so the figures are CPU time, not wall time.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from playwright.async_api import Browser, BrowserContext, async_playwright  # noqa: E402
from tests.conftest import make_token  # noqa: E402
from tests.support.dashboard_stack import CHROMIUM_ARGS, Stack, dashboard_stack  # noqa: E402

from result_file import write_result  # noqa: E402
from server import read_cpu_seconds  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 120_000
BUDGET = 0.05  # of one core, per viewer
# Every viewer's page plays, though only one has the focus: no background throttling
# or suspended media (a suspended MSE player comes back as hls.js's
# mediaSourceRequiresReset).
BENCH_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-media-suspend",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]
# Wide and tall enough that every tile of a 16-camera grid is on screen (tiles off
# screen do not stream, which would flatter the figure).
VIEWPORT = {"width": 2400, "height": 1800}


def cameras(n: int) -> list[dict[str, Any]]:
    return [
        {"type": "test", "id": f"cam{i:02d}", "resolution": "320x180", "fps": 10}
        for i in range(1, n + 1)
    ]


async def cpu_over(pid: int, window: float) -> float:
    """The process's CPU ms per wall second over the next ``window`` seconds."""
    before, t0 = read_cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window)  # measuring a rate over a window, not waiting for a state
    after, t1 = read_cpu_seconds(pid), time.monotonic()
    assert before is not None and after is not None, "the service exited"
    return (after - before) * 1000 / (t1 - t0)


async def core_ceiling(window: float) -> float:
    """The CPU ms per second a busy process gets over ``window`` on this machine now."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
    try:
        return await cpu_over(proc.pid, window)
    finally:
        proc.kill()
        await proc.wait()


async def open_viewer(
    browser: Browser, url: str, token: str, n: int, transport: str
) -> BrowserContext:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#credential", token)
    await page.click("#sign-in-form button[type=submit]")
    try:
        await page.wait_for_function(
            "([n, t]) => document.querySelectorAll("
            "`.tile[data-state=playing][data-transport=${t}]`).length >= n",
            arg=[n, transport],
            timeout=WAIT_MS,
        )
    except Exception:
        states = await page.evaluate(
            "[...document.querySelectorAll('.tile')].map(t => [t.dataset.camera, t.dataset.state,"
            " t.dataset.transport, t.querySelector('.notice').textContent])"
        )
        await context.close()
        raise RuntimeError(f"tiles not all playing over {transport}: {states}") from None
    return context


async def viewer_stages(
    browser: Browser, stack: Stack, n: int, viewers: list[int], window: float, transport: str
) -> dict[int, float]:
    """The service's CPU ms/s with each number of viewers over ``transport``."""
    stack.webrtc.enabled = transport == "webrtc"
    pid, token = stack.service.proc.pid, make_token("viewer")
    opened: list[BrowserContext] = []
    stages: dict[int, float] = {}
    try:
        for v in sorted(viewers):
            try:
                while len(opened) < v:
                    opened.append(await open_viewer(browser, stack.url, token, n, transport))
            except RuntimeError as exc:  # said, and left out of this round's figures
                print(f"  {transport} {v} viewers: not measured: {exc}", flush=True)
                break
            stages[v] = await cpu_over(pid, window)
            print(f"  {transport} {v} viewers: {stages[v]:.1f} ms/s", flush=True)
    finally:
        for context in opened:
            await context.close()
    return stages


async def main(
    n_cameras: int, viewers: list[int], window: float, rounds: int, transports: list[str]
) -> dict[str, Any]:
    per_round: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        async with (
            dashboard_stack(Path(tmp), cameras(n_cameras)) as stack,
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=BENCH_ARGS
            )
            try:
                for r in range(rounds):
                    idle = await cpu_over(stack.service.proc.pid, window)
                    core = await core_ceiling(window)
                    print(f"round {r + 1}: idle {idle:.1f} ms/s, core {core:.0f} ms/s")
                    order = transports if r % 2 == 0 else transports[::-1]
                    stages = {
                        t: await viewer_stages(browser, stack, n_cameras, viewers, window, t)
                        for t in order
                    }
                    per_round.append({"idle": idle, "core": core, "stages": stages})
            finally:
                await browser.close()
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for t in transports:
        figures[t] = {}
        for v in sorted(viewers):
            measured = [rd for rd in per_round if v in rd["stages"][t]]
            if not measured:
                continue
            per_viewer = [(rd["stages"][t][v] - rd["idle"]) / v for rd in measured]
            ratios = [pv / rd["core"] for pv, rd in zip(per_viewer, measured, strict=True)]
            row = {
                "rounds": len(measured),
                "per_viewer_ms_per_s": statistics.median(per_viewer),
                "share_of_one_core": statistics.median(per_viewer) / 1000,
                "core_share": statistics.median(ratios),  # of the measured ceiling
                "budget_ratio": statistics.median(ratios) / BUDGET,
            }
            figures[t][str(v)] = row
            print(
                f"{t}, {v} viewers: {row['per_viewer_ms_per_s']:.1f} CPU-ms/s per viewer "
                f"= {100 * row['core_share']:.2f} % of the measured core "
                f"({row['budget_ratio']:.2f} of the budget; {row['rounds']} rounds)"
            )
    return {
        "cameras": n_cameras,
        "window_s": window,
        "rounds": [
            {
                "idle_ms_per_s": rd["idle"],
                "core_ms_per_s": rd["core"],
                "ms_per_s": {
                    t: {str(v): ms for v, ms in st.items()} for t, st in rd["stages"].items()
                },
            }
            for rd in per_round
        ],
        "budget_core_share_per_viewer": BUDGET,
        "median": figures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--transports", nargs="+", choices=["hls", "webrtc"], default=["hls", "webrtc"]
    )
    args = parser.parse_args()
    result = asyncio.run(
        main(args.cameras, args.viewers, args.window, args.rounds, args.transports)
    )
    print(write_result("dashboard-grid", result))
