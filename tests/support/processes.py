"""Run a client process (ffprobe, ffmpeg) to its end, in its own process group, killed
with that group when it outlives its timeout; stop a server process a test started;
what /proc says of a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

POLL = 0.01  # /proc and a child's files: looked at this often


async def run(*argv: str, timeout: float = 20.0) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``argv``."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def stop(process: asyncio.subprocess.Process, timeout: float, kill: bool = False) -> None:
    """SIGTERM (SIGKILL when ``kill``), SIGKILL past ``timeout``, and reap."""
    if process.returncode is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()


def state(pid: int) -> str | None:
    """The process's state letter (``Z``: exited, not reaped), None once reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()[0]


def dead(pid: int) -> bool:
    """Exited: reaped, or a zombie of a parent that is not us (an orphan's reaper is
    PID 1, which in a container may never reap)."""
    return state(pid) in (None, "Z")


def children(name: str) -> list[int]:
    """This process's children running ``name`` (its first 15 bytes, as /proc has it)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        comm, _, rest = stat.partition(" (")[2].rpartition(") ")
        if comm == name[:15] and int(rest.split()[1]) == me:
            found.append(int(entry.name))
    return found


async def until(condition: Callable[[], bool], timeout: float, poll: float = POLL) -> None:
    """A bounded poll of what another process changes, where no event says when."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"still not so after {timeout:g} s")
        await asyncio.sleep(poll)


def faults_after(spawn: Callable[[], Coroutine[Any, Any, object]]) -> int:
    """Minor page faults writing 2,000 pages of this process after ``spawn``, under
    uvloop as the service runs: a fork leaves each of them copy-on-write."""
    pages = [bytearray(4096) for _ in range(2000)]

    def faults_writing_each_page() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for page in pages:
            page[0] ^= 1
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    async def spawn_then_write() -> int:
        await spawn()  # a first one: the reader thread's own pages
        faults_writing_each_page()  # each page present and writable
        await spawn()
        return faults_writing_each_page()

    return uvloop.run(spawn_then_write())
