"""Recordings end to end: start_recording / stop_recording over WebSocket, MediaMTX's
native recorder (the double's FFmpeg recorder), its segment hooks, real files checked
with ffprobe. Each test owns its stack (tests/support/media_stack.py)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from camera_service.app import Application
from camera_service.app.parts import RecordingFields
from camera_service.config import Settings
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.media_stack import LAB, MediaStack, MediaStackFactory
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.mediamtx.fixtures import assert_no_violations
from tests.support.service_process import ServiceProcess, listed_after_restart, write_config

SEGMENT_NAME = re.compile(r"lab_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.(mp4|ts)")
YARD = {"type": "test", "id": "yard", "resolution": "320x180", "fps": 15}
WAIT = 60.0  # generous: other test runs share the two cores


async def status_update(client: RpcClient, status: str, timeout: float = WAIT) -> dict[str, Any]:
    """The next recording_status_update with ``status`` (other notifications skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            note = await client.notification(timeout)
            if note["method"] == "recording_status_update":
                params: dict[str, Any] = note["params"]
                if params["status"] == status:
                    return params
                assert params["status"] != "FAILED", params


async def ffprobe(path: Path) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries",
        "format=duration,format_name:stream=codec_name,width,height",
        "-of", "json", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    info: dict[str, Any] = json.loads(out)
    return info


async def playable(path: Path) -> float:
    """The media duration of a playable H.264 640x360 file, in seconds."""
    info = await ffprobe(path)
    [video] = info["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)
    duration = float(info["format"]["duration"])
    assert duration > 0
    return duration


async def rpc_error(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(method, params)
    assert "error" in reply, reply
    error: dict[str, Any] = reply["error"]
    return error


def patches(stack: MediaStack) -> int:
    return sum(1 for r in stack.mtx.requests if r.method == "PATCH")


async def test_duration_recording_survives_its_client_and_stops_on_time(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    watcher = await stack.client("admin")
    starter = await stack.client("operator")
    started = await starter.call("start_recording", {"device": "lab", "duration_seconds": 5})
    assert started["status"] == "STARTED" and started["success"] is True
    assert started["duration"] == 5 and started["format"] == "mp4"
    assert started["device"] == "lab" and SEGMENT_NAME.fullmatch(started["filename"])
    await starter.close()  # the recording belongs to the service, not to this connection

    note = await status_update(watcher, "STARTED")
    assert note["session_id"] == started["session_id"] and note["camera_id"] == "lab"
    name = note["filename"]  # the real name, from MediaMTX's create hook
    assert SEGMENT_NAME.fullmatch(name) and (stack.app.paths.recordings / name).is_file()
    status = await watcher.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is True and status["recording_session"] == started["session_id"]
    assert status["current_file"] == name and status["elapsed_time"] >= 0
    listed = (await watcher.call("get_camera_list"))["cameras"]
    assert [c["recording"] for c in listed if c["camera_id"] == "lab"] == [True]
    assert (await watcher.call("get_metrics"))["recordings_active"] == 1

    stopped = await status_update(watcher, "STOPPED")
    assert stopped["reason"] == "duration" and stopped["files"] == [name]
    assert stopped["session_id"] == started["session_id"] and stopped["file_size"] > 0
    media = await playable(stack.app.paths.recordings / name)
    assert abs(media - 5.0) <= 0.5, media
    assert abs(stopped["duration"] - media) < 0.1
    status = await watcher.call("get_camera_status", {"device": "lab"})
    assert status["recording"] is False and status["recording_session"] is None
    assert stack.mtx.path_conf("lab")["record"] is False  # type: ignore[index]


async def test_one_recording_per_camera_stop_when_idle_and_ts(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    idle = await rpc_error(client, "stop_recording", {"device": "lab"})
    assert idle["code"] == -1003
    assert idle["message"].startswith("MediaMTX operation failed:")
    assert "not recording" in idle["message"]

    started = await client.call("start_recording", {"device": "lab", "format": "ts"})
    assert started["duration"] is None and started["filename"].endswith(".ts")
    again = await rpc_error(client, "start_recording", {"device": "lab"})
    assert again["code"] == -1006
    assert again["data"] == {"camera_id": "lab", "session_id": started["session_id"]}
    name = (await status_update(client, "STARTED"))["filename"]
    assert name.endswith(".ts")

    result = await client.call("stop_recording", {"device": "lab"})
    assert result["status"] == "STOPPED" and result["success"] is True
    assert result["session_id"] == started["session_id"] and result["files"] == [name]
    assert result["filename"] == name and result["file_size"] >= 0  # as written so far
    assert result["start_time"].endswith("Z") and result["end_time"].endswith("Z")
    stopped = await status_update(client, "STOPPED")  # final: the last segment is closed
    assert stopped["reason"] == "requested" and stopped["files"] == [name]
    assert stopped["file_size"] == (stack.app.paths.recordings / name).stat().st_size > 0
    info = await ffprobe(stack.app.paths.recordings / name)
    assert info["format"]["format_name"] == "mpegts" and float(info["format"]["duration"]) > 0
    conf = stack.mtx.path_conf("lab")
    assert conf is not None and conf["record"] is False and conf["recordFormat"] == "fmp4"


async def test_stop_returns_every_segment(
    media_stack: MediaStackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The config's shortest segment is a minute; MediaMTX itself takes any length.
    fields = RecordingFields.__call__
    monkeypatch.setattr(
        RecordingFields,
        "__call__",
        lambda self: {**fields(self), "recordSegmentDuration": "2s"},
    )
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    await client.call("start_recording", {"device": "lab"})
    await stack.plane.wait_segments("lab", 2, WAIT, complete=False)
    async with asyncio.timeout(WAIT):  # the second create hook reaches the service
        while len(stack.app.recordings.active["lab"].segments) < 2:
            await stack.plane.wait_segments(
                "lab", len(stack.plane.segments("lab")) + 1, WAIT, complete=False
            )
    result = await client.call("stop_recording", {"device": "lab"})
    assert len(result["files"]) >= 2
    stopped = await status_update(client, "STOPPED")
    written = [seg.file.name for seg in await stack.plane.wait_recording_done("lab", WAIT)]
    assert stopped["files"] == written and written[: len(result["files"])] == result["files"]
    for name in written:
        await playable(stack.app.paths.recordings / name)


async def test_mediamtx_restart_finalizes_the_recording(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    await client.call("start_recording", {"device": "lab"})
    name = (await status_update(client, "STARTED"))["filename"]
    await stack.mtx.restart()
    stopped = await status_update(client, "STOPPED")
    assert stopped["reason"] == "mediamtx_restarted" and stopped["files"] == [name]
    await playable(stack.app.paths.recordings / name)
    # The path comes back as the service wants it now: not recording.
    await stack.app.media.wait_until(
        lambda: (stack.mtx.path_conf("lab") or {}).get("record") is False, WAIT
    )
    assert (await client.call("get_camera_status", {"device": "lab"}))["recording"] is False


async def test_unplug_finalizes_the_recording(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    await client.call("start_recording", {"device": "lab"})
    name = (await status_update(client, "STARTED"))["filename"]
    app = stack.app
    # The camera goes away: its source is removed from the config (a SIGHUP reload).
    cameras = app.settings.cameras.model_copy(update={"sources": []})
    app.settings = app.settings.model_copy(update={"cameras": cameras})
    for listener in app.live.listeners:
        listener(app.settings, ["cameras.sources"])
    stopped = await status_update(client, "STOPPED")
    assert stopped["reason"] == "unplugged" and stopped["files"] == [name]
    await playable(app.paths.recordings / name)
    await app.media.wait_until(lambda: "lab" not in stack.mtx.path_names(), WAIT)


async def test_storage_and_capacity_refuse_without_touching_mediamtx(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack(
        cameras={"sources": [LAB, YARD]},
        resources={"max_recordings": 1},
        storage={"warn_percent": 0.01, "block_percent": 0.02},  # any real disk is critical
    )
    await stack.path_ready("lab")
    await stack.path_ready("yard")
    client = await stack.client("operator")
    before = patches(stack)
    critical = await rpc_error(client, "start_recording", {"device": "lab"})
    assert critical["code"] == -1010 and "/" not in critical["message"]
    app = stack.app
    storage = app.settings.storage.model_copy(update={"warn_percent": 0.01, "block_percent": 100})
    app.settings = app.settings.model_copy(update={"storage": storage})
    low = await rpc_error(client, "start_recording", {"device": "lab"})
    assert low["code"] == -1008
    assert patches(stack) == before
    assert (await client.call("get_camera_status", {"device": "lab"}))["recording"] is False

    storage = app.settings.storage.model_copy(update={"warn_percent": 99.9, "block_percent": 100})
    app.settings = app.settings.model_copy(update={"storage": storage})
    started = await client.call("start_recording", {"device": "lab"})
    full = await rpc_error(client, "start_recording", {"device": "yard"})
    assert full["code"] == -1012 and full["data"] == {
        "reason": "capacity_exceeded",
        "resource": "recordings",
        "limit": 1,
        "active": 1,
    }
    await client.call("stop_recording", {"device": "lab"})
    assert (await status_update(client, "STOPPED"))["session_id"] == started["session_id"]

    # MediaMTX's API down (its paths kept): -1003 and nothing changed.
    async with stack.mtx.stopped(lose_state=False):
        failed = await rpc_error(client, "start_recording", {"device": "yard"})
    assert failed["code"] == -1003 and failed["message"].startswith("MediaMTX operation failed:")
    assert app.recordings.active == {}
    assert app.media.record_state.fields("yard")["record"] is False
    assert (stack.mtx.path_conf("yard") or {}).get("record") is False


async def test_shutdown_finalizes_and_tells_clients(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    await client.call("start_recording", {"device": "lab"})
    name = (await status_update(client, "STARTED"))["filename"]
    stopping = asyncio.ensure_future(stack.app.stop())
    stopped = await status_update(client, "STOPPED")  # before the connection closes
    assert stopped["reason"] == "shutdown" and stopped["files"] == [name]
    await asyncio.wait_for(stopping, WAIT)
    assert (stack.mtx.path_conf("lab") or {}).get("record") is False
    await playable(stack.app.paths.recordings / name)


# --- params and refusals without MediaMTX -------------------------------------------------


@pytest.fixture
async def lab_only(tmp_path: Path) -> AsyncIterator[Application]:
    """A live test camera, MediaMTX unreachable (a closed port)."""
    app = Application(make_settings(tmp_path, cameras={"sources": [LAB]}))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"duration": 5, "duration_minutes": 1}, "duration_minutes"),
        ({"duration_seconds": 5, "duration_hours": 1}, "duration_hours"),
        ({"duration": 0}, "duration"),
        ({"duration": 86401}, "duration"),
        ({"duration_seconds": -5}, "duration_seconds"),
        ({"duration_minutes": 1441}, "duration_minutes"),
        ({"duration_hours": 25}, "duration_hours"),
        ({"duration_hours": 0.5}, "duration_hours"),
        ({"duration": "5"}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": [5]}, "duration"),
        ({"format": "avi"}, "format"),
        ({"format": "MP4"}, "format"),
        ({"format": 1}, "format"),
        ({"device": "../lab"}, "device"),
        ({"device": None}, "device"),
    ],
)
async def test_bad_params_are_refused_naming_the_param(
    lab_only: Application, params: dict[str, Any], param: str
) -> None:
    client = await RpcClient.connect(f"ws://127.0.0.1:{lab_only.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("operator")})
        error = await rpc_error(client, "start_recording", {"device": "lab", **params})
        assert error["code"] == -32602 and param in error["message"], error
        assert error["data"]["param"] == param
        assert lab_only.recordings.active == {}
    finally:
        await client.close()


async def test_refusals_without_a_camera_or_mediamtx(lab_only: Application) -> None:
    client = await RpcClient.connect(f"ws://127.0.0.1:{lab_only.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("viewer")})
        denied = await rpc_error(client, "start_recording", {"device": "lab"})
        assert denied["code"] == -32003 and "operator" in denied["message"]
        await client.call("authenticate", {"auth_token": make_token("operator")})
        for device in ("nope", "/dev/video7"):
            missing = await rpc_error(client, "start_recording", {"device": device})
            assert missing["code"] == -1000
        down = await rpc_error(client, "start_recording", {"device": "lab", "duration": 5})
        assert down["code"] == -1003 and down["message"].startswith("MediaMTX operation failed:")
        assert lab_only.recordings.active == {}
        status = await client.call("get_camera_status", {"device": "lab"})
        assert status["recording"] is False and status["recording_session"] is None
        idle = await rpc_error(client, "stop_recording", {"device": "lab"})
        assert idle["code"] == -1003 and "not recording" in idle["message"]
    finally:
        await client.close()


# --- SIGTERM: the real service process --------------------------------------------------


def write_media_config(path: Path, data_dir: Path, mtx: MediaMtxDouble, plane: DataPlane) -> None:
    media = {
        "api_url": mtx.api_url,
        "rtsp_port": plane.rtsp_port,
        "check_interval": 0.1,
        "on_demand_close_after": 2.0,
    }
    write_config(path, data_dir, mediamtx=media, cameras={"sources": [LAB], "poll_interval": 30.0})
    Settings.model_validate(yaml.safe_load(path.read_text()))  # valid as written


async def test_sigterm_during_a_recording_leaves_a_playable_file(tmp_path: Path) -> None:
    config, data_dir = tmp_path / "config.yaml", tmp_path / "data"
    async with (
        DataPlane(restart_pause=0.2, stop_timeout=5.0, work_dir=tmp_path) as plane,
        MediaMtxDouble(work_dir=tmp_path, data_plane=plane) as mtx,
    ):
        write_media_config(config, data_dir, mtx, plane)
        service = await ServiceProcess.start(config)
        client: RpcClient | None = None
        try:
            client = await RpcClient.connect(service.ws_url)
            await client.call("authenticate", {"auth_token": make_token("operator")})
            await mtx.wait_for_request(lambda r: r.path == "/v3/config/paths/add/lab", timeout=WAIT)
            await client.call("start_recording", {"device": "lab"})
            name = (await status_update(client, "STARTED"))["filename"]

            service.proc.send_signal(signal.SIGTERM)
            stopped = await status_update(client, "STOPPED")
            assert stopped["reason"] == "shutdown" and stopped["files"] == [name]
            assert await client.wait_closed() == 1001
            assert await service.exit_code() == 0
        finally:
            if client is not None:
                await client.close()
            await service.kill()
        conf = mtx.path_conf("lab")
        assert conf is not None and conf["record"] is False
        recording = data_dir / "recordings" / name
        await playable(recording)
        assert_no_violations(mtx)

        # Started again on the same data dir, the service lists the file.
        files = await listed_after_restart(config, "lab")
        assert [f["filename"] for f in files] == [name]
        assert files[0]["file_size"] == recording.stat().st_size
