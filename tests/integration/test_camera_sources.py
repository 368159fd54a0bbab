"""Cameras at run time end to end: add_camera with the GStreamer RTSP camera, served
through the MediaMTX double's data plane (a real snapshot and recording), kept across a
restart, changed and removed (a recording finalized first); refusals change nothing.
Credentials never reach a reply or the log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from camera_service.app import Application
from tests.rpc import RpcClient
from tests.support.media_stack import MediaStack, MediaStackFactory
from tests.support.rtsp_server import RtspCamera

WAIT = 60.0  # generous: other test runs share the two cores
SECRET = "pw-Secr3t-99"

Predicate = Callable[[dict[str, Any]], bool]


async def call(client: RpcClient, method: str, params: dict[str, Any] | None = None) -> Any:
    rid = f"{method}-{id(params)}"
    msg = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": rid}
    reply: dict[str, Any] = await client.send_raw(orjson.dumps(msg).decode(), rid, WAIT)
    return reply


async def result(client: RpcClient, method: str, params: dict[str, Any] | None = None) -> Any:
    reply = await call(client, method, params)
    assert "error" not in reply, reply
    return reply["result"]


async def notified(client: RpcClient, method: str, match: Predicate) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            note = await client.notification(WAIT)
            if note["method"] == method and match(note["params"]):
                params: dict[str, Any] = note["params"]
                return params


def connected(camera_id: str) -> Predicate:
    return lambda p: p["camera_id"] == camera_id and p["status"] == "CONNECTED"


async def wait_connected(app: Application, camera_id: str) -> None:
    def up() -> bool:
        camera = app.parts.cameras.get(camera_id)
        return camera is not None and camera.connected

    await app.media.wait_until(up, WAIT)


def pulled(stack: MediaStack, camera_id: str) -> str:
    conf = stack.mtx.path_conf(camera_id)
    assert conf is not None, stack.mtx.path_names()
    source: str = conf["source"]
    return source


async def test_added_camera_streams_survives_restart_updates_and_is_removed(
    media_stack: MediaStackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        RtspCamera(640, 360, 15, user="cam", password=SECRET) as cam,
        RtspCamera(640, 360, 15, user="cam", password=SECRET, path="other") as other,
    ):
        stack = await media_stack(cameras={"rtsp_check_interval": 1.0})
        admin, watcher = await stack.client("admin"), await stack.client("viewer")
        url = cam.url.replace("rtsp://", f"rtsp://cam:{SECRET}@")
        params = {"camera_id": "porch", "name": "Porch", "source": {"type": "rtsp", "url": url}}
        added = await result(admin, "add_camera", params)
        assert added["source"] == {
            "type": "rtsp", "url": cam.url, "username": "cam", "password": "********",
            "transport": "tcp",
        }  # fmt: skip
        assert (added["origin"], added["active"], added["editable"]) == ("api", True, True)
        # Every client is told, as of a configured camera; the path pulls the camera.
        await notified(watcher, "camera_status_update", connected("porch"))
        await stack.path_ready("porch")
        assert pulled(stack, "porch") == url
        listed = await result(watcher, "get_camera_list")
        assert "porch" in [c["camera_id"] for c in listed["cameras"]]
        shot = (await call(admin, "take_snapshot", {"device": "porch", "format": "jpg"}))["result"]
        assert shot["status"] == "completed" and shot["resolution"] == "640x360", shot

        # A restart over the same data dir: the camera is there again.
        settings = stack.app.settings
        await stack.app.stop()
        stack.clients.clear()
        stack.app = Application(settings)
        await stack.app.start()
        admin = await stack.client("admin")
        await wait_connected(stack.app, "porch")
        await stack.path_ready("porch")
        sources = await result(admin, "list_camera_sources")
        assert {(s["camera_id"], s["origin"]) for s in sources["sources"]} == {
            ("lab", "config"),
            ("porch", "api"),
        }

        # update: a new URL without the password keeps it; the path follows.
        new_url = other.url
        await result(admin, "update_camera", {"camera_id": "porch", "source": {
            "type": "rtsp", "url": new_url, "username": "cam"}})  # fmt: skip
        want = new_url.replace("rtsp://", f"rtsp://cam:{SECRET}@")
        await stack.app.media.wait_until(lambda: stack.mtx.path_conf("porch") is not None
                                         and pulled(stack, "porch") == want, WAIT)  # fmt: skip
        await wait_connected(stack.app, "porch")

        # remove while recording: the recording is finalized first, and listed.
        await result(admin, "start_recording", {"device": "porch"})
        started = await notified(
            admin, "recording_status_update", lambda p: p["status"] == "STARTED"
        )
        name = started["filename"]
        removed = await result(admin, "remove_camera", {"camera_id": "porch"})
        assert removed["removed"] is True and removed["recording"]["status"] == "STOPPED"
        assert removed["recording"]["files"][0] == name
        await stack.app.media.wait_until(lambda: "porch" not in stack.mtx.path_names(), WAIT)
        assert stack.app.parts.cameras.get("porch") is None

        stopped = await notified(
            admin, "recording_status_update", lambda p: p["status"] == "STOPPED"
        )
        assert stopped["files"] == [name] and stopped["camera_id"] == "porch"
        files = await result(admin, "list_recordings", {"device": "porch"})
        assert name in [f["filename"] for f in files["files"]], files
        sources = await result(admin, "list_camera_sources")
        assert [s["camera_id"] for s in sources["sources"]] == ["lab"]

        everything = json.dumps([added, sources, removed])
        assert SECRET not in everything
        # The service's own log (the test doubles log the URLs they are given).
        ours = [r for r in caplog.records if r.name.startswith("camera_service")]
        assert ours and not [r for r in ours if SECRET in r.getMessage() + repr(r.__dict__)]


async def test_bad_input_is_refused_and_changes_nothing(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(resources={"max_cameras": 3})
    admin, operator = await stack.client("admin"), await stack.client("operator")
    before = stack.mtx.path_names()

    async def refused(method: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = await call(admin, method, params)
        assert "error" in reply, reply
        err: dict[str, Any] = reply["error"]
        return err

    def rtsp(url: str) -> dict[str, Any]:
        return {"type": "rtsp", "url": url}

    err = await refused("add_camera", {"camera_id": "a", "source": rtsp("http://h/x")})
    assert err["code"] == -32602 and err["data"]["param"] == "source.url"
    assert err["message"] == "invalid source.url: must start with rtsp:// or rtsps://"
    err = await refused("add_camera", {"camera_id": "a", "source": rtsp("rtsp://h:70000/x")})
    assert err["code"] == -32602 and "valid port" in err["message"]
    err = await refused("add_camera", {"camera_id": "../x", "source": rtsp("rtsp://h/x")})
    assert err["code"] == -32602 and err["data"]["param"] == "camera_id"
    err = await refused("add_camera", {"camera_id": "lab", "source": {"type": "test"}})
    assert err["code"] == -32602 and err["data"]["param"] == "camera_id"
    assert "config file" in err["message"]
    err = await refused("remove_camera", {"camera_id": "lab"})
    assert err["data"]["param"] == "camera_id"
    err = await refused("update_camera", {"camera_id": "nope", "name": "x"})
    assert err["code"] == -1000
    reply = await call(operator, "add_camera", {"camera_id": "a", "source": {"type": "test"}})
    assert reply["error"]["code"] == -32003

    # An unreachable host is added, and reported DISCONNECTED with the reason.
    gone = {"camera_id": "gone", "source": rtsp("rtsp://127.0.0.1:1/x")}
    await result(admin, "add_camera", gone)

    def disconnected() -> bool:
        camera = stack.app.parts.cameras.get("gone")
        return camera is not None and camera.error != ""

    await stack.app.media.wait_until(disconnected, WAIT)
    [entry] = [s for s in (await result(admin, "list_camera_sources"))["sources"]
               if s["camera_id"] == "gone"]  # fmt: skip
    assert entry["status"] == "DISCONNECTED" and entry["error"], entry
    err = await refused("add_camera", gone)
    assert err["code"] == -32602 and "exists already" in err["message"]
    await result(admin, "add_camera", {"camera_id": "third", "source": {"type": "test"}})
    err = await refused("add_camera", {"camera_id": "fourth", "source": {"type": "test"}})
    assert err["code"] == -1012 and err["data"]["resource"] == "cameras"
    assert (err["data"]["limit"], err["data"]["active"]) == (3, 3)
    sources = await result(admin, "list_camera_sources")
    assert [s["camera_id"] for s in sources["sources"]] == ["gone", "lab", "third"]
    assert set(before) <= set(stack.mtx.path_names())
