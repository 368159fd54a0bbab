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
import contextlib
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

HEALTHY_RUN = 5.0  # a run this long counts as success: the failure count restarts
MAX_FAILURES = 5
BACKOFF = (0.5, 8.0)  # first and longest pause between runs, seconds
STOP_TIMEOUT = 3.0
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
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            reason = await self._run_once()
            if loop.time() - began >= self.healthy_run:
                self.failures = 0
            self.failures += 1
            if self.failures >= self.max_failures:
                log.warning("stream reader gave up", extra={"camera_id": self.label, "why": reason})
                self.on_gave_up(reason)
                return
            pause = min(self.backoff[1], self.backoff[0] * 2 ** (self.failures - 1))
            log.info(
                "stream reader ended; restarting",
                extra={"camera_id": self.label, "why": reason, "pause": pause},
            )
            await asyncio.sleep(pause)

    async def _run_once(self) -> str:
        try:
            # Cancelled while starting (a stop right after a start), asyncio kills the
            # new process itself.
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own group: stopped as a whole
            )
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
                await _terminate(proc)
        last = self.output[-1] if self.output else "no output"
        return f"exit {code}: {last}"


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
