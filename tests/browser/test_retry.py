"""A tile that cannot play keeps trying without spending the connection's rate limit:
it backs off, reuses its media token while it is fresh, and fetches the still picture
on its own timer, not at every retry (a grid of failing tiles once made 384 calls a
minute against a limit of 120)."""

from __future__ import annotations

import json
from collections import Counter

from playwright.async_api import Page, WebSocket

from tests.browser.conftest import Stack
from tests.browser.test_dashboard import sign_in
from tests.conftest import make_token

RETRIES = 3  # failures after 5 s and 10 s waits: about 15 s


async def test_a_failing_tile_backs_off_and_reuses_its_token(page: Page, stack: Stack) -> None:
    calls: Counter[tuple[str | None, str | None]] = Counter()

    def watch(ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            msg = json.loads(payload)
            params = msg.get("params") or {}
            calls[(msg.get("method"), params.get("camera_id") or params.get("device"))] += 1

        ws.on("framesent", sent)

    page.on("websocket", watch)
    # MediaMTX answers its Control API, but neither WebRTC nor HLS plays.
    stack.webrtc.enabled = False
    await stack.hls.stop()
    await sign_in(page, stack, make_token("viewer"))
    await page.wait_for_function(
        "n => Number(document.querySelector('.tile[data-camera=lab]')?.dataset.retries) >= n",
        arg=RETRIES,
        timeout=90_000,
    )
    assert calls[("create_media_token", "lab")] == 1, calls  # reused while fresh
    assert 1 <= calls[("get_preview", "lab")] <= 3, calls  # its own 15 s timer, not per retry
    notice = await page.locator('.tile[data-camera="lab"] .notice').text_content()
    assert notice and "Retrying" in notice
