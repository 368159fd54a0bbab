"""``CameraClient``: the async SDK of the camera service's WebSocket JSON-RPC API.

    async with CameraClient("ws://hub:8002/ws", token=jwt) as client:
        cameras = await client.get_camera_list()
        client.on("recording_status_update", lambda params: print(params["status"]))
        await client.start_recording("/dev/video0", duration_seconds=10)

Every call has a timeout; every error reply raises its :mod:`.errors` class; a dropped
connection fails the calls waiting on it at once with :class:`ConnectionLost`, and the
client reconnects with backoff, authenticates again and restores its event
subscriptions before new calls go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson

from camera_service.client import types as t
from camera_service.client.download import download, file_url, http_base_from_ws
from camera_service.client.errors import (
    AuthenticationError,
    CallTimeout,
    CameraServiceError,
    ConnectionFailed,
    ConnectionLost,
    RpcError,
    error_from_reply,
)
from camera_service.client.frames import HandshakeFailed
from camera_service.client.websocket import WebSocket, WebSocketClosed, split_ws_url
from camera_service.retry import RetrySchedule

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("camera_service.client")

Callback = Callable[[dict[str, Any]], Awaitable[None] | None]
AuthType = Literal["jwt", "api_key", "auto"]

#: Local events besides the server's notifications: the connection dropped
#: (params ``{code}``), and it is back, authenticated and re-subscribed (``{}``).
DISCONNECTED = "disconnected"
RECONNECTED = "reconnected"
ANY = "*"  # a callback for every notification: params get a ``method`` key


class CameraClient:
    """One WebSocket connection to the service, kept up until :meth:`close`."""

    def __init__(
        self,
        url: str = "ws://127.0.0.1:8002/ws",
        *,
        token: str | None = None,
        api_key: str | None = None,
        timeout: float = 35.0,
        connect_timeout: float = 10.0,
        reconnect: bool = True,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        http_url: str | None = None,
        ssl: ssl.SSLContext | None = None,
    ) -> None:
        split_ws_url(url)  # a bad URL fails here, not at the first reconnect
        if token is not None and api_key is not None:
            raise ValueError("give token or api_key, not both")
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeout and connect_timeout must be positive")
        self.url = url
        self.http_url = http_url or http_base_from_ws(url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect
        self._ssl = ssl
        self._schedule = RetrySchedule(1.0, max_backoff, initial_backoff=initial_backoff)
        self._credential: tuple[str, AuthType] | None = None
        if token is not None:
            self._credential = (token, "jwt")
        elif api_key is not None:
            self._credential = (api_key, "api_key")
        self._topics: list[str] | None = None  # None: never narrowed, the server's default
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._callbacks: dict[str, list[Callback]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: WebSocket | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._fatal: CameraServiceError | None = None
        self._closed = False
        self.auth: t.AuthResult | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> CameraClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and authenticate with the client's credential. Raises
        ConnectionFailed, or AuthenticationError when the credential is refused."""
        if self._closed:
            raise ConnectionFailed("the client is closed")
        if self._ready.is_set():
            return
        await self._open()

    async def close(self) -> None:
        """Close the connection for good: waiting calls fail with ConnectionLost."""
        self._closed = True
        self._ready.clear()
        for task in (self._reconnector, self._reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close(1000)
        self._fail_pending(ConnectionLost("the client was closed"))
        for task in (self._reconnector, self._reader, *self._tasks):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    @property
    def connected(self) -> bool:
        """True while the connection is up and (when credentials are known) authenticated."""
        return self._ready.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until connected (after a drop: reconnected, re-authenticated,
        re-subscribed). Raises ConnectionFailed on timeout, close or a fatal error."""
        await self._wait_ready(self.timeout if timeout is None else timeout)

    # -- notifications -------------------------------------------------------------

    def on(self, event: str, callback: Callback) -> Callback:
        """Call ``callback(params)`` for each notification ``event`` (a topic such as
        ``recording_status_update``; ``"*"`` for all; ``"disconnected"``/``"reconnected"``
        for the connection). Coroutine functions run as tasks. Returns ``callback``."""
        self._callbacks.setdefault(event, []).append(callback)
        return callback

    def off(self, event: str, callback: Callback) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._callbacks[event].remove(callback)

    # -- the generic call ----------------------------------------------------------

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Call ``method`` and return its result; an error reply raises its RpcError
        subclass, no reply within ``timeout`` raises CallTimeout, a dropped connection
        ConnectionLost. While reconnecting, the call waits (within its timeout) for the
        connection to be back."""
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        await self._wait_ready(limit)
        return await self._request(method, params, max(0.0, deadline - loop.time()), limit)

    # -- typed methods: no authentication ----------------------------------------------

    async def ping(self) -> str:
        return cast(str, await self.call("ping"))

    async def authenticate(
        self, token: str | None = None, *, api_key: str | None = None
    ) -> t.AuthResult:
        """Authenticate this connection; the credential is kept for reconnects."""
        if (token is None) == (api_key is None):
            raise ValueError("give exactly one of token or api_key")
        credential: tuple[str, AuthType] = (
            (token, "jwt") if token is not None else (cast(str, api_key), "api_key")
        )
        result = cast(t.AuthResult, await self.call("authenticate", _auth_params(credential)))
        self._credential = credential
        self.auth = result
        return result

    async def discover(self) -> dict[str, Any]:
        """The OpenRPC document of every method (``rpc.discover``)."""
        return cast(dict[str, Any], await self.call("rpc.discover"))

    # -- viewer ------------------------------------------------------------------

    async def get_camera_list(self) -> t.CameraList:
        return cast(t.CameraList, await self.call("get_camera_list"))

    async def get_camera_status(self, device: str) -> t.CameraStatus:
        return cast(t.CameraStatus, await self.call("get_camera_status", {"device": device}))

    async def get_camera_capabilities(self, device: str) -> t.Capabilities:
        params = {"device": device}
        return cast(t.Capabilities, await self.call("get_camera_capabilities", params))

    async def get_streams(self) -> list[t.StreamInfo]:
        return cast(list[t.StreamInfo], await self.call("get_streams"))

    async def list_recordings(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        device: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> t.FileList:
        params = _given(limit=limit, offset=offset, device=device, since=since, until=until)
        return cast(t.FileList, await self.call("list_recordings", params))

    async def list_snapshots(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        device: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> t.FileList:
        params = _given(limit=limit, offset=offset, device=device, since=since, until=until)
        return cast(t.FileList, await self.call("list_snapshots", params))

    async def create_media_token(
        self, camera_id: str, ttl_seconds: float | None = None
    ) -> t.MediaToken:
        """A short-lived token for one camera's streams, and its URLs carrying it (for a
        browser: it never needs this client's credential)."""
        params = _given(camera_id=camera_id, ttl_seconds=ttl_seconds)
        return cast(t.MediaToken, await self.call("create_media_token", params))

    async def create_download_url(
        self,
        kind: Literal["recording", "snapshot"],
        filename: str,
        ttl_seconds: float | None = None,
    ) -> t.DownloadUrl:
        """A short-lived URL of one file that needs no header: its path, with a token
        good for that file only (for a browser's ``<video src>``)."""
        params = _given(kind=kind, filename=filename, ttl_seconds=ttl_seconds)
        return cast(t.DownloadUrl, await self.call("create_download_url", params))

    async def get_recording_info(self, filename: str) -> t.FileInfo:
        return cast(t.FileInfo, await self.call("get_recording_info", {"filename": filename}))

    async def get_snapshot_info(self, filename: str) -> t.FileInfo:
        return cast(t.FileInfo, await self.call("get_snapshot_info", {"filename": filename}))

    async def get_stream_url(self, device: str) -> t.StreamUrl:
        """The camera's RTSP URL, whether it can be read now, and its readers."""
        return cast(t.StreamUrl, await self.call("get_stream_url", {"device": device}))

    async def get_preview(self, device: str) -> t.Preview:
        """A recent JPEG of the camera (``image``, base64), shared by every caller for
        a few seconds and never stored: a picture when no live stream plays."""
        return cast(t.Preview, await self.call("get_preview", {"device": device}))

    async def get_stream_status(self, device: str) -> t.StreamStatus:
        return cast(t.StreamStatus, await self.call("get_stream_status", {"device": device}))

    async def get_system_status(self) -> t.SystemStatus:
        return cast(t.SystemStatus, await self.call("get_system_status"))

    async def get_health(self) -> t.Health:
        """Every component's status and reason, and capacity (any role)."""
        return cast(t.Health, await self.call("get_health"))

    async def get_subscription_stats(self) -> t.SubscriptionStats:
        return cast(t.SubscriptionStats, await self.call("get_subscription_stats"))

    async def discover_cameras(
        self, username: str | None = None, password: str | None = None
    ) -> t.Discovery:
        """ONVIF cameras on the hub's networks, their profiles and RTSP URIs (admin)."""
        return cast(
            t.Discovery, await self.call("discover_cameras", _credentials(username, password))
        )

    async def discover_external_streams(
        self, username: str | None = None, password: str | None = None
    ) -> t.ExternalDiscovery:
        params = _credentials(username, password)
        return cast(t.ExternalDiscovery, await self.call("discover_external_streams", params))

    async def get_external_streams(self) -> t.ExternalStreams:
        return cast(t.ExternalStreams, await self.call("get_external_streams"))

    async def add_external_stream(
        self,
        stream_url: str,
        stream_name: str,
        *,
        name: str | None = None,
        username: str | None = None,
        password: str | None = None,
        transport: str | None = None,
    ) -> t.ExternalStreamAdded:
        """Go-era add_camera of an RTSP URL; ``stream_name`` is the camera id (admin)."""
        params = {
            "stream_url": stream_url,
            "stream_name": stream_name,
            **_given(name=name, username=username, password=password, transport=transport),
        }
        return cast(t.ExternalStreamAdded, await self.call("add_external_stream", params))

    async def remove_external_stream(
        self, stream_url: str, stream_name: str | None = None
    ) -> t.ExternalStreamRemoved:
        params = {"stream_url": stream_url, **_given(stream_name=stream_name)}
        return cast(t.ExternalStreamRemoved, await self.call("remove_external_stream", params))

    async def set_discovery_interval(self, scan_interval: float) -> t.DiscoveryInterval:
        """Periodic ONVIF discovery every ``scan_interval`` seconds; 0: off (admin)."""
        params = {"scan_interval": scan_interval}
        return cast(t.DiscoveryInterval, await self.call("set_discovery_interval", params))

    async def subscribe_events(self, topics: list[str] | None = None) -> t.Subscription:
        """Receive ``topics`` too (none: every topic; a new connection hears
        camera_status_update and recording_status_update only); kept across reconnects."""
        # The service's topic names, or the Go-era dotted aliases (camera.connected...).
        params = None if topics is None else {"topics": topics}
        result = cast(t.Subscription, await self.call("subscribe_events", params))
        self._topics = list(result["topics"])
        return result

    async def unsubscribe_events(self, topics: list[str] | None = None) -> t.Subscription:
        """Stop receiving ``topics`` (none: all); kept across reconnects."""
        params = None if topics is None else {"topics": topics}
        result = cast(t.Subscription, await self.call("unsubscribe_events", params))
        self._topics = list(result["topics"])
        return result

    # -- operator ----------------------------------------------------------------

    async def take_snapshot(
        self,
        device: str,
        *,
        filename: str | None = None,
        format: Literal["jpg", "png"] | None = None,
        quality: int | None = None,
        timeout: float | None = None,
    ) -> t.Snapshot:
        """A failed capture is a result with ``status: "FAILED"`` and ``error``."""
        params = {"device": device, **_given(filename=filename, format=format, quality=quality)}
        return cast(t.Snapshot, await self.call("take_snapshot", params, timeout=timeout))

    async def start_recording(
        self,
        device: str,
        *,
        duration_seconds: int | None = None,
        duration_minutes: int | None = None,
        duration_hours: int | None = None,
        format: Literal["mp4", "ts"] | None = None,
    ) -> t.RecordingStarted:
        """At most one duration; none records until :meth:`stop_recording`."""
        params = {
            "device": device,
            **_given(
                duration_seconds=duration_seconds,
                duration_minutes=duration_minutes,
                duration_hours=duration_hours,
                format=format,
            ),
        }
        return cast(t.RecordingStarted, await self.call("start_recording", params))

    async def stop_recording(self, device: str) -> t.RecordingStopped:
        return cast(t.RecordingStopped, await self.call("stop_recording", {"device": device}))

    async def start_streaming(
        self, device: str, *, timeout: float | None = None
    ) -> t.StreamingStarted:
        """Bring the camera's stream up and keep it up for the service's viewing window
        (``auto_close_after``); returns once it is up (``status: "FAILED"`` if it did
        not come up)."""
        params = {"device": device}
        return cast(t.StreamingStarted, await self.call("start_streaming", params, timeout=timeout))

    async def stop_streaming(self, device: str) -> t.StreamingStopped:
        """End the viewing window; ``stream_continues`` says whether others still read."""
        return cast(t.StreamingStopped, await self.call("stop_streaming", {"device": device}))

    async def delete_recording(self, filename: str) -> t.Deleted:
        return cast(t.Deleted, await self.call("delete_recording", {"filename": filename}))

    async def delete_snapshot(self, filename: str) -> t.Deleted:
        return cast(t.Deleted, await self.call("delete_snapshot", {"filename": filename}))

    # -- admin -------------------------------------------------------------------

    async def get_storage_info(self) -> t.StorageInfo:
        return cast(t.StorageInfo, await self.call("get_storage_info"))

    async def get_status(self) -> t.Status:
        return cast(t.Status, await self.call("get_status"))

    async def get_server_info(self) -> t.ServerInfo:
        return cast(t.ServerInfo, await self.call("get_server_info"))

    async def get_metrics(self) -> t.Metrics:
        return cast(t.Metrics, await self.call("get_metrics"))

    async def set_retention_policy(
        self,
        policy_type: Literal["age", "size", "count", "manual"],
        enabled: bool,
        *,
        max_age_days: float | None = None,
        max_size_gb: float | None = None,
        max_count: int | None = None,
    ) -> t.RetentionPolicy:
        params = {
            "policy_type": policy_type,
            "enabled": enabled,
            **_given(max_age_days=max_age_days, max_size_gb=max_size_gb, max_count=max_count),
        }
        return cast(t.RetentionPolicy, await self.call("set_retention_policy", params))

    async def cleanup_old_files(self) -> t.CleanupResult:
        return cast(t.CleanupResult, await self.call("cleanup_old_files"))

    # -- cameras at run time (admin) -------------------------------------------------

    async def add_camera(
        self, camera_id: str, source: t.CameraSourceSpec, *, name: str | None = None
    ) -> t.CameraSource:
        """``source``: ``{"type": "rtsp", "url": ..., "username"?, "password"?,
        "transport"?}`` or ``{"type": "test", "pattern"?, "resolution"?, "fps"?}``."""
        params = {"camera_id": camera_id, "source": source, **_given(name=name)}
        return cast(t.CameraSource, await self.call("add_camera", params))

    async def update_camera(
        self,
        camera_id: str,
        *,
        name: str | None = None,
        source: t.CameraSourceSpec | None = None,
    ) -> t.CameraSource:
        params = {"camera_id": camera_id, **_given(name=name, source=source)}
        return cast(t.CameraSource, await self.call("update_camera", params))

    async def remove_camera(self, camera_id: str) -> t.CameraRemoved:
        return cast(t.CameraRemoved, await self.call("remove_camera", {"camera_id": camera_id}))

    async def list_camera_sources(self) -> t.CameraSourceList:
        return cast(t.CameraSourceList, await self.call("list_camera_sources"))

    # -- downloads (HTTP) ----------------------------------------------------------

    async def download_recording(
        self, filename: str, dest: str | Path = ".", *, timeout: float | None = None
    ) -> Path:
        return await self.download("recordings", filename, dest, timeout=timeout)

    async def download_snapshot(
        self, filename: str, dest: str | Path = ".", *, timeout: float | None = None
    ) -> Path:
        return await self.download("snapshots", filename, dest, timeout=timeout)

    async def download(
        self,
        kind: t.FileKind,
        filename: str,
        dest: str | Path = ".",
        *,
        timeout: float | None = None,
    ) -> Path:
        """Stream ``/files/<kind>/<filename>`` to ``dest`` (a directory: the file keeps
        its name) with the client's credential as a Bearer token; returns the path.
        ``timeout`` bounds each wait for data, not the whole transfer. Raises
        DownloadError (``status`` 401, 404, ...) or ConnectionFailed."""
        if kind not in ("recordings", "snapshots"):
            raise ValueError("kind must be 'recordings' or 'snapshots'")
        target = Path(dest)
        if target.is_dir():  # noqa: ASYNC240 - one stat, on the client side
            target = target / Path(filename).name
        headers = {"User-Agent": "camera-service-client"}
        if self._credential is not None:
            headers["Authorization"] = f"Bearer {self._credential[0]}"
        await download(
            file_url(self.http_url, kind, filename),
            target,
            headers=headers,
            timeout=self.timeout if timeout is None else timeout,
            ssl=self._ssl,
        )
        return target

    # -- internals -----------------------------------------------------------------

    async def _open(self) -> None:
        """One connection attempt: socket, upgrade, authenticate, re-subscribe."""
        try:
            ws = await WebSocket.connect(self.url, timeout=self.connect_timeout, ssl=self._ssl)
        except HandshakeFailed as e:
            raise ConnectionFailed(str(e)) from None
        except TimeoutError:
            raise ConnectionFailed(
                f"cannot connect to {self.url}: no answer within {self.connect_timeout:g} s"
            ) from None
        except OSError as e:
            why = "connection refused" if isinstance(e, ConnectionRefusedError) else e.strerror
            raise ConnectionFailed(f"cannot connect to {self.url}: {why or e}") from None
        self._ws = ws
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))
        try:
            limit = self.timeout
            if self._credential is not None:
                params = _auth_params(self._credential)
                result = await self._request("authenticate", params, limit, limit)
                self.auth = cast(t.AuthResult, result)
            if self._topics:
                await self._request("subscribe_events", {"topics": self._topics}, limit, limit)
            elif self._topics is not None:
                await self._request("unsubscribe_events", None, limit, limit)
        except BaseException:
            self._ws = None
            await ws.close(1000)
            raise
        self._ready.set()

    async def _read(self, ws: WebSocket) -> None:
        code = 1006
        try:
            while True:
                text = await ws.receive()
                try:
                    self._dispatch(text)
                except Exception:  # a malformed message must not stop the reader
                    log.exception("ignored a message that could not be handled")
        except WebSocketClosed as e:
            code = e.code
        if ws is not self._ws:
            return  # closed on purpose (close(), or a failed _open)
        self._ws = None
        self._ready.clear()
        self._fail_pending(ConnectionLost(f"connection lost (close code {code})"))
        self._emit(DISCONNECTED, {"code": code})
        if self.reconnect and not self._closed:
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._schedule.next_delay(ok=False))
            try:
                await self._open()
            except AuthenticationError as e:
                # The credential is refused now (expired, revoked): retrying cannot help.
                self._fatal = e
                self._ready.set()  # wake waiting calls: they raise the error
                log.warning("reconnected, but authentication failed: %s", e)
                return
            except (ConnectionFailed, CallTimeout, RpcError) as e:
                log.info("reconnect to %s failed: %s", self.url, e)
                continue
            self._schedule.next_delay(ok=True)
            log.info("reconnected to %s", self.url)
            self._emit(RECONNECTED, {})
            return

    async def _wait_ready(self, limit: float) -> None:
        if self._closed:
            raise ConnectionFailed("the client is closed")
        if not self._ready.is_set():
            if self._ws is None and self._reconnector is None and not self.reconnect:
                raise ConnectionFailed("not connected")
            try:
                async with asyncio.timeout(limit):
                    await self._ready.wait()
            except TimeoutError:
                raise ConnectionFailed(f"not connected to {self.url} within {limit:g} s") from None
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            raise ConnectionFailed("the client is closed")

    async def _request(
        self, method: str, params: dict[str, Any] | None, remaining: float, limit: float
    ) -> Any:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        rid = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            message["params"] = params
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            try:
                await ws.send_text(orjson.dumps(message).decode())
            except (OSError, WebSocketClosed):
                raise ConnectionLost("connection lost while sending") from None
            async with asyncio.timeout(remaining):
                return await future
        except TimeoutError:
            raise CallTimeout(f"no reply to {method} within {limit:g} s") from None
        finally:
            self._pending.pop(rid, None)

    def _dispatch(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            log.warning("ignored a frame that is not JSON")
            return
        if not isinstance(message, dict):
            return  # batch replies: this client sends no batches
        if "id" not in message and isinstance(message.get("method"), str):
            params = message.get("params")
            self._emit(message["method"], params if isinstance(params, dict) else {})
            return
        future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is None or future.done():
            if "error" in message and message.get("id") is None:
                # e.g. -32700 with id null: no call to blame, so the log tells.
                log.warning("error reply without id: %s", message["error"])
            return
        if "error" in message:
            future.set_exception(error_from_reply(message["error"]))
        else:
            future.set_result(message.get("result"))

    def _emit(self, event: str, params: dict[str, Any]) -> None:
        calls: list[tuple[Callback, dict[str, Any]]] = [
            (cb, params) for cb in self._callbacks.get(event, ())
        ]
        if event not in (DISCONNECTED, RECONNECTED):
            tagged = {**params, "method": event}
            calls += [(cb, tagged) for cb in self._callbacks.get(ANY, ())]
        for callback, payload in calls:
            try:
                outcome = callback(payload)
            except Exception:
                log.exception("notification callback for %s failed", event)
                continue
            if inspect.isawaitable(outcome):
                task = asyncio.ensure_future(_guarded(outcome, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _fail_pending(self, error: ConnectionLost) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


async def _guarded(awaitable: Awaitable[None], event: str) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("notification callback for %s failed", event)


def _auth_params(credential: tuple[str, AuthType]) -> dict[str, Any]:
    return {"auth_token": credential[0], "auth_type": credential[1]}


def _given(**params: Any) -> dict[str, Any]:
    """The params that were given (None: leave it to the server's default)."""
    return {k: v for k, v in params.items() if v is not None}


def _credentials(username: str | None, password: str | None) -> dict[str, Any] | None:
    given = {"username": username, "password": password}
    return {k: v for k, v in given.items() if v is not None} or None
