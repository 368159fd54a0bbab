"""What the dashboard runs against, for the browser tests and ``bench/dashboard.py``: the
service as its own process, the MediaMTX double's Control API, its RTSP data plane and
its HLS and WebRTC (WHEP) servers, with two live test-pattern cameras (``lab``, ``yard``)
and MediaMTX authorizing reads through the service, as in production.

    async with dashboard_stack(tmp_path) as stack:
        ...  # open stack.url in a browser
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camera_service.api.mediaauth import auth_url
from camera_service.media.mediamtx.managed import auth_fields
from tests.support.media_stack import LAB, free_port
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.mediamtx.fixtures import assert_no_violations
from tests.support.mediamtx.hls import HlsServer
from tests.support.mediamtx.webrtc import WebRtcServer
from tests.support.service_process import ServiceProcess, write_config

YARD = {"type": "test", "id": "yard", "resolution": "640x360", "fps": 15}
# Headless, quiet: nothing but the pages under test may reach the network.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-breakpad",
    "--no-first-run",
    "--no-pings",
    "--metrics-recording-only",
    "--autoplay-policy=no-user-gesture-required",
    # WebRTC on loopback, as the double offers it and keeps to (its module says how):
    # lo among the host candidates should a test grant a media permission, and no
    # candidate hidden behind an mDNS name (no mDNS traffic on the machine's network).
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


@dataclass
class Stack:
    """The service process and the MediaMTX double it uses, with a config file a test
    may change and reload (SIGHUP)."""

    service: ServiceProcess
    mtx: MediaMtxDouble
    plane: DataPlane
    hls: HlsServer
    webrtc: WebRtcServer
    config: Path
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.service.http_url}/"

    async def stop_service(self) -> None:
        """SIGTERM, and wait for a clean exit (0)."""
        self.service.signal(signal.SIGTERM)
        assert await self.service.exit_code() == 0

    async def start_service(self) -> None:
        """Start the service again on the same config (same ports, data dir)."""
        self.service = await ServiceProcess.start(self.config)

    async def add_camera(self, source: dict[str, Any]) -> None:
        """Plug a camera in: a new source in the config file, then a reload."""
        self.sections["cameras"]["sources"].append(source)
        data = yaml.safe_load(self.config.read_text())
        data["cameras"]["sources"] = self.sections["cameras"]["sources"]
        self.config.write_text(yaml.safe_dump(data))
        self.service.signal(signal.SIGHUP)


@asynccontextmanager
async def dashboard_stack(
    tmp_path: Path,
    cameras: list[dict[str, Any]] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Stack]:
    """Everything started, and stopped again on exit (service first); fails on any
    MediaMTX contract violation. ``extra``: more config sections (``{"onvif": ...}``)."""
    plane = DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path)
    await plane.start()
    mtx = MediaMtxDouble(work_dir=tmp_path, data_plane=plane)
    hls = HlsServer(plane)
    webrtc = WebRtcServer(plane)
    stack: Stack | None = None
    try:
        health_port = free_port()
        plane.configure_auth(auth_fields(auth_url("127.0.0.1", health_port)))
        await mtx.start()
        await hls.start()
        await webrtc.start()
        sources = cameras if cameras is not None else [dict(LAB), dict(YARD)]
        sections: dict[str, Any] = {
            "mediamtx": {
                "api_url": mtx.api_url,
                "rtsp_port": plane.rtsp_port,
                "hls_port": hls.port,
                "webrtc_port": webrtc.port,
                "check_interval": 0.2,
                "request_timeout": 2.0,
                "on_demand_close_after": 5.0,
            },
            "cameras": {"sources": sources, "poll_interval": 30.0},
            "health": {"host": "127.0.0.1", "port": health_port},
            # Fixed, as in production: a page keeps the API port its CSP names across a
            # restart of the service.
            "server": {"port": free_port()},
        }
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        config = write_config(tmp_path / "config.yaml", tmp_path / "data", **sections)
        stack = Stack(await ServiceProcess.start(config), mtx, plane, hls, webrtc, config, sections)
        yield stack
    finally:
        if stack is not None:  # the service a test may have restarted
            service = stack.service
            if service.proc.returncode is None:
                service.signal(signal.SIGTERM)
            try:
                await service.exit_code()
            finally:
                await service.kill()
        await webrtc.stop()
        await hls.stop()
        await mtx.stop()
        await plane.stop()
    assert_no_violations(mtx)
