"""The service's CPU per dashboard viewer with a 16-camera grid open.

    python bench/dashboard_grid.py [--cameras 16] [--viewers 1 2] [--window 20]

Runs the service as its own process with the MediaMTX double (Control API, RTSP data
plane, HLS server) and ``--cameras`` test-pattern cameras at 320x180, 10 fps
(``tests/support/dashboard_stack.py``), and Debian's Chromium (headless) through
Playwright, all on loopback. Stages, each measured over ``--window`` seconds of the
service process's user + system CPU time (``/proc/PID/stat``):

- ``idle``: no browser. The service's own work: MediaMTX checks, camera polls.
- ``V viewers``: V pages signed in as viewers, each with the whole grid on screen and
  every tile playing (the window starts once all tiles report ``playing``). What the
  service does for them: their WebSocket sessions, status polls, media tokens, and
  MediaMTX's authorization requests for every playlist and segment the browsers fetch.

Per stage it prints the service's CPU in ms per second, and the figure that matters:
``per_viewer_ms_per_s`` = (stage - idle) / V, and that as a share of one core (the
ceiling a single-process service has). The video itself is MediaMTX's work, not the
service's; the double's FFmpeg processes and Chromium share the machine's cores, so
the figures are CPU time, not wall time.
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.support.dashboard_stack import CHROMIUM_ARGS, dashboard_stack  # noqa: E402

from result_file import write_result  # noqa: E402
from server import read_cpu_seconds  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 120_000
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


async def open_viewer(browser: Browser, url: str, token: str, n: int) -> BrowserContext:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#credential", token)
    await page.click("#sign-in-form button[type=submit]")
    try:
        await page.wait_for_function(
            "n => document.querySelectorAll('.tile[data-state=playing]').length >= n",
            arg=n,
            timeout=WAIT_MS,
        )
    except Exception:
        states = await page.evaluate(
            "[...document.querySelectorAll('.tile')].map(t => [t.dataset.camera, t.dataset.state,"
            " t.querySelector('.notice').textContent])"
        )
        raise RuntimeError(f"tiles not all playing: {states}") from None
    return context


async def main(n_cameras: int, viewers: list[int], window: float) -> dict[str, Any]:
    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        async with dashboard_stack(Path(tmp), cameras(n_cameras)) as stack:
            pid = stack.service.proc.pid
            stages["idle"] = await cpu_over(pid, window)
            print(f"idle: {stages['idle']:.1f} ms/s")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    token = make_token("viewer")
                    opened: list[BrowserContext] = []
                    for v in sorted(viewers):
                        while len(opened) < v:
                            opened.append(await open_viewer(browser, stack.url, token, n_cameras))
                        stages[f"{v} viewers"] = await cpu_over(pid, window)
                        print(f"{v} viewers: {stages[f'{v} viewers']:.1f} ms/s")
                    for context in opened:
                        await context.close()
                finally:
                    await browser.close()
    per_viewer = {v: (stages[f"{v} viewers"] - stages["idle"]) / v for v in sorted(viewers)}
    for v, ms in per_viewer.items():
        print(
            f"per viewer at {v}: {ms:.1f} CPU-ms/s = {ms / 10:.2f} % of one core "
            f"({n_cameras} tiles playing each)"
        )
    return {
        "cameras": n_cameras,
        "window_s": window,
        "stages_ms_per_s": stages,
        "per_viewer_ms_per_s": {str(v): ms for v, ms in per_viewer.items()},
        "per_viewer_core_share": {str(v): ms / 1000 for v, ms in per_viewer.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--window", type=float, default=20.0)
    args = parser.parse_args()
    result = asyncio.run(main(args.cameras, args.viewers, args.window))
    print(write_result("dashboard-grid", result))
