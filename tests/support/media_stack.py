"""The whole media stack for end-to-end tests: the service, the OpenAPI-checked
MediaMTX double and its real RTSP data plane (FFmpeg publishers, relay, recorder),
with one live test-pattern camera ``lab``. The data plane authorizes every read and
publish through the service (``authMethod: http``, the settings the service gives a
managed MediaMTX), as in production; ``media_stack(media_auth=False)`` leaves it open.

    async def test_x(media_stack: MediaStackFactory) -> None:
        stack = await media_stack()                  # defaults
        stack = await media_stack(recording={"segment_minutes": 1})
        client = await stack.client("operator")
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest_asyncio

from camera_service.api.mediaauth import auth_url
from camera_service.app import Application
from camera_service.media.mediamtx.managed import auth_fields
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.mediamtx.fixtures import assert_no_violations

LAB = {"type": "test", "id": "lab", "resolution": "640x360", "fps": 15}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MediaStack:
    app: Application
    mtx: MediaMtxDouble
    plane: DataPlane
    clients: list[RpcClient] = field(default_factory=list)

    async def client(self, role: str | None = "operator") -> RpcClient:
        client = await RpcClient.connect(f"ws://127.0.0.1:{self.app.ws_port}/ws")
        self.clients.append(client)
        if role is not None:
            result = await client.call("authenticate", {"auth_token": make_token(role)})
            assert result["authenticated"] is True
        return client

    def reader_url(self, name: str = "lab", role: str = "viewer") -> str:
        """An RTSP URL a client of ``role`` reads ``name`` with (its JWT in the query:
        FFmpeg keeps only 127 characters of a URL's user:password)."""
        return f"{self.plane.url(name)}?token={make_token(role)}"

    async def path_ready(self, name: str = "lab", timeout: float = 10.0) -> None:
        """Wait until the service has created ``name``'s MediaMTX path."""
        await self.app.media.wait_until(lambda: name in self.mtx.path_names(), timeout)


class MediaStackFactory(Protocol):
    def __call__(self, **overrides: Any) -> Awaitable[MediaStack]: ...


@pytest_asyncio.fixture
async def media_stack(tmp_path: Path) -> AsyncIterator[MediaStackFactory]:
    """Starts at most one stack per test; everything it starts is stopped at teardown,
    service first (it finalizes recordings through MediaMTX), then the double."""
    stacks: list[MediaStack] = []
    planes: list[DataPlane] = []
    doubles: list[MediaMtxDouble] = []

    async def make(media_auth: bool = True, **overrides: Any) -> MediaStack:
        plane = DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path)
        await plane.__aenter__()
        planes.append(plane)
        health_port = free_port()
        if media_auth:  # before the service starts: its first publisher is authorized too
            plane.configure_auth(auth_fields(auth_url("127.0.0.1", health_port)))
        mtx = MediaMtxDouble(work_dir=tmp_path, data_plane=plane)
        await mtx.start()
        doubles.append(mtx)
        sections: dict[str, Any] = {
            "mediamtx": {
                "api_url": mtx.api_url,
                "rtsp_port": plane.rtsp_port,
                "check_interval": 0.1,
                "request_timeout": 2.0,
                "on_demand_close_after": 2.0,
            },
            "cameras": {"sources": [LAB], "poll_interval": 30.0},
            "health": {"port": health_port},
        }
        for section, values in overrides.items():
            sections.setdefault(section, {}).update(values)
        app = Application(make_settings(tmp_path, **sections))
        await app.start()
        stack = MediaStack(app, mtx, plane)
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            for client in stack.clients:
                await client.close()
            await stack.app.stop()
        for mtx in doubles:
            await mtx.stop()
        for plane in planes:
            await plane.__aexit__(None, None, None)
        for mtx in doubles:
            assert_no_violations(mtx)
