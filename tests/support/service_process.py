"""The real service as its own process: ``python -m camera_service --config F run``.

Its JSON log lines (stderr) are read all the time by a task, so a chatty service never
blocks on a full pipe, and a test waits for a line by its ``msg``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.conftest import SECRET, make_token
from tests.rpc import RpcClient

WAIT = 30.0


def write_config(path: Path, data_dir: Path, **sections: dict[str, Any]) -> Path:
    """A config on loopback with ephemeral ports and JSON logs; ``sections`` merge in."""
    cfg: dict[str, dict[str, Any]] = {
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_timeout": 5},
        "health": {"host": "127.0.0.1", "port": 0},
        "storage": {"data_dir": str(data_dir)},
        "logging": {"level": "INFO", "format": "json"},
        # a closed port: a MediaMTX a developer runs on :9997 must not join the tests
        "mediamtx": {"api_url": "http://127.0.0.1:1"},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(cfg))
    return path


async def run_service(
    config: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``camera-service --config CONFIG run``, output captured (for tests that read it
    all at the end, like a failed startup)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camera_service", "--config", str(config), "run",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


class ServiceProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.ready: dict[str, Any] = {}  # the "camera-service ready" line
        self._seen = asyncio.Condition()
        self._eof = False
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, config: Path, env: dict[str, str] | None = None) -> ServiceProcess:
        """Start and wait until ready (``ready`` holds its ports)."""
        environ = {**os.environ, "CAMERA_SERVICE_JWT_SECRET": SECRET, **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "camera_service", "--config", str(config), "run",
            env=environ, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        sp = cls(proc)
        try:
            sp.ready = await sp.wait_for_log("camera-service ready")
        except BaseException:
            await sp.kill()
            raise
        return sp

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ready['ws_port']}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ready['health_port']}"

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while raw := await self.proc.stderr.readline():
            with contextlib.suppress(orjson.JSONDecodeError):
                line = orjson.loads(raw)
                async with self._seen:
                    self.lines.append(line)
                    self._seen.notify_all()
        async with self._seen:
            self._eof = True
            self._seen.notify_all()

    async def wait_for_log(self, msg: str, timeout: float = WAIT) -> dict[str, Any]:
        """The first line logged with ``msg`` (already seen or still to come)."""

        def found() -> dict[str, Any] | None:
            return next((line for line in self.lines if line.get("msg") == msg), None)

        async with asyncio.timeout(timeout), self._seen:
            while (line := found()) is None:
                if self._eof:
                    tail = [x.get("msg") for x in self.lines[-8:]]
                    raise AssertionError(f"process exited before logging {msg!r}: {tail}")
                await self._seen.wait()
            return line

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def exit_code(self, timeout: float = WAIT) -> int:
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
            await self._reader
            return code

    async def kill(self) -> None:
        """SIGKILL (no cleanup at all) and reap; a no-op once it has exited."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        await self._reader


async def listed_after_restart(config: Path, device: str) -> list[dict[str, Any]]:
    """Start the service again on ``config`` (same data dir), list ``device``'s
    recordings as a viewer, stop it with SIGTERM (exit 0 asserted): the files listed."""
    service = await ServiceProcess.start(config)
    client: RpcClient | None = None
    try:
        client = await RpcClient.connect(service.ws_url)
        await client.call("authenticate", {"auth_token": make_token("viewer")})
        listed = await client.call("list_recordings", {"device": device})
        service.signal(signal.SIGTERM)
        assert await service.exit_code() == 0
        files: list[dict[str, Any]] = listed["files"]
        return files
    finally:
        if client is not None:
            await client.close()
        await service.kill()
