"""take_snapshot end to end: the real service over WebSocket, the MediaMTX double and its
real RTSP data plane (FFmpeg publishers), images checked with ffprobe. Each test owns
its stack (tests/support/media_stack.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from camera_service.app import Application
from camera_service.media.ffmpeg import snapshot_device_argv
from camera_service.media.grabber import SETTLE_LOOKS
from camera_service.storage.probe import image_info
from tests.rpc import RpcClient
from tests.support.hostile_names import RPC_NAMES
from tests.support.media_stack import MediaStack, MediaStackFactory
from tests.support.rtsp_server import RtspCamera

WAIT = 60.0  # generous: other test runs share the two cores
NAME = r"lab_snapshot_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d"
_ids = itertools.count(1)
HARDWARE_DEVICE = Path("/dev/video0")
HARDWARE = os.environ.get("CAMERA_SERVICE_HARDWARE") == "1" and HARDWARE_DEVICE.exists()


async def request(client: RpcClient, params: dict[str, Any]) -> dict[str, Any]:
    """take_snapshot's whole reply; cold captures take a while on a loaded machine."""
    rid = f"snap-{next(_ids)}"
    msg = {"jsonrpc": "2.0", "method": "take_snapshot", "params": params, "id": rid}
    reply: dict[str, Any] = await client.send_raw(orjson.dumps(msg).decode(), rid, WAIT)
    return reply


async def snapshot(client: RpcClient, **params: Any) -> dict[str, Any]:
    reply = await request(client, {"device": "lab", **params})
    assert "error" not in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


async def error(client: RpcClient, **params: Any) -> dict[str, Any]:
    reply = await request(client, params)
    assert "error" in reply, reply
    err: dict[str, Any] = reply["error"]
    return err


async def ffprobe(path: Path) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
        "-of", "json", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    [stream] = json.loads(out)["streams"]
    return dict(stream)


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def media_files(app: Application) -> list[str]:
    return names_in(app.paths.snapshots)


def assert_completed(app: Application, result: dict[str, Any], fmt: str, source: str) -> Path:
    assert result["status"] == "completed" and result["success"] is True, result
    assert result["source"] == source and result["format"] == fmt
    assert result["resolution"] == "640x360" and result["capture_time_ms"] > 0
    assert result["device"] == "lab" and result["camera_id"] == "lab"
    assert result["timestamp"].endswith("Z") and "error" not in result
    path: Path = app.paths.snapshots / result["filename"]
    assert result["file_path"] == str(path)
    assert result["download_url"] == f"/files/snapshots/{result['filename']}"
    assert path.stat().st_size == result["file_size"] > 0
    return path


async def stream_closed(stack: MediaStack) -> None:
    """Nobody reads ``lab`` and its on-demand publisher is gone."""
    await stack.plane.wait_state("lab", lambda s: not s["ready"] and not s["readers"], WAIT)


async def grabbing(app: Application, camera_id: str = "lab") -> None:
    """The camera's grabber has delivered a keyframe."""
    pool = app.grabbers

    def attached() -> bool:
        grabber = pool.grabbers.get(camera_id)
        return grabber is not None and grabber.attached

    await pool.wait_until(attached, WAIT)


# --- images ----------------------------------------------------------------------------------


