"""API keys end to end: created with the CLI, used over a socket, revoked by the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from camera_service.app import Application
from camera_service.cli import main
from tests.conftest import Connect


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> dict[str, str]:
    assert main(["--config", str(config), *args]) == 0
    out = capsys.readouterr().out
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


async def test_revoked_key_refused_on_next_call(
    service: Application, connect: Connect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cli.yaml"
    config.write_text(yaml.safe_dump({"storage": {"data_dir": str(service.paths.data_dir)}}))
    created = cli(capsys, config, "keys", "create", "--name", "dashboard", "--role", "operator")
    key = created["api_key"]

    c = await connect()
    r = await c.call("authenticate", {"auth_token": key, "auth_type": "api_key"})
    assert r["role"] == "operator" and r["permissions"] == ["view", "control"]
    assert "result" in await c.request("subscribe_events", {})

    cli(capsys, config, "keys", "revoke", created["key_id"])
    r = await c.request("subscribe_events", {})
    assert r["error"]["code"] == -32001
    assert "invalid" in r["error"]["message"]
    r = await (await connect()).request("authenticate", {"auth_token": key})
    assert r["error"]["code"] == -32001


async def test_unknown_key_refused_and_audited(service: Application, connect: Connect) -> None:
    c = await connect()
    r = await c.request("authenticate", {"auth_token": "csk_" + "A" * 43})
    assert r["error"]["code"] == -32001 and "invalid" in r["error"]["message"]
    await service.parts.store.audit.flush()
    events = [e["event"] for e in service.parts.store.audit.recent(10)]
    assert "auth_failure" in events
