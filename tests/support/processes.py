"""Run a client process (ffprobe, ffmpeg) to its end, in its own process group, killed
with that group when it outlives its timeout; stop a server process a test started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


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
