"""Clients written for the original service work unchanged (issue 16, the Python-era
points; docs/api.md "Compatibility"): the real service over WebSocket with the live
test-pattern camera ``lab`` through the MediaMTX double (tests/support/media_stack.py)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from tests.conftest import make_token
from tests.rpc import RpcClient
from tests.support.faults import Heard, until
from tests.support.media_stack import MediaStack, MediaStackFactory

WAIT = 60.0  # generous: other test runs share the two cores
LIBRARY_PHRASES = ("value error", "input should", "field required", "validation error", "pydantic")
_ids = itertools.count(1)


class Frames:
    """A connection that keeps every frame it receives in arrival order, replies and
    notifications alike (tests.rpc.RpcClient sorts them apart)."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, stack: MediaStack, role: str) -> Frames:
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"ws://127.0.0.1:{stack.app.ws_port}/ws")
        frames = cls(http, ws)
        reply = await frames.call("authenticate", {"auth_token": make_token(role)})
        assert reply["result"]["authenticated"] is True, reply
        return frames

    async def send(self, method: str, params: dict[str, Any]) -> int:
        rid = next(_ids)
        msg = {"jsonrpc": "2.0", "method": method, "params": params, "id": rid}
        await self.ws.send_str(orjson.dumps(msg).decode())
        return rid

    async def until(self, done: Any, timeout: float = WAIT) -> None:
        """Read frames until ``done(self.seen)``."""
        async with asyncio.timeout(timeout):
            while not done(self.seen):
                msg = await self.ws.receive()
                assert msg.type is aiohttp.WSMsgType.TEXT, msg
                self.seen.append(orjson.loads(msg.data))

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        rid = await self.send(method, params)
        await self.until(lambda seen: any(f.get("id") == rid for f in seen))
        return next(f for f in self.seen if f.get("id") == rid)

    def index(self, pred: Any) -> int:
        return next(i for i, f in enumerate(self.seen) if pred(f))

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


