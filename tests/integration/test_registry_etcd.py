"""Registration in a real etcd (started on loopback by the test setup).

The service registers one key per instance under the prefix, bound to a lease it keeps
alive; health and capacity changes are pushed at once; a clean stop deletes the key, a
``kill -9`` leaves it to expire with the lease; an etcd that comes back empty gets the
registration again. Two instances make a fleet a client can list.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from camera_service.app import Application
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.aggregator import assert_valid
from tests.support.etcd import EtcdServer
from tests.support.mediamtx.double import MediaMtxDouble
from tests.support.service_process import ServiceProcess, write_config
from tests.support.v4l2tree import FakeV4l2Tree

PREFIX = "/fleet-test/instances/"


def registry(etcd: EtcdServer, instance_id: str, ttl: int = 3600) -> dict[str, Any]:
    # A long TTL leaves the key's refreshes (TTL/3) out of a test's time: a change seen
    # there was pushed, and a key gone was deleted, not expired.
    return {
        "backend": "etcd",
        "endpoints": [etcd.url],
        "prefix": PREFIX,
        "ttl": ttl,
        "instance_id": instance_id,
        "advertise_host": "127.0.0.1",
        "retry_max": 0.5,
    }


async def value(etcd: EtcdServer, instance_id: str) -> dict[str, Any] | None:
    raw = await etcd.get(PREFIX + instance_id)
    return None if raw is None else orjson.loads(raw)


async def wait_document(
    etcd: EtcdServer, instance_id: str, pred: Any = lambda d: True, timeout: float = 20.0
) -> dict[str, Any]:
    """The registered document once ``pred`` holds for it (a bounded poll of etcd's
    state: the watch that would announce it is part of what the other tests check)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = await value(etcd, instance_id)
        if doc is not None and pred(doc):
            assert_valid("registration", doc)
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching registration of {instance_id}: {doc}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def apps() -> AsyncIterator[list[Application]]:
    started: list[Application] = []
    yield started
    for app in started:
        await app.stop()


async def test_registers_and_pushes_camera_and_capacity_changes_at_once(
    tmp_path: Path, etcd: EtcdServer, apps: list[Application]
) -> None:
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    settings = make_settings(
        tmp_path,
        registry=registry(etcd, "hub-a"),
        cameras=tree.cameras_config(),
    )
    app = Application(settings)
    apps.append(app)
    await app.start()

    doc = await wait_document(
        etcd, "hub-a", lambda d: d["health"]["components"]["registry"] == "healthy"
    )
    assert doc["instance_id"] == "hub-a" and doc["service"] == "camera-service"
    assert doc["endpoints"]["ws"] == f"ws://127.0.0.1:{app.ws_port}/ws"
    assert doc["endpoints"]["http"] == f"http://127.0.0.1:{app.health_port}"
    assert "take_snapshot" in doc["capabilities"]["methods"]
    assert doc["cameras"]["total"] == 0
    assert doc["capacity"]["usb_cameras"] == {"limit": 8, "active": 0, "free": 8}
    ttl = await etcd.lease_ttl(PREFIX + "hub-a")
    assert ttl is not None and 0 < ttl <= 3600

    # A camera plugged in: the registry hears of it long before the next refresh (1200 s).
    tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="A1", port="1-1")
    doc = await wait_document(etcd, "hub-a", lambda d: d["cameras"]["total"] == 1)
    assert doc["cameras"]["by_type"]["usb"] == 1
    assert doc["capacity"]["usb_cameras"] == {"limit": 8, "active": 1, "free": 7}

    # get_status and /health/system carry the same capacity.
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("admin")})
        status = await client.call("get_status")
        assert status["components"]["registry"] == "healthy"
        assert status["capacity"]["usb_cameras"]["active"] == 1
    finally:
        await client.close()

    # A clean stop deletes the key at once (the lease has an hour left).
    await app.stop()
    assert await etcd.get(PREFIX + "hub-a") is None


