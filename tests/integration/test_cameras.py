"""Cameras end to end: fake V4L2 tree hot-plug, assignments, a real RTSP camera on
loopback, test-pattern sources, and the camera methods over real sockets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from camera_service.app import Application
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.rtsp_server import RtspCamera
from tests.support.v4l2tree import FakeV4l2Tree

Pred = Callable[[dict[str, Any]], bool]


async def next_update(client: RpcClient, pred: Pred, timeout: float = 10.0) -> dict[str, Any]:
    """The next camera_status_update matching ``pred`` (others are skipped)."""
    while True:
        note = await client.notification(timeout)
        if note["method"] == "camera_status_update" and pred(note["params"]):
            params: dict[str, Any] = note["params"]
            return params


async def updates(client: RpcClient, *preds: Pred, timeout: float = 10.0) -> None:
    """Wait until every predicate matched some camera_status_update, in any order."""
    waiting = list(preds)
    while waiting:
        note = await client.notification(timeout)
        if note["method"] == "camera_status_update":
            waiting = [p for p in waiting if not p(note["params"])]


def is_(camera_id: str, status: str, **fields: Any) -> Pred:
    def pred(p: dict[str, Any]) -> bool:
        return (
            p["camera_id"] == camera_id
            and p["status"] == status
            and all(p.get(k) == v for k, v in fields.items())
        )

    return pred


@pytest.fixture
def tree(tmp_path: Path) -> FakeV4l2Tree:
    return FakeV4l2Tree(tmp_path / "v4l2")


def camera_settings(tmp_path: Path, tree: FakeV4l2Tree, **cameras: Any) -> Any:
    return make_settings(
        tmp_path,
        cameras=tree.cameras_config(
            rtsp_check_interval=0.2,
            rtsp_max_backoff=0.5,
            probe_timeout=3.0,
            assignments_poll=0.1,
            **cameras,
        ),
    )


@pytest.fixture
async def app_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    apps: list[Application] = []
    clients: list[RpcClient] = []

    async def start(settings: Any) -> tuple[Application, Callable[..., Any]]:
        app = Application(settings)
        await app.start()
        apps.append(app)

        async def client(role: str = "viewer") -> RpcClient:
            c = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
            clients.append(c)
            await c.call("authenticate", {"auth_token": make_token(role)})
            return c

        return app, client

    yield start
    for c in clients:
        await c.close()
    for app in apps:
        await app.stop()


async def test_hotplug_add_and_remove(tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any) -> None:
    _app, connect = await app_factory(camera_settings(tmp_path, tree))
    client = await connect()
    assert (await client.call("get_camera_list"))["cameras"] == []

    tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="A1B2C3D4", port="1-1")
    tree.add_metadata_node(1, of_port="1-1")
    first = await next_update(client, is_("camera0", "CONNECTED"))
    assert first["device"] == "/dev/video0"
    assert first["streams"]["rtsp"] == "rtsp://127.0.0.1:8554/camera0"
    # background probing confirms the formats and fills in the mode
    probed = await next_update(client, lambda p: p["camera_id"] == "camera0" and p["fps"] > 0)
    assert probed["resolution"] == "1920x1080"

    listed = await client.call("get_camera_list")
    assert [c["camera_id"] for c in listed["cameras"]] == ["camera0"]  # metadata node skipped
    assert listed["total"] == 1 and listed["connected"] == 1
    caps = await client.call("get_camera_capabilities", {"device": "/dev/video0"})
    assert caps["validation_status"] == "confirmed"
    assert {"MJPG", "YUYV"} <= set(caps["formats"])
    assert "1920x1080" in caps["resolutions"]
    assert set(caps["fps_by_resolution"]) == set(caps["resolutions"])
    assert 30 in caps["fps_by_resolution"]["1920x1080"]
    status = await client.call("get_camera_status", {"device": "camera0"})
    assert status["status"] == "CONNECTED"
    assert status["capabilities"]["resolutions"] == caps["resolutions"]
    assert set(status["metrics"]) >= {"bytes_sent", "readers", "uptime"}

    tree.remove(0)
    gone = await next_update(client, is_("camera0", "DISCONNECTED"))
    assert gone["streams"] == {} and gone["resolution"] == "" and gone["fps"] == 0
    assert (await client.call("get_camera_list"))["cameras"] == []
    status = await client.call("get_camera_status", {"device": "/dev/video0"})
    assert status["status"] == "DISCONNECTED"


async def test_cameras_present_at_startup_are_listed(
    tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any
) -> None:
    for n in range(0, 8, 2):
        tree.add_camera(n, f"cam {n}", "046d", "0825", serial=f"S{n}", port=f"1-{n + 1}")
        tree.add_metadata_node(n + 1, of_port=f"1-{n + 1}")
    app, connect = await app_factory(camera_settings(tmp_path, tree))
    client = await connect()
    listed = await client.call("get_camera_list")
    assert [c["camera_id"] for c in listed["cameras"]] == [
        "camera0",
        "camera2",
        "camera4",
        "camera6",
    ]
    health = app.health.components["camera_monitor"]
    assert health.details["usb"] == 4


async def test_assignment_file_edit_applies_live(
    tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any
) -> None:
    assignments = tmp_path / "assignments.yaml"
    assignments.write_text(yaml.safe_dump({"usb": [{"vid": "046d", "pid": "082d"}]}))
    tree.add_camera(0, "C920", "046d", "082d", serial="X1", port="1-1")
    tree.add_camera(2, "Other", "1234", "abcd", port="1-2")
    _app, connect = await app_factory(
        camera_settings(tmp_path, tree, assignments_file=str(assignments))
    )
    client = await connect()
    await client.call("subscribe_events")  # every topic: system_status_update is opt-in
    ids = [c["camera_id"] for c in (await client.call("get_camera_list"))["cameras"]]
    assert ids == ["camera0"]  # the unassigned camera is never exposed

    assignments.write_text(yaml.safe_dump({"usb": [{"device": "/dev/video2"}]}))
    await updates(client, is_("camera2", "CONNECTED"), is_("camera0", "DISCONNECTED"))
    ids = [c["camera_id"] for c in (await client.call("get_camera_list"))["cameras"]]
    assert ids == ["camera2"]

    assignments.write_text("usb: [{vid: nothex}]\n")  # invalid: the last good one stays
    while True:  # the rejection is pushed as a health change; the camera stays
        note = await client.notification()
        if note["method"] == "system_status_update" and note["params"]["component"] == (
            "camera_monitor"
        ):
            assert note["params"]["status"] == "degraded"
            assert "vid" in note["params"]["details"]["reason"]
            break
    ids = [c["camera_id"] for c in (await client.call("get_camera_list"))["cameras"]]
    assert ids == ["camera2"]


async def test_rtsp_camera_connects_disconnects_and_returns(
    tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "s3cret-pa55word"
    async with RtspCamera(width=640, height=360, fps=15, user="viewer", password=password) as cam:
        source = {
            "type": "rtsp",
            "id": "gate",
            "name": "Front gate",
            "url": cam.url,
            "username": "viewer",
            "password": password,
        }
        _app, connect = await app_factory(camera_settings(tmp_path, tree, sources=[source]))
        a, b = await connect(), await connect("operator")
        listed = await a.call("get_camera_list")
        if listed["cameras"][0]["status"] != "CONNECTED":
            await next_update(a, is_("gate", "CONNECTED"))
        status = await a.call("get_camera_status", {"device": "gate"})
        assert status["resolution"] == "640x360" and status["fps"] == 15
        assert status["source_type"] == "rtsp" and status["device"] == "gate"

        await cam.stop()
        for client in (a, b):  # every subscribed client is told
            await next_update(client, is_("gate", "DISCONNECTED"))
        await cam.restart()
        for client in (a, b):
            back = await next_update(client, is_("gate", "CONNECTED"))
            assert back["resolution"] == "640x360"

        everything = [
            await a.call("get_camera_list"),
            await a.call("get_camera_status", {"device": "gate"}),
        ]
        assert password not in repr(everything)
        assert password not in caplog.text


async def test_test_pattern_source(tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any) -> None:
    source = {"type": "test", "id": "lab", "resolution": "1280x720", "fps": 30}
    _app, connect = await app_factory(camera_settings(tmp_path, tree, sources=[source]))
    client = await connect()
    [cam] = (await client.call("get_camera_list"))["cameras"]
    assert cam == {
        "device": "lab",
        "status": "CONNECTED",
        "name": "lab",
        "resolution": "1280x720",
        "fps": 30,
        "streams": {
            "rtsp": "rtsp://127.0.0.1:8554/lab",
            "webrtc": "http://127.0.0.1:8889/lab",
            "hls": "http://127.0.0.1:8888/lab/index.m3u8",
        },
        "camera_id": "lab",
        "source_type": "test",
        "recording": False,
        "device_path": "lab",
        "stream_url": "rtsp://127.0.0.1:8554/lab",
    }


async def test_sources_follow_config_reload(
    tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any
) -> None:
    config = tmp_path / "config.yaml"
    base = {
        "server": {"host": "127.0.0.1", "port": 0},
        "health": {"host": "127.0.0.1", "port": 0},
        "storage": {"data_dir": str(tmp_path / "data")},
        "cameras": {
            "device_root": str(tree.device_root),
            "sysfs_root": str(tree.sysfs_root),
            "v4l2_ctl": str(tree.v4l2_ctl),
            "sources": [{"type": "test", "id": "one"}],
        },
    }
    config.write_text(yaml.safe_dump(base))
    from camera_service.config import load_settings
    from tests.conftest import SECRET

    settings, _ = load_settings(config, {"CAMERA_SERVICE_JWT_SECRET": SECRET})
    app = Application(settings, config, {"CAMERA_SERVICE_JWT_SECRET": SECRET})
    await app.start()
    try:
        client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
        await client.call("authenticate", {"auth_token": make_token("viewer")})
        base["cameras"]["sources"] = [{"type": "test", "id": "two"}]  # type: ignore[index]
        config.write_text(yaml.safe_dump(base))
        assert app.reload()
        await updates(client, is_("one", "DISCONNECTED"), is_("two", "CONNECTED"))
        ids = [c["camera_id"] for c in (await client.call("get_camera_list"))["cameras"]]
        assert ids == ["two"]
        await client.close()
    finally:
        await app.stop()


@pytest.mark.parametrize(
    "device",
    [
        "../etc/passwd",
        "/dev/sda",
        "/dev/video",
        "/dev/video1x",
        "cam era",
        "cam;rm -rf",
        "a" * 65,
        "",
        -5,  # a number 0-9999 is the alias of /dev/videoN
        None,
        ["camera0"],
        "/dev/video0/../video1",
        "camera0\x00",
    ],
)
async def test_malformed_identifiers_are_invalid_params(
    tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any, device: object
) -> None:
    _app, connect = await app_factory(camera_settings(tmp_path, tree))
    client = await connect()
    for method in ("get_camera_status", "get_camera_capabilities"):
        r = await client.request(method, {"device": device})
        assert r["error"]["code"] == -32602, (method, device, r)
        assert "device" in r["error"]["message"]


async def test_unknown_well_formed_device_is_disconnected(
    tmp_path: Path, tree: FakeV4l2Tree, app_factory: Any
) -> None:
    _app, connect = await app_factory(camera_settings(tmp_path, tree))
    client = await connect()
    status = await client.call("get_camera_status", {"device": "/dev/video99"})
    assert status["status"] == "DISCONNECTED"
    assert status["device"] == "/dev/video99" and status["camera_id"] == "camera99"
    assert status["streams"] == {} and status["resolution"] == "" and status["fps"] == 0
    caps = await client.call("get_camera_capabilities", {"device": "nosuchcam"})
    assert caps["validation_status"] == "disconnected" and caps["formats"] == []
