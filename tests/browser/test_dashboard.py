"""The dashboard in Debian's Chromium against the real service process and the MediaMTX
double: sign-in, the live grid (a tile that really plays), hot-plug, roles, and what a
person sees when MediaMTX is down."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Stack, screenshot
from tests.conftest import make_token
from tests.rpc import RpcClient

WAIT_MS = 30_000


async def until_ready(client: RpcClient) -> None:
    """Until the service has seen MediaMTX and applied the cameras' paths: a recording
    asked for before that is refused (-1003), rightly, and a loaded machine gets there
    later than a test's first call."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while (await client.call("get_system_status"))["status"] != "ready":
        assert time.monotonic() < deadline, "the service never became ready"
        await asyncio.sleep(0.1)  # polling the service's own answer, with a deadline


async def sign_in(page: Page, stack: Stack, credential: str) -> None:
    await page.goto(stack.url)
    await page.fill("#credential", credential)
    await page.click("#sign-in-form button[type=submit]")


async def test_sign_in_refuses_a_bad_credential_then_accepts_a_good_one(
    page: Page, stack: Stack
) -> None:
    await sign_in(page, stack, "csk_not-a-key")
    error = page.locator("#sign-in-error")
    await expect(error).to_be_visible(timeout=WAIT_MS)
    await expect(error).to_contain_text("not valid")
    assert await page.evaluate("sessionStorage.length") == 0
    await screenshot(page, "sign-in-refused")

    token = make_token("viewer")
    await page.fill("#credential", token)
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#identity")).to_contain_text("viewer", timeout=WAIT_MS)
    await expect(page.locator("#sign-in")).to_be_hidden()
    stored = await page.evaluate("Object.values(sessionStorage)")
    assert stored == [token]
    assert await page.evaluate("localStorage.length") == 0
    assert token not in page.url  # never in a URL that reaches a log
    # A reload of the tab signs in again from sessionStorage.
    await page.reload()
    await expect(page.locator("#identity")).to_contain_text("viewer", timeout=WAIT_MS)


async def test_grid_shows_both_cameras_and_a_live_tile_plays(page: Page, stack: Stack) -> None:
    stack.webrtc.enabled = False  # this one is over HLS; tests/browser/test_webrtc.py: WebRTC
    await sign_in(page, stack, make_token("operator"))
    tiles = page.locator(".tile")
    await expect(tiles).to_have_count(2, timeout=WAIT_MS)
    assert await tiles.evaluate_all("ts => ts.map(t => t.dataset.camera)") == ["lab", "yard"]
    lab = page.locator('.tile[data-camera="lab"]')
    await expect(lab.locator(".badge")).to_have_text("CONNECTED")
    await expect(lab.locator(".facts")).to_contain_text("640x360")
    await expect(lab.locator(".facts")).to_contain_text("15 fps")
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    video = lab.locator("video")
    start = await video.evaluate("v => v.currentTime")
    await page.wait_for_function(
        "([t0]) => document.querySelector('.tile[data-camera=lab] video').currentTime > t0 + 1",
        arg=[start],
        timeout=WAIT_MS,
    )
    # A decoded frame, drawn: the test pattern is not one flat colour.
    spread = await video.evaluate(
        """v => {
          const c = document.createElement('canvas');
          c.width = v.videoWidth; c.height = v.videoHeight;
          const g = c.getContext('2d');
          g.drawImage(v, 0, 0);
          const d = g.getImageData(0, 0, c.width, c.height).data;
          let lo = 255, hi = 0;
          for (let i = 0; i < d.length; i += 4 * 97) {
            lo = Math.min(lo, d[i]);
            hi = Math.max(hi, d[i]);
          }
          return [c.width, c.height, hi - lo];
        }"""
    )
    assert spread[:2] == [640, 360]
    assert spread[2] > 64, spread
    # The stream went through MediaMTX's HLS server, authorized by the service.
    hls_reads = [b for b, status in stack.plane.auth.requests if b["protocol"] == "hls"]
    assert hls_reads and all(b["action"] == "read" for b in hls_reads)
    assert any("jwt=" in b["query"] for b in hls_reads)
    await screenshot(page, "grid")
    await screenshot(page, "grid-readme", clip={"x": 0, "y": 0, "width": 860, "height": 420})