class StreamsUp:
    """A data plane for the MediaMTX double: these paths are available, with a reader."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def path_state(self, name: str) -> dict[str, Any] | None:
        return (
            {"available": True, "readers": [{"type": "rtspSession"}]}
            if name in self.names
            else None
        )


async def test_a_plugged_camera_is_pushed_with_a_healthy_mediamtx(
    tmp_path: Path, etcd: EtcdServer, mediamtx: MediaMtxDouble, apps: list[Application]
) -> None:
    """The camera itself wakes the registrar: with MediaMTX healthy throughout, no
    health component flips when the camera comes, so nothing else would push it."""
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    settings = make_settings(
        tmp_path,
        registry=registry(etcd, "hub-m"),
        cameras=tree.cameras_config(),
        mediamtx={"api_url": mediamtx.api_url, "manage": "never", "check_interval": 0.2},
    )
    app = Application(settings)
    apps.append(app)
    await app.start()

    def settled(d: dict[str, Any]) -> bool:
        components = d["health"]["components"]
        return bool(components["registry"] == components["mediamtx"] == "healthy")

    before = await wait_document(etcd, "hub-m", settled)
    assert before["cameras"]["total"] == 0 and before["health"]["status"] == "healthy"

    # The next refresh is 1200 s away (TTL 3600 s): a document seen now was pushed.
    tree.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="A1", port="1-1")
    doc = await wait_document(etcd, "hub-m", lambda d: d["cameras"]["total"] == 1)
    assert doc["cameras"]["connected"] == 1
    assert doc["capacity"]["usb_cameras"]["active"] == 1
    # Nothing but the camera moved: the push came from it, not from a health change.
    assert doc["health"] == before["health"]

    # Its stream comes up (a viewer started it): steady capacity, pushed too.
    deadline = time.monotonic() + 20
    while "camera0" not in mediamtx.path_names():
        assert time.monotonic() < deadline, "the camera's path was never added"
        await asyncio.sleep(0.05)
    mediamtx.data_plane = StreamsUp({"camera0"})
    doc = await wait_document(etcd, "hub-m", lambda d: d["capacity"]["streams"]["active"] == 1)
    assert doc["health"] == before["health"]


async def test_etcd_outage_degrades_only_the_registry_and_registration_returns(
    tmp_path: Path, etcd: EtcdServer, apps: list[Application]
) -> None:
    app = Application(make_settings(tmp_path, registry=registry(etcd, "hub-b", ttl=6)))
    apps.append(app)
    await app.start()
    await wait_document(etcd, "hub-b")
    client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
    try:
        await client.call("authenticate", {"auth_token": make_token("admin")})
        await client.call("subscribe_events")  # every topic: the newer ones are opt-in
        before = (await client.call("get_status"))["components"]

        await etcd.stop()
        shutil.rmtree(etcd.data_dir)  # it comes back empty: nothing of ours survives
        degraded = await client.wait_notification(
            "system_status_update",
            lambda p: p["component"] == "registry" and p["status"] == "degraded",
            timeout=30,
        )
        assert "unreachable" in degraded["details"]["reason"]
        # The API answers, and nothing but the registry changed.
        status = await client.call("get_status")
        after = status["components"]
        assert after.pop("registry") == "degraded" and before.pop("registry") == "healthy"
        # MediaMTX is a closed port here: its component moves on its own.
        del after["mediamtx_controller"], before["mediamtx_controller"]
        assert after == before
        assert await client.call("ping") == "pong"

        await etcd.start()
        await wait_document(etcd, "hub-b", timeout=30)
        await client.wait_notification(
            "system_status_update",
            lambda p: p["component"] == "registry" and p["status"] == "healthy",
            timeout=30,
        )
    finally:
        await client.close()


async def test_kill_9_leaves_the_key_to_expire_and_sigterm_deletes_it(
    tmp_path: Path, etcd: EtcdServer
) -> None:
    """Two instances in one etcd: a fleet a client lists by the prefix."""
    ttl = 3
    a = await ServiceProcess.start(
        write_config(tmp_path / "a.yaml", tmp_path / "a", registry=registry(etcd, "hub-a", ttl))
    )
    b = await ServiceProcess.start(
        write_config(tmp_path / "b.yaml", tmp_path / "b", registry=registry(etcd, "hub-b", 600))
    )
    try:
        doc_a = await wait_document(etcd, "hub-a")
        doc_b = await wait_document(etcd, "hub-b")
        assert doc_a["endpoints"]["ws"] == a.ws_url and doc_b["endpoints"]["ws"] == b.ws_url
        fleet = await etcd.get_prefix(PREFIX)
        assert sorted(fleet) == [PREFIX + "hub-a", PREFIX + "hub-b"]

        await a.kill()  # SIGKILL: no deregistration; the lease runs out
        await etcd.wait_value(PREFIX + "hub-a", None, timeout=ttl + 5)
        assert await etcd.get(PREFIX + "hub-b") is not None

        b.signal(signal.SIGTERM)
        assert await b.exit_code() == 0
        # Deleted by the service, not expired: its lease had ten minutes left.
        assert await etcd.get(PREFIX + "hub-b") is None
        assert await etcd.get_prefix(PREFIX) == {}
    finally:
        await a.kill()
        await b.kill()
