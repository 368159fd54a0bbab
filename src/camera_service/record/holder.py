"""Holds a camera's stream up while it is recorded.

MediaMTX's recorder is not a reader: it neither starts a path's ``runOnDemand``
publisher (or on-demand RTSP source) nor keeps one open, so a recording of an idle
camera would never begin. While a session records, a :class:`StreamHolder` reads the
path with a long-lived ``ffmpeg -c copy -f null`` (no decoding: a few % of a core),
restarted with backoff when it drops; after ``max_failures`` short runs in a row it
gives up and says why.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

from camera_service.media.supervise import keep_running, spawn, terminate

log = logging.getLogger(__name__)

HEALTHY_RUN = 5.0  # a run this long counts as success: the failure count restarts
MAX_FAILURES = 5
BACKOFF = (0.5, 8.0)  # first and longest pause between runs, seconds
IO_TIMEOUT_US = 10_000_000  # FFmpeg's RTSP socket timeout: a stalled stream ends a run


def reader_argv(ffmpeg: str, url: str) -> list[str]:
    """An RTSP reader that keeps the stream flowing and discards it."""
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-rtsp_transport", "tcp", "-timeout", str(IO_TIMEOUT_US),
        "-i", url, "-map", "0", "-c", "copy", "-f", "null", "-",
    ]  # fmt: skip


class StreamHolder:
    def __init__(
        self,
        argv: list[str],
        on_gave_up: Callable[[str], None] = lambda why: None,
        *,
        label: str = "",
        max_failures: int = MAX_FAILURES,
        backoff: tuple[float, float] = BACKOFF,
        healthy_run: float = HEALTHY_RUN,
    ) -> None:
        self.argv = argv
        self.on_gave_up = on_gave_up
        self.label = label
        self.max_failures = max_failures
        self.backoff = backoff
        self.healthy_run = healthy_run
        self.runs = 0  # processes started so far
        self.failures = 0  # short runs in a row
        self.output: collections.deque[str] = collections.deque(maxlen=5)
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """End the reader (SIGTERM, SIGKILL after a few seconds) and stop restarting."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # wait(), not ``suppress(CancelledError): await task``: that would also swallow
        # a cancellation of the caller arriving meanwhile.
        await asyncio.wait({task})

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
        try:
            # Cancelled while starting (a stop right after a start), asyncio kills the
            # new process itself.
            proc = await spawn(self.argv, stdout=asyncio.subprocess.DEVNULL)
        except OSError as exc:
            return f"cannot run the reader: {exc.strerror}"
        self.process = proc
        self.runs += 1
        try:
            assert proc.stderr is not None
            while line := await proc.stderr.readline():
                self.output.append(line.decode(errors="replace").strip())
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                await terminate(proc)
        last = self.output[-1] if self.output else "no output"
        return f"exit {code}: {last}"
