"""ONVIF discovery at the wire: ``discover_cameras`` (and its Go-era names) against the
tests' own simulated ONVIF device on loopback, serving the GStreamer test camera's URI.

The probe is directed (sent to the responder's unicast loopback port, WS-Discovery's
"directed probe"): the host's lo has no multicast, and the service runs in this
process. The same probe over the multicast group is tested in a network namespace of
its own (test_onvif_multicast.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from camera_service.config import Settings
from tests.conftest import Connect, make_settings
from tests.support.onvif_device import OnvifDevice
from tests.support.rtsp_server import RtspCamera

pytestmark = pytest.mark.asyncio

USER, PASSWORD = "admin", "correct-horse"


@pytest_asyncio.fixture
async def camera() -> AsyncIterator[RtspCamera]:
    async with RtspCamera(width=640, height=360, fps=15) as cam:
        yield cam


@pytest_asyncio.fixture
async def device(camera: RtspCamera) -> AsyncIterator[OnvifDevice]:
    async with OnvifDevice(camera.url, user=USER, password=PASSWORD) as dev:
        yield dev


@pytest_asyncio.fixture
async def hanging() -> AsyncIterator[OnvifDevice]:
    async with OnvifDevice("rtsp://127.0.0.1:9/never", hang_media=True, model="Hang-1") as dev:
        yield dev


@pytest.fixture
def settings(tmp_path: Path, device: OnvifDevice, hanging: OnvifDevice) -> Settings:
    return make_settings(
        tmp_path,
        onvif={
            "probe_targets": [device.probe_target, hanging.probe_target],
            "probe_wait": 0.5,
            "device_timeout": 2.0,
        },
    )


def _by_model(devices: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {d["model"]: d for d in devices}


async def test_discovery_finds_the_device_its_profile_and_the_cameras_uri(
    connect: Connect, device: OnvifDevice, hanging: OnvifDevice, camera: RtspCamera
) -> None:
    admin = await connect("admin")
    started = time.monotonic()
    result = await admin.call("discover_cameras", {"username": USER, "password": PASSWORD})
    elapsed = time.monotonic() - started
    assert result["count"] == 2
    found = _by_model(result["devices"])
    sim = found["Sim-1"]
    assert sim["address"] == device.address
    assert sim["endpoint"] == device.endpoint
    assert sim["manufacturer"] == "SimCam"
    assert sim["error"] is None
    assert sim["profiles"] == [
        {
            "token": "main",
            "name": "mainStream",
            "width": 640,
            "height": 360,
            "encoding": "H264",
            "rtsp_uri": camera.url,
        }
    ]
    # The device that never answers its media call is reported, within its bound.
    hang = found["Hang-1"]
    assert hang["profiles"] == []
    assert hang["error"] == "no answer from the device within 2 s"
    assert hanging.media_requests >= 1
    assert elapsed < 0.5 + 2.0 + 2.0, elapsed  # probe wait + one device bound + slack


async def test_wrong_credentials_are_a_clear_per_device_error(
    connect: Connect, device: OnvifDevice
) -> None:
    admin = await connect("admin")
    result = await admin.call("discover_cameras", {"username": USER, "password": "wrong"})
    by_address = {d["address"]: d for d in result["devices"]}
    sim = by_address[device.address]
    assert sim["error"] == "authentication failed: Sender not authorized"
    assert sim["profiles"] == []
    assert "wrong" not in str(result)  # the password is never echoed


async def test_the_service_answers_others_while_a_device_hangs(connect: Connect) -> None:
    admin = await connect("admin")
    other = await connect("viewer")
    task = asyncio.ensure_future(
        admin.request("discover_cameras", {"username": USER, "password": PASSWORD})
    )
    started = time.monotonic()
    assert (await other.call("ping")) == "pong"
    assert time.monotonic() - started < 1.0
    reply = await task
    assert reply["result"]["count"] == 2


async def test_discover_cameras_is_for_admins(connect: Connect) -> None:
    operator = await connect("operator")
    reply = await operator.request("discover_cameras", {})
    assert reply["error"]["code"] == -32003


async def test_go_era_names_map_onto_discovery(connect: Connect, camera: RtspCamera) -> None:
    admin = await connect("admin")
    before = await admin.call("get_external_streams")
    assert before["external_streams"] == [] and before["total_count"] == 0
    found = await admin.call("discover_external_streams", {"username": USER, "password": PASSWORD})
    assert found["total_found"] == 1
    assert [s["url"] for s in found["discovered_streams"]] == [camera.url]
    assert found["generic_streams"] == found["discovered_streams"]
    assert found["skydio_streams"] == []
    listed = await admin.call("get_external_streams")
    assert listed["external_streams"] == found["discovered_streams"]
    assert listed["total_count"] == 1
    assert listed["timestamp"] == found["scan_timestamp"]
