"""Adding a discovered camera from the dashboard, in Debian's Chromium: an admin's
System page runs ONVIF discovery against the tests' simulated device (loopback, a
directed probe the service process sends), lists its profile, and adds it under an id
typed in; the GStreamer camera behind it then plays in a new tile of the grid. Other
roles are not offered it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Page, expect

from tests.browser.conftest import Stack, _require_chromium, screenshot
from tests.conftest import make_token
from tests.support.dashboard_stack import dashboard_stack
from tests.support.onvif_device import OnvifDevice
from tests.support.rtsp_server import RtspCamera

WAIT_MS = 30_000
USER, PASSWORD = "admin", "correct-horse"


@pytest_asyncio.fixture
async def device() -> AsyncIterator[OnvifDevice]:
    async with (
        RtspCamera(640, 360, 15, user=USER, password=PASSWORD) as camera,
        OnvifDevice(camera.url, user=USER, password=PASSWORD) as dev,
    ):
        yield dev


@pytest_asyncio.fixture
async def onvif_stack(tmp_path: Path, device: OnvifDevice) -> AsyncIterator[Stack]:
    _require_chromium()
    # The service process loads the SOAP libraries and WSDLs in its first discovery,
    # inside the device's deadline: on a loaded machine that alone can take seconds.
    onvif = {"probe_targets": [device.probe_target], "probe_wait": 0.5, "device_timeout": 30}
    async with dashboard_stack(tmp_path, extra={"onvif": onvif}) as running:
        yield running


async def open_system(page: Page, stack: Stack, role: str) -> None:
    await page.goto(stack.url)
    await page.fill("#credential", make_token(role))
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#sign-out")).to_be_visible(timeout=WAIT_MS)
    await page.click('#views button[data-view="system"]')
    await expect(page.locator("#system")).to_be_visible()


async def test_an_admin_adds_a_discovered_camera_and_its_tile_plays(
    page: Page, onvif_stack: Stack, device: OnvifDevice
) -> None:
    await open_system(page, onvif_stack, "admin")
    await expect(page.locator("#discovery")).to_be_visible()
    # Without credentials the device is found, and says why its profiles are missing.
    await page.click("#discovery-form button[type=submit]")
    found = page.locator(f'#discovery-results li.discovered[data-endpoint="{device.endpoint}"]')
    await expect(found.locator(".error")).to_contain_text("authentication failed", timeout=WAIT_MS)
    await expect(found).to_contain_text("127.0.0.1")

    await page.fill("#discovery-user", USER)
    await page.fill("#discovery-password", PASSWORD)
    await page.click("#discovery-form button[type=submit]")
    await expect(found).to_contain_text("SimCam Sim-1", timeout=WAIT_MS)
    profile = found.locator("li.profile")
    await expect(profile).to_have_count(1)
    await expect(profile).to_contain_text("640x360")
    await screenshot(page, "discovery-found")

    # A bad id is refused in words and adds nothing; a taken one too (the service says).
    id_input = profile.locator("input")
    await id_input.fill("no spaces")
    await profile.locator("button").click()
    await expect(profile.locator(".error")).to_contain_text("letters, digits")
    await id_input.fill("lab")
    await profile.locator("button").click()
    await expect(profile.locator(".error")).to_contain_text("Not added")

    await id_input.fill("porch")
    await profile.locator("button").click()
    await expect(profile.locator(".added")).to_contain_text("Added as porch", timeout=WAIT_MS)

    # The grid has the new tile at once (the notification), and it plays.
    await page.click('#views button[data-view="cameras"]')
    porch = page.locator('.tile[data-camera="porch"]')
    await expect(porch).to_be_visible(timeout=WAIT_MS)
    await expect(porch.locator(".badge")).to_have_text("CONNECTED", timeout=WAIT_MS)
    await expect(porch).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
    await expect(porch.locator(".facts")).to_contain_text("640x360")
    assert await page.locator(".tile").evaluate_all("ts => ts.map(t => t.dataset.camera)") == [
        "lab",
        "porch",
        "yard",
    ]


async def test_an_operator_is_not_offered_discovery(page: Page, onvif_stack: Stack) -> None:
    await open_system(page, onvif_stack, "operator")
    await expect(page.locator("#health li").first).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#discovery")).to_be_hidden()
