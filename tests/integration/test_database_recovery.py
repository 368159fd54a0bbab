"""A corrupt database does not stop the service (issue 14): the real process starts, the
file is kept beside the new one, the media index is rebuilt, health and log say what
was lost."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import make_token
from tests.rpc import RpcClient
from tests.support.media_samples import samples
from tests.support.service_process import ServiceProcess, write_config

__all__ = ["samples"]  # a fixture

CLIP = "lab_2025-01-15_14-30-00.mp4"


def prepare(data: Path, clip: Path) -> None:
    (data / "recordings").mkdir(parents=True)
    shutil.copy(clip, data / "recordings" / CLIP)


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, content: bytes) -> None:
    path.write_bytes(content)


def corrupt_copies(data: Path) -> list[str]:
    return sorted(p.name for p in data.glob("camera-service.db.corrupt-*"))


async def system_health(http_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(http_url + "/health/system") as r:
        body: dict[str, Any] = await r.json()
        return body


@pytest.mark.parametrize("damage", ["not_a_database", "malformed_page"])
async def test_a_corrupt_database_is_moved_aside_and_the_service_starts(
    tmp_path: Path, samples: dict[str, Path], damage: str
) -> None:
    data = tmp_path / "data"
    prepare(data, samples["two"])
    db = data / "camera-service.db"
    if damage == "not_a_database":
        garbage = b"this is not an SQLite file " * 200
        write(db, garbage)
    else:
        # A real database first (the service makes it), then pages overwritten: the
        # header still reads, so only a check of every page finds the damage.
        config = write_config(tmp_path / "first.yaml", data)
        first = await ServiceProcess.start(config)
        first.signal(signal.SIGTERM)
        assert await first.exit_code() == 0
        raw = bytearray(read(db))
        assert len(raw) > 8192
        raw[4096:8192] = b"\xa5" * 4096  # page 2 onwards: tables and indexes
        garbage = bytes(raw)
        write(db, garbage)
    config = write_config(tmp_path / "service.yaml", data)
    service = await ServiceProcess.start(config)
    try:
        line = next(x for x in service.lines if x.get("msg", "").startswith("database was"))
        assert line["level"] == "ERROR"
        assert "API keys" in line["msg"] and "restore a backup" in line["msg"]
        kept = Path(line["moved_to"])
        assert kept.parent == data and kept.name.startswith("camera-service.db.corrupt-")
        assert read(kept) == garbage  # kept as it was, never deleted

        health = await system_health(service.http_url)
        component = health["components"]["database"]
        assert component["status"] == "degraded"
        assert "API keys" in component["details"]["reason"]

        client = await RpcClient.connect(service.ws_url)
        try:
            await client.call("authenticate", {"auth_token": make_token("viewer")})
            listed = await client.call("list_recordings", {})
            assert [f["filename"] for f in listed["files"]] == [CLIP]
        finally:
            await client.close()
        service.signal(signal.SIGTERM)
        assert await service.exit_code() == 0
    finally:
        await service.kill()
    # The next start finds the new database sound: nothing more is moved aside.
    again = await ServiceProcess.start(config)
    try:
        assert not [x for x in again.lines if x.get("msg", "").startswith("database was")]
        assert corrupt_copies(data) == [kept.name]
        again.signal(signal.SIGTERM)
        assert await again.exit_code() == 0
    finally:
        await again.kill()
