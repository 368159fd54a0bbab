"""The Python SDK (camera_service.client) against the running service: typed results,
one exception class per error code, no hang when the server goes away, reconnect with
re-authentication and re-subscription, notification callbacks, streamed downloads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from camera_service.app import Application
from camera_service.client import (
    DISCONNECTED,
    RECONNECTED,
    AlreadyRecording,
    AuthenticationError,
    CallTimeout,
    CameraClient,
    CameraNotFound,
    CapacityExceeded,
    ConnectionFailed,
    ConnectionLost,
    DownloadError,
    FileNotFound,
    InvalidParams,
    MediaMtxError,
    MethodNotFound,
    PermissionDenied,
    RateLimited,
    RpcError,
    StorageCritical,
    StorageLow,
)
from camera_service.client.errors import ERRORS_BY_CODE, error_from_reply
from camera_service.config import Settings
from camera_service.net import wsframes
from tests.conftest import make_settings, make_token
from tests.support.media_stack import LAB, MediaStackFactory

WAIT = 60.0  # generous: other test runs share the two cores
YARD = {"type": "test", "id": "yard", "resolution": "320x180", "fps": 15}

Client = Callable[..., Awaitable[CameraClient]]


@pytest.fixture
async def open_client() -> AsyncIterator[Client]:
    """CameraClients, all closed at teardown."""
    clients: list[CameraClient] = []

    async def _open(url: str, **kwargs: Any) -> CameraClient:
        client = CameraClient(url, **kwargs)
        clients.append(client)
        await client.connect()
        return client

    yield _open
    for client in clients:
        await client.close()


def url_of(app: Application) -> str:
    return f"ws://127.0.0.1:{app.ws_port}/ws"


# --- errors, sans-I/O -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (-32001, AuthenticationError),
        (-32002, RateLimited),
        (-32003, PermissionDenied),
        (-32601, MethodNotFound),
        (-32602, InvalidParams),
        (-1000, CameraNotFound),
        (-1003, MediaMtxError),
        (-1005, FileNotFound),
        (-1006, AlreadyRecording),
        (-1008, StorageLow),
        (-1010, StorageCritical),
        (-1012, CapacityExceeded),
    ],
)
def test_every_error_code_has_its_class(code: int, cls: type[RpcError]) -> None:
    err = error_from_reply({"code": code, "message": "m", "data": {"reason": "r"}})
    assert type(err) is cls and err.code == code and err.message == "m"
    assert err.data == {"reason": "r"} and err.reason == "r"
    assert ERRORS_BY_CODE[code] is cls


def test_an_unknown_or_malformed_error_is_still_an_rpc_error() -> None:
    err = error_from_reply({"code": -1999, "message": "new"})
    assert type(err) is RpcError and err.code == -1999 and err.data is None
    bad = error_from_reply("nonsense")
    assert isinstance(bad, RpcError) and bad.code == -32603


def test_a_bad_url_or_two_credentials_fail_at_once() -> None:
    with pytest.raises(ValueError, match="ws://"):
        CameraClient("http://127.0.0.1:8002/ws")
    with pytest.raises(ValueError, match="not both"):
        CameraClient("ws://127.0.0.1:1/ws", token="a", api_key="b")


# --- against the service ------------------------------------------------------------------


async def test_typed_calls_against_the_service(service: Application, open_client: Client) -> None:
    client = await open_client(url_of(service), token=make_token("admin"))
    assert client.auth is not None and client.auth["role"] == "admin"
    assert await client.ping() == "pong"
    cameras = await client.get_camera_list()
    assert cameras["total"] == len(cameras["cameras"])
    status = await client.get_status()
    assert status["status"] in ("healthy", "degraded", "unhealthy")
    info = await client.get_server_info()
    assert info["version"]
    assert "memory_usage" in await client.get_metrics()
    assert "used_percent" in await client.get_storage_info()
    listing = await client.list_recordings(limit=5)
    assert listing == {"files": [], "total": 0, "limit": 5, "offset": 0}
    assert (await client.list_snapshots())["files"] == []
    assert "methods" in await client.discover()
    assert await client.call("ping", {"auth_token": "ignored"}) == "pong"


async def test_each_error_reply_raises_its_class(service: Application, open_client: Client) -> None:
    url = url_of(service)
    with pytest.raises(AuthenticationError) as refused:
        await open_client(url, token="not-a-jwt")
    assert "invalid" in refused.value.message
    anonymous = await open_client(url)
    with pytest.raises(AuthenticationError, match="Authentication required"):
        await anonymous.get_camera_list()
    viewer = await open_client(url, token=make_token("viewer"))
    with pytest.raises(PermissionDenied) as denied:
        await viewer.get_status()
    assert denied.value.data is not None and denied.value.data["required_role"] == "admin"
    with pytest.raises(MethodNotFound):
        await viewer.call("no_such_method")
    with pytest.raises(InvalidParams, match="device"):
        await viewer.get_camera_status("../etc")
    with pytest.raises(FileNotFound):
        await viewer.get_recording_info("missing.mp4")
    operator = await open_client(url, token=make_token("operator"))
    with pytest.raises(CameraNotFound):
        await operator.take_snapshot("nosuchcamera")
    # The connection is still fine after every error.
    assert await viewer.ping() == "pong"


async def test_rate_limit_raises_rate_limited(tmp_path: Path, open_client: Client) -> None:
    settings = make_settings(tmp_path, security={"rate_limit": {"requests_per_minute": 3}})
    app = Application(settings)
    await app.start()
    try:
        client = await open_client(url_of(app))
        for _ in range(3):
            assert await client.ping() == "pong"
        with pytest.raises(RateLimited):
            await client.ping()
    finally:
        await app.stop()


# --- a server that goes away ------------------------------------------------------------


class SilentServer:
    """Accepts the WebSocket upgrade, reads frames, never answers: ``drop()`` closes
    every socket from the server side (no close frame)."""

    def __init__(self) -> None:
        self.received = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")[1:]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines) if k
        }
        writer.write(wsframes.accept_upgrade(b"GET", headers))
        parser = wsframes.FrameParser(1 << 20)
        while data := await reader.read(65536):
            if parser.feed(data):
                self.received.set()

    def drop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()

    async def stop(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_pending_call_fails_at_once_when_the_server_drops_the_socket(
    open_client: Client,
) -> None:
    server = SilentServer()
    port = await server.start()
    try:
        client = await open_client(f"ws://127.0.0.1:{port}/ws", reconnect=False, timeout=WAIT)
        call = asyncio.ensure_future(client.ping())
        await asyncio.wait_for(server.received.wait(), WAIT)
        assert not call.done()
        server.drop()
        # Fails with ConnectionLost long before the call's own timeout (WAIT).
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(call, WAIT / 2)
        with pytest.raises(ConnectionFailed):
            await client.ping()
    finally:
        await server.stop()


async def test_a_call_without_reply_times_out(open_client: Client) -> None:
    server = SilentServer()
    port = await server.start()
    try:
        client = await open_client(f"ws://127.0.0.1:{port}/ws")
        with pytest.raises(CallTimeout, match="ping"):
            await client.call("ping", timeout=0.2)
    finally:
        await server.stop()


async def test_connecting_to_nothing_fails_with_connection_failed(tmp_path: Path) -> None:
    client = CameraClient("ws://127.0.0.1:1/ws", connect_timeout=WAIT)
    with pytest.raises(ConnectionFailed, match="refused"):
        await client.connect()
    await client.close()


async def test_reconnects_reauthenticates_and_resubscribes_after_a_restart(
    tmp_path: Path, open_client: Client
) -> None:
    first = Application(make_settings(tmp_path))
    await first.start()
    port = first.ws_port
    settings: Settings = make_settings(tmp_path, server={"host": "127.0.0.1", "port": port})
    second: Application | None = None
    try:
        client = await open_client(
            f"ws://127.0.0.1:{port}/ws", token=make_token("viewer"), initial_backoff=0.1
        )
        await client.subscribe_events(["camera_status_update"])
        lost: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        back = asyncio.Event()
        client.on(DISCONNECTED, lost.put_nowait)
        client.on(RECONNECTED, lambda _: back.set())
        await first.stop()
        assert (await asyncio.wait_for(lost.get(), WAIT))["code"] == 1001
        assert not client.connected
        with pytest.raises(ConnectionFailed):
            await client.call("ping", timeout=0.05)  # bounded even while disconnected
        second = Application(settings)
        await second.start()
        await asyncio.wait_for(back.wait(), WAIT)
        assert client.connected
        # Authenticated again: a viewer call works without a new authenticate.
        assert (await client.get_camera_list())["total"] == 0
        # Re-subscribed: only camera_status_update is still received.
        remaining = await client.unsubscribe_events(["snapshot_taken"])
        assert remaining["topics"] == ["camera_status_update"]
    finally:
        for app in (first, second):
            if app is not None:
                with contextlib.suppress(Exception):
                    await app.stop()


async def test_calls_made_while_reconnecting_wait_for_the_connection(
    tmp_path: Path, open_client: Client
) -> None:
    first = Application(make_settings(tmp_path))
    await first.start()
    port = first.ws_port
    second = Application(make_settings(tmp_path, server={"host": "127.0.0.1", "port": port}))
    try:
        client = await open_client(
            f"ws://127.0.0.1:{port}/ws", token=make_token("admin"), initial_backoff=0.1
        )
        lost = asyncio.Event()
        client.on(DISCONNECTED, lambda _: lost.set())
        await first.stop()
        await asyncio.wait_for(lost.wait(), WAIT)
        call = asyncio.ensure_future(client.get_server_info())
        await second.start()
        assert (await asyncio.wait_for(call, WAIT))["version"]
    finally:
        await first.stop()
        await second.stop()


# --- media: notifications, downloads, domain errors -------------------------------------------


async def test_record_notify_download_delete(
    media_stack: MediaStackFactory, open_client: Client, tmp_path: Path
) -> None:
    stack = await media_stack()
    await stack.path_ready()
    client = await open_client(url_of(stack.app), token=make_token("operator"))
    updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    everything: list[str] = []

    async def on_recording(params: dict[str, Any]) -> None:
        await updates.put(params)

    client.on("recording_status_update", on_recording)
    client.on("*", lambda params: everything.append(params["method"]))

    started = await client.start_recording("lab", duration_seconds=2)
    assert started["status"] == "STARTED" and started["device"] == "lab"
    with pytest.raises(AlreadyRecording) as again:
        await client.start_recording("lab")
    assert again.value.data is not None and again.value.data["session_id"]
    statuses: list[dict[str, Any]] = []
    while not statuses or statuses[-1]["status"] == "STARTED":
        statuses.append(await asyncio.wait_for(updates.get(), WAIT))
    assert [s["status"] for s in statuses] == ["STARTED", "STOPPED"]
    assert "recording_status_update" in everything
    with pytest.raises(MediaMtxError, match="not recording"):
        await client.stop_recording("lab")

    name = statuses[-1]["filename"]
    listing = await client.list_recordings()
    entry = next(f for f in listing["files"] if f["filename"] == name)
    dest = tmp_path / "downloads"
    dest.mkdir()
    path = await client.download_recording(name, dest)
    assert path == dest / name
    assert path.stat().st_size == entry["file_size"] > 0
    assert path.read_bytes()[4:8] == b"ftyp"  # an MP4
    assert not list(dest.glob("*.part"))
    with pytest.raises(DownloadError) as missing:
        await client.download_recording("nope.mp4", dest)
    assert missing.value.status == 404 and not (dest / "nope.mp4").exists()

    snap = await client.take_snapshot("lab", format="png")
    assert snap["status"] == "completed"
    shot = await client.download_snapshot(snap["filename"], dest / "shot.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    deleted = await client.delete_recording(name)
    assert deleted["deleted"] is True
    with pytest.raises(FileNotFound):
        await client.get_recording_info(name)


async def test_a_download_without_credentials_is_refused(
    service: Application, open_client: Client, tmp_path: Path
) -> None:
    client = await open_client(url_of(service))
    dest = tmp_path / "downloads"
    dest.mkdir()
    with pytest.raises(DownloadError) as refused:
        await client.download_snapshot("x.jpg", dest)
    assert refused.value.status == 401 and list(dest.iterdir()) == []


async def test_capacity_exceeded(media_stack: MediaStackFactory, open_client: Client) -> None:
    stack = await media_stack(
        cameras={"sources": [LAB, YARD]},
        resources={"max_streams": 1},
        snapshots={"warm": ["lab"]},  # keeps lab's stream up
    )
    await stack.app.media.wait_until(lambda: "lab" in stack.app.media.streams_up(), WAIT)
    await stack.path_ready("yard")
    client = await open_client(url_of(stack.app), token=make_token("operator"))
    with pytest.raises(CapacityExceeded) as full:
        await client.take_snapshot("yard")
    assert full.value.data is not None and full.value.data["limit"] == 1


@pytest.mark.parametrize(
    ("storage", "cls"),
    [
        ({"warn_percent": 0.001, "block_percent": 100.0}, StorageLow),
        ({"warn_percent": 0.001, "block_percent": 0.002}, StorageCritical),
    ],
)
async def test_storage_thresholds_raise_their_classes(
    media_stack: MediaStackFactory,
    open_client: Client,
    storage: dict[str, float],
    cls: type[RpcError],
) -> None:
    stack = await media_stack(storage=storage)
    client = await open_client(url_of(stack.app), token=make_token("operator"))
    with pytest.raises(cls):
        await client.start_recording("lab")
