"""One face for the two MediaMTX backends the integration tests run against:

- ``DoubleBackend``: the OpenAPI-checked double with its real RTSP data plane (default);
- ``LiveBackend``: a real MediaMTX binary, when ``MEDIAMTX_BIN`` names one, started with
  the config the service generates in managed mode (free loopback ports).

Tests marked ``live_mediamtx`` use only this interface, so they run unchanged against
either: ``MEDIAMTX_BIN=/path/to/mediamtx uv run pytest -m live_mediamtx``. With
``auth_address`` both authorize every publish and read through that URL (the service's
``/mediamtx/auth``), as the service configures a managed MediaMTX.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml

from camera_service.config import MediaMtxConfig
from camera_service.media.mediamtx.managed import auth_fields, render_config
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.mediamtx.fixtures import assert_no_violations

POLL = 0.05  # an external process: its API is the only thing to watch


class Backend(Protocol):
    api_url: str
    rtsp_port: int

    async def restart(self) -> None: ...

    async def close(self) -> None: ...


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def path_conf(api_url: str, name: str) -> dict[str, Any] | None:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{api_url}/v3/config/paths/get/{name}") as r:
                if r.status == 404:
                    return None
                r.raise_for_status()
                conf: dict[str, Any] = await r.json()
                return conf
        except aiohttp.ClientConnectionError:
            return None


async def wait_path(api_url: str, name: str, present: bool = True, timeout: float = 5.0) -> None:
    """Until MediaMTX has (or no longer has) the path ``name``."""
    deadline = time.monotonic() + timeout
    while (await path_conf(api_url, name) is not None) != present:
        if time.monotonic() > deadline:
            raise TimeoutError(f"path {name} {'never appeared' if present else 'stayed'}")
        await asyncio.sleep(POLL)


async def add_foreign_path(api_url: str, name: str, conf: dict[str, Any]) -> None:
    """Create a path as another API client would."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{api_url}/v3/config/paths/add/{name}", json=conf) as r,
    ):
        r.raise_for_status()


class DoubleBackend:
    def __init__(self, work_dir: Path, auth_address: str | None = None) -> None:
        self.plane = DataPlane()
        if auth_address is not None:
            self.plane.configure_auth(auth_fields(auth_address))
        self.double = MediaMtxDouble(work_dir=work_dir, data_plane=self.plane)
        self.api_url = ""
        self.rtsp_port = 0

    async def start(self) -> DoubleBackend:
        await self.plane.start()
        await self.double.start()
        self.api_url, self.rtsp_port = self.double.api_url, self.plane.rtsp_port
        return self

    async def restart(self) -> None:
        await self.double.restart()

    async def close(self) -> None:
        await self.double.stop()
        await self.plane.stop()
        assert_no_violations(self.double)


class LiveBackend:
    def __init__(self, binary: str, work_dir: Path, auth_address: str | None = None) -> None:
        self.binary = binary
        self.work_dir = work_dir
        cfg = MediaMtxConfig(
            api_url=f"http://127.0.0.1:{free_port()}",
            rtsp_port=free_port(),
            rtp_port=free_port(),
            rtcp_port=free_port(),
            multicast_rtp_port=free_port(),
            multicast_rtcp_port=free_port(),
            hls_port=free_port(),
            webrtc_port=free_port(),
            webrtc_udp_port=free_port(),
        )
        self.api_url, self.rtsp_port = cfg.api_url, cfg.rtsp_port
        self.config = work_dir / "mediamtx.yml"
        auth = auth_fields(auth_address) if auth_address is not None else None
        self.config.write_text(yaml.safe_dump(render_config(cfg, auth=auth)))
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> LiveBackend:
        self.process = await asyncio.create_subprocess_exec(
            self.binary, str(self.config), cwd=self.work_dir, start_new_session=True,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not await self._up():
            if time.monotonic() > deadline:
                raise TimeoutError("MediaMTX did not start")
            await asyncio.sleep(POLL)
        return self

    async def _up(self) -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(f"{self.api_url}/v3/info") as r:
                    return r.status == 200
            except aiohttp.ClientConnectionError:
                return False

    async def restart(self) -> None:
        await self.close()
        await self.start()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 10)


async def start_backend(
    work_dir: Path, auth_address: str | None = None
) -> DoubleBackend | LiveBackend:
    binary = os.environ.get("MEDIAMTX_BIN")
    if binary:
        return await LiveBackend(binary, work_dir, auth_address).start()
    return await DoubleBackend(work_dir, auth_address).start()