async def error_of(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(method, params)
    assert "error" in reply, (method, params, reply)
    err: dict[str, Any] = reply["error"]
    return err


def assert_plain(err: dict[str, Any], param: str) -> None:
    """-32602 in the contract's words: ``invalid <param>: <reason>``, no library text."""
    assert err["code"] == -32602, err
    top = param.split(".")[0]
    assert err["message"].startswith(f"invalid {top}: "), err
    assert err["data"] == {"reason": "invalid_params", "param": param}, err
    assert not any(p in err["message"].lower() for p in LIBRARY_PHRASES), err


# --- 1. start_recording's nested recording, stop_recording's recording_id / stopped_at -------


async def test_recording_results_carry_the_original_fields(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    started = await client.call("start_recording", {"device": "lab"})
    nested = started["recording"]
    assert nested == {
        "device_path": "lab",
        "recording_id": started["session_id"],
        "filename": started["filename"],
        "start_time": nested["start_time"],
        "status": "STARTED",
    }
    when = datetime.fromisoformat(started["start_time"]).timestamp()
    assert isinstance(nested["start_time"], float) and abs(nested["start_time"] - when) < 1
    assert started["status"] == "STARTED" and started["device"] == "lab"  # flat ones kept

    stopped = await client.call("stop_recording", {"device": "lab"})
    assert stopped["recording_id"] == started["session_id"] == stopped["session_id"]
    assert stopped["stopped_at"] == stopped["end_time"] and stopped["status"] == "STOPPED"


# --- 2. device_path and stream_url on cameras, size_bytes on files ----------------------------


async def test_cameras_carry_device_path_and_stream_url_files_size_bytes(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    rtsp = f"rtsp://127.0.0.1:{stack.app.settings.mediamtx.rtsp_port}/lab"
    [listed] = (await client.call("get_camera_list"))["cameras"]
    status = await client.call("get_camera_status", {"device": "lab"})
    for camera in (listed, status):
        assert camera["device_path"] == "lab" == camera["device"], camera
        assert camera["stream_url"] == camera["streams"]["rtsp"] == rtsp, camera
    unknown = await client.call("get_camera_status", {"device": "/dev/video7"})
    assert unknown["device_path"] == "/dev/video7" and unknown["stream_url"] is None

    # A change clients see (here its name, as a rename in the configuration would).
    stack.app.parts.cameras.update("lab", name="Lab renamed")
    note = await client.wait_notification(
        "camera_status_update", lambda p: p["name"] == "Lab renamed", WAIT
    )
    assert note["device_path"] == "lab" and note["stream_url"] == rtsp, note

    shot = await client.call("take_snapshot", {"device": "lab"})
    assert shot["status"] == "completed", shot
    [entry] = (await client.call("list_snapshots"))["files"]
    info = await client.call("get_snapshot_info", {"filename": shot["filename"]})
    for item in (entry, info):
        assert item["size_bytes"] == item["file_size"] == shot["file_size"] > 0, item


# --- 3. a reply before what it caused; newer topics are opt-in -------------------------------


async def test_replies_come_before_the_notifications_they_caused(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    caller = await Frames.open(stack, "operator")
    other = await Frames.open(stack, "viewer")
    try:
        subscribed = await caller.call(
            "subscribe_events", {"topics": ["snapshot_taken", "camera_status_update"]}
        )
        assert subscribed["result"]["topics"] == ["camera_status_update", "snapshot_taken"]

        def note(method: str) -> Any:
            return lambda f: f.get("method") == method and f["params"]["camera_id"] == "lab"

        rid = await caller.send("take_snapshot", {"device": "lab"})
        await caller.until(lambda seen: any(note("snapshot_taken")(f) for f in seen))
        await caller.until(lambda seen: any(f.get("id") == rid for f in seen))
        assert caller.index(lambda f: f.get("id") == rid) < caller.index(note("snapshot_taken"))

        # start_recording's STARTED comes after its reply too.
        subscribed = await caller.call("subscribe_events", {"topics": ["recording_status_update"]})
        rid = await caller.send("start_recording", {"device": "lab"})
        await caller.until(lambda seen: any(note("recording_status_update")(f) for f in seen))
        reply = caller.index(lambda f: f.get("id") == rid)
        assert reply < caller.index(note("recording_status_update")), caller.seen
        assert "error" not in (await caller.call("stop_recording", {"device": "lab"}))
        # The other connection hears of the recording (a default topic), not the snapshot.
        await other.until(lambda seen: any(note("recording_status_update")(f) for f in seen))
        assert not any(f.get("method") == "snapshot_taken" for f in other.seen), other.seen
    finally:
        await caller.close()
        await other.close()


async def test_a_new_connection_hears_only_the_original_topics(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    default = Heard(await stack.client("viewer"))
    opted = await stack.client("viewer")
    subscribed = await opted.call("subscribe_events", {"topics": ["snapshot_taken"]})
    assert subscribed["topics"] == ["snapshot_taken"]
    operator = await stack.client("operator")

    shot = await operator.call("take_snapshot", {"device": "lab"})
    heard = await opted.wait_notification("snapshot_taken", lambda p: True, WAIT)
    assert heard["filename"] == shot["filename"]
    # The default connection gets camera and recording updates, never snapshot_taken.
    await operator.call("start_recording", {"device": "lab"})
    await operator.call("stop_recording", {"device": "lab"})
    await default.recording("STOPPED")  # after the snapshot: it would have been heard
    methods = {n["method"] for n in default.notes}
    assert methods <= {"camera_status_update", "recording_status_update"}, methods
    everything = await default.client.call("subscribe_events")
    assert len(everything["topics"]) == 5
    await default.close()


# --- 4. plain -32602 messages, missing credentials, unknown files ------------------------------


# Good values of the params a method needs, so the one under test is the one refused.
BASELINE = {
    "device": "lab",
    "camera_id": "lab",
    "filename": "lab.jpg",
    "kind": "snapshot",
    "policy_type": "manual",
    "enabled": False,
    "source": {"type": "test"},
    "stream_url": "rtsp://127.0.0.1:9/compat",
    "stream_name": "lab",  # a config camera's: adding it is refused, nothing changes
    "scan_interval": 0,
}
BAD_VALUES: tuple[Any, ...] = ({"x": 1}, [1], True, -1, "../no such", 2**64 - 1, 1.5, "gif")


async def test_every_invalid_param_is_named_in_plain_words(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(security={"rate_limit": {"requests_per_minute": 100_000}})
    await stack.path_ready()
    admin = await stack.client("admin")
    doc = await admin.call("rpc.discover")
    refused: set[tuple[str, str]] = set()
    for method in doc["methods"]:
        name = method["name"]
        if name == "authenticate":
            continue  # its own rule, below; a good token would rebind the connection
        needed = {p["name"]: BASELINE[p["name"]] for p in method["params"] if p["required"]}
        for param in method["params"]:
            for value in BAD_VALUES:
                reply = await admin.request(name, {**needed, param["name"]: value})
                err = reply.get("error")
                if err is not None and err["code"] == -32602:
                    assert_plain(err, err["data"]["param"])
                    refused.add((name, err["data"]["param"].split(".")[0]))
    every_param = {(m["name"], p["name"]) for m in doc["methods"] for p in m["params"]}
    assert refused >= every_param - {
        ("authenticate", p) for p in ("auth_token", "token", "auth_type")
    }

    err = await error_of(admin, "take_snapshot", {"device": "lab", "format": "gif"})
    assert err["message"] == "invalid format: unsupported format 'gif', expected jpg or png"
    err = await error_of(admin, "take_snapshot", {"device": "lab", "quality": 0})
    assert err["message"] == "invalid quality: must be at least 1"
    err = await error_of(admin, "start_recording", {"duration": 5})
    assert err["message"] == "invalid device: required but missing", err

    anonymous = await stack.client(None)
    err = await error_of(anonymous, "authenticate", {})
    assert err == {
        "code": -32001,
        "message": "authentication failed: invalid or missing token",
        "data": {"reason": "invalid"},
    }
    for method in ("get_recording_info", "get_snapshot_info", "delete_recording"):
        err = await error_of(admin, method, {"filename": "lab_2026-01-01_00-00-00.mp4"})
        assert err["code"] == -1005 and err["message"].endswith(" not found"), err


# --- 5. a numeric device is /dev/videoN --------------------------------------------------------


async def test_a_numeric_device_is_its_video_node(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    status = await client.call("get_camera_status", {"device": 0})
    assert status["device"] == "/dev/video0" and status["camera_id"] == "camera0"
    assert status["status"] == "DISCONNECTED"
    caps = await client.call("get_camera_capabilities", {"device": 3})
    assert caps["device"] == "/dev/video3"
    assert (await client.call("list_recordings", {"device": 0}))["files"] == []
    idle = await error_of(client, "stop_recording", {"device": 0})  # as the original did
    assert idle["code"] == -1003 and "not recording" in idle["message"]
    absent = await error_of(client, "take_snapshot", {"device": 0})
    assert absent["code"] == -1000
    for bad in (-1, True, 10_000, 2**64 - 1, 1.0):
        err = await error_of(client, "get_camera_status", {"device": bad})
        assert_plain(err, "device")


# --- 6. every error reply carries the request's id ---------------------------------------------


async def test_every_error_reply_carries_the_request_id(media_stack: MediaStackFactory) -> None:
    # 0.3 s: far more than authenticate needs, far less than a cold PNG capture takes
    stack = await media_stack(
        server={"request_timeout": 0.3, "max_reply_bytes": 4096},
        security={"rate_limit": {"requests_per_minute": 40}},
    )
    await stack.path_ready()
    viewer = await stack.client("viewer")
    anonymous = await stack.client(None)

    async def reply_to(client: RpcClient, text: str, rid: Any) -> dict[str, Any]:
        reply: dict[str, Any] = await client.send_raw(text, rid, WAIT)
        assert "error" in reply and reply["id"] == rid, reply
        return reply

    def req(method: str, rid: Any, **extra: Any) -> str:
        return orjson.dumps({"jsonrpc": "2.0", "method": method, "id": rid, **extra}).decode()

    kinds = {
        -32600: (viewer, '{"jsonrpc":"1.0","method":"ping","id":"v1"}', "v1"),
        -32601: (viewer, req("no_such_method", 11), 11),
        -32602: (viewer, req("get_camera_status", "p", params={"device": "../x"}), "p"),
        -32001: (anonymous, req("get_camera_list", 12), 12),
        -32003: (viewer, req("start_recording", 13, params={"device": "lab"}), 13),
        -1005: (viewer, req("get_snapshot_info", 14, params={"filename": "lab.jpg"}), 14),
    }
    for code, (client, text, rid) in kinds.items():
        assert (await reply_to(client, text, rid))["error"]["code"] == code, code
    big = 18446744073709551616  # past 64 bits: echoed exactly
    reply = await reply_to(viewer, f'{{"jsonrpc":"2.0","method":"nope","id":{big}}}', big)
    assert reply["error"]["code"] == -32601

    # A request past its timeout, and batch elements past server.max_reply_bytes.
    operator = await stack.client("operator")
    png = req("take_snapshot", 16, params={"device": "lab", "format": "png"})
    timed_out = await reply_to(operator, png, 16)
    assert timed_out["error"]["code"] == -32603 and "timed out" in timed_out["error"]["message"]
    batch = [
        {"jsonrpc": "2.0", "method": "get_camera_status", "params": {"device": "lab"}, "id": i}
        for i in range(10)
    ]
    replies = await operator.send_raw(orjson.dumps(batch).decode(), "batch", WAIT)
    assert [r["id"] for r in replies] == list(range(10))
    assert replies[-1]["error"]["data"]["reason"] == "reply_too_large"

    # Rate limited: once the budget is spent, every refusal still names its request.
    pings = [await viewer.send_raw(req("ping", f"r{i}"), f"r{i}", WAIT) for i in range(45)]
    limited = [r for r in pings if "error" in r]
    assert limited and all(r["error"]["code"] == -32002 for r in limited)
    assert [r["id"] for r in pings] == [f"r{i}" for i in range(45)]

    # An id past a double's range (a reader must take it as text) is echoed as sent.
    wide = "9" * 5000
    raw = await Frames.open(stack, "viewer")
    try:
        await raw.ws.send_str(f'{{"jsonrpc":"2.0","method":"ping","id":{wide}}}')
        msg = await raw.ws.receive(WAIT)
        assert msg.type is aiohttp.WSMsgType.TEXT and msg.data.endswith(f'"id":{wide}}}'), msg
    finally:
        await raw.close()


async def test_a_request_cut_short_by_the_shutdown_is_answered(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack(server={"shutdown_timeout": 0.1})
    await stack.path_ready()
    client = await stack.client("operator")
    msg = {"jsonrpc": "2.0", "method": "take_snapshot", "params": {"device": "lab"}, "id": "s1"}
    answer = asyncio.ensure_future(client.send_raw(orjson.dumps(msg).decode(), "s1", WAIT))
    dispatcher = stack.app.parts.front.dispatcher
    await until(lambda: dispatcher.busy > 0)  # a cold capture takes about a second
    await stack.app.stop()  # drains for 0.1 s, then cancels the capture
    reply = await answer
    assert reply["id"] == "s1" and reply["error"]["code"] == -32603, reply
    assert reply["error"]["data"] == {"reason": "shutting_down"}
    assert await client.wait_closed(WAIT) == 1001
