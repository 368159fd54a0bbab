"""StreamHolder: a real FFmpeg reader holds an on-demand stream up, restarts, gives up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from camera_service.record.holder import StreamHolder, reader_argv
from tests.support.mediamtx.dataplane import DataPlane

PUBLISH = (
    "ffmpeg -hide_banner -loglevel warning -re -f lavfi -i testsrc2=size=320x180:rate=15 "
    "-c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p -g 15 "
    "-f rtsp rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH"
)


@pytest.fixture
async def plane() -> AsyncIterator[DataPlane]:
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0) as dp:
        yield dp


async def test_holder_keeps_an_on_demand_stream_up_until_stopped(plane: DataPlane) -> None:
    plane.path_configured("cam", {"runOnDemand": PUBLISH, "runOnDemandCloseAfter": "1s"})
    gave_up: list[str] = []
    holder = StreamHolder(reader_argv("ffmpeg", plane.url("cam")), gave_up.append, label="cam")
    holder.start()
    try:
        await plane.wait_state("cam", lambda s: s["ready"] and len(s["readers"]) == 1, 20)
        process = holder.process
        assert process is not None and process.returncode is None
    finally:
        await holder.stop()
    assert process.returncode is not None  # stopped with it, not orphaned
    await plane.wait_state("cam", lambda s: not s["readers"], 10)
    # The reader is gone, so the publisher stops after runOnDemandCloseAfter.
    await plane.wait_state("cam", lambda s: not s["ready"], 10)
    assert gave_up == [] and holder.runs == 1 and not holder.running


async def test_holder_restarts_with_backoff_then_gives_up() -> None:
    gave_up = asyncio.Event()
    reasons: list[str] = []

    def on_gave_up(why: str) -> None:
        reasons.append(why)
        gave_up.set()

    # Nothing listens on port 1: every run fails at once.
    holder = StreamHolder(
        reader_argv("ffmpeg", "rtsp://127.0.0.1:1/cam"),
        on_gave_up,
        max_failures=3,
        backoff=(0.01, 0.02),
    )
    holder.start()
    try:
        await asyncio.wait_for(gave_up.wait(), 30)
    finally:
        await holder.stop()
    assert holder.runs == 3
    assert len(reasons) == 1 and reasons[0].startswith("exit ")


async def test_stop_does_not_swallow_the_callers_cancellation() -> None:
    holder = StreamHolder(["sleep", "60"])
    holder.start()
    stopper = asyncio.ensure_future(holder.stop())
    await asyncio.sleep(0)  # the stopper now waits for the reader to end
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    # The reader still ends (asyncio stops a process cancelled while starting).
    others = asyncio.all_tasks() - {asyncio.current_task()}
    _done, pending = await asyncio.wait(others, timeout=10)
    assert not pending and holder.process is None
