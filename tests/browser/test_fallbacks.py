"""A tile's fallbacks in Debian's Chromium against the service process and the MediaMTX
double: a viewer's still picture is a fresh one (get_preview) when neither WebRTC nor
HLS plays, and a WHEP endpoint found missing is not asked again by every tile."""

from __future__ import annotations

import json
from collections import Counter

from playwright.async_api import Page, WebSocket, expect

from tests.browser.conftest import Stack, screenshot
from tests.browser.test_dashboard import WAIT_MS, sign_in
from tests.conftest import make_token
from tests.rpc import RpcClient

LAB = '.tile[data-camera="lab"]'
STILL_MS = 15_000  # player.js: how often the still is fetched again


def sent_methods(page: Page) -> Counter[str]:
    """The JSON-RPC methods the page sends, counted, over every WebSocket it opens."""
    calls: Counter[str] = Counter()

    def watch(ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            method = json.loads(payload).get("method")
            if isinstance(method, str):
                calls[method] += 1

        ws.on("framesent", sent)

    page.on("websocket", watch)
    return calls


async def test_a_viewers_still_is_a_fresh_picture_and_refreshes(page: Page, stack: Stack) -> None:
    calls = sent_methods(page)
    # MediaMTX answers its Control API, but neither WebRTC nor HLS plays; no snapshot
    # was ever taken, and a viewer may not take one.
    stack.webrtc.enabled = False
    await stack.hls.stop()
    await sign_in(page, stack, make_token("viewer"))
    lab = page.locator(LAB)
    await expect(lab).to_have_attribute("data-transport", "still", timeout=WAIT_MS)
    await expect(lab).to_have_attribute("data-state", "error")
    await expect(lab.locator(".notice")).to_contain_text("HLS: MediaMTX cannot be reached")
    image = lab.locator("img")
    await expect(image).to_be_visible(timeout=WAIT_MS)
    first = await image.get_attribute("data-taken-at")
    assert first and await image.evaluate("i => i.naturalWidth") == 640
    assert (await image.get_attribute("alt") or "").startswith("Picture of lab taken ")
    await screenshot(page, "tile-still-viewer")
    # The next refresh brings a newer picture (the service's is at most 5 s old).
    await page.wait_for_function(
        "t => document.querySelector('.tile[data-camera=lab] img').dataset.takenAt !== t",
        arg=first,
        timeout=STILL_MS + WAIT_MS,
    )
    assert await image.evaluate("i => i.naturalWidth") == 640
    assert calls["get_preview"] >= 2 and not calls["take_snapshot"], calls
    assert not calls["list_snapshots"], calls
    # Nothing was stored as a snapshot.
    client = await RpcClient.connect(stack.service.ws_url)
    try:
        await client.call("authenticate", {"auth_token": make_token("operator")})
        assert (await client.call("list_snapshots", {}))["files"] == []
    finally:
        await client.close()


async def test_a_missing_whep_endpoint_is_remembered_for_the_page(page: Page, stack: Stack) -> None:
    stack.webrtc.enabled = False  # answers 404 as MediaMTX without a WebRTC path
    await sign_in(page, stack, make_token("viewer"))
    for camera in ("lab", "yard"):
        tile = page.locator(f'.tile[data-camera="{camera}"]')
        await expect(tile).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
        await expect(tile).to_have_attribute("data-transport", "hls")
    asked = sum(stack.webrtc.requests.values())
    assert 1 <= asked <= 2, stack.webrtc.requests  # the two tiles opened at once
    # The camera page opens a new player, and going back opens the grid's tiles again:
    # straight to HLS, WHEP is not asked again.
    await page.locator(f"{LAB} h2 a").click()
    live = page.locator("#camera-live")
    await expect(live).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await expect(live).to_have_attribute("data-transport", "hls")
    await page.go_back()
    lab = page.locator(LAB)
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await expect(lab).to_have_attribute("data-transport", "hls")
    assert sum(stack.webrtc.requests.values()) == asked, stack.webrtc.requests
    # A new page session asks again (WebRTC may be back).
    await page.reload()
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    assert sum(stack.webrtc.requests.values()) > asked
