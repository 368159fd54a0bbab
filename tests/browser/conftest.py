"""Fixtures for the dashboard's tests in a real browser: Debian's Chromium driven by
Playwright (the driver only, never ``playwright install``), against the service as its
own process, the MediaMTX double's Control API, its RTSP data plane and its HLS server.

Without ``/usr/bin/chromium`` these tests are skipped with a reason, except in CI
(``CI`` set), where that is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, FloatRect, Page, async_playwright

from tests.support.dashboard_stack import CHROMIUM_ARGS, Stack, dashboard_stack
from tests.support.system import path, require

__all__ = ["CHROMIUM_ARGS", "Stack"]

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def _require_chromium() -> None:
    require("chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    _require_chromium()
    async with dashboard_stack(tmp_path) as running:
        yield running


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=path("chromium"), headless=True, args=CHROMIUM_ARGS
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
