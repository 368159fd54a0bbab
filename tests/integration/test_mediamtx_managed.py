"""Managed mode with a stand-in MediaMTX executable (the OpenAPI-checked double run as
a process): started with a generated config, restarted when it dies, stopped on exit."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import yaml

from camera_service.app import Application
from tests.conftest import make_settings

FAKE = Path(__file__).parents[1] / "support" / "mediamtx" / "fake_mediamtx.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def path_exists(api_url: str, name: str) -> bool:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{api_url}/v3/config/paths/get/{name}") as r:
                return r.status == 200
        except aiohttp.ClientConnectionError:
            return False


async def test_managed_mediamtx_is_configured_restarted_and_stopped(tmp_path: Path) -> None:
    binary = tmp_path / "mediamtx"
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    binary.chmod(0o755)
    api_url = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(
        tmp_path,
        mediamtx={
            "manage": "always",
            "binary": str(binary),
            "api_url": api_url,
            "check_interval": 0.1,
        },
        cameras={"sources": [{"type": "test", "id": "lab"}]},
    )
    app = Application(settings)
    await app.start()
    try:
        managed = app.managed
        assert managed is not None  # manage: always
        config = yaml.safe_load(managed.config_path.read_text())
        assert config["apiAddress"] == api_url.removeprefix("http://")
        assert (config["multicastRTPPort"], config["multicastRTCPPort"]) == (8004, 8005)
        assert config["rtmp"] is False and config["paths"] == {}
        defaults = config["pathDefaults"]  # recording hooks point back at the service
        complete = defaults["runOnRecordSegmentComplete"]
        assert "camera_service.record.hookcmd --event complete" in complete
        assert f":{app.health_port}/hooks/recording" in defaults["runOnRecordSegmentCreate"]
        assert defaults["recordPath"].startswith(str(app.paths.recordings))
        assert oct(managed.config_path.stat().st_mode & 0o777) == "0o600"
        # Every media action is asked of the service, on its health port, with the run's
        # secret (the file is 0600: the secret is the service's and MediaMTX's only).
        assert config["authMethod"] == "http"
        address = config["authHTTPAddress"]
        assert address.startswith(f"http://127.0.0.1:{app.health_port}/mediamtx/auth?secret=")
        assert config["authHTTPExclude"] == [
            {"action": "api"}, {"action": "metrics"}, {"action": "pprof"}
        ]  # fmt: skip
        anonymous = {"ip": "127.0.0.1", "user": "", "password": "", "token": "",
                     "action": "read", "path": "lab", "protocol": "rtsp", "id": None,
                     "query": ""}  # fmt: skip
        async with aiohttp.ClientSession() as http, http.post(address, json=anonymous) as r:
            assert r.status == 401  # no credential: MediaMTX asks the RTSP client for one

        media = app.media
        await media.wait_until(lambda: media.reachable and "lab" in media.owned, 10)
        assert await path_exists(api_url, "lab")

        proc = managed.process
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)  # MediaMTX crashes
        await media.wait_until(lambda: not media.reachable, 10)
        generation = media.generation
        await media.wait_until(
            lambda: managed.restarts == 1 and media.reachable and media.generation > generation,
            10,
        )
        assert await path_exists(api_url, "lab")  # re-applied to the new process
        restarted = managed.process
    finally:
        await app.stop()
    assert restarted is not None and restarted.returncode == 0  # clean stop, no violations
    assert not await path_exists(api_url, "lab")
