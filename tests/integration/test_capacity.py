"""Capacity: limits, use and free in get_status and /health/system, and each limit
enforced with -1012 ``{limit, active}`` (plus ``reason`` and ``resource``) over the
real service: snapshot captures and streams with the MediaMTX double and its real
data plane, USB cameras with a fake V4L2 tree. Recordings: tests/integration/test_recordings.py;
the connection cap (HTTP 503): tests/integration/test_websocket.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from camera_service.app import Application
from camera_service.config import Settings
from camera_service.limits import Capacity, CapacityExceeded, entry
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.media_stack import LAB, MediaStackFactory
from tests.support.v4l2tree import FakeV4l2Tree

WAIT = 60.0  # generous: other test runs share the two cores
YARD = {"type": "test", "id": "yard", "resolution": "320x180", "fps": 15}
_ids = itertools.count(1)


def refusal(resource: str, limit: int, active: int) -> dict[str, Any]:
    return {"reason": "capacity_exceeded", "resource": resource, "limit": limit, "active": active}


async def reply(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The whole reply; captures take a while on a loaded machine."""
    rid = f"{method}-{next(_ids)}"
    msg = {"jsonrpc": "2.0", "method": method, "params": params, "id": rid}
    answer: dict[str, Any] = await client.send_raw(orjson.dumps(msg).decode(), rid, WAIT)
    return answer


async def rpc_error(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = await reply(client, method, params)
    assert "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


async def rpc_result(client: RpcClient, method: str, params: dict[str, Any]) -> Any:
    answer = await reply(client, method, params)
    assert "error" not in answer, answer
    return answer["result"]


# --- units ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def capacity(tmp_path: Path, clock: Clock | None = None, **resources: int) -> Capacity:
    settings = make_settings(
        tmp_path,
        resources=resources,
        server={"host": "127.0.0.1", "port": 0, "max_connections": 10},
        mediamtx={"on_demand_start_timeout": 5.0, "check_interval": 1.0},
    )
    return Capacity(lambda: settings, clock or Clock())


def test_free_is_never_negative() -> None:
    assert entry(4, 1) == {"limit": 4, "active": 1, "free": 3}
    assert entry(2, 5) == {"limit": 2, "active": 5, "free": 0}
    assert entry(0, 0) == {"limit": 0, "active": 0, "free": 0}


def test_report_has_every_resource_and_counts_nothing_unmetered(tmp_path: Path) -> None:
    cap = capacity(tmp_path, max_usb_cameras=3, max_streams=5, max_recordings=2, max_snapshots=1)
    assert cap.report() == {
        "usb_cameras": {"limit": 3, "active": 0, "free": 3},
        "streams": {"limit": 5, "active": 0, "free": 5},
        "recordings": {"limit": 2, "active": 0, "free": 2},
        "snapshots": {"limit": 1, "active": 0, "free": 1},
        "connections": {"limit": 10, "active": 0, "free": 10},
    }
    in_use = {"usb_cameras": 3, "recordings": 1, "snapshots": 1, "connections": 4}
    for resource, n in in_use.items():
        cap.meter(resource, lambda n=n: n)  # type: ignore[arg-type,misc]
    cap.track_streams(lambda: {"lab", "yard"})
    report = cap.report()
    assert {name: r["active"] for name, r in report.items()} == {**in_use, "streams": 2}
    assert report["usb_cameras"]["free"] == 0 and report["connections"]["free"] == 6


def test_a_stream_already_up_is_never_refused(tmp_path: Path) -> None:
    cap = capacity(tmp_path, max_streams=1)
    up = {"lab"}
    cap.track_streams(lambda: up)
    cap.check_stream("lab")  # up: fine, however full
    with pytest.raises(CapacityExceeded) as full:
        cap.check_stream("yard")
    assert (full.value.resource, full.value.limit, full.value.active) == ("streams", 1, 1)
    assert str(full.value) == "Capacity exceeded: 1 streams active, limit 1"
    up.clear()  # lab's on-demand stream closed
    cap.check_stream("yard")


def test_a_stream_being_started_counts_until_seen_up_or_its_start_time_passes(
    tmp_path: Path,
) -> None:
    clock = Clock()
    cap = capacity(tmp_path, clock, max_streams=2)
    up: set[str] = set()
    cap.track_streams(lambda: up)
    cap.check_stream("lab")
    cap.check_stream("yard")  # neither is up yet: both are on their way
    assert cap.active("streams") == 2
    cap.check_stream("lab")  # a second reader of a stream coming up: the same stream
    with pytest.raises(CapacityExceeded):
        cap.check_stream("gate")
    up.add("lab")  # seen up: counted once
    assert cap.active("streams") == 2
    clock.now += 5.0 + 1.0 + 0.1  # yard never came up within its start time (+ one look)
    assert cap.active("streams") == 1
    cap.check_stream("gate")
    assert cap.report()["streams"] == {"limit": 2, "active": 2, "free": 0}


def test_a_device_over_the_usb_limit_is_refused_with_the_usb_figures(tmp_path: Path) -> None:
    cap = capacity(tmp_path, max_usb_cameras=2)
    cap.check_device("camera4")  # nothing tracked: nothing refused
    cap.meter("usb_cameras", lambda: 2)
    cap.track_devices(lambda camera_id: camera_id == "camera4")
    cap.check_device("camera0")
    with pytest.raises(CapacityExceeded) as full:
        cap.check_device("camera4")
    assert (full.value.resource, full.value.limit, full.value.active) == ("usb_cameras", 2, 2)


# --- get_status and /health/system ------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        server={"host": "127.0.0.1", "port": 0, "max_connections": 5},
        resources={"max_streams": 3, "max_snapshots": 2},
    )