async def test_a_hot_plugged_camera_appears_live(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    await expect(page.locator(".tile")).to_have_count(2, timeout=WAIT_MS)
    await stack.add_camera({"type": "test", "id": "gate", "resolution": "640x360", "fps": 15})
    gate = page.locator('.tile[data-camera="gate"]')
    await expect(gate).to_be_visible(timeout=WAIT_MS)  # no reload: from the notification
    await expect(gate.locator(".badge")).to_have_text("CONNECTED")
    assert await page.locator(".tile").evaluate_all("ts => ts.map(t => t.dataset.camera)") == [
        "gate",
        "lab",
        "yard",
    ]


async def test_a_viewer_gets_no_operator_buttons(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    await expect(page.locator(".tile")).to_have_count(2, timeout=WAIT_MS)
    await expect(page.locator('.tile[data-camera="lab"]')).to_have_attribute(
        "data-state", "playing", timeout=WAIT_MS
    )
    assert await page.locator("[data-action]").count() == 0
    await screenshot(page, "grid-viewer")
    # The same page for an operator has them, on every tile.
    await page.click("#sign-out")
    await sign_in(page, stack, make_token("operator"))
    await expect(page.locator('[data-action="snapshot"]')).to_have_count(2, timeout=WAIT_MS)
    await expect(page.locator('[data-action="record"]')).to_have_count(2)


async def test_a_phone_screen_shows_one_tile_per_row(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = await context.new_page()
        await sign_in(phone, stack, make_token("viewer"))
        tiles = phone.locator(".tile")
        await expect(tiles).to_have_count(2, timeout=WAIT_MS)
        boxes = [await tiles.nth(i).bounding_box() for i in range(2)]
        assert all(b is not None for b in boxes)
        first, second = boxes[0], boxes[1]
        assert first is not None and second is not None
        assert second["y"] >= first["y"] + first["height"]  # stacked, not side by side
        assert first["x"] + first["width"] <= 390
        await screenshot(phone, "grid-phone")
    finally:
        await context.close()


async def test_mediamtx_stopped_is_said_in_words(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    lab = page.locator('.tile[data-camera="lab"]')
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await stack.hls.stop()  # MediaMTX goes away: its HLS and WebRTC servers, Control API
    await stack.webrtc.stop()
    await stack.mtx.stop()
    await expect(page.locator("#banner")).to_contain_text("MediaMTX is down", timeout=WAIT_MS)
    for camera in ("lab", "yard"):
        tile = page.locator(f'.tile[data-camera="{camera}"]')
        await expect(tile).to_have_attribute("data-state", "mediamtx-down", timeout=WAIT_MS)
        await expect(tile.locator(".notice")).to_contain_text("MediaMTX is down")
    await screenshot(page, "mediamtx-down")


async def test_a_link_with_a_token_in_its_fragment_signs_in(page: Page, stack: Stack) -> None:
    token = make_token("viewer", cameras=["yard"])  # what `camera-service dashboard-link` prints
    await page.goto(f"{stack.url}#token={token}")
    await expect(page.locator("#identity")).to_contain_text("viewer", timeout=WAIT_MS)
    assert "token" not in page.url  # moved out of the address bar at once
    assert await page.evaluate("Object.values(sessionStorage)") == [token]
    # Its camera scope holds in the page too: one tile, the camera it may see.
    await expect(page.locator(".tile")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator('.tile[data-camera="yard"]')).to_be_visible()


async def test_an_operator_takes_a_snapshot_and_records_from_a_tile(
    page: Page, stack: Stack
) -> None:
    await sign_in(page, stack, make_token("operator"))
    lab = page.locator('.tile[data-camera="lab"]')
    await expect(lab).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await lab.locator('[data-action="snapshot"]').click()
    await expect(page.locator("#toast")).to_contain_text(
        "Snapshot saved: lab_snapshot_", timeout=WAIT_MS
    )
    await lab.locator('[data-action="record"]').click()
    await expect(page.locator("#toast")).to_contain_text("Recording: lab_", timeout=WAIT_MS)
    await expect(lab.locator(".rec")).to_be_visible()
    await expect(lab.locator('[data-action="record"]')).to_have_text("Stop")
    await lab.locator('[data-action="record"]').click()
    await expect(page.locator("#toast")).to_contain_text("Recording stopped", timeout=WAIT_MS)
    await expect(lab.locator(".rec")).to_be_hidden()


async def test_a_recording_plays_in_the_page_and_an_operator_deletes_it(
    page: Page, stack: Stack
) -> None:
    client = await RpcClient.connect(stack.service.ws_url)
    try:
        await client.call("authenticate", {"auth_token": make_token("operator")})
        await until_ready(client)
        await client.call("start_recording", {"device": "lab", "duration_seconds": 3})
        stopped = await client.wait_notification(
            "recording_status_update", lambda p: p["status"] == "STOPPED", timeout=60
        )
        (name,) = stopped["files"]
        await sign_in(page, stack, make_token("operator"))
        await page.click('#views button[data-view="recordings"]')
        row = page.locator(f'#recording-rows tr[data-file="{name}"]')
        await expect(row).to_be_visible(timeout=WAIT_MS)
        await expect(row).to_contain_text("lab")
        await row.locator('[data-action="play"]').click()
        player = page.locator("#playback")
        await expect(player).to_be_visible()
        await page.wait_for_function(
            "() => { const v = document.getElementById('playback');"
            " return v.currentTime > 1 && v.duration >= 2.5; }",
            timeout=WAIT_MS,
        )
        await screenshot(page, "recordings")
        page.once("dialog", lambda dialog: dialog.accept())
        await row.locator('[data-action="delete"]').click()
        await expect(row).to_have_count(0, timeout=WAIT_MS)
        await expect(page.locator("#toast")).to_contain_text(f"Deleted {name}")
        listed = await client.call("list_recordings", {"device": "lab"})
        assert name not in [f["filename"] for f in listed["files"]]
    finally:
        await client.close()


async def test_a_viewer_plays_recordings_but_cannot_delete_them(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    await page.click('#views button[data-view="recordings"]')
    await expect(page.locator("#recordings-empty")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#recording-camera option")).to_have_count(3)  # all, lab, yard
    client = await RpcClient.connect(stack.service.ws_url)
    try:
        await client.call("authenticate", {"auth_token": make_token("operator")})
        await until_ready(client)
        await client.call("start_recording", {"device": "yard", "duration_seconds": 1})
        stopped = await client.wait_notification(
            "recording_status_update", lambda p: p["status"] == "STOPPED", timeout=60
        )
    finally:
        await client.close()
    # The list follows the notification; the viewer may play and download, not delete.
    row = page.locator(f'#recording-rows tr[data-file="{stopped["files"][0]}"]')
    await expect(row).to_be_visible(timeout=WAIT_MS)
    await expect(row.locator('[data-action="play"]')).to_be_visible()
    await expect(row.locator('[data-action="download"]')).to_be_visible()
    assert await page.locator('[data-action="delete"]').count() == 0
