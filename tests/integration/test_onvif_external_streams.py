"""End to end, the Go-era names of what follows discovery: ``add_external_stream`` of a
discovered stream makes a real camera (MediaMTX path, status notification, a snapshot
of the GStreamer camera behind the simulated ONVIF device), ``remove_external_stream``
takes it away, and ``set_discovery_interval`` runs discovery periodically, kept across
a restart. Bad input is refused and changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from camera_service.app import Application
from tests.rpc import RpcClient
from tests.support.media_stack import MediaStack, MediaStackFactory
from tests.support.onvif_device import OnvifDevice
from tests.support.rtsp_server import RtspCamera

pytestmark = pytest.mark.asyncio

USER, PASSWORD = "admin", "correct-horse"
WAIT = 20.0
# A process's first discovery loads the SOAP libraries and WSDLs inside the device's
# deadline; on a loaded machine that alone can take seconds.
DEVICE_TIMEOUT = 20.0


async def error(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(method, params)
    assert "error" in reply, reply
    err: dict[str, Any] = reply["error"]
    return err


async def discover(client: RpcClient, method: str, params: dict[str, Any]) -> Any:
    """A discovery call, waited for as long as discovery may take (probe_wait and the
    device's deadline), not the 5 s of an ordinary call."""
    msg = {"jsonrpc": "2.0", "method": method, "params": params, "id": "discovery"}
    reply = await client.send_raw(json.dumps(msg), "discovery", timeout=DEVICE_TIMEOUT + 5)
    assert "error" not in reply, reply
    return reply["result"]


async def sources(client: RpcClient) -> list[str]:
    listed = await client.call("list_camera_sources")
    return [s["camera_id"] for s in listed["sources"]]


async def test_a_discovered_stream_is_added_streams_and_is_removed(
    media_stack: MediaStackFactory,
) -> None:
    async with (
        RtspCamera(640, 360, 15, user=USER, password=PASSWORD) as camera,
        OnvifDevice(camera.url, user=USER, password=PASSWORD) as device,
    ):
        stack = await media_stack(
            onvif={
                "probe_targets": [device.probe_target],
                "probe_wait": 0.5,
                "device_timeout": DEVICE_TIMEOUT,
            }
        )
        admin, watcher = await stack.client("admin"), await stack.client("viewer")
        found = await discover(
            admin, "discover_external_streams", {"username": USER, "password": PASSWORD}
        )
        [stream] = found["generic_streams"]
        assert stream["url"] == camera.url

        added = await admin.call(
            "add_external_stream",
            {
                "stream_url": stream["url"],
                "stream_name": "porch",
                "username": USER,
                "password": PASSWORD,
            },
        )
        assert {k: added[k] for k in ("stream_url", "stream_name", "stream_type", "status")} == {
            "stream_url": camera.url,
            "stream_name": "porch",
            "stream_type": "generic",
            "status": "added",
        }
        assert added["device"] == added["camera_id"] == "porch"
        assert abs(added["timestamp"] - time.time()) < 60
        # add_camera's result: the discovered stream's name, the password masked.
        assert added["camera"]["name"] == stream["name"] == "SimCam Sim-1 mainStream"
        assert added["camera"]["source"]["password"] == "********"
        assert added["camera"]["origin"] == "api"

        # A real camera: every client is told, the path pulls it, a frame is taken.
        await watcher.wait_notification(
            "camera_status_update",
            lambda p: p.get("camera_id") == "porch" and p.get("status") == "CONNECTED",
            timeout=WAIT,
        )
        await stack.path_ready("porch")
        shot = await admin.call("take_snapshot", {"device": "porch"})
        assert shot["status"] == "completed" and shot["resolution"] == "640x360", shot
        assert "porch" in await sources(admin)

        # The same id again, or a malformed URL: refused, nothing changed.
        dup = await error(
            admin, "add_external_stream", {"stream_url": camera.url, "stream_name": "porch"}
        )
        assert dup["code"] == -32602 and dup["data"]["param"] == "stream_name", dup
        bad = await error(
            admin, "add_external_stream", {"stream_url": "http://x/y", "stream_name": "other"}
        )
        assert bad["code"] == -32602 and bad["data"]["param"] == "stream_url", bad
        kind = await error(
            admin,
            "add_external_stream",
            {"stream_url": camera.url, "stream_name": "other", "stream_type": "skydio"},
        )
        assert kind["code"] == -32602 and kind["data"]["param"] == "stream_type", kind
        assert sorted(await sources(admin)) == ["lab", "porch"]
        unknown = await error(
            admin, "remove_external_stream", {"stream_url": "rtsp://127.0.0.1:9/none"}
        )
        assert unknown["code"] == -1000, unknown
        # The config camera is not this method's to remove.
        config = await error(
            admin, "remove_external_stream", {"stream_url": camera.url, "stream_name": "lab"}
        )
        assert config["code"] == -1000, config
        assert sorted(await sources(admin)) == ["lab", "porch"]

        # Removed by its URL (credentials in it are ignored for the match).
        with_user = camera.url.replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@")
        removed = await admin.call("remove_external_stream", {"stream_url": with_user})
        assert removed["status"] == "removed" and removed["stream_name"] == "porch", removed
        assert removed["stream_url"] == camera.url and removed["recording"] is None
        await watcher.wait_notification(
            "camera_status_update",
            lambda p: p.get("camera_id") == "porch" and p.get("status") == "DISCONNECTED",
            timeout=WAIT,
        )
        await stack.app.media.wait_until(lambda: "porch" not in stack.mtx.path_names(), WAIT)
        assert await sources(admin) == ["lab"]
        assert PASSWORD not in json.dumps([added, removed])


async def test_one_url_added_twice_is_removed_by_name(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    admin = await stack.client("admin")
    url = "rtsp://127.0.0.1:9/shared"
    for name in ("one", "two"):
        await admin.call("add_external_stream", {"stream_url": url, "stream_name": name})
    both = await error(admin, "remove_external_stream", {"stream_url": url})
    assert both["code"] == -32602 and "one, two" in both["message"], both
    removed = await admin.call("remove_external_stream", {"stream_url": url, "stream_name": "two"})
    assert removed["camera_id"] == "two"
    assert sorted(await sources(admin)) == ["lab", "one"]


async def _restart(stack: MediaStack) -> RpcClient:
    settings = stack.app.settings
    for client in stack.clients:
        await client.close()
    stack.clients.clear()
    await stack.app.stop()
    stack.app = Application(settings)
    await stack.app.start()
    return await stack.client("admin")


async def test_periodic_discovery_finds_the_device_and_is_kept_across_a_restart(
    media_stack: MediaStackFactory,
) -> None:
    async with (
        RtspCamera(640, 360, 15) as camera,
        OnvifDevice(camera.url) as device,
    ):
        onvif = {
            "probe_targets": [device.probe_target],
            "probe_wait": 0.3,
            "device_timeout": DEVICE_TIMEOUT,
            "scan_interval": 3600,
        }
        stack = await media_stack(onvif=onvif)
        admin = await stack.client("admin")
        discovery = stack.app.parts.media.discovery
        assert (discovery.interval, discovery.source) == (3600, "config")
        # The config's interval: a first scan at start, no client asking.
        await stack.app.media.wait_until(lambda: discovery.runs >= 1, WAIT)
        streams = await admin.call("get_external_streams")
        assert [s["url"] for s in streams["external_streams"]] == [camera.url]
        assert streams["timestamp"] > 0

        runs = discovery.runs
        for value in (-1, 0.5, 86_401, "often", True, None):
            err = await error(admin, "set_discovery_interval", {"scan_interval": value})
            assert err["code"] == -32602 and err["data"]["param"] == "scan_interval", err
        assert (discovery.interval, discovery.source, discovery.runs) == (3600, "config", runs)

        result = await admin.call("set_discovery_interval", {"scan_interval": 1})
        assert result["scan_interval"] == 1 and result["status"] == "updated", result
        assert result["message"] == "periodic discovery every 1 s"
        # At once, then again a second after.
        await stack.app.media.wait_until(lambda: discovery.runs >= runs + 2, WAIT)
        # A client's discovery meanwhile waits its turn and answers the same.
        found = await discover(admin, "discover_cameras", {})
        assert [d["endpoint"] for d in found["devices"]] == [device.endpoint]

        off = await admin.call("set_discovery_interval", {"scan_interval": 0})
        assert off["message"] == "periodic discovery off"
        # A restart keeps "off" over the config's 3600.
        admin = await _restart(stack)
        restarted = stack.app.parts.media.discovery
        assert (restarted.interval, restarted.source) == (0, "stored")
        assert restarted.runs == 0
        assert (await admin.call("get_external_streams"))["total_count"] == 0