async def test_get_status_and_health_report_capacity(service: Application, connect: Any) -> None:
    admin = await connect("admin")
    await connect(None)  # a second connection
    status = await admin.call("get_status")
    assert status["capacity"] == {
        "usb_cameras": {"limit": 8, "active": 0, "free": 8},
        "streams": {"limit": 3, "active": 0, "free": 3},
        "recordings": {"limit": 8, "active": 0, "free": 8},
        "snapshots": {"limit": 2, "active": 0, "free": 2},
        "connections": {"limit": 5, "active": 2, "free": 3},
    }
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{service.health_port}/health/system") as r,
    ):
        body = await r.json()
    assert body["capacity"] == status["capacity"]
    assert set(body) == {"status", "timestamp", "components", "capacity"}


# --- snapshots and streams over the media stack -----------------------------------------------


async def test_a_capture_past_max_snapshots_is_refused_a_warm_one_never(
    media_stack: MediaStackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The held capture's timeout covers the whole test, on a loaded machine too.
    snapshots = {"warm": ["lab"], "timeout": 25.0}
    stack = await media_stack(resources={"max_snapshots": 1}, snapshots=snapshots)
    app, client = stack.app, await stack.client("operator")
    pool = app.grabbers
    await pool.wait_until(lambda: (g := pool.grabbers.get("lab")) is not None and g.attached, WAIT)
    # The one capture slot is held by a real capture, paused before its FFmpeg starts.
    entered, release = asyncio.Event(), asyncio.Event()
    run = app.snapshots._run

    async def paused(argv: list[str]) -> bytes:
        entered.set()
        await release.wait()
        return await run(argv)

    monkeypatch.setattr(app.snapshots, "_run", paused)
    other = await stack.client("operator")
    first = asyncio.create_task(
        rpc_result(other, "take_snapshot", {"device": "lab", "format": "png"})
    )
    try:
        await asyncio.wait_for(entered.wait(), WAIT)
        full = await rpc_error(client, "take_snapshot", {"device": "lab", "format": "png"})
        assert full["code"] == -1012 and full["data"] == refusal("snapshots", 1, 1)
        assert full["message"] == "Capacity exceeded: 1 snapshot captures active, limit 1"
        admin = await stack.client("admin")
        used = (await admin.call("get_status"))["capacity"]["snapshots"]
        assert used == {"limit": 1, "active": 1, "free": 0}
        warm = await rpc_result(client, "take_snapshot", {"device": "lab"})  # the kept jpg
        assert warm["status"] == "completed" and warm["source"] == "warm"
    finally:
        release.set()
        done = await first
    assert done["status"] == "completed" and done["source"] == "stream"
    assert app.snapshots.in_flight == 0
    assert (await rpc_result(client, "take_snapshot", {"device": "lab", "format": "png"}))[
        "status"
    ] == "completed"


async def test_an_operation_that_would_bring_up_a_stream_past_max_streams_is_refused(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack(
        cameras={"sources": [LAB, YARD]},
        resources={"max_streams": 1},
        snapshots={"warm": ["lab"]},  # keeps lab's stream up
    )
    app = stack.app
    await app.media.wait_until(lambda: "lab" in app.media.streams_up(), WAIT)
    await stack.path_ready("yard")
    client, admin = await stack.client("operator"), await stack.client("admin")
    patches = sum(1 for r in stack.mtx.requests if r.method == "PATCH")

    snap = await rpc_error(client, "take_snapshot", {"device": "yard"})
    assert snap["code"] == -1012 and snap["data"] == refusal("streams", 1, 1)
    rec = await rpc_error(client, "start_recording", {"device": "yard"})
    assert rec["code"] == -1012 and rec["data"] == refusal("streams", 1, 1)
    assert app.recordings.active == {} and app.snapshots.processes == 0
    assert sum(1 for r in stack.mtx.requests if r.method == "PATCH") == patches
    capacity = (await admin.call("get_status"))["capacity"]
    assert capacity["streams"] == {"limit": 1, "active": 1, "free": 0}

    # lab's stream is up: never refused.
    shot = await rpc_result(client, "take_snapshot", {"device": "lab", "format": "png"})
    assert shot["status"] == "completed" and shot["source"] == "stream"
    started = await rpc_result(client, "start_recording", {"device": "lab"})
    assert started["status"] == "STARTED"
    stopped = await rpc_result(client, "stop_recording", {"device": "lab"})
    assert stopped["session_id"] == started["session_id"]


# --- USB cameras over a fake V4L2 tree --------------------------------------------------------


@pytest.fixture
async def usb_app(tmp_path: Path) -> AsyncIterator[tuple[Application, FakeV4l2Tree]]:
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    settings = make_settings(
        tmp_path,
        cameras=tree.cameras_config(probe_timeout=10.0),
        resources={"max_usb_cameras": 1},
    )
    app = Application(settings)
    await app.start()
    try:
        yield app, tree
    finally:
        await app.stop()


async def camera_update(client: RpcClient, camera_id: str, status: str) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            note = await client.notification(WAIT)
            params = note["params"]
            if note["method"] != "camera_status_update" or params["camera_id"] != camera_id:
                continue
            if params["status"] == status:
                return


async def test_a_device_past_max_usb_cameras_is_refused_until_one_is_unplugged(
    usb_app: tuple[Application, FakeV4l2Tree],
) -> None:
    app, tree = usb_app
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("admin")})
        tree.add_camera(0, "cam 0", "046d", "0825", serial="S0", port="1-1")
        await camera_update(client, "camera0", "CONNECTED")
        tree.add_camera(2, "cam 2", "046d", "0825", serial="S2", port="1-2")
        await app.monitor.rescan()  # serialized: camera2 has been decided when it returns
        assert app.monitor.over_limit("camera2") and not app.monitor.over_limit("camera0")

        for method, device in (("take_snapshot", "/dev/video2"), ("start_recording", "camera2")):
            err = await rpc_error(client, method, {"device": device})
            assert err["code"] == -1012 and err["data"] == refusal("usb_cameras", 1, 1), method
        missing = await rpc_error(client, "take_snapshot", {"device": "/dev/video4"})
        assert missing["code"] == -1000  # nothing there: not a capacity matter
        listed = await client.call("get_camera_list")
        assert [c["camera_id"] for c in listed["cameras"]] == ["camera0"]
        capacity = (await client.call("get_status"))["capacity"]
        assert capacity["usb_cameras"] == {"limit": 1, "active": 1, "free": 0}

        tree.remove(0)  # room again: the device waiting is claimed
        await camera_update(client, "camera2", "CONNECTED")
        assert not app.monitor.over_limit("camera2")
        capacity = (await client.call("get_status"))["capacity"]
        assert capacity["usb_cameras"] == {"limit": 1, "active": 1, "free": 0}
    finally:
        await client.close()
