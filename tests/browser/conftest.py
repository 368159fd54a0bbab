"""Fixtures for the dashboard's tests in a real browser: Debian's Chromium driven by
Playwright (the driver only, never ``playwright install``), against the service as its
own process, the MediaMTX double's Control API, its RTSP data plane and its HLS server.

Without ``/usr/bin/chromium`` these tests are skipped with a reason, except in CI
(``CI`` set), where that is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, FloatRect, Page, async_playwright

from camera_service.api.mediaauth import auth_url
from camera_service.media.mediamtx.managed import auth_fields
from tests.support.media_stack import LAB, free_port
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.mediamtx.fixtures import assert_no_violations
from tests.support.mediamtx.hls import HlsServer
from tests.support.service_process import ServiceProcess, write_config

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
YARD = {"type": "test", "id": "yard", "resolution": "640x360", "fps": 15}
# Headless, quiet: nothing but the pages under test may reach the network.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-breakpad",
    "--no-first-run",
    "--no-pings",
    "--metrics-recording-only",
    "--autoplay-policy=no-user-gesture-required",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs these")


@dataclass
class Stack:
    """The service process and the MediaMTX double it uses, with a config file a test
    may change and reload (SIGHUP)."""

    service: ServiceProcess
    mtx: MediaMtxDouble
    plane: DataPlane
    hls: HlsServer
    config: Path
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.service.http_url}/"

    async def add_camera(self, source: dict[str, Any]) -> None:
        """Plug a camera in: a new source in the config file, then a reload."""
        self.sections["cameras"]["sources"].append(source)
        data = yaml.safe_load(self.config.read_text())
        data["cameras"]["sources"] = self.sections["cameras"]["sources"]
        self.config.write_text(yaml.safe_dump(data))
        self.service.signal(signal.SIGHUP)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    _require_chromium()
    plane = DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path)
    await plane.start()
    mtx = MediaMtxDouble(work_dir=tmp_path, data_plane=plane)
    hls = HlsServer(plane)
    service: ServiceProcess | None = None
    try:
        health_port = free_port()
        plane.configure_auth(auth_fields(auth_url("127.0.0.1", health_port)))
        await mtx.start()
        await hls.start()
        sections: dict[str, Any] = {
            "mediamtx": {
                "api_url": mtx.api_url,
                "rtsp_port": plane.rtsp_port,
                "hls_port": hls.port,
                "check_interval": 0.2,
                "request_timeout": 2.0,
                "on_demand_close_after": 5.0,
            },
            "cameras": {"sources": [dict(LAB), dict(YARD)], "poll_interval": 30.0},
            "health": {"host": "127.0.0.1", "port": health_port},
        }
        config = write_config(tmp_path / "config.yaml", tmp_path / "data", **sections)
        service = await ServiceProcess.start(config)
        yield Stack(service, mtx, plane, hls, config, sections)
    finally:
        if service is not None:
            service.signal(signal.SIGTERM)
            try:
                await service.exit_code()
            finally:
                await service.kill()
        await hls.stop()
        await mtx.stop()
        await plane.stop()
    assert_no_violations(mtx)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


async def screenshot(page: Page, name: str, clip: FloatRect | None = None) -> Path:
    """Save what the page shows to ``tests/browser/screenshots/<name>.png`` (gitignored;
    ``docs/images/dashboard-grid.png`` is a copy of ``grid-readme.png``)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), clip=clip)
    return path
