"""Holds a camera's stream up while the service needs it: a recording, a viewing window.

MediaMTX's recorder is not a reader: it neither starts a path's ``runOnDemand``
publisher (or on-demand RTSP source) nor keeps one open, so a recording of an idle
camera would never begin; and an on-demand stream a client asked to keep up closes
once its last reader leaves. A :class:`StreamHolder` plays the path with an in-process
:class:`~camera_service.net.rtsp_reader.RtspReader` (RTSP over TCP, the data dropped as
it arrives: a socket and a few KB, where an ``ffmpeg -c copy`` process cost ~11.5 MB
PSS), restarted with backoff when it drops; after ``max_failures`` short runs in a row
it gives up and says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from camera_service.lazy import import_off_loop
from camera_service.media.supervise import keep_running

if TYPE_CHECKING:
    from camera_service.net.rtsp_reader import RtspReader

log = logging.getLogger(__name__)

HEALTHY_RUN = 5.0  # a run this long counts as success: the failure count restarts
MAX_FAILURES = 5
BACKOFF = (0.5, 8.0)  # first and longest pause between runs, seconds
STOP_RECANCEL = 1.0  # seconds stop() gives a cancelled run before cancelling it again
# Loaded by the first run: a service that holds no stream never imports the RTSP code.
READER = "camera_service.net.rtsp_reader"


class StreamHolder:
    def __init__(
        self,
        url: str,
        on_gave_up: Callable[[str], None] = lambda why: None,
        *,
        label: str = "",
        max_failures: int = MAX_FAILURES,
        backoff: tuple[float, float] = BACKOFF,
        healthy_run: float = HEALTHY_RUN,
        io_timeout: float | None = None,  # None: the reader's own IO_TIMEOUT
        keepalive: float | None = None,  # None: the reader's own KEEPALIVE
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.on_gave_up = on_gave_up
        self.label = label
        self.max_failures = max_failures
        self.backoff = backoff
        self.healthy_run = healthy_run
        self.io_timeout = io_timeout
        self.keepalive = keepalive
        self.runs = 0  # runs started so far
        self.failures = 0  # short runs in a row
        self.reader: RtspReader | None = None  # the current run's (the last one's once over)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """End the reader (TEARDOWN, bounded, then close) and stop restarting."""
        task, self._task = self._task, None
        if task is None:
            return
        # wait(), not ``suppress(CancelledError): await task``: that would also swallow
        # a cancellation of the caller arriving meanwhile. Cancelled again until done:
        # on 3.11 a wait_for deep in a run can swallow one cancel, and the run would go
        # on restarting while a recording waits here to be finalized.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_RECANCEL)

    async def _run(self) -> None:
        await keep_running(self._run_once, self.backoff, self.healthy_run, self._ended)

    def _ended(self, why: str, pause: float, failures: int) -> bool:
        self.failures = failures
        if failures >= self.max_failures:
            log.warning("stream reader gave up", extra={"camera_id": self.label, "why": why})
            self.on_gave_up(why)
            return False
        log.info(
            "stream reader ended; restarting",
            extra={"camera_id": self.label, "why": why, "pause": pause},
        )
        return True

    async def _run_once(self) -> str:
        await import_off_loop(READER)
        from camera_service.net import rtsp_reader

        io_timeout, keepalive = self.io_timeout, self.keepalive
        self.reader = rtsp_reader.RtspReader(
            self.url,
            io_timeout=rtsp_reader.IO_TIMEOUT if io_timeout is None else io_timeout,
            keepalive=rtsp_reader.KEEPALIVE if keepalive is None else keepalive,
            credentials=self.credentials,
        )
        self.runs += 1
        return await self.reader.run()
