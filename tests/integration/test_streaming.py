"""The Go-era methods end to end (issue 16): get_stream_url, get_stream_status,
start_streaming, stop_streaming, get_system_status, get_subscription_stats and the
dotted topic aliases, over WebSocket, the SDK and the CLI, with the live test-pattern
camera ``lab`` on the MediaMTX double's real RTSP data plane."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from camera_service.app import Application
from camera_service.cli import main
from camera_service.client import CameraClient
from camera_service.media.holder import StreamHolder
from tests.conftest import Connect, make_token
from tests.rpc import RpcClient
from tests.support.media_stack import LAB, MediaStack, MediaStackFactory

WAIT = 60.0  # generous: other test runs share the two cores
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PHASES = {"ACTIVE", "INACTIVE", "ERROR", "STARTING", "STOPPING"}


async def reply(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The whole reply; start_streaming waits for the stream, which takes a while cold."""
    result: dict[str, Any] = await asyncio.wait_for(client.request(method, params), WAIT)
    return result


async def call(client: RpcClient, method: str, **params: Any) -> dict[str, Any]:
    answer = await reply(client, method, params)
    assert "error" not in answer, answer
    result: dict[str, Any] = answer["result"]
    return result


async def error(client: RpcClient, method: str, **params: Any) -> dict[str, Any]:
    answer = await reply(client, method, params)
    assert "result" not in answer, answer
    err: dict[str, Any] = answer["error"]
    return err


async def seen(app: Application, ok: Callable[[Any], bool], camera_id: str = "lab") -> None:
    """Until the service's view of the camera's stream (its last look) satisfies ``ok``."""
    await app.media.wait_until(lambda: ok(app.media.streams.get(camera_id)), WAIT)


async def stream_closed(stack: MediaStack) -> None:
    """Nobody reads ``lab`` and its on-demand publisher is gone (on MediaMTX)."""
    await stack.plane.wait_state("lab", lambda s: not s["ready"] and not s["readers"], WAIT)


