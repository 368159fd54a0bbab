"""A real etcd (``/usr/bin/etcd``, Debian ``etcd-server``) on loopback for tests.

    async def test_lease(etcd: EtcdServer) -> None:
        client = EtcdClient([etcd.url])
        ...
        await etcd.stop()      # "etcd went away"
        await etcd.start()     # same ports, same data dir: "etcd restarted"

Without pytest (two service instances against one etcd, say)::

    async with EtcdServer(tmp_path / "etcd") as etcd:
        ...

The server's own state is read through the v3 JSON gateway with aiohttp
(:meth:`EtcdServer.get` and friends), independently of the client under test.
Every process started here is stopped at teardown: SIGTERM, then SIGKILL, then wait.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.support import processes
from tests.support.lifecycle import StartStop
from tests.support.system import missing

ETCD_BIN = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
START_TIMEOUT = 30.0  # a loaded 2-core machine; etcd is usually up in well under a second
STOP_TIMEOUT = 10.0
POLL = 0.05  # an external process: its health endpoint is the only thing to watch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when pytest dies without a teardown (killed by
    a timeout, say), so no etcd outlives its test run."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


class EtcdServer(StartStop):
    """One single-member etcd cluster; ``start()`` again after ``stop()`` reuses the ports
    and the data dir, so keys (and unexpired leases) survive as in a real restart."""

    def __init__(self, data_dir: Path, name: str = "test") -> None:
        self.data_dir = data_dir
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.log_path = data_dir.with_name(data_dir.name + ".log")
        self.process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        if self.running:
            return
        if shutil.which(ETCD_BIN) is None:
            missing(f"etcd not installed ({ETCD_BIN}; apt-get install etcd-server)")
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}",
            "--initial-cluster-state=new",  # ignored once the data dir holds a member
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                ETCD_BIN,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await processes.stop(process, STOP_TIMEOUT)

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while True:
                process = self.process
                if process is None or process.returncode is not None:
                    raise RuntimeError(
                        f"etcd exited at start; see {self.log_path}:\n{self._tail()}"
                    )
                try:
                    async with http.get(f"{self.url}/health") as r:
                        if (
                            r.status == 200
                            and (await r.json(content_type=None)).get("health") == "true"
                        ):
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"etcd not healthy within {START_TIMEOUT:g} s:\n{self._tail()}"
                    )
                await asyncio.sleep(POLL)

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- the server's state, read independently of the client under test -------------

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to the v3 gateway (``path`` like ``/v3/kv/range``)."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}{path}", json=body) as r,
        ):
            r.raise_for_status()
            answer: dict[str, Any] = await r.json(content_type=None)
            return answer

    async def get(self, key: str) -> bytes | None:
        answer = await self.call("/v3/kv/range", {"key": b64(key)})
        kvs = answer.get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    async def put(self, key: str, value: str | bytes) -> None:
        await self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    async def delete(self, key: str) -> None:
        await self.call("/v3/kv/deleterange", {"key": b64(key)})

    async def get_prefix(self, prefix: str) -> dict[str, bytes]:
        """Every key under ``prefix`` with its value: what a fleet client lists."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        answer = await self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end)})
        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
            for kv in answer.get("kvs") or []
        }

    async def lease_ttl(self, key: str) -> int | None:
        """The remaining TTL of the lease ``key`` is attached to; None: no key or no lease."""
        answer = await self.call("/v3/kv/range", {"key": b64(key)})
        kvs = answer.get("kvs") or []
        lease = kvs[0].get("lease") if kvs else None
        if not lease:
            return None
        ttl = await self.call("/v3/lease/timetolive", {"ID": lease})
        return int(ttl.get("TTL", -1))

    async def wait_value(self, key: str, value: bytes | None, timeout: float = 20.0) -> None:
        """Until ``key`` holds ``value`` (None: until it is absent). Leases expire on
        etcd's clock with nothing to subscribe to but a watch on the very thing under
        test, hence a bounded poll of the server's state."""
        deadline = time.monotonic() + timeout
        while (current := await self.get(key)) != value:
            if time.monotonic() > deadline:
                raise AssertionError(f"{key!r} is {current!r}, expected {value!r}")
            await asyncio.sleep(POLL)


@pytest_asyncio.fixture
async def etcd(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EtcdServer]:
    server = EtcdServer(tmp_path_factory.mktemp("etcd") / "data")
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
