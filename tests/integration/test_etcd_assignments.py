"""Hub device assignments from an etcd key: parsing, config, and the monitor following
the key live (a fake V4L2 tree, the real service, a real etcd)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from camera_service.app import Application
from camera_service.cameras.assignments import (
    AssignmentError,
    load_assignments,
    parse_assignments,
)
from camera_service.cameras.assignments_etcd import decode_assignments
from camera_service.config import ConfigError
from tests.conftest import make_settings, make_token
from tests.rpc import RpcClient
from tests.support.etcd import EtcdServer
from tests.support.v4l2tree import FakeV4l2Tree

KEY = "/hubs/hub-7/assignments"
WAIT = 20.0  # a loaded machine: the watch, the rescan and the probe of a fake device


def test_parse_assignments_names_the_origin() -> None:
    parsed = parse_assignments('{"usb": [{"device": "/dev/video2"}]}', "etcd key /a")
    assert parsed.claims("/dev/video2", None, None, None)
    with pytest.raises(AssignmentError, match=r"(?s)etcd key /a.*vid"):
        parse_assignments("usb: [{vid: nothex}]\n", "etcd key /a")
    with pytest.raises(AssignmentError, match="etcd key /a must hold a mapping"):
        parse_assignments("- a list\n", "etcd key /a")
    with pytest.raises(AssignmentError, match="etcd key /a is not valid YAML"):
        parse_assignments("usb: [\n", "etcd key /a")
    assert parse_assignments("", "etcd key /a").usb == []


def test_load_assignments_still_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "assignments.yaml"
    assert load_assignments(path) is None
    path.write_text(yaml.safe_dump({"usb": [{"vid": "046d", "pid": "082d"}]}))
    loaded = load_assignments(path)
    assert loaded is not None and loaded.claims("/dev/video0", "046d", "082d", None)
    path.write_text("usb: 3\n")
    with pytest.raises(AssignmentError, match=r"assignments\.yaml"):
        load_assignments(path)


def test_decode_assignments() -> None:
    assert decode_assignments(None, KEY) == (None, "")
    new, error = decode_assignments(b"usb: [{device: /dev/video0}]", KEY)
    assert error == "" and new is not None and len(new.usb) == 1
    assert decode_assignments(b"\xff\xfe", KEY) == (None, f"etcd key {KEY} is not UTF-8 text")
    new, error = decode_assignments(b"usb: [{serial: x}]", KEY)
    assert new is None and error.startswith(f"etcd key {KEY}")


def test_file_and_key_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"assignments_file and cameras\.assignments_key"):
        make_settings(
            tmp_path, cameras={"assignments_file": str(tmp_path / "a.yaml"), "assignments_key": KEY}
        )
    with pytest.raises(ConfigError, match="assignments_key"):
        make_settings(tmp_path, cameras={"assignments_key": ""})


Pred = Callable[[dict[str, Any]], bool]


def is_(camera_id: str, status: str) -> Pred:
    return lambda p: p["camera_id"] == camera_id and p["status"] == status


@dataclass
class Hub:
    app: Application
    client: RpcClient

    async def camera_ids(self) -> list[str]:
        return [c["camera_id"] for c in (await self.client.call("get_camera_list"))["cameras"]]

    async def updates(self, *preds: Pred) -> None:
        """Until every predicate matched some camera_status_update, in any order."""
        waiting = list(preds)
        while waiting:
            note = await self.client.notification(WAIT)
            if note["method"] == "camera_status_update":
                waiting = [p for p in waiting if not p(note["params"])]

    async def monitor_health(self, status: str, reason: str = "") -> str:
        """The camera monitor's health reason once it is ``status`` with ``reason`` in it:
        now, or at the change pushed to the client."""
        state = self.app.health.components["camera_monitor"]
        if state.status == status and reason in state.reason:
            return state.reason
        while True:
            note = await self.client.notification(WAIT)
            params = note["params"]
            if note["method"] == "system_status_update" and params["component"] == (
                "camera_monitor"
            ):
                got = str(params["details"].get("reason", ""))
                if params["status"] == status and reason in got:
                    return got


@pytest.fixture
async def hub(tmp_path: Path, etcd: EtcdServer) -> AsyncIterator[Hub]:
    tree = FakeV4l2Tree(tmp_path / "v4l2")
    tree.add_camera(0, "C920", "046d", "082d", serial="X1", port="1-1")
    tree.add_camera(2, "Other", "1234", "abcd", port="1-2")
    settings = make_settings(
        tmp_path,
        cameras=tree.cameras_config(probe_timeout=3.0, assignments_key=KEY),
        registry={"endpoints": [etcd.url]},
    )
    app = Application(settings)  # it watches the key on registry.endpoints
    await app.start()
    client: RpcClient | None = None
    try:
        client = await RpcClient.connect(f"ws://127.0.0.1:{app.ws_port}/ws")
        await client.call("authenticate", {"auth_token": make_token("viewer")})
        await client.call("subscribe_events")  # every topic: the newer ones are opt-in
        yield Hub(app, client)
    finally:
        if client is not None:
            await client.close()
        await app.stop()


async def test_the_monitor_follows_the_etcd_key(hub: Hub, etcd: EtcdServer) -> None:
    # the key is absent: no USB device is ours, and health says why
    await hub.monitor_health("degraded", f"etcd key {KEY} does not exist")
    assert await hub.camera_ids() == []

    await etcd.put(KEY, yaml.safe_dump({"usb": [{"vid": "046d", "pid": "082d"}]}))
    await hub.updates(is_("camera0", "CONNECTED"))
    await hub.monitor_health("healthy")
    assert await hub.camera_ids() == ["camera0"]

    await etcd.put(KEY, '{"usb": [{"device": "/dev/video2"}]}')  # JSON works as well
    await hub.updates(is_("camera2", "CONNECTED"), is_("camera0", "DISCONNECTED"))
    assert await hub.camera_ids() == ["camera2"]

    await etcd.delete(KEY)  # as for a missing file: nothing is claimed
    await hub.updates(is_("camera2", "DISCONNECTED"))
    assert await hub.camera_ids() == []


async def test_an_invalid_value_keeps_the_last_good_assignments(hub: Hub, etcd: EtcdServer) -> None:
    await etcd.put(KEY, "usb: [{device: /dev/video2}]\n")
    await hub.updates(is_("camera2", "CONNECTED"))

    await etcd.put(KEY, "usb: [{vid: nothex}]\n")
    # "vid": the state may still show the absent key's reason from before the first put.
    reason = await hub.monitor_health("degraded", "vid")
    assert reason.startswith(f"etcd key {KEY}")
    assert await hub.camera_ids() == ["camera2"]

    await etcd.put(KEY, "usb: [{device: /dev/video2}]\n")  # fixed: the same assignments
    await hub.monitor_health("healthy")
    await etcd.put(KEY, "usb: [{device: /dev/video0}]\n")
    await hub.updates(is_("camera0", "CONNECTED"), is_("camera2", "DISCONNECTED"))
    assert await hub.camera_ids() == ["camera0"]
