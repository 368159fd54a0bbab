"""A real MQTT broker (Debian ``mosquitto``) on loopback, a watcher that records what
it carries, and a loopback webhook receiver, for the events-out tests.

    async with MosquittoBroker(tmp_path) as broker:      # its own config and port
        async with Watcher(broker.port) as watch:        # subscribes to '#'
            ...
            await watch.wait(lambda m: m.topic == "x/status")
        await broker.stop(kill=True)                     # "the broker died"
        await broker.start()                             # same port, no state kept

The broker keeps nothing across a restart (no persistence), so a test sees that the
service itself publishes its retained state again. Every process started here is
stopped by ``stop()`` (SIGTERM, or SIGKILL when asked, then wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
from aiohttp import web

from tests.support import processes, system
from tests.support.lifecycle import StartStop

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker(StartStop):
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if self.process is not None and self.process.returncode is None:
            return
        system.require("mosquitto")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self.process = await asyncio.create_subprocess_exec(
            system.path("mosquitto"),
            "-c",
            str(self.conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"mosquitto exited at start; see {self.log_path}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            if time.monotonic() > deadline:
                await self.stop()
                raise TimeoutError(f"mosquitto not listening within {START_TIMEOUT:g} s")
            await asyncio.sleep(0.05)  # an external process: its port is all there is to watch

    async def stop(self, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is not None:
            await processes.stop(process, STOP_TIMEOUT, kill)


@dataclass(frozen=True, slots=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    qos: int


class Watcher(StartStop):
    """A plain MQTT client of the test's own: subscribes to ``topics`` and keeps every
    message, so a test can wait for one (retained messages arrive first)."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("#",)) -> None:
        self.client = aiomqtt.Client("127.0.0.1", port, identifier=f"watcher-{free_port()}")
        self.topics = topics
        self.seen: list[Seen] = []
        self._new = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.__aenter__()
        for topic in self.topics:
            await self.client.subscribe(topic, qos=1)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        async for m in self.client.messages:
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            async with self._new:
                self.seen.append(Seen(str(m.topic), payload, m.retain, m.qos))
                self._new.notify_all()

    async def wait(self, match: Callable[[Seen], bool], timeout: float = 15.0) -> Seen:
        """The first message (seen so far or to come) that matches."""
        async with asyncio.timeout(timeout), self._new:
            while True:
                for m in self.seen:
                    if match(m):
                        return m
                await self._new.wait()

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)


async def retained(port: int, topic: str, timeout: float = 10.0) -> bytes | None:
    """What the broker holds retained on ``topic`` (None: nothing), as a new subscriber
    sees it: the broker sends it on subscribe, before a marker published after."""
    probe = f"probe/{free_port()}"
    async with aiomqtt.Client("127.0.0.1", port) as client, asyncio.timeout(timeout):
        await client.subscribe(topic, qos=1)
        await client.subscribe(probe, qos=1)
        await client.publish(probe, b"x", qos=1)
        async for m in client.messages:
            if str(m.topic) == topic and m.retain:
                return m.payload if isinstance(m.payload, bytes) else None
            if str(m.topic) == probe:
                return None
    return None  # pragma: no cover - the loop returns


@dataclass(frozen=True, slots=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


class WebhookReceiver(StartStop):
    """A loopback HTTP server that records every POST; ``delay`` makes it slow and
    ``status`` makes it answer something else than 204."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[Received] = []
        self.delay = 0.0
        self.status = 204
        self._new = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)  # the slowness under test, not a synchronization
        if self.status < 300:
            async with self._new:
                self.received.append(Received(dict(request.headers), body, time.time()))
                self._new.notify_all()
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def wait(self, match: Callable[[Received], bool], timeout: float = 15.0) -> Received:
        async with asyncio.timeout(timeout), self._new:
            while True:
                for r in self.received:
                    if match(r):
                        return r
                await self._new.wait()