def readers(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: bool(s["ready"]) and len(s["readers"]) == n


# --- start and stop -----------------------------------------------------------------------------


async def test_start_streaming_brings_the_stream_up_and_stop_streaming_ends_it(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    app, client = stack.app, await stack.client("operator")
    await stack.path_ready()
    await stream_closed(stack)
    await seen(app, lambda s: s is not None and not s.available)
    rtsp = f"rtsp://127.0.0.1:{stack.plane.rtsp_port}/lab"

    url = await call(client, "get_stream_url", device="lab")
    assert url == {
        "device": "lab",
        "camera_id": "lab",
        "stream_name": "lab",
        "stream_url": rtsp,
        "available": True,  # an on-demand stream: opening the URL starts it
        "active_consumers": 0,
        "stream_status": "NOT_READY",
    }
    idle = await call(client, "get_stream_status", device="lab")
    assert idle == {
        "device": "lab",
        "camera_id": "lab",
        "stream_name": "lab",
        "status": "INACTIVE",
        "ready": False,
        "mediamtx_path": {"exists": True, "ready": False, "readers": 0},
        "metrics": {"bytes_sent": 0, "frames_sent": 0, "bitrate": 0, "fps": 0},
        "start_time": None,
        "viewing_until": None,
    }

    started = await call(client, "start_streaming", device="lab")
    opened = started.pop("start_time")
    assert ISO.match(opened)
    assert started == {
        "device": "lab",
        "camera_id": "lab",
        "stream_name": "lab",
        "stream_url": rtsp,
        "status": "STARTED",
        "auto_close_after": "300s",
    }
    # Up, held by the window's one reader, and seen so in get_stream_status.
    await stack.plane.wait_state("lab", readers(1), WAIT)
    await seen(app, lambda s: s is not None and s.available and s.readers == 1)
    await seen(app, lambda s: app.media.bitrates.get("lab", 0) > 0 and s.outbound_bytes > 0)
    status = await call(client, "get_stream_status", device="lab")
    assert status["status"] == "ACTIVE" and status["ready"] is True
    assert status["mediamtx_path"] == {"exists": True, "ready": True, "readers": 1}
    metrics = status["metrics"]
    assert metrics["bytes_sent"] > 0 and metrics["bitrate"] > 0 and metrics["fps"] == 15
    assert ISO.match(status["start_time"]) and ISO.match(status["viewing_until"])
    url = await call(client, "get_stream_url", device="lab")
    assert url["stream_status"] == "READY" and url["active_consumers"] == 1
    # The window's reader is ours, not a viewer: it starts no snapshot grabber.
    assert not app.grabbers.grabbers

    # A second start extends the same window.
    again = await call(client, "start_streaming", device="lab")
    assert again["status"] == "STARTED" and again["start_time"] == opened
    assert list(app.parts.media.viewing.windows) == ["lab"]

    stopped = await call(client, "stop_streaming", device="lab")
    assert stopped["status"] == "STOPPED" and stopped["stream_continues"] is False
    assert stopped["message"] == "streaming stopped"
    assert ISO.match(stopped["start_time"]) and ISO.match(stopped["end_time"])
    assert stopped["duration"] > 0
    assert (stopped["device"], stopped["stream_name"]) == ("lab", "lab")
    # Nobody reads it now: MediaMTX closes the on-demand publisher after close_after
    # (STOPPING meanwhile, as soon as the service has seen the reader go).
    await seen(app, lambda s: s is None or s.readers == 0)
    after = await call(client, "get_stream_status", device="lab")
    assert after["status"] in {"STOPPING", "INACTIVE"} and after["viewing_until"] is None
    await stream_closed(stack)
    await seen(app, lambda s: s is not None and not s.available)
    assert (await call(client, "get_stream_status", device="lab"))["status"] == "INACTIVE"

    # Nothing to stop: a FAILED result, not an error.
    nothing = await call(client, "stop_streaming", device="lab")
    assert nothing["status"] == "FAILED" and nothing["start_time"] is None
    assert nothing["stream_continues"] is False and "not streaming" in nothing["message"]
    assert nothing["duration"] == 0


async def test_stream_continues_while_another_reader_holds_it(
    media_stack: MediaStackFactory,
) -> None:
    # Without a warm-snapshot grabber: the other reader watching would start one, a
    # reader of the stream too, and the counts below would race its start.
    stack = await media_stack(snapshots={"warm_when_watched": False})
    app, client = stack.app, await stack.client("operator")
    await stack.path_ready()
    await call(client, "start_streaming", device="lab")
    await stack.plane.wait_state("lab", readers(1), WAIT)
    # Someone else plays the stream too (a player straight on MediaMTX, as a viewer).
    other = StreamHolder(
        stack.plane.url("lab"), label="viewer", credentials=("viewer", make_token("viewer"))
    )
    other.start()
    try:
        await stack.plane.wait_state("lab", readers(2), WAIT)
        await seen(app, lambda s: s is not None and s.readers == 2)
        stopped = await call(client, "stop_streaming", device="lab")
        assert stopped["status"] == "STOPPED" and stopped["stream_continues"] is True
        assert "1 other reader" in stopped["message"]
        # The other reader still has it, and it stays up.
        await stack.plane.wait_state("lab", readers(1), WAIT)
        await seen(app, lambda s: s is not None and s.available and s.readers == 1)
        status = await call(client, "get_stream_status", device="lab")
        assert status["status"] == "ACTIVE" and status["viewing_until"] is None
    finally:
        await other.stop()
    await stream_closed(stack)


async def test_the_viewing_window_ends_on_its_own(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(mediamtx={"viewing_window": 1.5})
    app, client = stack.app, await stack.client("operator")
    await stack.path_ready()
    started = await call(client, "start_streaming", device="lab")
    assert started["status"] == "STARTED" and started["auto_close_after"] == "1.5s"
    await stack.plane.wait_state("lab", readers(1), WAIT)
    # The window ends, its reader leaves, and MediaMTX closes the publisher.
    await stream_closed(stack)
    assert not app.parts.media.viewing.windows
    assert (await call(client, "stop_streaming", device="lab"))["status"] == "FAILED"


async def test_a_window_past_the_stream_limit_is_refused(media_stack: MediaStackFactory) -> None:
    yard = {**LAB, "id": "yard"}
    stack = await media_stack(
        cameras={"sources": [LAB, yard], "poll_interval": 30.0}, resources={"max_streams": 1}
    )
    await stack.path_ready("lab")
    await stack.path_ready("yard")
    client = await stack.client("operator")
    assert (await call(client, "start_streaming", device="lab"))["status"] == "STARTED"
    err = await error(client, "start_streaming", device="yard")
    assert err["code"] == -1012
    assert (err["data"]["resource"], err["data"]["limit"], err["data"]["active"]) == (
        "streams",
        1,
        1,
    )
    assert list(stack.app.parts.media.viewing.windows) == ["lab"]
    # The stream already up is never refused: its window is extended.
    assert (await call(client, "start_streaming", device="lab"))["status"] == "STARTED"


# --- roles, unknown and hidden cameras, bad params -----------------------------------------------


async def test_roles_unknown_and_hidden_cameras(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    viewer = await stack.client("viewer")
    for method in ("get_stream_url", "get_stream_status"):
        assert (await call(viewer, method, device="lab"))["device"] == "lab"
    for method in ("start_streaming", "stop_streaming"):
        err = await error(viewer, method, device="lab")
        assert err["code"] == -32003
        assert err["message"] == f"Insufficient permissions - operator role required for {method}"
    anonymous = await stack.client(None)
    for method in ("get_stream_url", "get_system_status", "get_subscription_stats"):
        assert (await error(anonymous, method, device="lab"))["code"] == -32001

    operator = await stack.client("operator")
    # Only cameras it may see: lab is answered as one that does not exist.
    limited = await stack.client(None)
    auth = {"auth_token": make_token("operator", cameras=["yard"])}
    assert (await call(limited, "authenticate", **auth))["authenticated"] is True
    methods = ("get_stream_url", "get_stream_status", "start_streaming", "stop_streaming")
    for method in methods:
        missing = await error(operator, method, device="nope")
        hidden = await error(limited, method, device="lab")
        assert missing["code"] == hidden["code"] == -1000
        assert missing["message"] == "Camera not found or not connected: nope"
        assert hidden["message"] == "Camera not found or not connected: lab"
        bad = await error(operator, method, device="../etc")
        assert bad["code"] == -32602 and bad["data"]["param"] == "device"
    assert not stack.app.parts.media.viewing.windows
    system = await call(limited, "get_system_status")
    assert system["available_cameras"] == []  # lab is not its to see


# --- system status, subscriptions, topic aliases ----------------------------------------------


async def test_system_status_ready_with_the_camera(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    viewer = await stack.client("viewer")
    app = stack.app
    await app.media.wait_until(lambda: app.media.generation > 0, WAIT)
    status = await call(viewer, "get_system_status")
    assert status == {
        "status": "ready",
        "message": "1 of 1 cameras connected",
        "available_cameras": ["lab"],
        "discovery_active": True,
    }


async def test_system_status_partial_without_mediamtx(
    service: Application, connect: Connect
) -> None:
    await service.media.wait_until(lambda: service.media.checks > 0, WAIT)
    viewer = await connect("viewer")
    status = await call(viewer, "get_system_status")
    assert status["status"] == "partial" and status["discovery_active"] is True
    assert status["message"] == "MediaMTX is unreachable; 0 of 0 cameras connected"
    assert status["available_cameras"] == []


async def test_subscription_stats_count_every_client(connect: Connect) -> None:
    first = await connect("viewer")
    second = await connect("viewer")
    await connect()  # not authenticated: receives nothing, is no client here
    session_id = (await call(first, "authenticate", auth_token=make_token("viewer")))["session_id"]
    await call(first, "unsubscribe_events")
    chosen = await call(first, "subscribe_events", topics=["camera.connected", "snapshot.taken"])
    assert chosen["topics"] == ["camera_status_update", "snapshot_taken"]
    await call(second, "unsubscribe_events")
    await call(second, "subscribe_events", topics=["recording.stop", "camera.status_change"])

    stats = await call(first, "get_subscription_stats")
    assert stats == {
        "global_stats": {
            "total_subscriptions": 4,
            "active_clients": 2,
            "topic_counts": {
                "camera_status_update": 2,
                "recording_status_update": 1,
                "snapshot_taken": 1,
                "storage_status_update": 0,
                "system_status_update": 0,
            },
        },
        "client_topics": ["camera_status_update", "snapshot_taken"],
        "client_id": session_id,
    }


async def test_dotted_topic_aliases(connect: Connect) -> None:
    client = await connect("viewer")
    await call(client, "unsubscribe_events")
    result = await call(
        client,
        "subscribe_events",
        topics=["system.health", "system.startup", "system.shutdown", "recording.start"],
    )
    assert result == {
        "subscribed": True,
        "topics": ["recording_status_update", "system_status_update"],
    }
    result = await call(client, "unsubscribe_events", topics=["recording.error"])
    assert result == {"unsubscribed": True, "topics": ["system_status_update"]}
    err = await error(client, "subscribe_events", topics=["camera.exploded"])
    assert err["code"] == -32602 and err["data"]["param"].startswith("topics")


async def test_an_alias_subscription_delivers_the_notification(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    await call(client, "unsubscribe_events")
    await call(client, "subscribe_events", topics=["snapshot.taken"])
    shot = await call(client, "take_snapshot", device="lab")
    assert shot["status"] == "completed"
    note = await client.wait_notification(
        "snapshot_taken", lambda p: p["filename"] == shot["filename"], WAIT
    )
    assert note["device"] == "lab"


# --- the SDK and the CLI ---------------------------------------------------------------------


async def test_sdk_and_cli_cover_the_methods(
    media_stack: MediaStackFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    url = f"ws://127.0.0.1:{stack.app.ws_port}/ws"
    async with CameraClient(url, token=make_token("operator"), timeout=WAIT) as sdk:
        assert (await sdk.get_stream_url("lab"))["stream_name"] == "lab"
        assert (await sdk.get_stream_status("lab"))["status"] in PHASES
        assert (await sdk.get_system_status())["available_cameras"] == ["lab"]
        assert (await sdk.get_health())["components"]["mediamtx"]["status"] == "healthy"
        started = await sdk.start_streaming("lab")
        assert started["status"] == "STARTED"
        stats = await sdk.get_subscription_stats()
        assert stats["global_stats"]["active_clients"] == 1
        await stack.plane.wait_state("lab", readers(1), WAIT)
        stopped = await sdk.stop_streaming("lab")
        assert stopped["status"] == "STOPPED"
        topics = await sdk.subscribe_events(["camera.disconnected"])
        assert "camera_status_update" in topics["topics"]

    opts = ("--url", url, "--token", make_token("operator"))

    async def cli(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["client", *opts, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, out, err = await cli("stream", "url", "lab")
    assert code == 0 and f"stream_url: rtsp://127.0.0.1:{stack.plane.rtsp_port}/lab" in out, err
    code, out, err = await cli("stream", "start", "lab")
    assert code == 0 and out.startswith("streaming lab for 300s: rtsp://"), err
    code, out, err = await cli("stream", "status", "lab")
    assert code == 0 and "mediamtx_path:" in out and "status: " in out, err
    code, out, err = await cli("stream", "stop", "lab")
    assert code == 0 and out.startswith("streaming stopped"), err
    code, out, err = await cli("stream", "stop", "lab")
    assert code == 1 and "not streaming" in err
    code, out, err = await cli("system-status")
    assert code == 0 and "status: ready" in out, err
    code, out, err = await cli("--json", "health")
    assert code == 0 and '"mediamtx": {' in out and '"capacity": {' in out, err
    code, out, err = await cli("--json", "subscriptions")
    assert code == 0 and '"active_clients": 1' in out, err
