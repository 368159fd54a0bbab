from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import jwt
import pytest

from camera_service.app import Application
from camera_service.config import Settings, validate
from tests.rpc import RpcClient
from tests.support.properties import register_profiles
from tests.support.rawws import Opener, Streams
from tests.support.system import require

pytest_plugins = (
    "tests.support.aggregator",
    "tests.support.etcd",
    "tests.support.mediamtx.fixtures",
    "tests.support.media_stack",
    "tests.support.tmpfs",
    "tests.support.faults",  # last: it imports the ones above
)

register_profiles()  # before any test module applies its example budget

SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "health": {"host": "127.0.0.1", "port": 0},
        "storage": {"data_dir": str(tmp_path / "data")},
        "security": {"jwt": {"secret_key": SECRET}},
        "logging": {"level": "DEBUG", "format": "json"},
        # a closed port: a MediaMTX a developer runs on :9997 must not join the tests
        "mediamtx": {"api_url": "http://127.0.0.1:1"},
    }
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return validate(data)


def make_token(role: str = "admin", ttl: float = 3600, user: str = "tester", **claims: Any) -> str:
    now = time.time()
    payload = {"user_id": user, "role": role, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Application]:
    app = Application(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def opener() -> AsyncIterator[Opener]:
    """Raw loopback connections, all closed at teardown."""
    writers: list[asyncio.StreamWriter] = []

    async def _open(port: int) -> Streams:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        return reader, writer

    yield _open
    for w in writers:
        w.close()
        with suppress(OSError):
            await w.wait_closed()


Connect = Callable[..., Awaitable[RpcClient]]


@pytest.fixture
async def connect(service: Application) -> AsyncIterator[Connect]:
    clients: list[RpcClient] = []

    async def _connect(role: str | None = None, path: str = "/ws") -> RpcClient:
        client = await RpcClient.connect(f"ws://127.0.0.1:{service.ws_port}{path}")
        clients.append(client)
        if role is not None:
            result = await client.call("authenticate", {"auth_token": make_token(role)})
            assert result["authenticated"] is True
        return client

    yield _connect
    for c in clients:
        await c.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.needs("ffmpeg", ...)``: skipped (failed in CI) without those parts."""
    for mark in item.iter_markers("needs"):
        require(*mark.args)
