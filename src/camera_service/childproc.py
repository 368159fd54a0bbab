"""Running a short-lived child program to its end: its output, its exit status, and
nothing left behind when it takes too long or its caller gives up.

:func:`run` starts the program with :class:`subprocess.Popen`, which uses vfork, not
with the event loop's ``create_subprocess_exec``: uvloop's forks the whole service
(libuv's ``uv_spawn``), which write-protects every page of it for copy-on-write, and
the next fan-out to every client then takes a page fault for about each connection it
writes to (docs/benchmarks.md, "Where a fan-out's time goes"). A thread of this
module's own pool reads the child's pipes and reaps it (``communicate``), so the event
loop never blocks on it and the loop's default executor is not held for a child's
lifetime.

On a timeout or a cancellation the child is killed (its whole process group when it
runs in a session of its own, as by default, so whatever it started dies too) and
reaped before :func:`run` raises, even if cancelled again meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

KILL_WAIT = 5.0  # seconds to wait for a killed child to be reaped
READERS = 64  # threads at most; each only waits on one child's pipes

_Output = tuple[bytes, bytes | None]


@dataclass(frozen=True, slots=True)
class Finished:
    """A child that ran to its end. ``stderr`` is empty when it was discarded."""

    returncode: int
    stdout: bytes
    stderr: bytes


class ChildTimeout(Exception):
    """The child took longer than its timeout; it has been killed and reaped."""

    def __init__(self, program: str, timeout: float) -> None:
        super().__init__(f"{program} took over {timeout:g}s")
        self.program = program
        self.timeout = timeout


async def run(
    argv: Sequence[str],
    *,
    timeout: float | None,
    pass_fds: Sequence[int] = (),
    start_new_session: bool = True,
    stderr: bool = True,
) -> Finished:
    """Run ``argv`` (no shell; stdin closed) and collect its stdout, and its stderr
    unless ``stderr`` is false (then discarded). ``pass_fds`` stay open in the child.

    Raises ``OSError`` when the program cannot be started, :class:`ChildTimeout` after
    ``timeout`` seconds (None: no limit of its own, the caller's cancellation ends it).
    """
    proc = subprocess.Popen(  # noqa: ASYNC220 (vfork; returns once the child exec'd)
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr else subprocess.DEVNULL,
        pass_fds=tuple(pass_fds),
        start_new_session=start_new_session,
    )
    output = _collect(proc)
    try:
        # asyncio.timeout, not wait_for: wait_for can lose a cancellation. The shield
        # keeps the read (and the reap after it) going when this wait is cancelled.
        async with asyncio.timeout(timeout):
            out, err = await asyncio.shield(output)
    except TimeoutError:
        await _kill(proc, output, group=start_new_session)
        raise ChildTimeout(str(argv[0]), timeout or 0.0) from None
    except BaseException:
        await _kill(proc, output, group=start_new_session)  # never leave the child behind
        raise
    assert proc.returncode is not None  # communicate waited for it
    return Finished(proc.returncode, out, err or b"")


async def _kill(
    proc: subprocess.Popen[bytes], output: asyncio.Future[_Output], group: bool
) -> None:
    """SIGKILL the child (and its group), then wait until it is reaped, at most
    :data:`KILL_WAIT` seconds, even if cancelled again meanwhile (an event loop shutting
    down cancels what is left); a cancellation is passed on after."""
    if not output.done():  # done: reaped, its pid may be another process's by now
        if group:
            # The whole group even when the child itself has exited: a process it
            # started may still hold the pipes that communicate reads to their end.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    # asyncio.wait, neither wait_for nor asyncio.timeout: this runs once the task is
    # cancelled, where 3.11.2's asyncio.timeout raises CancelledError at its deadline,
    # not TimeoutError, and wait_for loses a cancellation landing as the child exits.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_WAIT
    cancelled = False
    while not output.done() and (left := deadline - loop.time()) > 0:
        try:
            await asyncio.wait((output,), timeout=left)
        except asyncio.CancelledError:
            cancelled = True
    if output.done():
        if not output.cancelled():
            output.exception()  # retrieved: its result is of no use now
    else:
        # Its pipes are held by a process outside its group: the reader thread reaps
        # it once they close (if the kill's own poll has not).
        output.add_done_callback(_retrieve)
        log.warning("child did not exit when killed", extra={"pid": proc.pid})
    if cancelled:
        raise asyncio.CancelledError


def _collect(proc: subprocess.Popen[bytes]) -> asyncio.Future[_Output]:
    """The child's output, read in a thread of the pool; communicate returns once the
    child's pipes are closed, and reaps it then."""
    return asyncio.get_running_loop().run_in_executor(_readers(), proc.communicate)


def _retrieve(output: asyncio.Future[_Output]) -> None:
    if not output.cancelled():
        output.exception()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _readers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(READERS, thread_name_prefix="childproc")
        return _pool
