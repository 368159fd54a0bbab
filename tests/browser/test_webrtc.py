"""Live tiles over WebRTC (WHEP) in Debian's Chromium, against the MediaMTX double's
aiortc peer on its real RTSP data plane, and the fallbacks: HLS when WHEP is not there,
the refreshed still picture with the reason when neither plays."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import Stack, screenshot
from tests.browser.test_dashboard import WAIT_MS, sign_in
from tests.conftest import make_token

LAB = '.tile[data-camera="lab"]'
# A decoded frame, drawn: [width, height, spread of the red channel].
DRAWN = """v => {
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 4 * 97) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
  return [c.width, c.height, hi - lo];
}"""


async def plays(page: Page) -> None:
    """The lab tile's video advances and shows the test pattern."""
    video = page.locator(f"{LAB} video")
    start = await video.evaluate("v => v.currentTime")
    await page.wait_for_function(
        "([t0]) => document.querySelector('.tile[data-camera=lab] video').currentTime > t0 + 1",
        arg=[start],
        timeout=WAIT_MS,
    )
    spread = await video.evaluate(DRAWN)
    assert spread[:2] == [640, 360]
    assert spread[2] > 64, spread


async def test_a_tile_plays_over_webrtc(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    lab = page.locator(LAB)
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await expect(lab).to_have_attribute("data-transport", "webrtc")
    await plays(page)
    # Authorized by the service, as MediaMTX asks it, with the media token from the URL.
    reads = [(b, status) for b, status in stack.plane.auth.requests if b["protocol"] == "webrtc"]
    assert reads and all(b["action"] == "read" and status == 200 for b, status in reads)
    assert all("jwt=" in b["query"] and b["path"] in ("lab", "yard") for b, _ in reads)
    assert not [b for b, _ in stack.plane.auth.requests if b["protocol"] == "hls"]
    assert stack.webrtc.sessions
    await screenshot(page, "grid-webrtc")


async def test_a_dropped_webrtc_session_reconnects(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    lab = page.locator(LAB)
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    offers = stack.webrtc.requests["lab"]
    await stack.webrtc.drop()
    await page.wait_for_function(
        "() => document.querySelector('.tile[data-camera=lab]').dataset.state !== 'playing'",
        timeout=WAIT_MS,
    )
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await expect(lab).to_have_attribute("data-transport", "webrtc")
    assert stack.webrtc.requests["lab"] > offers
    await plays(page)


async def test_without_whep_a_tile_falls_back_to_hls(page: Page, stack: Stack) -> None:
    stack.webrtc.enabled = False
    await sign_in(page, stack, make_token("viewer"))
    lab = page.locator(LAB)
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await expect(lab).to_have_attribute("data-transport", "hls")
    await plays(page)
    assert stack.webrtc.requests.get("lab")  # it asked first


async def test_with_neither_the_still_picture_shows_and_refreshes(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    lab = page.locator(LAB)
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    # WHEP goes away and so does HLS; the session in use drops.
    stack.webrtc.enabled = False
    await stack.hls.stop()
    await stack.webrtc.drop()
    await expect(lab).to_have_attribute("data-transport", "still", timeout=WAIT_MS)
    await expect(lab).to_have_attribute("data-state", "error")
    notice = lab.locator(".notice")
    await expect(notice).to_contain_text("WebRTC: no WebRTC stream here")
    await expect(notice).to_contain_text("HLS: MediaMTX cannot be reached")
    # A fresh picture of the camera (get_preview), for a viewer too.
    image = lab.locator("img")
    await expect(image).to_be_visible(timeout=WAIT_MS)
    await expect(image).to_have_attribute("alt", re.compile(r"^Picture of lab taken "))
    taken = await image.get_attribute("data-taken-at")
    fetched = await image.get_attribute("data-fetched")
    await screenshot(page, "tile-still")
    # A newer picture replaces it on the next refresh.
    await page.wait_for_function(
        "t => document.querySelector('.tile[data-camera=lab] img').dataset.takenAt !== t",
        arg=taken,
        timeout=2 * WAIT_MS,
    )
    assert await image.get_attribute("data-fetched") != fetched
    assert await image.evaluate("i => i.naturalWidth") == 640
