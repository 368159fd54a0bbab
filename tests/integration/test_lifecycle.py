"""The real process: startup, SIGHUP reload, SIGTERM drain and exit code."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_token
from tests.rpc import RpcClient
from tests.support.service_process import ServiceProcess, run_service, write_config


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    cfg = write_config(tmp_path / "config.yaml", tmp_path / "data")
    sp = await ServiceProcess.start(cfg)
    try:
        yield sp
    finally:
        await sp.kill()


async def test_sighup_reloads_live_keys_and_keeps_config_on_error(
    process: ServiceProcess, tmp_path: Path
) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, tmp_path / "data", logging={"level": "DEBUG"})
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
    assert await process.exit_code() == 0


async def test_sigterm_closes_websockets_1001_and_exits_0(process: ServiceProcess) -> None:
    port = process.ready["ws_port"]
    client = await RpcClient.connect(f"ws://127.0.0.1:{port}/ws")
    await client.call("authenticate", {"auth_token": make_token("admin")})
    process.proc.send_signal(signal.SIGTERM)
    assert await client.wait_closed() == 1001
    assert await process.exit_code() == 0
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
