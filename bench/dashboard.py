"""The dashboard's first load, time to interactive, and time to a tile's first frame.

    python bench/dashboard.py [--rounds 5]

Runs the service as its own process with the MediaMTX double (Control API, RTSP data
plane, HLS server) and two test-pattern cameras (``tests/support/dashboard_stack.py``),
and Debian's Chromium (``/usr/bin/chromium``, headless) through Playwright, all on
loopback. Per round, in a fresh browser context (empty cache):

- ``first_load_bytes``: bytes transferred (compressed, headers included, as Chromium's
  ``encodedDataLength`` counts them) for everything the page loads before any video:
  the page, its modules, hls.js, the style sheet and ``config.json``;
- ``interactive_ms``: from navigation start to the sign-in form ready for input (the
  page's ``dashboard-interactive`` mark, set once its modules ran);
- ``first_frame_ms``: from the tile asking for its media token (``tile-open:<camera>``)
  to the video's first ``playing`` event (``tile-frame:<camera>``), HLS through the
  double (FFmpeg's HLS muxer, 1 s segments). Round 1 is cold (the on-demand publisher
  and the muxer start for it); later rounds find the muxer still running (MediaMTX keeps
  it ``hlsMuxerCloseAfter``, 60 s).

Prints the figures per round and their medians; writes JSON into ``bench/results/``.
Browser, service, double and FFmpeg share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from playwright.async_api import Browser, async_playwright  # noqa: E402
from tests.conftest import make_token  # noqa: E402
from tests.support.dashboard_stack import CHROMIUM_ARGS, Stack, dashboard_stack  # noqa: E402

from result_file import write_result  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 30_000


async def one_round(browser: Browser, stack: Stack, token: str) -> dict[str, float]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        sizes: dict[str, float] = {}
        cdp.on(
            "Network.loadingFinished",
            lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
        )
        await page.goto(stack.url)
        await page.wait_for_function(
            "() => performance.getEntriesByName('dashboard-interactive').length > 0"
        )
        await page.wait_for_load_state("networkidle")
        first_load = sum(sizes.values())
        interactive = await page.evaluate(
            "performance.getEntriesByName('dashboard-interactive')[0].startTime"
        )
        await page.fill("#credential", token)
        await page.click("#sign-in-form button[type=submit]")
        await page.wait_for_function(
            "() => performance.getEntriesByName('tile-frame:lab').length > 0", timeout=WAIT_MS
        )
        frame = await page.evaluate(
            """performance.getEntriesByName('tile-frame:lab')[0].startTime
               - performance.getEntriesByName('tile-open:lab')[0].startTime"""
        )
        return {
            "first_load_bytes": first_load,
            "interactive_ms": interactive,
            "first_frame_ms": frame,
        }
    finally:
        await context.close()


async def main(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        async with dashboard_stack(Path(tmp)) as stack, async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                token = make_token("viewer")
                results = []
                for n in range(rounds):
                    figures = await one_round(browser, stack, token)
                    results.append(figures)
                    print(
                        f"round {n + 1}: first load {figures['first_load_bytes'] / 1024:.1f} KiB, "
                        f"interactive {figures['interactive_ms']:.0f} ms, "
                        f"first frame {figures['first_frame_ms']:.0f} ms"
                        + (" (cold)" if n == 0 else "")
                    )
            finally:
                await browser.close()
    summary = {key: statistics.median(r[key] for r in results) for key in results[0]}
    summary["first_frame_cold_ms"] = results[0]["first_frame_ms"]
    if len(results) > 1:
        summary["first_frame_warm_ms"] = statistics.median(r["first_frame_ms"] for r in results[1:])
    print(
        f"median: first load {summary['first_load_bytes'] / 1024:.1f} KiB, "
        f"interactive {summary['interactive_ms']:.0f} ms, "
        f"first frame cold {summary['first_frame_cold_ms']:.0f} ms"
        + (f", warm {summary['first_frame_warm_ms']:.0f} ms" if len(results) > 1 else "")
    )
    return {"rounds": results, "summary": summary}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(main(args.rounds))
    print(write_result("dashboard", result))
