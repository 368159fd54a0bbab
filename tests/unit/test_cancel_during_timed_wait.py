"""A task cancelled during a bounded wait stops, also when the cancel lands just as the
wait ends (Python 3.11's ``asyncio.wait_for`` loses that cancel; see
tests/support/cancels.py). No sockets and no processes: each site's I/O is faked."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from camera_service import childproc
from camera_service.cameras import onvif
from camera_service.cameras.v4l2.probe import V4l2Prober
from camera_service.client.websocket import WebSocket
from camera_service.config import OnvifConfig
from camera_service.media import supervise
from camera_service.net.httpclient import HttpClient, _Conn
from tests.support.cancels import Gate, assert_cancel_never_lost

Task = asyncio.Task[object]


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        pass


class FakeWriter:
    """A stream writer whose ``wait_closed`` the test lets end."""

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.closed = Gate()

    def close(self) -> None:
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def wait_closed(self) -> None:
        await self.closed.wait()


class FakeProcess:
    """A child process that exits when the test says."""

    def __init__(self, stdout: bytes = b"") -> None:
        self.pid = -1  # never signalled for real: the tests replace os.killpg
        self.returncode: int | None = None
        self.stdout = stdout
        self.running = Gate()

    def exit(self) -> None:
        self.returncode = 0
        self.running.open()

    async def wait(self) -> int:
        await self.running.wait()
        return 0

    async def communicate(self) -> tuple[bytes, bytes]:
        await self.wait()
        return self.stdout, b""


def no_signals(monkeypatch: pytest.MonkeyPatch, module: object) -> list[int]:
    """Replace ``module``'s os with one whose killpg only records the signal."""
    sent: list[int] = []
    monkeypatch.setattr(module, "os", SimpleNamespace(killpg=lambda pid, sig: sent.append(sig)))
    return sent


async def running(coro: Coroutine[object, None, object], ready: asyncio.Event) -> Task:
    """``coro`` in a task, once ``ready`` says it waits where the test wants."""
    task = asyncio.create_task(coro)
    async with asyncio.timeout(5.0):
        await ready.wait()
    return task


async def test_onvif_probe_cancelled_as_the_answers_are_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collectors: list[onvif._Collector] = []
    bound = asyncio.Event()  # the probe waits for answers from the same loop step on

    async def endpoint(
        factory: Callable[[], onvif._Collector], sock: object
    ) -> tuple[FakeTransport, onvif._Collector]:
        collectors.append(factory())
        bound.set()
        return FakeTransport(), collectors[-1]

    fake_socket = SimpleNamespace(
        setsockopt=lambda *args: None, bind=lambda addr: None, close=lambda: None
    )
    monkeypatch.setattr(
        onvif,
        "socket",
        SimpleNamespace(
            socket=lambda *args: fake_socket,
            AF_INET=socket.AF_INET,
            SOCK_DGRAM=socket.SOCK_DGRAM,
            IPPROTO_IP=socket.IPPROTO_IP,
            IP_MULTICAST_TTL=socket.IP_MULTICAST_TTL,
        ),
    )
    monkeypatch.setattr(asyncio.get_running_loop(), "create_datagram_endpoint", endpoint)
    config = OnvifConfig(probe_targets=["192.0.2.1:3702"], probe_wait=30.0)

    async def start() -> tuple[Task, Callable[[], None]]:
        collectors.clear()
        bound.clear()
        task = await running(onvif.probe(config), bound)
        return task, collectors[0].full.set  # max_devices answered

    await assert_cancel_never_lost(start)


async def test_stream_reader_terminate_cancelled_as_the_process_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_signals(monkeypatch, supervise)

    async def start() -> tuple[Task, Callable[[], None]]:
        proc = FakeProcess()
        task = await running(
            supervise.terminate(cast(asyncio.subprocess.Process, proc)), proc.running.entered
        )
        return task, proc.exit

    await assert_cancel_never_lost(start)


async def test_terminate_in_a_cancelled_runs_finally_still_kills_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The grabber's run calls terminate in its finally, after its cancel: there, 3.11.2's
    # asyncio.timeout raises CancelledError at the deadline instead of TimeoutError.
    monkeypatch.setattr(supervise, "STOP_TIMEOUT", 0.01)
    proc = FakeProcess()  # ignores SIGTERM
    sent: list[int] = []

    def killpg(pid: int, sig: int) -> None:
        sent.append(sig)
        if sig == signal.SIGKILL:
            proc.exit()

    monkeypatch.setattr(supervise, "os", SimpleNamespace(killpg=killpg))
    began = asyncio.Event()

    async def run() -> None:
        try:
            began.set()
            await asyncio.sleep(3600)
        finally:
            await supervise.terminate(cast(asyncio.subprocess.Process, proc))

    task = asyncio.create_task(run())
    await began.wait()
    task.cancel()
    done, _ = await asyncio.wait((task,), timeout=5.0)
    assert task in done and task.cancelled()
    assert sent == [signal.SIGTERM, signal.SIGKILL]


async def test_http_client_close_cancelled_as_a_connection_closes() -> None:
    async def start() -> tuple[Task, Callable[[], None]]:
        client = HttpClient("http://127.0.0.1:9", timeout=1.0)
        writer = FakeWriter()
        reader = asyncio.StreamReader()
        client._all.add(_Conn(reader, cast(asyncio.StreamWriter, writer)))
        task = await running(client.close(), writer.closed.entered)
        return task, writer.closed.open

    await assert_cancel_never_lost(start)


async def test_websocket_client_close_cancelled_as_the_socket_closes() -> None:
    async def start() -> tuple[Task, Callable[[], None]]:
        writer = FakeWriter()
        ws = WebSocket(asyncio.StreamReader(), cast(asyncio.StreamWriter, writer), 1 << 20)
        task = await running(ws.close(), writer.closed.entered)
        return task, writer.closed.open

    await assert_cancel_never_lost(start)


class FakePopen(FakeProcess):
    """``subprocess.Popen``'s side of FakeProcess: childproc reads it with
    ``proc.communicate`` in a thread (``childproc._collect``), replaced here by a plain
    await."""

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.exit()


async def test_v4l2_probe_cancelled_as_v4l2_ctl_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    no_signals(monkeypatch, childproc)
    procs: list[FakePopen] = []
    monkeypatch.setattr("subprocess.Popen", lambda *argv, **kwargs: procs[-1])
    monkeypatch.setattr(
        childproc, "_collect", lambda proc: asyncio.ensure_future(proc.communicate())
    )
    prober = V4l2Prober("v4l2-ctl", timeout=30.0, retries=0)

    async def start() -> tuple[Task, Callable[[], None]]:
        proc = FakePopen(b"Driver Info:\n")
        procs.append(proc)
        task = await running(
            prober._run_once(Path("/dev/video0"), ("--info",)), proc.running.entered
        )
        return task, proc.exit

    await assert_cancel_never_lost(start)
