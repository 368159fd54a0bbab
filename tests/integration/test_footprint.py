"""What the service process must not load at idle (issues 8 and 20: idle RSS < 45 MB)."""

from __future__ import annotations

import asyncio
import sys

import pydantic
import pytest

from camera_service.pydantic_plugins import LOADER

# Modules of rare paths, each worth 0.4-1.2 MB of idle RSS: importlib.metadata (pydantic
# plugin discovery; also zipfile, csv, email parsing), logging.handlers (file logging).
NOT_AT_IDLE = ("importlib.metadata", "zipfile", "csv", "logging.handlers", "pickle")


async def test_service_imports_leave_out_rare_path_modules() -> None:
    code = (
        "import sys, camera_service.cli, camera_service.app\n"
        "from camera_service.config import validate\n"
        "validate({})\n"
        f"print(sorted(m for m in {NOT_AT_IDLE!r} if m in sys.modules))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    assert out.decode().strip() == "[]"


# Modules of call-time paths, imported on first use (issue 20: idle RSS): the RTSP
# client (a probe of an RTSP camera, a held stream), MQTT and webhooks (when configured),
# the dashboard's files (the first page load), HTTP dates (the first download).
LAZY = (
    "camera_service.net.rtsp",
    "camera_service.net.rtsp_reader",
    "camera_service.integrations.mqtt",
    "camera_service.integrations.webhooks",
    "camera_service.integrations.events",
    "camera_service.integrations.wire",
    "importlib.resources",
    "gzip",
    "email.utils",
    # Not used at all: find_library runs ldconfig in a child process (inotify.libc).
    "ctypes.util",
    # Resolving a name only: the listening sockets of numeric addresses are bound without
    # the loop's getaddrinfo, which loads the IDNA codec (httpserver.listening_socket).
    "encodings.idna",
)

# The service as `camera-service run` builds it (the CLI and the app imported, settings
# validated, uvloop), started with 8 test cameras on loopback, MediaMTX unreachable; then the
# modules of both lists it holds.
STARTED = """
import asyncio, sys, tempfile
import uvloop
import camera_service.cli
from camera_service.app import Application
from camera_service.config import validate

async def main():
    with tempfile.TemporaryDirectory() as tmp:
        settings = validate({
            "server": {"host": "127.0.0.1", "port": 0},
            "health": {"host": "127.0.0.1", "port": 0},
            "storage": {"data_dir": tmp},
            "security": {"jwt": {"secret_key": "x" * 32}},
            "logging": {"level": "WARNING"},
            "mediamtx": {"manage": "never", "api_url": "http://127.0.0.1:1"},
            "cameras": {"sources": [
                {"type": "test", "id": f"cam{i:02d}", "resolution": "640x360"} for i in range(8)
            ]},
        })
        app = Application(settings)
        await app.start()
        try:
            print(sorted(m for m in sys.argv[1:] if m in sys.modules))
        finally:
            await app.stop()

uvloop.run(main())  # the service's loop (app.run)
"""


async def test_a_started_service_leaves_call_time_modules_unloaded() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STARTED, *LAZY, *NOT_AT_IDLE, stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().strip().splitlines()[-1] == "[]"


def test_pydantic_sees_no_plugins_and_still_validates() -> None:
    assert list(sys.modules[LOADER].get_plugins()) == []

    class Probe(pydantic.BaseModel):
        n: int

    assert Probe.model_validate({"n": "3"}).n == 3
    with pytest.raises(pydantic.ValidationError) as info:
        Probe.model_validate({"n": "x"})
    assert info.value.errors()[0]["loc"] == ("n",)
