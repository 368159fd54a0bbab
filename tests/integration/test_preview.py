"""get_preview end to end: a viewer's fresh picture of a camera, shared by every caller
for ``snapshots.preview_max_age``, never stored; camera scopes and a disconnected
camera. The real service, the MediaMTX double and its RTSP data plane."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson

from camera_service.storage.probe import image_info
from tests.conftest import make_token
from tests.rpc import RpcClient
from tests.support.media_stack import LAB, MediaStack, MediaStackFactory, free_port

WAIT = 60.0  # a cold capture on a loaded machine
# An RTSP camera nobody serves: known to the service, DISCONNECTED.
GATE = {"type": "rtsp", "id": "gate", "url": f"rtsp://127.0.0.1:{free_port()}/gate"}


async def preview(client: RpcClient, device: str = "lab") -> dict[str, Any]:
    """get_preview's whole reply (result or error)."""
    rid = f"preview-{device}-{id(client)}-{asyncio.get_running_loop().time()}"
    msg = {"jsonrpc": "2.0", "method": "get_preview", "params": {"device": device}, "id": rid}
    reply: dict[str, Any] = await client.send_raw(orjson.dumps(msg).decode(), rid, WAIT)
    return reply


def jpeg(result: dict[str, Any]) -> bytes:
    data = base64.b64decode(result["image"], validate=True)
    assert data[:3] == b"\xff\xd8\xff"
    info = image_info(lambda offset, size: data[offset : offset + size])
    assert info is not None and (info.width, info.height) == (640, 360)
    return data


async def limited(stack: MediaStack, cameras: list[str]) -> RpcClient:
    client = await stack.client(None)
    await client.call("authenticate", {"auth_token": make_token("viewer", cameras=cameras)})
    return client


async def test_a_viewer_gets_a_fresh_picture_that_is_not_stored(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack(snapshots={"preview_max_age": 1.0})
    app = stack.app
    await stack.path_ready()
    viewers = [await stack.client("viewer") for _ in range(5)]
    # Five at once, nothing taken yet: one capture, the same picture for each.
    replies = await asyncio.gather(*(preview(v) for v in viewers))
    assert all("result" in r for r in replies), replies
    first = replies[0]["result"]
    assert {r["result"]["image"] for r in replies} == {first["image"]}
    assert app.previews.captures == 1
    assert first["camera_id"] == "lab" and first["device"] == "lab"
    assert first["format"] == "jpg" and first["resolution"] == "640x360"
    assert first["source"] in ("stream", "warm") and first["taken_at"].endswith("Z")
    jpeg(first)
    # Asked again within preview_max_age: the same picture, no capture.
    again = await preview(viewers[1])
    assert again["result"]["image"] == first["image"] and app.previews.captures == 1
    # Later, a new one (polled: each call within the interval is served from memory).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        later = (await preview(viewers[2]))["result"]
        if later["taken_at"] != first["taken_at"] or later["image"] != first["image"]:
            break
        assert loop.time() < deadline, "no new preview"
        await asyncio.sleep(0.25)
    jpeg(later)
    assert app.previews.captures == 2
    # Nothing written, listed or announced as a snapshot.
    assert [p.name for p in app.paths.snapshots.iterdir()] == []
    operator = await stack.client("operator")
    assert (await operator.call("list_snapshots", {}))["files"] == []


async def test_scopes_and_refusals(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(cameras={"sources": [LAB, GATE], "poll_interval": 30.0})
    await stack.path_ready()
    viewer = await stack.client("viewer")
    # A camera outside the caller's scope is answered as one that does not exist.
    elsewhere = await limited(stack, ["gate"])
    hidden, missing = await preview(elsewhere, "lab"), await preview(viewer, "nosuch")
    for reply, name in ((hidden, "lab"), (missing, "nosuch")):
        assert reply["error"]["code"] == -1000, reply
        assert reply["error"]["data"] == {"reason": "camera_not_available"}
        assert reply["error"]["message"] == f"Camera not found or not connected: {name}"
    assert "result" in await preview(await limited(stack, ["lab"]), "lab")
    # A disconnected camera says so.
    status = await viewer.call("get_camera_status", {"device": "gate"})
    assert status["status"] == "DISCONNECTED", status
    gone = await preview(viewer, "gate")
    assert gone["error"]["code"] == -1000, gone
    assert gone["error"]["data"] == {"reason": "camera_disconnected", "camera_id": "gate"}
    assert gone["error"]["message"].startswith("Camera disconnected: gate")
    assert (await preview(elsewhere, "gate"))["error"]["data"]["reason"] == "camera_disconnected"
    for bad in ("../lab", ""):
        assert (await preview(viewer, bad))["error"]["code"] == -32602
    anonymous = await stack.client(None)
    assert (await preview(anonymous))["error"]["code"] == -32001
    assert stack.app.previews.captures == 1


async def test_a_removed_cameras_preview_is_dropped(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    admin = await stack.client("admin")
    added = {"camera_id": "porch", "source": {"type": "test", "resolution": "640x360"}}
    await admin.call("add_camera", added)
    await stack.path_ready("porch")
    assert "result" in await preview(admin, "porch")
    assert "porch" in stack.app.previews
    await admin.call("remove_camera", {"camera_id": "porch"})
    assert stack.app.parts.cameras.get("porch") is None
    assert "porch" not in stack.app.previews
