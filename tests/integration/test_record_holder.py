"""StreamHolder: its in-process RTSP reader holds an on-demand stream up, restarts, gives up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from camera_service.media.holder import StreamHolder
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
    holder = StreamHolder(plane.url("cam"), gave_up.append, label="cam")
    holder.start()
    try:
        await plane.wait_state("cam", lambda s: s["ready"] and len(s["readers"]) == 1, 20)
        reader = holder.reader
        assert reader is not None
        await asyncio.wait_for(reader.flowing.wait(), 10)
        assert reader.playing and reader.session_id
        # Held past runOnDemandCloseAfter (1 s): the path neither closes nor loses its
        # reader, and the data keeps flowing (a window with nothing to happen in it).
        seen = reader.bytes_read
        with pytest.raises(TimeoutError):
            await plane.wait_state("cam", lambda s: not s["ready"] or not s["readers"], 1.5)
        assert reader.bytes_read > seen and holder.runs == 1
    finally:
        await holder.stop()
    # TEARDOWN was answered before stop() returned: the reader is already gone.
    assert plane.path_state("cam")["readers"] == []  # type: ignore[index]
    # So the publisher stops after runOnDemandCloseAfter.
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
        "rtsp://127.0.0.1:1/cam", on_gave_up, max_failures=3, backoff=(0.01, 0.02)
    )
    holder.start()
    try:
        await asyncio.wait_for(gave_up.wait(), 30)
    finally:
        await holder.stop()
    assert holder.runs == 3
    assert reasons == ["127.0.0.1:1 refused the connection"]


async def test_holder_gives_up_on_a_path_that_does_not_exist(plane: DataPlane) -> None:
    gave_up = asyncio.Event()
    reasons: list[str] = []

    def on_gave_up(why: str) -> None:
        reasons.append(why)
        gave_up.set()

    holder = StreamHolder(plane.url("nope"), on_gave_up, max_failures=2, backoff=(0.01, 0.02))
    holder.start()
    try:
        await asyncio.wait_for(gave_up.wait(), 30)
    finally:
        await holder.stop()
    assert reasons == ["DESCRIBE answered 404 Not Found"]


async def test_stop_does_not_swallow_the_callers_cancellation() -> None:
    # A server that accepts and never answers: the run waits for OPTIONS' answer.
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    holder = StreamHolder(f"rtsp://127.0.0.1:{port}/cam")
    holder.start()
    try:
        await asyncio.wait_for(accepted.wait(), 10)
        stopper = asyncio.ensure_future(holder.stop())
        await asyncio.sleep(0)  # the stopper now waits for the reader to end
        stopper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopper
        # The reader still ends.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        _done, pending = await asyncio.wait(others, timeout=10)
        assert not pending and not holder.running
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
