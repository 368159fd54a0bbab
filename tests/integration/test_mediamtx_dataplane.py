"""The MediaMTX double's RTSP data plane: rtsp-server-perl behind an RTSP-aware proxy.

Real processes throughout: the relay, FFmpeg publishers started as ``runOnDemand``
commands, an FFmpeg relay for ``source`` paths, the GStreamer camera, ffprobe readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mediamtx.dataplane import (
    DataPlane,
    command_argv,
    expand_env,
    parse_duration,
    sdp_codecs,
)
from tests.support.processes import run
from tests.support.rtsp_server import RtspCamera

# What the service generates for a test-pattern camera: H.264, yuv420p, GOP = 1 s.
PUBLISH = (
    "ffmpeg -hide_banner -loglevel warning -re -f lavfi -i testsrc2=size=640x360:rate=15 "
    "-c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p -g 15 "
    "-f rtsp rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH"
)
PUBLISH_TCP = PUBLISH.replace("-f rtsp ", "-f rtsp -rtsp_transport tcp ")

media = pytest.mark.needs("ffmpeg", "ffprobe", "rtsp-server-perl")


@pytest.fixture
async def plane() -> AsyncIterator[DataPlane]:
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0) as dp:
        yield dp


async def probe(url: str, transport: str = "tcp") -> dict[str, Any]:
    # A 1 s analysis window: ffprobe's default spends ~3 s estimating the frame rate.
    code, out, err = await run(
        "ffprobe", "-v", "error", "-rtsp_transport", transport, "-analyzeduration", "1000000",
        "-select_streams", "v", "-show_streams", "-of", "json", url,
    )  # fmt: skip
    assert code == 0, err
    streams: list[dict[str, Any]] = json.loads(out)["streams"]
    assert streams, out
    return streams[0]


async def rtsp_request(port: int, method: str, path: str) -> tuple[int, str]:
    """One bare RTSP request on its own connection: (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        url = f"rtsp://127.0.0.1:{port}/{path}"
        writer.write(f"{method} {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        async with asyncio.timeout(15):
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
        return status, body.decode()
    finally:
        writer.close()


def assert_h264_640x360(stream: dict[str, Any]) -> None:
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 360)


# -- pure helpers


def test_durations_parse_like_go() -> None:
    assert parse_duration("10s") == 10
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("0s") == parse_duration("0") == 0
    assert parse_duration(None) == 10  # MediaMTX's default timeouts
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("10 seconds")


def test_commands_split_without_a_shell_then_expand() -> None:
    env = {"MTX_PATH": "cam 1", "RTSP_PORT": "8554"}
    argv = command_argv("ffmpeg -i 'a b' rtsp://h:$RTSP_PORT/${MTX_PATH} $$ $ x$", env)
    assert argv == [
        "ffmpeg",
        "-i",
        "a b",
        "rtsp://h:8554/cam 1",
        os.environ.get("$", ""),
        "$",
        "x$",
    ]
    assert expand_env("$NOT_SET_ANYWHERE_X|${}|$1", {}) == "||"


def test_tracks_come_from_the_sdp() -> None:
    sdp = (
        "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        "m=audio 0 RTP/AVP 0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n"
    )
    assert sdp_codecs(sdp) == ["H264", "G711", "Opus"]


# -- the data plane


@media
async def test_on_demand_publisher_runs_only_while_read(plane: DataPlane) -> None:
    plane.path_configured("cam1", {"runOnDemand": PUBLISH, "runOnDemandCloseAfter": "1s"})
    idle = plane.path_state("cam1")
    assert idle is not None and not idle["ready"] and idle["source"] is None
    assert plane.publisher_process("cam1") is None  # nothing runs before a reader comes

    assert_h264_640x360(await probe(plane.url("cam1"), "tcp"))

    proc = plane.publisher_process("cam1")
    assert proc is not None and proc.returncode is None
    # ffprobe has gone; the data plane sees its connection close a moment later
    state = await plane.wait_state("cam1", lambda s: not s["readers"], 5)
    assert state["ready"] and state["readyTime"]
    assert state["tracks"] == ["H264"] and state["source"]["type"] == "rtspSession"
    assert state["bytesReceived"] > 0 and state["bytesSent"] > 0

    left = time.monotonic()
    await asyncio.wait_for(proc.wait(), 6)  # runOnDemandCloseAfter, then SIGINT
    assert time.monotonic() - left >= 0.9
    state = await plane.wait_state("cam1", lambda s: not s["ready"], 5)
    assert state["source"] is None and state["bytesReceived"] == 0


@media
async def test_udp_reader_is_listed_while_it_reads(plane: DataPlane) -> None:
    plane.path_configured("cam2", {"runOnDemand": PUBLISH, "runOnDemandCloseAfter": "30s"})
    url = plane.url("cam2")
    argv = ["ffmpeg", "-v", "error", "-rtsp_transport", "udp", "-analyzeduration", "1000000"]
    argv += ["-i", url, "-frames:v", "20"]
    reader = asyncio.create_task(run(*argv, "-f", "null", "-"))
    try:
        state = await plane.wait_state("cam2", lambda s: len(s["readers"]) == 1, 15)
        assert state["readers"][0]["type"] == "rtspSession"
        code, _, err = await reader
        assert code == 0, err
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    state = await plane.wait_state("cam2", lambda s: not s["readers"], 5)
    assert state["ready"] and state["bytesSent"] > 0
    assert_h264_640x360(await probe(plane.url("cam2"), "udp"))


@media
async def test_path_removed_stops_the_publisher(plane: DataPlane) -> None:
    plane.path_configured("cam3", {"runOnDemand": PUBLISH_TCP, "runOnDemandCloseAfter": "60s"})
    status, sdp = await rtsp_request(plane.rtsp_port, "DESCRIBE", "cam3")
    assert status == 200 and "H264" in sdp  # a TCP-interleaved publisher is relayed too
    proc = plane.publisher_process("cam3")
    assert proc is not None

    plane.path_removed("cam3")

    await asyncio.wait_for(proc.wait(), 5)
    assert plane.path_state("cam3") is None
    assert (await rtsp_request(plane.rtsp_port, "DESCRIBE", "cam3"))[0] == 404


@media
async def test_start_timeout_answers_404_and_stops_the_command(plane: DataPlane) -> None:
    plane.path_configured("slow", {"runOnDemand": "sleep 30", "runOnDemandStartTimeout": "1s"})
    describe = asyncio.create_task(rtsp_request(plane.rtsp_port, "DESCRIBE", "slow"))
    proc = await plane.wait_publisher_process("slow", 5)
    started = time.monotonic()
    assert (await describe)[0] == 404
    assert time.monotonic() - started < 3
    await asyncio.wait_for(proc.wait(), 5)
    assert (await rtsp_request(plane.rtsp_port, "DESCRIBE", "nowhere"))[0] == 404


@media
async def test_regex_path_command_gets_mediamtx_env(plane: DataPlane, tmp_path: Path) -> None:
    out = tmp_path / "env"
    cmd = f"sh -c 'echo $MTX_PATH $G1 $MTX_QUERY $RTSP_PORT > {out}'"
    plane.path_configured("~^re(\\d)$", {"runOnDemand": cmd})
    # The command exits without publishing: the reader is told at once, not at the timeout.
    assert (await rtsp_request(plane.rtsp_port, "DESCRIBE", "re7?x=1"))[0] == 404
    assert out.read_text().split() == ["re7", "7", "x=1", str(plane.rtsp_port)]
    assert plane.path_state("re7") is not None and plane.path_state("re8") is None


@media
async def test_killed_publisher_is_restarted(plane: DataPlane) -> None:
    # SIGKILL: no TEARDOWN reaches the relay, so this also checks that the proxy unmounts
    # the stale stream; otherwise the relay would answer the new ANNOUNCE with 403.
    conf = {"runOnDemand": PUBLISH, "runOnDemandRestart": True, "runOnDemandCloseAfter": "30s"}
    plane.path_configured("cam4", conf)
    assert (await rtsp_request(plane.rtsp_port, "DESCRIBE", "cam4"))[0] == 200
    first = plane.publisher_process("cam4")
    assert first is not None
    first_ready = plane.path_state("cam4")["readyTime"]  # type: ignore[index]

    os.killpg(first.pid, signal.SIGKILL)

    second = await plane.wait_publisher_process("cam4", 5, not_pid=first.pid)
    state = await plane.wait_state(
        "cam4", lambda s: s["ready"] and s["readyTime"] != first_ready, 10
    )
    assert state["tracks"] == ["H264"] and second.returncode is None


@media
async def test_source_path_relays_an_rtsp_camera(plane: DataPlane) -> None:
    async with RtspCamera(640, 360, 15) as camera:
        plane.path_configured("ipcam", {"source": camera.url})  # pulled at once
        plane.path_configured("ipcam-od", {"source": camera.url, "sourceOnDemand": True})

        state = await plane.wait_state("ipcam", lambda s: s["ready"], 20)
        assert state["source"] == {"type": "rtspSource", "id": ""}
        assert state["tracks"] == ["H264"]
        assert_h264_640x360(await probe(plane.url("ipcam"), "tcp"))

        assert plane.publisher_process("ipcam-od") is None
        assert_h264_640x360(await probe(plane.url("ipcam-od"), "udp"))
        assert plane.publisher_process("ipcam-od") is not None
