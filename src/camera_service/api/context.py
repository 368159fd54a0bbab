"""What method handlers act on: the service's parts and the API's own caches.

Every call carries one :class:`ApiContext` (``call.ctx``). Its ``components`` is any
object with the parts :class:`Components` names, read when a handler runs. The method
table, and so its context, has to exist before some of those parts do (the WebSocket
server that serves the methods is made before the parts whose events it forwards), so
the parts are given at construction when they exist, or bound once later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import orjson

from camera_service.api.session import Session
from camera_service.auth.identity import Identity
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.cameras.discovery import Discovery
from camera_service.cameras.registry import CameraRegistry
from camera_service.cameras.sources import CameraSources
from camera_service.config import MediaMtxConfig, Settings
from camera_service.limits import Capacity
from camera_service.media.controller import MediaController
from camera_service.media.preview import Previews
from camera_service.media.snapshots import SnapshotService
from camera_service.media.viewing import ViewingWindows
from camera_service.observability.health import Health
from camera_service.observability.metrics import Metrics
from camera_service.record.manager import RecordingManager
from camera_service.storage.disk import DiskMonitor
from camera_service.storage.index import MediaIndex
from camera_service.storage.retention import Retention

K = TypeVar("K")
V = TypeVar("V")


class SessionAuth(Protocol):
    async def authenticate(self, session: Session, token: str, auth_type: str) -> Identity:
        """Verify ``token`` and bind its identity to ``session`` (RpcError if bad)."""
        ...


class Components(Protocol):
    """The parts of the service the methods use (read-only)."""

    @property
    def settings(self) -> Settings: ...  # the running settings: a reload replaces them
    @property
    def started(self) -> float: ...  # time.monotonic() at start
    @property
    def ws_port(self) -> int: ...  # where the API listens (its real port, even if 0 was set)
    @property
    def dispatcher(self) -> SessionAuth: ...
    @property
    def tokens(self) -> JwtAuthenticator: ...  # mints media tokens
    @property
    def metrics(self) -> Metrics: ...
    @property
    def health(self) -> Health: ...
    @property
    def capacity(self) -> Capacity: ...
    @property
    def cameras(self) -> CameraRegistry: ...
    @property
    def media(self) -> MediaController: ...
    @property
    def recordings(self) -> RecordingManager: ...
    @property
    def snapshots(self) -> SnapshotService: ...
    @property
    def previews(self) -> Previews: ...  # get_preview's shared images
    @property
    def disk(self) -> DiskMonitor: ...
    @property
    def retention(self) -> Retention: ...
    @property
    def index(self) -> MediaIndex: ...
    @property
    def viewing(self) -> ViewingWindows: ...  # streams start_streaming keeps up
    @property
    def camera_sources(self) -> CameraSources: ...  # cameras added through the API
    @property
    def discovery(self) -> Discovery: ...  # ONVIF: one at a time, the last one's devices
    def sessions(self) -> Iterable[Session]: ...  # every connection's


class Encoded(Generic[K, V]):
    """Encoded replies by key, each valid while the camera registry's version and the
    stream settings object are the ones it was built from. A reload replaces the
    settings object, so it is compared by identity: no settings model hashed per call."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[K, tuple[int, MediaMtxConfig, V]] = {}

    def get(self, key: K, version: int, cfg: MediaMtxConfig) -> V | None:
        hit = self._entries.get(key)
        return hit[2] if hit is not None and hit[0] == version and hit[1] is cfg else None

    def put(self, key: K, version: int, cfg: MediaMtxConfig, value: V) -> V:
        if len(self._entries) >= self.limit:  # many client hosts: start again, not grow
            self._entries.clear()
        self._entries[key] = (version, cfg, value)
        return value


@dataclass(slots=True)
class StatusParts:
    """get_camera_status of one camera for one client host: the JSON before and after
    the metrics, and the last reply with the figures it was made from."""

    head: bytes
    tail: bytes
    figures: dict[str, Any] = field(default_factory=dict)  # MediaMTX's, of the stream
    uptime: float = -1.0
    reply: orjson.Fragment | None = None


class ApiContext:
    __slots__ = ("camera_list", "camera_status", "components", "status_parts")

    def __init__(self, components: Components | None = None) -> None:
        if components is not None:
            self.components = components
        # The camera list changes rarely and is asked for often: encoded per client host
        # and camera scope.
        self.camera_list: Encoded[tuple[str, tuple[str, ...] | None], orjson.Fragment] = Encoded(
            limit=64
        )
        # get_camera_status per (camera, client host): the JSON around "metrics", the
        # part that changes by the second, and the last reply (StatusParts).
        self.camera_status: Encoded[tuple[str, str], StatusParts] = Encoded(limit=256)
        # get_status: (what it was encoded from, the JSON before and after the uptime).
        self.status_parts: tuple[object, bytes, bytes] = (None, b"", b"")

    def bind(self, components: Components) -> None:
        """Give the parts after construction: once, before the first call."""
        self.components = components
