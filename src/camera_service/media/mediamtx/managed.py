"""Managed mode: the service writes MediaMTX's configuration, starts it, restarts it
with backoff when it dies, and stops it on shutdown.

Every port is set explicitly: MediaMTX's default multicast RTP/RTCP ports are 8002 and
8003, the service's own. Protocols the service does not serve (RTMP, SRT, MoQ) are off,
and the Control API listens on loopback only.

Every publish, read and playback is authorized by the service (``authMethod: http``,
``auth`` from :func:`auth_fields`). Only the Control API, metrics and pprof are excluded
from it, as MediaMTX documents: the API listens on loopback only, and the service must
reach it even before its own auth endpoint answers; metrics and pprof are off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from camera_service.config import MediaMtxConfig

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
STARTUP_TIMEOUT = 10.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # a run this long resets the backoff


def find_binary(cfg: MediaMtxConfig) -> str | None:
    """The MediaMTX executable to manage, or None when the service should not."""
    if cfg.manage == "never":
        return None
    if cfg.binary is not None:
        return str(cfg.binary)
    found = shutil.which("mediamtx")
    if found is None and cfg.manage == "always":
        raise FileNotFoundError("mediamtx.manage is 'always' but no mediamtx binary was found")
    return found


# MediaMTX's own documented exclusions: its API (on loopback), metrics and pprof (off).
AUTH_EXCLUDE: list[dict[str, str]] = [{"action": "api"}, {"action": "metrics"}, {"action": "pprof"}]


def auth_fields(address: str) -> dict[str, Any]:
    """MediaMTX's global auth settings: every other action asks ``address``. Of MediaMTX's
    default internal users (unused with this method) only its loopback administrator is
    kept; its first, which lets anyone publish and read anything, is gone."""
    return {
        "authMethod": "http",
        "authInternalUsers": [
            {
                "user": "any",
                "pass": "",
                "ips": ["127.0.0.1", "::1"],
                "permissions": [dict(e) for e in AUTH_EXCLUDE],
            }
        ],
        "authHTTPAddress": address,
        "authHTTPExclude": [dict(e) for e in AUTH_EXCLUDE],
    }


def render_config(
    cfg: MediaMtxConfig,
    path_defaults: Mapping[str, Any] | None = None,
    auth: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """MediaMTX's YAML. ``path_defaults``: recording settings and the segment hooks that
    call back to the service (every path the service adds carries them too); ``auth``:
    :func:`auth_fields` of the service's auth endpoint."""
    api = urlsplit(cfg.api_url)
    api_host = api.hostname or "127.0.0.1"
    return {
        "logLevel": "info",
        "logDestinations": ["stdout"],
        **dict(auth or {}),
        "api": True,
        "apiAddress": f"{api_host}:{api.port or 9997}",
        "metrics": False,
        "pprof": False,
        "playback": False,
        "rtsp": True,
        "rtspTransports": ["udp", "tcp"],
        "rtspAddress": f":{cfg.rtsp_port}",
        "rtpAddress": f":{cfg.rtp_port}",
        "rtcpAddress": f":{cfg.rtcp_port}",
        "multicastRTPPort": cfg.multicast_rtp_port,
        "multicastRTCPPort": cfg.multicast_rtcp_port,
        "rtmp": False,
        "hls": True,
        "hlsAddress": f":{cfg.hls_port}",
        "webrtc": True,
        "webrtcAddress": f":{cfg.webrtc_port}",
        "webrtcLocalUDPAddress": f":{cfg.webrtc_udp_port}",
        "srt": False,
        "moq": False,
        "pathDefaults": dict(path_defaults or {}),
        # Paths come from the Control API only; nothing else may publish or be read.
        "paths": {},
    }


class ManagedMediaMtx:
    def __init__(
        self,
        binary: str,
        cfg: MediaMtxConfig,
        workdir: Path,
        path_defaults: Callable[[], Mapping[str, Any]] = dict,
        auth: Callable[[], Mapping[str, Any]] = dict,
    ) -> None:
        self.binary = binary
        self.cfg = cfg
        # Read at start: the segment hooks name the health port, known once it listens.
        self.path_defaults = path_defaults
        self.auth = auth  # read at start too: the auth URL names the health port
        self.workdir = workdir
        self.config_path = workdir / "mediamtx.yml"
        self.restarts = 0
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = render_config(self.cfg, self.path_defaults(), self.auth())
        text = yaml.safe_dump(conf, sort_keys=False)
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        await self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._supervise())
        await self._wait_for_api(STARTUP_TIMEOUT)

    async def _wait_for_api(self, timeout: float) -> None:
        """Until the Control API accepts connections (or the timeout: then the controller
        reports it unreachable and keeps trying, as with an external MediaMTX)."""
        api = urlsplit(self.cfg.api_url)
        host, port = api.hostname or "127.0.0.1", api.port or 9997
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.05)  # an external process starting: nothing to await
                continue
            writer.close()
            return
        log.warning("MediaMTX API not up yet", extra={"after_s": timeout})

    async def _spawn(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            str(self.config_path),
            cwd=self.workdir,
            # recordPath's %Y..%S are local time to MediaMTX; file names are UTC (api.md §7)
            env={**os.environ, "TZ": "UTC"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its publishers are killed with it, as a group
        )
        log.info("MediaMTX started", extra={"pid": self.process.pid, "binary": self.binary})

    async def _supervise(self) -> None:
        backoff = 1.0
        while True:
            proc = self.process
            assert proc is not None
            started = time.monotonic()
            await self._relay_output(proc)
            code = await proc.wait()
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_AFTER:
                backoff = 1.0
            log.error("MediaMTX exited; restarting", extra={"code": code, "in_s": backoff})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            self.restarts += 1
            await self._spawn()

    @staticmethod
    async def _relay_output(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            log.debug("mediamtx: %s", line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        self._stopping = True
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        log.info("MediaMTX stopped")
