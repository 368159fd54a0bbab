"""End to end: ONVIF discovery finds the simulated device, ``add_camera`` takes the
profile's RTSP URI and the same credentials, and the camera streams for real through
the media stack (a snapshot of it is taken)."""

from __future__ import annotations

import pytest

from tests.support.media_stack import MediaStackFactory
from tests.support.onvif_device import OnvifDevice
from tests.support.rtsp_server import RtspCamera

pytestmark = pytest.mark.asyncio

USER, PASSWORD = "admin", "correct-horse"


async def test_a_discovered_camera_is_added_and_streams(media_stack: MediaStackFactory) -> None:
    async with (
        RtspCamera(640, 360, 15, user=USER, password=PASSWORD) as camera,
        OnvifDevice(camera.url, user=USER, password=PASSWORD) as device,
    ):
        stack = await media_stack(onvif={"probe_targets": [device.probe_target], "probe_wait": 0.5})
        admin = await stack.client("admin")
        found = await admin.call("discover_cameras", {"username": USER, "password": PASSWORD})
        [sim] = found["devices"]
        [profile] = sim["profiles"]
        assert profile["rtsp_uri"] == camera.url
        added = await admin.call(
            "add_camera",
            {
                "camera_id": "porch",
                "name": f"{sim['manufacturer']} {sim['model']}",
                "source": {
                    "type": "rtsp",
                    "url": profile["rtsp_uri"],
                    "username": USER,
                    "password": PASSWORD,
                    "transport": "tcp",
                },
            },
        )
        assert added["camera_id"] == "porch"
        await stack.path_ready("porch")
        await admin.wait_notification(
            "camera_status_update",
            lambda p: p.get("camera_id") == "porch" and p.get("status") == "CONNECTED",
            timeout=20.0,
        )
        shot = await admin.call("take_snapshot", {"device": "porch"})
        assert shot["status"] == "completed", shot
        assert shot["file_size"] > 0
