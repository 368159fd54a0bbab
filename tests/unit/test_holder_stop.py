"""StreamHolder.stop ends its run even when the run swallows a cancel."""

from __future__ import annotations

import asyncio

from camera_service.media.holder import StreamHolder


class SwallowingHolder(StreamHolder):
    """A run that loses its first cancel, as a 3.11 wait_for does when the cancel lands
    just as its inner await completes."""

    swallowed = 0
    began = asyncio.Event()

    async def _run_once(self) -> str:
        self.began.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallowed == 0:
                self.swallowed += 1
                return "closed"
            raise
        return "ended"


async def test_stop_ends_a_run_that_swallowed_the_first_cancel() -> None:
    holder = SwallowingHolder("rtsp://127.0.0.1:1/x", backoff=(0.01, 0.01))
    holder.start()
    await holder.began.wait()
    async with asyncio.timeout(30):
        await holder.stop()
    assert holder.swallowed == 1 and not holder.running
