"""The MediaMTX double's http authentication, held to MediaMTX's docs and auth manager:
one POST per read and publish with MediaMTX's body, 2xx allows, a refusal without
credentials is an RTSP 401 Basic challenge the client answers on the same connection,
one with credentials a 401 after the brute-force pause, unknown paths 404 before any
auth, authHTTPExclude honoured, MediaMTX's own recorder and sources never asked."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.support.mediamtx.dataplane import DataPlane
from tests.support.processes import run

pytestmark = pytest.mark.needs("ffmpeg", "ffprobe", "rtsp-server-perl")
PUBLISH = (
    "ffmpeg -hide_banner -loglevel warning -re -f lavfi -i testsrc2=size=320x240:rate=10 "
    "-c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p -g 10 "
    "-f rtsp -rtsp_transport tcp rtsp://pub:lish@127.0.0.1:$RTSP_PORT/$MTX_PATH"
)


class AuthServer:
    """Allows user ``u`` with password ``p``, and the publisher; records every body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        if (body["user"], body["password"]) in (("u", "p"), ("pub", "lish")):
            return web.Response(status=200)
        return web.Response(status=401)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/auth", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/auth"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def auth() -> AsyncIterator[AuthServer]:
    server = AuthServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def plane(auth: AuthServer) -> AsyncIterator[DataPlane]:
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0) as dp:
        dp.configure_auth(
            {"authMethod": "http", "authHTTPAddress": auth.url, "authHTTPExclude": []},
            pause_after_error=0.1,
        )
        yield dp


async def rtsp(port: int, path: str, authorization: str | None = None) -> tuple[int, str]:
    """One DESCRIBE on its own connection: (status, WWW-Authenticate)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"DESCRIBE rtsp://127.0.0.1:{port}/{path}?a=1 RTSP/1.0", "CSeq: 1"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        async with asyncio.timeout(15):
            status = int((await reader.readline()).split()[1])
            challenge = ""
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "www-authenticate":
                    challenge = value.strip()
        return status, challenge
    finally:
        writer.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_refusals_challenge_or_pause_as_mediamtx_does(
    plane: DataPlane, auth: AuthServer
) -> None:
    plane.path_configured("cam", {"runOnDemand": "sleep 30", "runOnDemandStartTimeout": "1s"})
    port = plane.rtsp_port
    assert await rtsp(port, "cam") == (401, 'Basic realm="mediamtx"')
    body = auth.bodies[-1]
    assert set(body) == {"ip", "user", "password", "token", "action", "path", "protocol",
                         "id", "query"}  # fmt: skip
    assert (body["ip"], body["action"], body["path"], body["protocol"], body["query"]) == (
        "127.0.0.1",
        "read",
        "cam",
        "rtsp",
        "a=1",
    )
    assert (body["user"], body["password"], body["token"]) == ("", "", "")
    assert len(body["id"]) == 36  # the session's UUID
    # Wrong credentials: still 401 (after the pause), never a challenge to try again.
    status, _ = await rtsp(port, "cam", basic("u", "wrong"))
    assert status == 401 and plane.auth_refused == 1
    # Unknown paths are 404 before any authentication, as MediaMTX's path manager does.
    asked = len(auth.bodies)
    assert (await rtsp(port, "nope"))[0] == 404
    assert len(auth.bodies) == asked
    # Right credentials: on to the path (whose publisher never comes: 404 at its timeout).
    assert (await rtsp(port, "cam", basic("u", "p")))[0] == 404
    assert auth.bodies[-1]["user"] == "u"


async def test_a_reader_answers_the_challenge_and_the_publisher_authenticates(
    plane: DataPlane, auth: AuthServer
) -> None:
    plane.path_configured("cam", {"runOnDemand": PUBLISH, "runOnDemandCloseAfter": "1s"})
    code, _, err = await run(
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
        "stream=codec_name", "-of", "csv=p=0", f"rtsp://u:p@127.0.0.1:{plane.rtsp_port}/cam",
        timeout=60,
    )  # fmt: skip
    assert code == 0, err
    reads = [(b["user"], b["action"]) for b in auth.bodies if b["action"] == "read"]
    assert reads[0] == ("", "read") and ("u", "read") in reads  # challenged, then answered
    assert ("pub", "publish") in [(b["user"], b["action"]) for b in auth.bodies]


async def test_excluded_actions_are_not_asked(plane: DataPlane, auth: AuthServer) -> None:
    plane.configure_auth(
        {
            "authMethod": "http",
            "authHTTPAddress": auth.url,
            "authHTTPExclude": [{"action": "read", "path": "~^open"}],
        }
    )
    plane.path_configured("open1", {"runOnDemand": "sleep 30", "runOnDemandStartTimeout": "1s"})
    plane.path_configured("shut", {"runOnDemand": "sleep 30", "runOnDemandStartTimeout": "1s"})
    assert (await rtsp(plane.rtsp_port, "open1"))[0] == 404  # let through; no stream came
    assert auth.bodies == []
    assert (await rtsp(plane.rtsp_port, "shut"))[0] == 401
    assert [b["path"] for b in auth.bodies] == ["shut"]
