"""Keeping a long-lived reader up: restarted with backoff whenever it ends.

:func:`keep_running` supervises any run, a coroutine that returns why it ended: the
snapshot grabbers (:mod:`media.grabber`) run an FFmpeg process per run (started in its
own process group with :func:`spawn`, stopped as a whole with :func:`terminate`); the
stream holders (:mod:`media.holder`) an in-process RTSP reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable

from camera_service.retry import RetrySchedule

STOP_TIMEOUT = 3.0  # SIGTERM first; SIGKILL after this many seconds

# (why the run ended, pause before the next, short runs in a row) -> restart?
Ended = Callable[[str, float, int], bool]


async def keep_running(
    run_once: Callable[[], Awaitable[str]],
    backoff: tuple[float, float],
    healthy_run: float,
    ended: Ended,
) -> None:
    """Run ``run_once`` (one run to its end: a process or an in-process reader; it
    returns why it ended) again and again until cancelled or ``ended`` says no.

    A run of at least ``healthy_run`` seconds is a success and starts the count of
    short runs over. The pause before a restart is ``backoff[0]`` after a success or
    a first short run and doubles with each further short run, up to ``backoff[1]``
    (no jitter: one reader per camera, nothing to spread)."""
    first, longest = backoff
    schedule = RetrySchedule(first, longest, initial_backoff=first, jitter=0.0)
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        why = await run_once()
        pause = schedule.next_delay(loop.time() - began >= healthy_run)
        if not ended(why, pause, schedule.failures):
            return
        await asyncio.sleep(pause)


async def spawn(argv: list[str], *, stdout: int) -> asyncio.subprocess.Process:
    """Start a reader: stdin closed, stderr a pipe, in a session of its own so that
    :func:`terminate` stops whatever it started too. Cancelled while starting, asyncio
    kills the new process itself. ``OSError`` when it cannot be run.

    uvloop forks the service for it (one-shot children use vfork, :mod:`childproc`):
    a reader streams through the loop's pipes while it runs, and starts rarely, not
    before each notification (docs/benchmarks.md, "Where a fan-out's time goes")."""
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after :data:`STOP_TIMEOUT`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    # asyncio.wait, neither wait_for nor asyncio.timeout: this runs in the finally of
    # a cancelled run, where 3.11.2's asyncio.timeout raises CancelledError, not
    # TimeoutError, at the deadline (so no SIGKILL); and wait_for loses a second cancel
    # that lands just as the process exits. The wait for the exit outlives a cancel.
    exited = asyncio.ensure_future(proc.wait())
    done, _ = await asyncio.wait((exited,), timeout=STOP_TIMEOUT)
    if not done:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
