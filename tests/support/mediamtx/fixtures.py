"""Pytest fixtures for the MediaMTX double.

Enable them with ``pytest_plugins = ("tests.support.mediamtx.fixtures",)`` (root
``conftest.py`` or a test module), then::

    async def test_paths(mediamtx: MediaMtxDouble) -> None:
        ...  # point the service at mediamtx.api_url

    async def test_two(mediamtx_factory: MediaMtxFactory, tmp_path: Path) -> None:
        mtx = await mediamtx_factory(work_dir=tmp_path, static_paths={"cam0": {}})

Both stop every double they started and fail the test if the service sent anything the
published contract forbids (or the double answered outside it). Without pytest::

    async with MediaMtxDouble() as mtx:
        ...
        assert_no_violations(mtx)

A test that provokes violations on purpose takes them with ``mtx.take_violations()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol

import pytest_asyncio

from .double import MediaMtxDouble


def assert_no_violations(mtx: MediaMtxDouble) -> None:
    if mtx.violations:
        lines = "\n".join(f"  - {v}" for v in mtx.violations)
        raise AssertionError(f"MediaMTX contract violations ({len(mtx.violations)}):\n{lines}")


class MediaMtxFactory(Protocol):
    def __call__(self, **kwargs: Any) -> Awaitable[MediaMtxDouble]: ...


@pytest_asyncio.fixture
async def mediamtx_factory() -> AsyncIterator[MediaMtxFactory]:
    started: list[MediaMtxDouble] = []

    async def make(**kwargs: Any) -> MediaMtxDouble:
        mtx = MediaMtxDouble(**kwargs)
        await mtx.start()
        started.append(mtx)
        return mtx

    try:
        yield make
    finally:
        for mtx in reversed(started):
            await mtx.stop()
    for mtx in started:
        assert_no_violations(mtx)


@pytest_asyncio.fixture
async def mediamtx(mediamtx_factory: MediaMtxFactory) -> MediaMtxDouble:
    return await mediamtx_factory()
