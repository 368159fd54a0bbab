"""Run ``rtsp_camera.py`` (GStreamer's RTSP server) as a loopback IP camera for tests.

    async with RtspCamera(640, 360, 15, user="u", password="p") as cam:
        probe(cam.url, ...)
        await cam.stop()      # the camera goes away: connection refused
        await cam.restart()   # back on the same port

Skips the test with a clear reason when Debian's python3 cannot load GstRtspServer and
x264enc (CI installs python3-gst-1.0, gir1.2-gst-rtsp-server-1.0 and the plugins).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
from pathlib import Path
from typing import Literal

from tests.support.lifecycle import StartStop
from tests.support.system import missing

SYSTEM_PYTHON = os.environ.get("CAMSVC_TEST_GST_PYTHON", "/usr/bin/python3")
SCRIPT = Path(__file__).with_name("rtsp_camera.py")

_CHECK = """
import gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("videotestsrc", "x264enc", "rtph264pay") if not Gst.ElementFactory.find(e)]
print("missing GStreamer elements: " + ", ".join(missing) if missing else "ok")
"""

_unavailable: str | None = None
_checked = False


async def gst_rtsp_unavailable() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can (cached)."""
    global _unavailable, _checked
    if _checked:
        return _unavailable
    reason: str | None
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        reason = f"{SYSTEM_PYTHON} not found"
    else:
        proc = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON,
            "-c",
            _CHECK,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            out = b"timed out loading GStreamer"
        lines = out.decode(errors="replace").strip().splitlines() or [
            f"exit status {proc.returncode}"
        ]
        reason = None if proc.returncode == 0 and lines == ["ok"] else lines[-1]
    if reason is not None:
        reason = (
            f"GStreamer RTSP server unavailable ({reason}); install python3-gst-1.0, "
            "gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,ugly}"
        )
    _unavailable, _checked = reason, True
    return reason


class RtspCamera(StartStop):
    """An H.264 test-pattern RTSP camera on 127.0.0.1, owned by the test that starts it."""

    def __init__(
        self,
        width: int = 640,
        height: int = 360,
        fps: int = 15,
        user: str | None = None,
        password: str | None = None,
        *,
        path: str = "cam",
        auth: Literal["basic", "digest"] = "basic",
        pattern: str = "smpte",
        port: int = 0,
        ready_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.user, self.password, self.auth = user, password, auth
        self.path = path.lstrip("/")
        self.pattern = pattern
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self._port = port
        self._proc: asyncio.subprocess.Process | None = None
        self._drains: list[asyncio.Task[None]] = []
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("RtspCamera has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.path}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def _argv(self) -> list[str]:
        argv = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self._port), "--path", self.path]
        argv += ["--width", str(self.width), "--height", str(self.height)]
        argv += ["--fps", str(self.fps), "--pattern", self.pattern]
        if self.user is not None and self.password is not None:
            argv += ["--user", self.user, "--password", self.password, "--auth", self.auth]
        return argv

    async def start(self) -> None:
        if self.running:
            return
        reason = await gst_rtsp_unavailable()
        if reason is not None:
            missing(reason)
        self._stderr.clear()
        # stdin stays an open pipe: the server exits when it closes, even if we crash.
        proc = await asyncio.create_subprocess_exec(
            *self._argv(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        self._drains = [asyncio.create_task(self._drain(proc.stderr))]
        try:
            async with asyncio.timeout(self.ready_timeout):
                line = await proc.stdout.readline()
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"RTSP camera not ready in {self.ready_timeout}s") from None
        text = line.decode(errors="replace").strip()
        if not text.startswith("READY "):
            await self.stop()
            raise RuntimeError(f"RTSP camera failed to start: {text!r} {self.stderr_tail()}")
        self._port = int(text.split()[1])
        self._drains.append(asyncio.create_task(self._drain(proc.stdout)))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        # Keep the pipes empty so GStreamer warnings never block the server.
        while line := await stream.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    async def stop(self) -> None:
        """SIGTERM, wait, SIGKILL after ``stop_timeout``; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        for task in self._drains:
            # EOF ends them once the process is gone; never wait forever on a grandchild.
            try:
                await asyncio.wait_for(task, self.stop_timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._drains = []

    async def restart(self) -> None:
        """Stop, then serve again on the same port (the camera "comes back")."""
        await self.stop()
        await self.start()
