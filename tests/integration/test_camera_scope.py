"""Per-camera access through the real service (issue 15, items 3 and 5): an identity
limited to some cameras (JWT claim ``cameras``, an API key's ``cameras``) neither sees
nor hears of the others, in listings, camera methods, file methods, downloads and
notifications, and a camera it may not see is answered as one that does not exist.
Media tokens: ``create_media_token`` and the control API refusing them.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from camera_service.app import Application
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.cli import main
from camera_service.client import CameraClient
from camera_service.client.errors import CameraNotFound
from camera_service.record.events import RecordingStarted
from camera_service.storage.events import SnapshotSaved
from tests.conftest import SECRET, make_settings, make_token
from tests.rpc import RpcClient
from tests.support.media_samples import samples

__all__ = ["samples"]  # a fixture

WAIT = 60.0
SOURCES = [
    {"type": "test", "id": "lab", "resolution": "320x180", "fps": 5},
    {"type": "test", "id": "door-1", "resolution": "320x180", "fps": 5},
    {"type": "test", "id": "gate", "resolution": "320x180", "fps": 5},
]
LIMITED = ["lab", "door-*"]  # sees lab and door-1, not gate
STAMP = "2025-01-15_14-0{}-00"


@dataclass
class Hub:
    app: Application
    clients: list[RpcClient]

    async def connect(self, token: str | None = None) -> RpcClient:
        client = await RpcClient.connect(f"ws://127.0.0.1:{self.app.ws_port}/ws")
        self.clients.append(client)
        if token is not None:
            result = await client.call("authenticate", {"auth_token": token})
            assert result["authenticated"] is True
        return client

    async def limited(self, role: str = "viewer", cameras: list[str] = LIMITED) -> RpcClient:
        return await self.connect(make_token(role, cameras=cameras))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.app.ws_port}{path}"


@pytest.fixture
async def hub(tmp_path: Path, samples: dict[str, Path]) -> AsyncIterator[Hub]:
    settings = make_settings(
        tmp_path,
        cameras={"sources": SOURCES},
        security={"rate_limit": {"requests_per_minute": 100_000}},
    )
    app = Application(settings)
    await app.start()
    hub = Hub(app, [])
    try:
        for camera in ("lab", "door-1", "gate"):
            for minute in range(2):
                name = f"{camera}_{STAMP.format(minute)}.ts"
                shutil.copy(samples["one"], app.paths.recordings / name)
            shot = f"{camera}_snapshot_{STAMP.format(0)}.jpg"
            (app.paths.snapshots / shot).write_bytes(b"\xff\xd8\xff\xe0 not a real jpeg")
        shutil.copy(samples["one"], app.paths.recordings / "holiday clip.ts")
        await app.index.rescan()
        await app.index.settled(WAIT)
        yield hub
    finally:
        for c in hub.clients:
            await c.close()
        await app.stop()


async def error(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(method, params)
    assert "error" in reply, (method, params, reply)
    err: dict[str, Any] = reply["error"]
    return err


def swapped(reply: Any, hidden: str) -> Any:
    """A reply about the camera "nocam" (none has that id) as if it were ``hidden``."""
    if isinstance(reply, dict):
        return {k: swapped(v, hidden) for k, v in reply.items()}
    if isinstance(reply, list):
        return [swapped(v, hidden) for v in reply]
    return reply.replace("nocam", hidden) if isinstance(reply, str) else reply


async def same_as_missing(
    client: RpcClient, method: str, params: dict[str, Any], param: str = "device"
) -> dict[str, Any]:
    """``method`` on the hidden camera answers exactly as on one that does not exist."""
    asked = await client.request(method, {**params, param: "gate"})
    missing = await client.request(method, {**params, param: "nocam"})
    asked.pop("id"), missing.pop("id")
    assert asked == swapped(missing, "gate"), method
    return asked


# --- cameras -----------------------------------------------------------------------------------


async def test_a_limited_viewer_lists_and_counts_only_its_cameras(hub: Hub) -> None:
    everyone = await hub.connect(make_token("viewer"))
    full = await everyone.call("get_camera_list")
    assert sorted(c["camera_id"] for c in full["cameras"]) == ["door-1", "gate", "lab"]

    limited = await hub.limited()
    listed = await limited.call("get_camera_list")
    assert sorted(c["camera_id"] for c in listed["cameras"]) == ["door-1", "lab"]
    assert (listed["total"], listed["connected"]) == (2, 2)
    assert "gate" not in str(listed)
    # The unlimited list is not the limited one's cache, nor the other way round.
    assert await everyone.call("get_camera_list") == full

    nothing = await hub.limited(cameras=[])
    assert await nothing.call("get_camera_list") == {"cameras": [], "total": 0, "connected": 0}


async def test_a_hidden_camera_is_answered_as_one_that_does_not_exist(hub: Hub) -> None:
    limited = await hub.limited("operator")
    seen = await limited.call("get_camera_status", {"device": "lab"})
    assert seen["status"] == "CONNECTED"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("get_camera_status", {}),
        ("get_camera_capabilities", {}),
        ("take_snapshot", {}),
        ("take_snapshot", {"filename": "x.png", "format": "jpg"}),  # -32602 comes first
        ("start_recording", {}),
        ("start_recording", {"duration": 5, "duration_minutes": 1}),
        ("stop_recording", {}),
        ("list_recordings", {}),
        ("list_snapshots", {"since": "2025-01-15T15:00:00Z", "until": "2025-01-15T14:00:00Z"}),
    ]
    for method, params in cases:
        await same_as_missing(limited, method, params)
    token = await same_as_missing(limited, "create_media_token", {}, param="camera_id")
    assert token["error"]["code"] == -1000
    status = await limited.call("get_camera_status", {"device": "gate"})
    assert (status["status"], status["streams"]) == ("DISCONNECTED", {})
    assert (await error(limited, "start_recording", {"device": "gate"}))["code"] == -1000


async def test_get_streams_lists_only_the_cameras_it_may_see(hub: Hub) -> None:
    # Without a MediaMTX the service manages no path yet: give it the three.
    hub.app.media.owned.update({"lab", "door-1", "gate"})
    everyone = await hub.connect(make_token("viewer"))
    limited = await hub.limited()
    assert [s["name"] for s in await everyone.call("get_streams")] == ["door-1", "gate", "lab"]
    assert [s["name"] for s in await limited.call("get_streams")] == ["door-1", "lab"]


async def test_an_api_key_limited_to_cameras(hub: Hub) -> None:
    keys = hub.app.parts.store.keys
    key, record = await hub.app.parts.db.run(keys.create, "door", "viewer", None, None, ["lab"])
    assert record.cameras == ("lab",)
    client = await hub.connect(key)
    listed = await client.call("get_camera_list")
    assert [c["camera_id"] for c in listed["cameras"]] == ["lab"]
    page = await client.call("list_recordings")
    assert {f["device"] for f in page["files"]} == {"lab"}


# --- files ------------------------------------------------------------------------------------


async def test_a_limited_viewer_lists_only_the_files_of_its_cameras(hub: Hub) -> None:
    everyone = await hub.connect(make_token("viewer"))
    limited = await hub.limited()
    assert (await everyone.call("list_recordings"))["total"] == 7

    page = await limited.call("list_recordings")
    names = [f["filename"] for f in page["files"]]
    assert page["total"] == 4 == len(names)
    assert {f["device"] for f in page["files"]} == {"lab", "door-1"}
    assert not any(n.startswith("gate") for n in names) and "holiday clip.ts" not in names
    # Paging counts only what it may see.
    second = await limited.call("list_recordings", {"limit": 3, "offset": 3})
    assert (second["total"], [f["filename"] for f in second["files"]]) == (4, names[3:])
    assert (await limited.call("list_recordings", {"device": "lab"}))["total"] == 2
    assert await limited.call("list_recordings", {"device": "gate"}) == {
        "files": [],
        "total": 0,
        "limit": 100,
        "offset": 0,
    }
    shots = await limited.call("list_snapshots")
    assert sorted(f["device"] for f in shots["files"]) == ["door-1", "lab"]


async def test_a_hidden_cameras_files_are_not_found(hub: Hub) -> None:
    limited = await hub.limited("operator")
    lab = f"lab_{STAMP.format(0)}.ts"
    assert (await limited.call("get_recording_info", {"filename": lab}))["device"] == "lab"
    for method, name, missing in [
        ("get_recording_info", f"gate_{STAMP.format(0)}.ts", f"nocam_{STAMP.format(0)}.ts"),
        ("get_recording_info", "holiday clip.ts", "holiday clap.ts"),
        ("delete_recording", f"gate_{STAMP.format(1)}.ts", f"nocam_{STAMP.format(1)}.ts"),
        ("get_snapshot_info", f"gate_snapshot_{STAMP.format(0)}.jpg", "nocam_snapshot.jpg"),
        ("delete_snapshot", f"gate_snapshot_{STAMP.format(0)}.jpg", "nocam_snapshot.jpg"),
    ]:
        hidden = await error(limited, method, {"filename": name})
        gone = await error(limited, method, {"filename": missing})
        assert hidden["code"] == gone["code"] == -1005
        assert hidden["message"] == gone["message"]
        assert hidden["data"] == {**gone["data"], "filename": name}
    assert (hub.app.paths.recordings / f"gate_{STAMP.format(1)}.ts").exists()
    assert (hub.app.paths.snapshots / f"gate_snapshot_{STAMP.format(0)}.jpg").exists()


async def test_downloads_of_a_hidden_camera_are_not_found(hub: Hub) -> None:
    token = make_token("viewer", cameras=LIMITED)
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:

        async def get(
            name: str, headers: dict[str, str], kind: str = "recordings", **query: str
        ) -> tuple[int, bytes]:
            url = hub.url(f"/files/{kind}/{urllib.parse.quote(name)}")
            async with http.get(url, headers=headers, params=query) as r:
                return r.status, await r.read()

        status, body = await get(f"lab_{STAMP.format(0)}.ts", auth)
        assert (
            status == 200
            and body == (hub.app.paths.recordings / f"lab_{STAMP.format(0)}.ts").read_bytes()
        )
        missing = await get(f"nocam_{STAMP.format(0)}.ts", auth)
        assert missing[0] == 404
        for name, kind in [
            (f"gate_{STAMP.format(0)}.ts", "recordings"),
            ("holiday clip.ts", "recordings"),
            (f"gate_snapshot_{STAMP.format(0)}.jpg", "snapshots"),
        ]:
            assert await get(name, auth, kind) == missing, name
            assert (await get(name, {"Authorization": f"Bearer {make_token('viewer')}"}, kind))[
                0
            ] == 200
        # ?token= counts the same.
        assert await get(f"gate_{STAMP.format(0)}.ts", {}, token=token) == missing
        assert (await get(f"lab_{STAMP.format(0)}.ts", {}, token=token))[0] == 200


# --- notifications ----------------------------------------------------------------------------


async def next_of(client: RpcClient, topic: str) -> dict[str, Any]:
    while True:
        note = await client.notification(WAIT)
        if note["method"] == topic:
            params: dict[str, Any] = note["params"]
            return params


async def test_notifications_of_hidden_cameras_are_not_delivered(hub: Hub) -> None:
    everyone = await hub.connect(make_token("viewer"))
    limited = await hub.limited()
    for client in (everyone, limited):  # every topic: snapshot_taken is opt-in
        await client.call("subscribe_events")
    cameras = hub.app.parts.cameras
    events = hub.app.events
    now = time.time()

    # Each time: one about the hidden camera, then one about a visible one. The
    # unlimited connection hears both in order; the limited one's next is the visible.
    cameras.update("gate", name="Gate renamed")
    cameras.update("lab", name="Lab renamed")
    for client, first in ((everyone, "gate"), (limited, "lab")):
        assert (await next_of(client, "camera_status_update"))["camera_id"] == first

    for camera_id in ("gate", "door-1"):
        events.publish(
            RecordingStarted("s-" + camera_id, camera_id, camera_id, "f.mp4", "mp4", now, None)
        )
    for client, first in ((everyone, "gate"), (limited, "door-1")):
        assert (await next_of(client, "recording_status_update"))["camera_id"] == first

    for camera_id in ("gate", "lab"):
        events.publish(
            SnapshotSaved(camera_id, camera_id, f"{camera_id}.jpg", 1, now, "warm", "jpg", 1, 1)
        )
    for client, first in ((everyone, "gate"), (limited, "lab")):
        assert (await next_of(client, "snapshot_taken"))["camera_id"] == first

    # A camera that appears outside the scope: not heard of either.
    cameras.put(Camera("gate-2", SourceType.TEST, "gate-2", CameraStatus.CONNECTED))
    cameras.put(Camera("door-2", SourceType.TEST, "door-2", CameraStatus.CONNECTED))
    assert (await next_of(limited, "camera_status_update"))["camera_id"] == "door-2"


# --- media tokens -------------------------------------------------------------------------------


async def test_a_media_token_is_scoped_short_and_carried_by_its_urls(hub: Hub) -> None:
    viewer = await hub.connect(make_token("viewer"))
    before = time.time()
    result = await viewer.call("create_media_token", {"camera_id": "lab"})
    token = result["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["cameras"] == ["lab"] and claims["scope"] == "media"
    assert claims["role"] == "viewer" and claims["user_id"] == "tester"
    assert before + 300 - 1 <= claims["exp"] <= time.time() + 301  # the default: 300 s
    assert result["camera_id"] == "lab"
    assert result["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    assert result["streams"] == {
        "rtsp": f"rtsp://127.0.0.1:8554/lab?jwt={token}",
        "webrtc": f"http://127.0.0.1:8889/lab?jwt={token}",
        "hls": f"http://127.0.0.1:8888/lab/index.m3u8?jwt={token}",
    }

    short = await viewer.call("create_media_token", {"camera_id": "lab", "ttl_seconds": 30})
    assert jwt.decode(short["token"], SECRET, algorithms=["HS256"])["exp"] <= time.time() + 31
    too_long = await error(viewer, "create_media_token", {"camera_id": "lab", "ttl_seconds": 3601})
    assert (too_long["code"], too_long["data"]["param"]) == (-32602, "ttl_seconds")
    for bad in (0, -1, "60", True):
        err = await error(viewer, "create_media_token", {"camera_id": "lab", "ttl_seconds": bad})
        assert err["code"] == -32602
    assert (await error(viewer, "create_media_token", {"camera_id": "../x"}))["code"] == -32602
    assert (await error(viewer, "create_media_token", {"camera_id": "nocam"}))["code"] == -1000


async def test_a_media_token_never_outlives_the_credential_it_came_from(hub: Hub) -> None:
    viewer = await hub.connect(make_token("viewer", ttl=60))
    result = await viewer.call("create_media_token", {"camera_id": "lab", "ttl_seconds": 3600})
    assert jwt.decode(result["token"], SECRET, algorithms=["HS256"])["exp"] <= time.time() + 61


async def test_a_media_token_cannot_open_the_control_api_or_downloads(hub: Hub) -> None:
    viewer = await hub.connect(make_token("viewer"))
    token = (await viewer.call("create_media_token", {"camera_id": "lab"}))["token"]

    client = await hub.connect()
    for method, params in [
        ("authenticate", {"auth_token": token}),
        ("authenticate", {"token": token, "auth_type": "jwt"}),
        ("get_camera_list", {"auth_token": token}),  # the per-call token
    ]:
        err = await error(client, method, params)
        assert err["code"] == -32001 and err["data"]["reason"] == "invalid"
        assert "invalid" in err["message"] and "media token" in err["message"]
        assert token not in err["message"]
    # Still unauthenticated: nothing was bound.
    err = await error(client, "get_camera_list", {})
    assert err["data"]["reason"] == "authentication_required"
    # A connection already authenticated is not changed by trying one.
    assert (await error(viewer, "authenticate", {"auth_token": token}))["code"] == -32001
    assert (await viewer.call("get_camera_list"))["total"] == 3

    async with aiohttp.ClientSession() as http:
        url = hub.url(f"/files/recordings/lab_{STAMP.format(0)}.ts")
        for kwargs in (
            {"headers": {"Authorization": f"Bearer {token}"}},
            {"params": {"token": token}},
        ):
            async with http.get(url, **kwargs) as r:
                assert r.status == 401
                body = await r.json()
                assert body["reason"] == "invalid" and "media token" in body["error"]


async def test_a_limited_caller_gets_media_tokens_only_for_its_cameras(hub: Hub) -> None:
    limited = await hub.limited()
    result = await limited.call("create_media_token", {"camera_id": "door-1"})
    assert jwt.decode(result["token"], SECRET, algorithms=["HS256"])["cameras"] == ["door-1"]
    assert (await error(limited, "create_media_token", {"camera_id": "gate"}))["code"] == -1000
    # Via /dev/videoN too, as every camera param.
    err = await error(limited, "create_media_token", {"camera_id": "/dev/video0"})
    assert err["code"] == -1000


async def test_the_sdk_and_the_client_cli_get_media_tokens(
    hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"ws://127.0.0.1:{hub.app.ws_port}/ws"
    async with CameraClient(url, token=make_token("viewer", cameras=["lab"])) as sdk:
        result = await sdk.create_media_token("lab", ttl_seconds=60)
        assert result["streams"]["hls"].endswith(f"?jwt={result['token']}")
        with pytest.raises(CameraNotFound):
            await sdk.create_media_token("gate")

    argv = ["client", "--url", url, "--token", make_token("viewer"), "media-token", "lab"]
    code = await asyncio.to_thread(main, [*argv, "--ttl", "90"])
    out = capsys.readouterr().out
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert code == 0 and set(fields) == {"token", "expires_at", "rtsp", "webrtc", "hls"}
    assert fields["webrtc"] == f"http://127.0.0.1:8889/lab?jwt={fields['token']}"
    claims = jwt.decode(fields["token"], SECRET, algorithms=["HS256"])
    assert claims["exp"] <= time.time() + 91
