"""Cameras at run time below the wire: the API's params become the config's source
models (refusals name the param, never echo a secret), the stored sources survive a
new service over the same database, and the config file wins every conflict."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from camera_service.api.jsonrpc import RpcError
from camera_service.api.methods.sources import SourceParams, build_source, source_spec
from camera_service.cameras.monitor import CameraMonitor
from camera_service.cameras.registry import CameraRegistry
from camera_service.cameras.sources import CameraSources, Refusal, SourceRefused
from camera_service.config import CamerasConfig, ResourcesConfig, RtspSource, TestPatternSource
from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.limits import CapacityExceeded
from camera_service.observability.health import Health

SECRET = "pw-Secr3t"


def rtsp(**kw: object) -> SourceParams:
    return SourceParams.model_validate({"type": "rtsp", **kw})


def test_url_credentials_are_split_and_shown_masked() -> None:
    source = build_source("porch", None, rtsp(url=f"rtsp://admin:{SECRET}@192.0.2.1/s"))
    assert isinstance(source, RtspSource)
    assert source.url == "rtsp://192.0.2.1/s" and source.username == "admin"
    assert source.password is not None and source.password.get_secret_value() == SECRET
    assert source_spec(source)["password"] == "********"
    assert SECRET not in repr(source) and SECRET not in str(source_spec(source))


@pytest.mark.parametrize(
    ("params", "param", "reason"),
    [
        ({"url": "http://x/y"}, "source.url", "must start with rtsp://"),
        ({}, "source.url", "is required"),
        ({"url": f"rtsp://u:{SECRET}@h/p", "password": "x"}, "source.url", "do not also send"),
    ],
)
def test_bad_sources_name_the_param(params: dict[str, object], param: str, reason: str) -> None:
    with pytest.raises(RpcError) as caught:
        build_source("porch", None, rtsp(**params))
    err = caught.value
    assert err.code == -32602 and err.data == {"reason": "invalid_params", "param": param}
    assert reason in err.message and SECRET not in err.message


def test_test_pattern_keys_are_checked_like_the_config_file() -> None:
    with pytest.raises(RpcError) as caught:
        build_source("p", None, SourceParams(type="test", resolution="huge"))
    assert caught.value.data == {"reason": "invalid_params", "param": "source.resolution"}
    made = build_source("p", "Pattern", SourceParams(type="test", fps=5))
    assert made == TestPatternSource(id="p", name="Pattern", fps=5)


class Stack:
    def __init__(self, db: AsyncDatabase, config: list[object], max_cameras: int = 32) -> None:
        self.registry = CameraRegistry(EventBus())
        self.cfg = CamerasConfig.model_validate({"sources": config, "hotplug": False})
        self.res = ResourcesConfig(max_cameras=max_cameras)
        health = Health().register("camera_monitor")
        self.monitor = CameraMonitor(lambda: self.cfg, lambda: self.res, self.registry, health)
        self.sources = CameraSources(db, self.monitor, self.registry, lambda: self.res, EventBus())

    async def start(self) -> None:
        await self.sources.load()
        self.monitor.apply_sources()  # what monitor.start does, without a device scan


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncDatabase]:
    adb = await AsyncDatabase.open(tmp_path / "camera-service.db")
    yield adb
    await adb.close()


CONFIG_LAB = {"type": "test", "id": "lab"}


async def test_added_sources_survive_a_new_service_on_the_same_database(
    db: AsyncDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = Stack(db, [CONFIG_LAB])
    await first.start()
    porch = RtspSource(id="porch", url="rtsp://127.0.0.1:1/s", username="u", password=SECRET)
    await first.sources.add(porch)
    await first.sources.add(TestPatternSource(id="pattern", fps=5))
    assert {c.camera_id for c in first.registry} == {"lab", "porch", "pattern"}
    await first.monitor.stop()

    again = Stack(db, [CONFIG_LAB])
    await again.start()
    listed = {(e.source.id, e.origin, e.active) for e in again.sources.entries()}
    assert listed == {("lab", "config", True), ("porch", "api", True), ("pattern", "api", True)}
    stored = again.sources.stored("porch")
    assert stored == porch and isinstance(stored, RtspSource) and stored.password is not None
    assert stored.password.get_secret_value() == SECRET
    await again.sources.remove("porch")
    assert again.registry.get("porch") is None and again.sources.stored("porch") is None
    await again.monitor.stop()
    assert SECRET not in caplog.text


async def test_refusals_change_nothing(db: AsyncDatabase) -> None:
    stack = Stack(db, [CONFIG_LAB], max_cameras=2)
    await stack.start()
    await stack.sources.add(TestPatternSource(id="one"))
    cases = [
        (TestPatternSource(id="one"), Refusal.EXISTS),
        (TestPatternSource(id="lab"), Refusal.CONFIG),
        (TestPatternSource(id="camera3"), Refusal.CONFIG),
    ]
    for source, refusal in cases:
        with pytest.raises(SourceRefused) as caught:
            await stack.sources.add(source)
        assert caught.value.refusal is refusal
    with pytest.raises(CapacityExceeded) as full:
        await stack.sources.add(TestPatternSource(id="two"))
    assert (full.value.resource, full.value.limit, full.value.active) == ("cameras", 2, 2)
    for camera_id, refusal in (("lab", Refusal.CONFIG), ("nope", Refusal.NOT_FOUND)):
        with pytest.raises(SourceRefused) as caught:
            await stack.sources.remove(camera_id)
        assert caught.value.refusal is refusal
    assert {c.camera_id for c in stack.registry} == {"lab", "one"}
    assert set(stack.monitor.stored()) == {"one"}
    await stack.monitor.stop()


async def test_a_config_camera_added_later_shadows_a_stored_one_until_it_goes(
    db: AsyncDatabase,
) -> None:
    stack = Stack(db, [])
    await stack.start()
    await stack.sources.add(TestPatternSource(id="yard", fps=5))
    stack.cfg = CamerasConfig.model_validate({"sources": [{"type": "test", "id": "yard"}]})
    stack.monitor.apply_sources()  # a SIGHUP reload
    camera = stack.registry.get("yard")
    assert camera is not None and camera.fps == 15  # the config file's
    listed = {(e.origin, e.active) for e in stack.sources.entries()}
    assert listed == {("config", True), ("api", False)}
    stack.cfg = CamerasConfig()
    stack.monitor.apply_sources()
    camera = stack.registry.get("yard")
    assert camera is not None and camera.fps == 5  # the stored one is served again
    await stack.monitor.stop()
