"""One camera's page in Debian's Chromium against the real service process and the
MediaMTX double: opened from the grid, live figures that stop when it closes,
capabilities, stream URLs to copy, an operator's snapshot and recordings, roles, a
reload, the back link, a phone screen, and what it says when a camera or MediaMTX is
away."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import Browser, Page, WebSocket, expect

from tests.browser.conftest import Stack, screenshot
from tests.browser.test_dashboard import WAIT_MS, sign_in
from tests.conftest import make_token
from tests.rpc import RpcClient


class SentCalls:
    """The JSON-RPC methods the page sends, in order, over every WebSocket it opens."""

    def __init__(self, page: Page) -> None:
        self.methods: list[str] = []
        page.on("websocket", self._watch)

    def _watch(self, ws: WebSocket) -> None:
        ws.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        try:
            message: Any = json.loads(payload)
        except ValueError:
            return
        if isinstance(message, dict) and isinstance(message.get("method"), str):
            self.methods.append(message["method"])

    def count(self, method: str) -> int:
        return self.methods.count(method)


async def metric(page: Page, key: str) -> int:
    value = await page.locator(f'#camera-metrics [data-metric="{key}"]').get_attribute("data-value")
    assert value is not None
    return int(value)


async def open_lab_from_the_grid(page: Page) -> None:
    lab = page.locator('.tile[data-camera="lab"]')
    await expect(lab).to_be_visible(timeout=WAIT_MS)
    await lab.locator("h2 a").click()
    await expect(page.locator("#camera-page")).to_be_visible()
    assert page.url.endswith("#/camera/lab")


async def test_a_camera_page_opens_from_the_grid_with_live_figures(
    browser: Browser, stack: Stack
) -> None:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["clipboard-read", "clipboard-write"]
    )
    try:
        page = await context.new_page()
        sent = SentCalls(page)
        await sign_in(page, stack, make_token("viewer"))
        await open_lab_from_the_grid(page)
        await expect(page.locator("#cameras")).to_be_hidden()
        await expect(page.locator("#camera-title")).to_have_text("lab")
        await expect(page.locator("#camera-badge")).to_have_text("CONNECTED")
        live = page.locator("#camera-live")
        await expect(live).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
        # The grid's own tiles stopped streaming while it is hidden.
        await expect(page.locator('.tile[data-camera="lab"]')).to_have_attribute(
            "data-state", "paused"
        )
        box = await live.bounding_box()
        assert box is not None and box["width"] >= 640  # the picture large

        # Live figures: the page's own HLS muxer reads the stream, bytes go out.
        await page.wait_for_function(
            "() => Number(document.querySelector('#camera-metrics [data-metric=readers]')"
            "?.dataset.value) >= 1",
            timeout=WAIT_MS,
        )
        first = await metric(page, "bytes_sent")
        await page.wait_for_function(
            "([b]) => Number(document.querySelector('#camera-metrics [data-metric=bytes_sent]')"
            ".dataset.value) > b",
            arg=[first],
            timeout=WAIT_MS,
        )
        await expect(page.locator('#camera-metrics [data-metric="bitrate"]')).to_contain_text(
            "bit/s"
        )
        await expect(page.locator('#camera-metrics [data-metric="stream"]')).to_have_text("active")

        caps = page.locator("#camera-capabilities")
        await expect(caps.locator('[data-capability="Resolutions"]')).to_contain_text("640x360")
        await expect(caps.locator('[data-capability="Frame rates"]')).to_contain_text("15 fps")

        # Stream URLs without any credential, each copied with its button.
        for kind, ending in (("rtsp", "/lab"), ("webrtc", "/lab"), ("hls", "/lab/index.m3u8")):
            field = page.locator(f'#camera-urls input[data-url="{kind}"]')
            url = await field.input_value()
            assert url.endswith(ending), url
            assert "jwt" not in url and "token" not in url
        rtsp = await page.locator('#camera-urls input[data-url="rtsp"]').input_value()
        assert rtsp.startswith("rtsp://")
        await page.click('#camera-urls [data-copy="rtsp"]')
        await expect(page.locator('#camera-urls [data-copy="rtsp"]')).to_have_text("Copied")
        assert await page.evaluate("navigator.clipboard.readText()") == rtsp

        # A viewer gets no operator buttons here either.
        assert await page.locator("[data-action]").count() == 0
        await expect(page.locator("#camera-controls")).to_be_hidden()
        await expect(page.locator("#camera-recording")).to_have_text("Not recording.")
        await screenshot(page, "camera-page")

        # A reload (or a bookmark) opens the same page.
        await page.reload()
        await expect(page.locator("#camera-page")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#camera-title")).to_have_text("lab")
        await expect(live).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
        await expect(page.locator("#cameras")).to_be_hidden()

        # Back to the grid: the page's polling stops there.
        await page.click("#camera-back")
        await expect(page.locator("#cameras")).to_be_visible()
        await expect(page.locator("#camera-page")).to_be_hidden()
        polls = sent.count("get_stream_status")
        tile = page.locator('.tile[data-camera="lab"]')
        await expect(tile).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
        # Wait out several poll periods (2 s), measured by the tile's own video clock.
        t0 = await tile.locator("video").evaluate("v => v.currentTime")
        await page.wait_for_function(
            "([t0]) => document.querySelector('.tile[data-camera=lab] video').currentTime > t0 + 5",
            arg=[t0],
            timeout=WAIT_MS,
        )
        assert sent.count("get_stream_status") == polls
        # The browser's back button returns to the camera page.
        await page.go_back()
        await expect(page.locator("#camera-page")).to_be_visible(timeout=WAIT_MS)
        await expect(live).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    finally:
        await context.close()


async def test_an_operator_takes_a_snapshot_and_records_three_seconds(
    page: Page, stack: Stack
) -> None:
    await sign_in(page, stack, make_token("operator"))
    await open_lab_from_the_grid(page)
    await expect(page.locator("#camera-live")).to_have_attribute(
        "data-state", "playing", timeout=WAIT_MS
    )

    await page.click('#camera-page [data-action="snapshot"]')
    result = page.locator("#camera-snapshot-result")
    await expect(result).to_contain_text("Snapshot saved: lab_snapshot_", timeout=WAIT_MS)
    await expect(result).to_contain_text("640x360")
    image = page.locator("#camera-snapshot-image")
    await expect(image).to_be_visible(timeout=WAIT_MS)
    await page.wait_for_function(
        "() => document.getElementById('camera-snapshot-image').naturalWidth === 640",
        timeout=WAIT_MS,
    )

    record = page.locator("#camera-record-result")
    log = page.locator("#camera-record-log li")
    await page.fill("#camera-duration", "3")
    await page.click('#camera-page [data-action="record"]')
    # The outcomes, newest first (3 s is over before a slow test could see each in turn).
    await expect(log.filter(has_text="Recording started: lab_")).to_contain_text(
        "ends by itself after 3 s", timeout=WAIT_MS
    )
    # It ends by itself, and the page says how it went.
    await expect(record).to_contain_text("Recording finished: lab_", timeout=WAIT_MS)
    await expect(log.first).to_contain_text("Recording finished: lab_")
    await expect(record).to_contain_text("its duration was reached")
    finished = await record.text_content()
    got = re.search(r", ([0-9.]+) s, ", finished or "")
    assert got is not None and 2.5 <= float(got.group(1)) <= 4.5, finished  # media of ~3 s
    await expect(page.locator("#camera-rec")).to_be_hidden()
    await expect(page.locator("#camera-recording")).to_have_text("Not recording.")
    await expect(page.locator('#camera-page [data-action="stop"]')).to_be_disabled()

    # A duration that is not one is refused in words, before any call.
    await page.fill("#camera-duration", "0")
    await page.click('#camera-page [data-action="record"]')
    await expect(record).to_contain_text("whole number of seconds")
    await expect(page.locator("#camera-rec")).to_be_hidden()
    await screenshot(page, "camera-page-operator")


async def test_a_recording_started_elsewhere_shows_and_stops_here(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("operator"))
    await open_lab_from_the_grid(page)
    await expect(page.locator("#camera-recording")).to_have_text("Not recording.", timeout=WAIT_MS)
    client = await RpcClient.connect(stack.service.ws_url)
    try:
        await client.call("authenticate", {"auth_token": make_token("operator")})
        await client.call("start_recording", {"device": "lab", "duration_seconds": 600})
        record = page.locator("#camera-record-result")
        await expect(record).to_contain_text("Recording started: lab_", timeout=WAIT_MS)
        await expect(record).to_contain_text("ends by itself after 10 min 0 s")
        await expect(page.locator("#camera-rec")).to_be_visible()
        line = page.locator("#camera-recording")
        await expect(line).to_contain_text("of 10 min 0 s, then it ends by itself")
        # A page opened meanwhile learns it from get_camera_status (recording_duration).
        await page.reload()
        await expect(line).to_contain_text("s so far of 10 min 0 s", timeout=WAIT_MS)
        await expect(page.locator("#camera-rec")).to_be_visible()
        await page.click('#camera-page [data-action="stop"]')
        await expect(record).to_contain_text("Recording finished: lab_", timeout=WAIT_MS)
        await expect(record).to_contain_text("stopped on request")
        await expect(page.locator("#camera-rec")).to_be_hidden()
        stopped = await client.wait_notification(
            "recording_status_update", lambda p: p["status"] == "STOPPED", timeout=60
        )
        assert stopped["reason"] == "requested"
    finally:
        await client.close()


async def test_mediamtx_down_and_an_unknown_camera_are_said_in_words(
    page: Page, stack: Stack
) -> None:
    await sign_in(page, stack, make_token("viewer"))
    await expect(page.locator(".tile")).to_have_count(2, timeout=WAIT_MS)
    await page.goto(f"{stack.url}#/camera/nosuch")
    note = page.locator("#camera-note")
    await expect(note).to_contain_text("is disconnected", timeout=WAIT_MS)
    await expect(page.locator("#camera-badge")).to_have_text("DISCONNECTED")
    await expect(page.locator("#camera-live .notice")).to_contain_text("Camera disconnected")
    await expect(page.locator("#camera-urls")).to_contain_text("No stream URLs")

    await page.goto(f"{stack.url}#/camera/lab")
    live = page.locator("#camera-live")
    await expect(live).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await stack.hls.stop()
    await stack.mtx.stop()
    await expect(note).to_contain_text("MediaMTX is down", timeout=WAIT_MS)
    await expect(live).to_have_attribute("data-state", "mediamtx-down", timeout=WAIT_MS)
    await expect(page.locator('#camera-metrics [data-metric="stream"]')).to_contain_text(
        "MediaMTX is down", timeout=WAIT_MS
    )
    await screenshot(page, "camera-page-mediamtx-down")


async def test_a_camera_page_fits_a_phone_screen(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = await context.new_page()
        await sign_in(phone, stack, make_token("operator"))
        await open_lab_from_the_grid(phone)
        live = phone.locator("#camera-live")
        await expect(live).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
        picture = await live.bounding_box()
        side = await phone.locator(".camera-side").bounding_box()
        assert picture is not None and side is not None
        assert side["y"] >= picture["y"] + picture["height"]  # stacked, not side by side
        assert picture["x"] + picture["width"] <= 390 and side["x"] + side["width"] <= 390
        widest = await phone.evaluate("document.documentElement.scrollWidth")
        assert widest <= 390  # nothing sticks out sideways
        await screenshot(phone, "camera-page-phone")
    finally:
        await context.close()