async def test_cold_snapshots_are_valid_jpeg_and_png_of_the_stream(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    app, client = stack.app, await stack.client("operator")
    await stack.path_ready()
    await stream_closed(stack)  # nobody watches: the snapshot has to start the stream

    jpg = await snapshot(client)
    path = assert_completed(app, jpg, "jpg", "stream")
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert path.suffix == ".jpg" and path.stem.startswith("lab_snapshot_")
    assert await ffprobe(path) == {"codec_name": "mjpeg", "width": 640, "height": 360}

    png = await snapshot(client, format="png")
    path = assert_completed(app, png, "png", "stream")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert await ffprobe(path) == {"codec_name": "png", "width": 640, "height": 360}

    low = await snapshot(client, quality=5, filename="low")
    high = await snapshot(client, quality=100, filename="high")
    assert (low["filename"], high["filename"]) == ("low.jpg", "high.jpg")
    assert low["file_size"] < high["file_size"]
    # One-shot readers of our own never count as viewers: no grabber was started.
    assert app.grabbers.processes == 0 and not app.grabbers.grabbers
    assert app.snapshots.processes == 4
    assert not [n for n in media_files(app) if n.startswith(".")]  # no temporary left


async def test_warm_camera_snapshots_start_no_process(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(snapshots={"warm": ["lab"]})
    app, client = stack.app, await stack.client("operator")
    await grabbing(app)
    started = app.snapshots.processes, app.grabbers.processes

    for _ in range(3):
        assert_completed(app, await snapshot(client), "jpg", "warm")
    assert (app.snapshots.processes, app.grabbers.processes) == started
    # Another format than the kept one is captured from the (running) stream.
    assert_completed(app, await snapshot(client, format="png"), "png", "stream")
    assert_completed(app, await snapshot(client, quality=50), "jpg", "stream")
    assert app.grabbers.processes == started[1]  # the grabber kept running throughout


async def test_a_viewer_makes_the_grabber_attach_and_its_leaving_detaches_it(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    app, client = stack.app, await stack.client("operator")
    await stack.path_ready()
    viewer = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", stack.reader_url("lab"),
        "-f", "null", "-",
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await grabbing(app)
        before = app.snapshots.processes
        assert_completed(app, await snapshot(client), "jpg", "warm")
        assert app.snapshots.processes == before
    finally:
        viewer.kill()
        await viewer.wait()
    # Only our grabber reads now: it lets go, so the on-demand stream can close.
    await app.grabbers.wait_until(lambda: "lab" not in app.grabbers.grabbers, WAIT)
    await stream_closed(stack)


async def test_a_recording_is_ours_not_a_viewer_and_starts_no_grabber(
    media_stack: MediaStackFactory,
) -> None:
    """The recording's stream holder reads the path, and MediaMTX counts it; it is not
    someone watching, so it must not cost a grabber (an FFmpeg, ~17 MB) per camera."""
    stack = await media_stack()
    app, client = stack.app, await stack.client("operator")
    await stack.path_ready()
    await client.call("start_recording", {"device": "lab"})

    def read_by_us() -> bool:
        state = app.media.streams.get("lab")
        return state is not None and state.readers >= 1

    await app.media.wait_until(read_by_us, WAIT)
    looks = app.grabbers.looks
    # Judged on fresh counts only (SETTLE_LOOKS of them after our reader started).
    await app.media.wait_until(lambda: app.grabbers.looks >= looks + SETTLE_LOOKS, WAIT)
    await app.grabbers.sync()
    assert "lab" not in app.grabbers.grabbers and app.grabbers.processes == 0
    await client.call("stop_recording", {"device": "lab"})


# --- names --------------------------------------------------------------------------------------


async def test_names_never_overwrite(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(snapshots={"warm": ["lab"]})  # fast: no process per shot
    app, client = stack.app, await stack.client("operator")
    await grabbing(app)
    names = [(await snapshot(client, filename="door"))["filename"] for _ in range(3)]
    assert names == ["door.jpg", "door_1.jpg", "door_2.jpg"]
    assert (await snapshot(client, filename="door.png"))["filename"] == "door.png"
    assert (await snapshot(client, filename="door.png"))["filename"] == "door_1.png"
    default = (await snapshot(client))["filename"]
    assert re.fullmatch(NAME + r"(_\d+)?\.jpg", default)
    assert media_files(app) == sorted([*names, "door.png", "door_1.png", default])
    contradiction = await error(client, device="lab", filename="door.png", format="jpg")
    assert contradiction["code"] == -32602 and "filename" in contradiction["message"]


async def test_hostile_filenames_are_refused_and_write_nothing(
    media_stack: MediaStackFactory, tmp_path: Path
) -> None:
    stack = await media_stack(security={"rate_limit": {"requests_per_minute": 100_000}})
    app, client = stack.app, await stack.client("operator")
    before_outside = names_in(tmp_path)
    for name in RPC_NAMES:
        if name is None:
            continue  # an explicit null is "not given": the default name
        err = await error(client, device="lab", filename=name)
        assert err["code"] == -32602, (name, err)
        assert "filename" in err["message"] and "/" not in err["message"].split(":", 1)[1]
    for params in (
        {"format": "gif"},
        {"format": "JPG"},
        {"quality": 0},
        {"quality": 101},
        {"quality": "85"},
        {"quality": 85.5},
        {"quality": True},
    ):
        err = await error(client, device="lab", **params)
        assert err["code"] == -32602 and next(iter(params)) in err["message"], (params, err)
    assert media_files(app) == []
    assert names_in(tmp_path) == before_outside
    assert app.snapshots.processes == 0


# --- refusals and failures ---------------------------------------------------------------------


async def test_unknown_or_malformed_camera(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    client = await stack.client("operator")
    unknown = await error(client, device="nosuch")
    assert unknown["code"] == -1000 and "nosuch" in unknown["message"]
    missing = await error(client, device="/dev/video7")
    assert missing["code"] == -1000
    for bad in ("../lab", "/dev/video", -5, ""):  # N >= 0 would be /dev/videoN
        assert (await error(client, device=bad))["code"] == -32602
    viewer = await stack.client("viewer")
    denied = await request(viewer, {"device": "lab"})
    assert denied["error"]["code"] == -32003
    assert media_files(stack.app) == []


async def test_storage_critical_refuses_and_writes_nothing(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(storage={"warn_percent": 0.01, "block_percent": 0.02})
    client = await stack.client("operator")
    err = await error(client, device="lab")
    assert err["code"] == -1010 and "/" not in err["message"]
    assert media_files(stack.app) == [] and stack.app.snapshots.processes == 0


async def test_storage_warn_still_allows_snapshots(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(storage={"warn_percent": 0.01, "block_percent": 100})
    client = await stack.client("operator")
    await stack.path_ready()
    assert_completed(stack.app, await snapshot(client), "jpg", "stream")


async def test_a_stream_that_cannot_come_up_is_a_failed_result(
    media_stack: MediaStackFactory,
) -> None:
    # No NVIDIA encoder here: the publisher dies at once, so the path never gets ready.
    stack = await media_stack(mediamtx={"encoder": "h264_nvenc", "on_demand_start_timeout": 2.0})
    client = await stack.client("operator")
    await stack.path_ready()
    result = await snapshot(client, filename="never")
    assert result["status"] == "FAILED" and result["success"] is False
    assert result["source"] == "stream" and result["error"] == "the stream is not available"
    assert result["file_size"] == 0 and result["filename"] == "never.jpg"
    assert media_files(stack.app) == []


async def test_mediamtx_down_rtsp_camera_is_read_directly(
    media_stack: MediaStackFactory,
) -> None:
    async with RtspCamera(640, 360, 15, user="snap", password="pw-Secr3t") as cam:
        gate = {
            "type": "rtsp", "id": "gate", "url": cam.url,
            "username": "snap", "password": "pw-Secr3t",
        }  # fmt: skip
        lab = {"type": "test", "id": "lab", "resolution": "640x360", "fps": 15}
        stack = await media_stack(cameras={"sources": [lab, gate], "rtsp_check_interval": 1.0})
        app, client = stack.app, await stack.client("operator")
        await stack.path_ready("gate")
        async with stack.mtx.stopped():
            await app.media.wait_until(lambda: not app.media.reachable, WAIT)
            await wait_connected(client, app, "gate")
            direct = await request(client, {"device": "gate", "format": "png"})
            result = direct["result"]
            assert result["status"] == "completed" and result["source"] == "device", result
            assert result["resolution"] == "640x360" and result["filename"].startswith("gate_")
            assert "pw-Secr3t" not in json.dumps(direct)
            # A test pattern has nothing to read without MediaMTX.
            lab_result = await snapshot(client)
            assert lab_result["status"] == "FAILED"
            assert lab_result["error"] == "MediaMTX is unavailable"


async def wait_connected(client: RpcClient, app: Application, camera_id: str) -> None:
    camera = app.parts.cameras.get(camera_id)
    if camera is not None and camera.connected:
        return
    async with asyncio.timeout(WAIT):
        while True:
            note = await client.notification(WAIT)
            params = note["params"]
            if note["method"] == "camera_status_update" and params["camera_id"] == camera_id:
                assert params["status"] != "ERROR", params
                if params["status"] == "CONNECTED":
                    return


# --- notification ---------------------------------------------------------------------------------


async def test_snapshot_taken_is_notified_to_subscribers(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    watcher, operator = await stack.client("viewer"), await stack.client("operator")
    subscribed = await watcher.call("subscribe_events", {"topics": ["snapshot_taken"]})
    assert subscribed["topics"] == ["snapshot_taken"]
    await stack.path_ready()
    result = await snapshot(operator, filename="porch")
    async with asyncio.timeout(WAIT):
        note = await watcher.notification(WAIT)
        while note["method"] != "snapshot_taken":  # sent before the subscription took effect
            note = await watcher.notification(WAIT)
    assert note["params"] == {
        "device": "lab",
        "camera_id": "lab",
        "filename": "porch.jpg",
        "file_size": result["file_size"],
        "timestamp": result["timestamp"],
        "source": "stream",
        "format": "jpg",
        "resolution": "640x360",
    }


@pytest.mark.hardware
@pytest.mark.skipif(not HARDWARE, reason="needs CAMERA_SERVICE_HARDWARE=1 and a /dev/video0")
async def test_device_capture_from_a_real_v4l2_camera() -> None:
    """FFmpeg reads the device itself (the ``device`` source), in a mode UVC cameras offer."""
    argv = snapshot_device_argv("ffmpeg", HARDWARE_DEVICE, "YUYV", 640, 480, "jpg", 85)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    info = image_info(lambda offset, size: out[offset : offset + size])
    assert info is not None and (info.format, info.width, info.height) == ("jpg", 640, 480)
