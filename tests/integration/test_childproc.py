"""childproc.run against real programs: output, status, descriptors, timeouts and
cancellations that leave no process behind, and no fork of the service under uvloop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from camera_service import childproc
from tests.support.processes import dead, faults_after, state, until

WAIT = 20.0  # generous: other test runs share the two cores


async def pids_in(path: Path, count: int) -> list[int]:
    """The ``count`` pids a child script writes to ``path``."""

    def written() -> list[int]:
        pids = path.read_text().split() if path.exists() else []
        return [int(p) for p in pids] if len(pids) == count else []

    await until(lambda: bool(written()), WAIT)
    return written()


def sh(script: str, *args: str) -> list[str]:
    return ["sh", "-c", script, "sh", *args]


def escaping(work: Path) -> list[str]:
    """A child that starts a process in a session of its own, out of its group's
    reach, holding its pipes: each writes its pid (the other one once it has left)."""
    leave = 'echo $$ > "$0"; exec sleep 60'
    script = f'setsid sh -c \'{leave}\' "$2" & echo $$ > "$1"; exec sleep 60'
    return sh(script, str(work / "child"), str(work / "escaped"))


async def escaped_pids(work: Path) -> tuple[int, int]:
    [child] = await pids_in(work / "child", 1)
    [escaped] = await pids_in(work / "escaped", 1)
    return child, escaped


# --- a child that runs to its end -----------------------------------------------------------------


async def test_collects_stdout_stderr_and_the_exit_status() -> None:
    done = await childproc.run(sh("echo out; echo err >&2; exit 3"), timeout=WAIT)
    assert done == childproc.Finished(3, b"out\n", b"err\n")


async def test_stdin_is_closed_and_stderr_can_be_discarded() -> None:
    script = "readlink /proc/self/fd/0 /proc/self/fd/2; echo lost >&2"
    done = await childproc.run(sh(script), timeout=WAIT, stderr=False)
    assert done == childproc.Finished(0, b"/dev/null\n/dev/null\n", b"")


async def test_a_child_killed_by_a_signal_has_a_negative_status() -> None:
    done = await childproc.run(sh("kill -TERM $$"), timeout=WAIT)
    assert done.returncode == -signal.SIGTERM


async def test_pass_fds_reach_the_child_and_nothing_else_does(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"the very file\n")
    fd = os.open(tmp_path / "data", os.O_RDONLY | os.O_CLOEXEC)
    try:
        done = await childproc.run(["cat", f"/proc/self/fd/{fd}"], timeout=WAIT, pass_fds=(fd,))
        assert done == childproc.Finished(0, b"the very file\n", b"")
        os.set_inheritable(fd, True)  # even so: only pass_fds are left open
        done = await childproc.run(["cat", f"/proc/self/fd/{fd}"], timeout=WAIT)
        assert done.returncode != 0 and done.stdout == b""
    finally:
        os.close(fd)


async def test_by_default_the_child_leads_a_session_of_its_own() -> None:
    ids = "cut -d ' ' -f 1,5,6 /proc/$$/stat"  # pid, process group, session
    done = await childproc.run(sh(ids), timeout=WAIT)
    pid, pgid, sid = done.stdout.split()
    assert pid == pgid == sid
    done = await childproc.run(sh(ids), timeout=WAIT, start_new_session=False)
    pid, pgid, sid = done.stdout.split()
    assert (int(pgid), int(sid)) == (os.getpgid(0), os.getsid(0))


async def test_a_program_that_cannot_start_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await childproc.run([str(tmp_path / "no-such-program")], timeout=WAIT)
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        await childproc.run([str(tmp_path / "not-executable")], timeout=WAIT)


# --- a child that does not end --------------------------------------------------------------------


async def test_a_timeout_kills_the_whole_group_and_reaps_the_child(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A grandchild in the group that holds the pipes too.
    script = 'sleep 60 & echo $$ $! > "$1"; wait'
    task = asyncio.create_task(childproc.run(sh(script, str(pids)), timeout=1.0))
    child, grandchild = await pids_in(pids, 2)
    with pytest.raises(childproc.ChildTimeout) as caught:
        await task
    assert caught.value.timeout == 1.0 and "sh took over 1s" in str(caught.value)
    assert state(child) is None  # killed and reaped: not even a zombie
    await until(lambda: dead(grandchild), WAIT)  # its pipes close before it is a zombie


async def test_a_timeout_kills_what_the_child_left_holding_its_pipes(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The child exits at once; the process it started keeps its stdout open.
    task = asyncio.create_task(
        childproc.run(sh('sleep 60 & echo $$ $! > "$1"', str(pids)), timeout=1.0)
    )
    child, grandchild = await pids_in(pids, 2)
    with pytest.raises(childproc.ChildTimeout):
        await task
    assert state(child) is None
    await until(lambda: dead(grandchild), WAIT)  # its pipes close before it is a zombie


async def test_a_cancellation_kills_the_group_and_reaps_the_child(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(
        childproc.run(sh('sleep 60 & echo $$ $! > "$1"; wait', str(pids)), timeout=None)
    )
    child, grandchild = await pids_in(pids, 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state(child) is None
    await until(lambda: dead(grandchild), WAIT)  # its pipes close before it is a zombie


async def test_cancelled_again_while_reaping_it_still_waits_for_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(childproc, "KILL_WAIT", WAIT)
    # A process that left the group holds the pipes: the reap waits until it is gone.
    task = asyncio.create_task(childproc.run(escaping(tmp_path), timeout=None))
    child, escaped = await escaped_pids(tmp_path)
    try:
        task.cancel()
        await until(lambda: dead(child), WAIT)  # killed (a zombie, or reaped by the kill)
        task.cancel()  # again, as an event loop shutting down does
        done, _ = await asyncio.wait({task}, timeout=0.2)
        assert not done  # still waiting for the child
    finally:
        os.kill(escaped, signal.SIGKILL)
    await asyncio.wait({task}, timeout=WAIT)
    assert task.cancelled()
    assert state(child) is None  # waited for: nothing outlives the caller


async def test_the_wait_for_a_killed_child_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(childproc, "KILL_WAIT", 0.2)
    task = asyncio.create_task(childproc.run(escaping(tmp_path), timeout=None))
    child, escaped = await escaped_pids(tmp_path)
    try:
        task.cancel()
        with (
            caplog.at_level(logging.WARNING, "camera_service.childproc"),
            pytest.raises(asyncio.CancelledError),
        ):
            await task
        assert "child did not exit when killed" in caplog.text
        await until(lambda: dead(child), WAIT)  # killed: a zombie, or reaped by the kill
    finally:
        os.kill(escaped, signal.SIGKILL)
    await until(lambda: state(child) is None, WAIT)


# --- no fork of the service -----------------------------------------------------------------------


def test_running_a_child_does_not_fork_the_service() -> None:
    async def with_childproc() -> object:
        return await childproc.run(["true"], timeout=WAIT)

    async def with_the_loop() -> object:
        proc = await asyncio.create_subprocess_exec("true")
        return await proc.wait()

    assert faults_after(with_the_loop) > 1000  # what a fork costs: this can tell
    assert faults_after(with_childproc) < 200
