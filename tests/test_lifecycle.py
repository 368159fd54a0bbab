"""The real process: startup, SIGHUP reload, SIGTERM drain and exit code."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.conftest import SECRET, make_token
from tests.rpc import RpcClient


class ServiceProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.ready: dict[str, Any] = {}

    async def wait_for_log(self, msg: str, timeout: float = 15.0) -> Any:
        for line in self.lines:
            if line.get("msg") == msg:
                return line
        assert self.proc.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stderr.readline()
                if not raw:
                    raise AssertionError(f"process exited before logging {msg!r}: {self.lines}")
                line = orjson.loads(raw)
                self.lines.append(line)
                if line.get("msg") == msg:
                    return line


def write_config(path: Path, data_dir: Path, **logging: Any) -> None:
    cfg = {
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_timeout": 5},
        "health": {"host": "127.0.0.1", "port": 0},
        "storage": {"data_dir": str(data_dir)},
        "logging": {"level": "INFO", "format": "json", **logging},
    }
    path.write_text(yaml.safe_dump(cfg))


async def run_service(
    config: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``camera-service --config CONFIG run`` as its own process, output captured."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camera_service", "--config", str(config), "run",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, tmp_path / "data")
    proc = await run_service(cfg, {**os.environ, "CAMERA_SERVICE_JWT_SECRET": SECRET})
    sp = ServiceProcess(proc)
    try:
        sp.ready = await sp.wait_for_log("camera-service ready")
        yield sp
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sighup_reloads_live_keys_and_keeps_config_on_error(
    process: ServiceProcess, tmp_path: Path
) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, tmp_path / "data", level="DEBUG")
    data = yaml.safe_load(cfg.read_text())
    data["server"]["max_connections"] = 5  # needs a restart
    cfg.write_text(yaml.safe_dump(data))
    process.proc.send_signal(signal.SIGHUP)
    warn = await process.wait_for_log("reload: these keys need a restart")
    assert warn["keys"] == ["server.max_connections"]
    done = await process.wait_for_log("configuration reloaded")
    assert done["applied"] == ["logging.level"]

    cfg.write_text("server:\n  port: not-a-port\n")
    process.proc.send_signal(signal.SIGHUP)
    rejected = await process.wait_for_log("reload rejected; keeping the running config")
    assert "server.port" in rejected["error"]
    client = await RpcClient.connect(f"ws://127.0.0.1:{process.ready['ws_port']}/ws")
    assert await client.call("ping") == "pong"
    await client.close()
    process.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.proc.wait(), 15) == 0


async def test_sigterm_closes_websockets_1001_and_exits_0(process: ServiceProcess) -> None:
    port = process.ready["ws_port"]
    client = await RpcClient.connect(f"ws://127.0.0.1:{port}/ws")
    await client.call("authenticate", {"auth_token": make_token("admin")})
    process.proc.send_signal(signal.SIGTERM)
    assert await client.wait_closed() == 1001
    assert await asyncio.wait_for(process.proc.wait(), 15) == 0
    await process.wait_for_log("stopped")
    messages = [line.get("msg") for line in process.lines]
    assert messages.index("shutting down") < messages.index("stopped")
    await client.close()


async def test_invalid_config_stops_startup_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("server:\n  port: 70000\n  colour: blue\n")
    proc = await run_service(cfg)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    text = err.decode()
    assert "server.port" in text and "70000" in text
    assert "server.colour" in text and "unknown key" in text
