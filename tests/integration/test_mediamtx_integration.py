"""The service against MediaMTX: paths follow cameras, come back after a MediaMTX
restart, foreign paths are left alone, MediaMTX down degrades the service with one
stable reason and fails requests at once, its return is seen at the next check, and a
reader of a camera's URL gets real video.

Tests marked ``live_mediamtx`` run against the OpenAPI-checked double with its real
RTSP data plane by default, and unchanged against a real MediaMTX when
``MEDIAMTX_BIN`` is set (tests/support/mediamtx/backends.py). The double fails a test
if the service ever sends something MediaMTX's published spec forbids.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from camera_service.app import Application
from camera_service.media.mediamtx import MediaMtxUnavailable
from camera_service.observability.health import Status
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.mediamtx.backends import (
    DoubleBackend,
    LiveBackend,
    add_foreign_path,
    path_conf,
    start_backend,
    wait_path,
)
from tests.support.mediamtx.double import RecordedRequest
from tests.support.mediamtx.fixtures import MediaMtxFactory
from tests.support.v4l2tree import FakeV4l2Tree

LAB = {"type": "test", "id": "lab", "resolution": "640x360", "fps": 15}


def adds(name: str) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.method == "POST" and r.path == f"/v3/config/paths/add/{name}"


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[DoubleBackend | LiveBackend]:
    work = tmp_path / "mediamtx"
    work.mkdir()
    b = await start_backend(work)
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
async def service_with(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    apps: list[Application] = []

    async def start(mtx: Any, **cameras: Any) -> Application:
        settings = make_settings(
            tmp_path,
            mediamtx={
                "api_url": mtx.api_url,
                "rtsp_port": getattr(mtx, "rtsp_port", 8554),
                "check_interval": 0.1,
                "request_timeout": 1.0,
            },
            cameras={"poll_interval": 30.0, **cameras},
        )
        app = Application(settings)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop()


@pytest.mark.live_mediamtx
async def test_paths_follow_cameras_and_return_after_a_restart(
    backend: DoubleBackend | LiveBackend, service_with: Any, tmp_path: Path
) -> None:
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    app = await service_with(
        backend,
        sources=[LAB],
        device_root=str(tree.device_root),
        sysfs_root=str(tree.sysfs_root),
        v4l2_ctl=str(tree.v4l2_ctl),
    )
    await wait_path(backend.api_url, "lab")
    conf = await path_conf(backend.api_url, "lab")
    assert conf is not None and "testsrc2=size=640x360:rate=15" in conf["runOnDemand"]
    assert conf["runOnDemandRestart"] is True

    # hot-plug: a new USB camera gets a path once its formats are known; unplug removes it
    tree.add_camera(0, "C920", "046d", "082d", serial="S1")
    await wait_path(backend.api_url, "camera0")
    conf = await path_conf(backend.api_url, "camera0")
    assert conf is not None and f"-i {tree.device_root}/video0" in conf["runOnDemand"]
    tree.remove(0)
    await wait_path(backend.api_url, "camera0", present=False)

    # MediaMTX restarts and forgets every API-made path: back within 2 s, nobody asked
    await backend.restart()
    started = asyncio.get_running_loop().time()
    await wait_path(backend.api_url, "lab", timeout=2.0)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert app.health.components["mediamtx_controller"].status is Status.HEALTHY


@pytest.mark.live_mediamtx
async def test_a_path_created_by_someone_else_is_never_touched(
    backend: DoubleBackend | LiveBackend, service_with: Any
) -> None:
    await add_foreign_path(backend.api_url, "lab", {"source": "publisher"})
    await add_foreign_path(backend.api_url, "their_cam", {"source": "publisher"})
    before = await path_conf(backend.api_url, "lab")
    app = await service_with(backend, sources=[LAB])
    await app.media.reconcile()
    assert await path_conf(backend.api_url, "lab") == before  # still theirs, unchanged
    assert await path_conf(backend.api_url, "their_cam") is not None
    sync = app.health.components["mediamtx_controller"]
    assert sync.status is Status.DEGRADED and "not created by this service" in sync.reason


async def test_mediamtx_down_degrades_fails_requests_at_once_and_is_back_at_the_next_check(
    mediamtx_factory: MediaMtxFactory, service_with: Any, tmp_path: Path
) -> None:
    mtx = await mediamtx_factory(work_dir=tmp_path)
    app = await service_with(mtx, sources=[LAB])
    await mtx.wait_for_request(adds("lab"))
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    changes: list[tuple[Status, str]] = []
    app.health.listeners.append(
        lambda s: changes.append((s.status, s.reason)) if s.name == "mediamtx" else None
    )
    try:
        await client.call("authenticate", {"auth_token": make_token("admin")})
        async with mtx.stopped(lose_state=False):
            for _ in range(6):
                await app.media.check()
            link = app.health.components["mediamtx"]
            assert link.status is Status.UNHEALTHY
            status = await client.call("get_status")
            assert status["status"] == "degraded"  # the API answers; MediaMTX is optional
            assert status["components"]["mediamtx"] == "unhealthy"
            assert [c["camera_id"] for c in (await client.call("get_camera_list"))["cameras"]] == [
                "lab"
            ]
            refused = await client.request("start_recording", {"device": "lab"})
            assert refused["error"]["code"] == -1003
            assert "MediaMTX is unreachable" in refused["error"]["message"]
            with pytest.raises(MediaMtxUnavailable, match="MediaMTX is unreachable"):
                await app.media.patch_path("lab", {"record": False})
            assert changes == [(Status.UNHEALTHY, "unreachable")]  # one, for six failed checks
        await app.media.check()  # the first check after its return: no cool-down
        link = app.health.components["mediamtx"]
        assert link.status is Status.HEALTHY
        assert link.details["version"] == "v1.20.1" and link.details["in_sync"] is True
        streams = await client.call("get_streams")
        assert [s["name"] for s in streams] == ["lab"]
        assert set(streams[0]) == {"name", "source", "ready", "readers", "bytes_sent"}
    finally:
        await client.close()


@pytest.mark.live_mediamtx
async def test_rtsp_camera_becomes_a_mediamtx_source_with_credentials_for_mediamtx_only(
    backend: DoubleBackend | LiveBackend, service_with: Any
) -> None:
    source = {
        "type": "rtsp",
        "id": "gate",
        "url": "rtsp://127.0.0.1:1/stream",
        "username": "viewer",
        "password": "pa55:word",
        "on_demand": True,
    }
    app = await service_with(backend, sources=[source], rtsp_check_interval=30.0)
    await wait_path(backend.api_url, "gate")
    conf = await path_conf(backend.api_url, "gate")
    assert conf is not None
    assert conf["source"] == "rtsp://viewer:pa55%3Aword@127.0.0.1:1/stream"
    assert conf["sourceOnDemand"] is True and conf["rtspTransport"] == "tcp"
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("admin")})
        seen = repr([await client.call("get_streams"), await client.call("get_camera_list")])
        assert "pa55" not in seen
    finally:
        await client.close()


@pytest.mark.live_mediamtx
async def test_a_reader_of_a_camera_url_gets_real_video(
    backend: DoubleBackend | LiveBackend, service_with: Any
) -> None:
    app = await service_with(backend, sources=[LAB])
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    try:
        await wait_path(backend.api_url, "lab")
        await client.call("authenticate", {"auth_token": make_token("viewer")})
        [camera] = (await client.call("get_camera_list"))["cameras"]
        url = camera["streams"]["rtsp"]
        assert url == f"rtsp://127.0.0.1:{backend.rtsp_port}/lab"
        probe = await asyncio.create_subprocess_exec(
            "ffprobe",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-analyzeduration",
            "1000000",
            "-show_streams",
            "-of",
            "json",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(probe.communicate(), 30)
        assert probe.returncode == 0, err.decode()
        [video] = orjson.loads(out)["streams"]
        assert video["codec_name"] == "h264"
        assert (video["width"], video["height"]) == (640, 360)
        assert video["pix_fmt"] == "yuv420p"
        assert video["profile"] in ("Constrained Baseline", "Baseline")
        assert [s["name"] for s in await client.call("get_streams")] == ["lab"]
    finally:
        await client.close()
