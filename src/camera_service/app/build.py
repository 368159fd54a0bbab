"""Every part of the service, declared in one place and made from the settings.

:func:`build` only constructs: it does no I/O and starts nothing. What the parts are
made on (the data dirs, the open database, the secrets) is opened before it
(:func:`camera_service.app.lifecycle.open_resources`), and starting them is
:func:`camera_service.app.lifecycle.start`'s.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from camera_service.api.context import ApiContext
from camera_service.api.dashboard import Assets, Endpoints, add_dashboard_routes
from camera_service.api.dispatch import Dispatcher, limits_of
from camera_service.api.files import add_file_routes
from camera_service.api.health import add_health_routes
from camera_service.api.mediaauth import AUTH_PATH, MediaAuthEndpoint
from camera_service.api.methods import all_methods
from camera_service.api.methodtable import MethodTable
from camera_service.api.notifications import Notifier
from camera_service.api.session import Session
from camera_service.api.websocket import WebSocketServer
from camera_service.auth.apikeys import ApiKeyStore
from camera_service.auth.audit import AuditLog
from camera_service.auth.authenticator import Authenticator
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.cameras.discovery import Discovery
from camera_service.cameras.events import CameraRemoved
from camera_service.cameras.monitor import CameraMonitor
from camera_service.cameras.registry import CameraRegistry
from camera_service.cameras.sources import CameraSources
from camera_service.config import Settings
from camera_service.db import AsyncDatabase, Recovery
from camera_service.dirs import DataDirs
from camera_service.events import EventBus
from camera_service.limits import Capacity
from camera_service.media.access import InternalCredential, MediaAccess
from camera_service.media.controller import MediaController
from camera_service.media.desired import DesiredRecording
from camera_service.media.grabber import GrabberPool
from camera_service.media.mediamtx.managed import ManagedMediaMtx, find_binary
from camera_service.media.preview import Previews
from camera_service.media.snapshots import SnapshotService
from camera_service.media.viewing import ViewingWindows
from camera_service.net.httpserver import HttpServer, Router
from camera_service.observability.health import ComponentHealth, Health, Status
from camera_service.observability.metrics import Metrics
from camera_service.record.hooks import HOOK_PATH, HookReceiver
from camera_service.record.manager import RecordingManager
from camera_service.storage.disk import DiskMonitor
from camera_service.storage.index import MediaIndex
from camera_service.storage.probe import ffprobe_beside
from camera_service.storage.retention import Retention

from .eventsout import EventsOut
from .live import LiveSettings
from .parts import (
    AssignmentsWatch,
    MediaAuthFields,
    Observer,
    Port,
    RecordingFields,
    apply_log_level,
    apply_rate_limit,
    apply_sources,
    mediamtx_is_local,
    publish_health,
    report_recovery,
)
from .registration import REGISTRY_EVENTS, Registration

log = logging.getLogger("camera_service")

Readiness = Callable[[], tuple[bool, str]]  # /health/ready: (ready, why not)


@dataclass(frozen=True, slots=True)
class Resources:
    """What the parts are made on, opened before they are built."""

    paths: DataDirs
    executor: ThreadPoolExecutor  # probes, scans and captures off the event loop
    db: AsyncDatabase
    recovery: Recovery | None  # the database was unreadable and has been moved aside
    jwt_secret: str
    hook_token: str
    internal: InternalCredential  # the service's own media credential (publish, read)
    media_secret: str  # what a MediaMTX off loopback sends to the auth endpoint


@dataclass(frozen=True, slots=True)
class Store:
    """Credentials, the audit trail, the media index and the disk gate."""

    keys: ApiKeyStore
    audit: AuditLog
    authenticator: Authenticator
    disk: DiskMonitor  # the storage gate of snapshots and recordings
    index: MediaIndex


@dataclass(frozen=True, slots=True)
class Front:
    """What clients and probes talk to: the RPC methods, their dispatcher, the
    WebSocket server and the two HTTP ports."""

    methods: MethodTable
    dispatcher: Dispatcher
    ws: WebSocketServer
    ws_health: ComponentHealth  # healthy once the API port listens
    health_port: Port  # probes, metrics, MediaMTX's segment hooks and auth, downloads
    api_port: Port  # WebSocket JSON-RPC and downloads
    media_access: MediaAccess  # MediaMTX's authorization of every read and publish


@dataclass(frozen=True, slots=True)
class Media:
    """Cameras to streams and files: discovery, MediaMTX, recordings, snapshots and
    the retention of what they wrote."""

    monitor: CameraMonitor
    sources: CameraSources  # the cameras added through the API, served by the monitor
    assignments: AssignmentsWatch | None  # when cameras.assignments_key is set
    managed: ManagedMediaMtx | None  # when this service runs MediaMTX itself
    desired: DesiredRecording  # which paths record: written by recordings, read by media
    controller: MediaController
    grabbers: GrabberPool
    recordings: RecordingManager
    snapshots: SnapshotService
    retention: Retention
    viewing: ViewingWindows  # streams start_streaming keeps up
    previews: Previews  # get_preview's shared images
    discovery: Discovery  # ONVIF: client discoveries and the periodic scan


@dataclass(frozen=True, slots=True)
class Components:
    live: LiveSettings
    paths: DataDirs
    started: float  # time.monotonic() at the start: get_server_info's uptime
    executor: ThreadPoolExecutor
    db: AsyncDatabase
    metrics: Metrics
    health: Health
    events: EventBus
    cameras: CameraRegistry
    capacity: Capacity
    store: Store
    front: Front
    media: Media
    registration: Registration
    events_out: EventsOut  # MQTT and webhooks


@dataclass(frozen=True, slots=True)
class ApiParts:
    """The parts the RPC methods use (``api.context.Components``)."""

    live: LiveSettings
    started: float
    dispatcher: Dispatcher
    metrics: Metrics
    health: Health
    capacity: Capacity
    cameras: CameraRegistry
    media: MediaController
    recordings: RecordingManager
    snapshots: SnapshotService
    disk: DiskMonitor
    retention: Retention
    index: MediaIndex
    tokens: JwtAuthenticator
    viewing: ViewingWindows
    ws: WebSocketServer
    api_port: Port
    camera_sources: CameraSources
    previews: Previews
    discovery: Discovery

    @property
    def settings(self) -> Settings:
        return self.live.current

    @property
    def ws_port(self) -> int:
        return self.api_port.number

    def sessions(self) -> Iterator[Session]:
        return (conn.session for conn in self.ws.connections)

    @classmethod
    def of(cls, c: Components) -> ApiParts:
        m = c.media
        return cls(
            c.live, c.started, c.front.dispatcher, c.metrics, c.health, c.capacity, c.cameras,
            m.controller, m.recordings, m.snapshots, c.store.disk, m.retention, c.store.index,
            c.store.authenticator.jwt, m.viewing, c.front.ws, c.front.api_port, m.sources,
            m.previews,
            m.discovery,
        )  # fmt: skip


def build(live: LiveSettings, res: Resources, started: float, ready: Readiness) -> Components:
    metrics, health, events = Metrics(), Health(), EventBus()
    cameras = CameraRegistry(events)
    capacity = Capacity(live)
    store = _store(live, res, events, health)
    front = _front(live, res, store, events, health, metrics, capacity, ready)
    media = _media(live, res, store, front, events, health, cameras, capacity)
    registration = Registration(
        live, cameras, capacity, health, front.methods, front.api_port, front.health_port
    )
    # Subscribed after the media parts: it hears every event once its causes are handled.
    events_out = EventsOut(
        live(), events, health, metrics, front.dispatcher, store.disk, res.paths.snapshots
    )
    c = Components(
        live,
        res.paths,
        started,
        res.executor,
        res.db,
        metrics,
        health,
        events,
        cameras,
        capacity,
        store,
        front,
        media,
        registration,
        events_out,
    )
    _wire(c)
    front.methods.ctx.bind(ApiParts.of(c))
    return c


def _store(live: LiveSettings, res: Resources, events: EventBus, health: Health) -> Store:
    paths, db = res.paths, res.db
    keys = ApiKeyStore(db.database)
    health_of_disk = health.register("storage", critical=False)
    if res.recovery is not None:
        report_recovery(res.recovery, health)
    disk = DiskMonitor(
        live.storage, paths.recordings, paths.snapshots, events, health_of_disk, res.executor
    )
    # Reconciles with the media dirs in the background once started; listings wait for it.
    ffprobe = ffprobe_beside(live().mediamtx.ffmpeg)
    index = MediaIndex(db, paths.recordings, paths.snapshots, events, res.executor, ffprobe=ffprobe)
    authenticator = Authenticator(JwtAuthenticator(res.jwt_secret), keys, db)
    return Store(keys, AuditLog(db), authenticator, disk, index)


def _front(
    live: LiveSettings,
    res: Resources,
    store: Store,
    events: EventBus,
    health: Health,
    metrics: Metrics,
    capacity: Capacity,
    ready: Readiness,
) -> Front:
    s, paths = live(), res.paths
    observer = Observer(metrics, store.audit)
    methods = MethodTable(all_methods(), ApiContext())  # its parts are bound by build()
    dispatcher = Dispatcher(
        methods,
        store.authenticator,
        observer,
        s.server.request_timeout,
        limits=limits_of(s.server),
    )
    ws = WebSocketServer(s.server, dispatcher, metrics)
    ws.set_rate_limit(s.security.rate_limit.requests_per_minute)
    # Subscribed before the media parts, which subscribe as they are made: an event one
    # of them publishes while handling another (a recording's camera update on unplug)
    # reaches clients after its cause.
    Notifier(ws, metrics, live.mediamtx).attach(events)
    health.listeners.append(functools.partial(publish_health, events, health))
    ws_health = health.register("websocket_server", status=Status.UNHEALTHY, reason="starting")
    # Downloads (api.md section 6), the same on both ports.
    files = functools.partial(
        add_file_routes,
        dirs={"recordings": paths.recordings, "snapshots": paths.snapshots},
        authenticator=store.authenticator,
        require_auth=live.files_require_auth,
        observer=observer,
    )
    probes = Router()
    add_health_routes(probes, health, metrics, ready, capacity=capacity.report)
    hooks = HookReceiver(res.hook_token, paths.recordings, events)
    probes.add(HOOK_PATH, hooks.handle, methods=("POST",))
    access = MediaAccess(
        store.authenticator,
        res.internal,
        cache_seconds=s.mediamtx.auth_cache_seconds,
        local_mediamtx=functools.partial(mediamtx_is_local, live.mediamtx),
    )
    media_auth = MediaAuthEndpoint(access, res.media_secret, metrics)
    probes.add(AUTH_PATH, media_auth.handle, methods=("POST",))
    files(probes)
    api = Router()
    api.upgrade_paths.update(("/ws", "/"))
    files(api)
    health_port = Port(HttpServer(probes), s.health.host, s.health.port)
    api_port = Port(HttpServer(api, ws), s.server.host, s.server.port)

    def endpoints() -> Endpoints:
        now = live()
        return Endpoints(
            ws_port=api_port.number,
            tls=now.server.tls.cert_file is not None,
            media_host=now.mediamtx.public_host,
            hls_port=now.mediamtx.hls_port,
            webrtc_port=now.mediamtx.webrtc_port,
        )

    # The dashboard, the same on both ports (one set of assets in memory).
    dashboard = functools.partial(add_dashboard_routes, endpoints=endpoints, assets=Assets())
    dashboard(probes)
    dashboard(api)
    return Front(
        methods, dispatcher, ws, ws_health,
        health_port=health_port, api_port=api_port, media_access=access,
    )  # fmt: skip


def _media(
    live: LiveSettings,
    res: Resources,
    store: Store,
    front: Front,
    events: EventBus,
    health: Health,
    cameras: CameraRegistry,
    capacity: Capacity,
) -> Media:
    s, paths, disk = live(), res.paths, store.disk
    monitor = CameraMonitor(
        live.cameras, live.resources, cameras, health.register("camera_monitor"), res.executor
    )
    sources = CameraSources(res.db, monitor, cameras, live.resources, events)
    key = s.cameras.assignments_key
    assignments = AssignmentsWatch(key, s.registry.endpoints, monitor) if key else None
    fields = RecordingFields(live, paths, front.health_port)
    binary = find_binary(s.mediamtx)
    workdir = paths.data_dir / "mediamtx"
    auth = MediaAuthFields(live, front.health_port, res.media_secret)
    if not mediamtx_is_local(live.mediamtx) and s.mediamtx.auth_host is None:
        log.warning(
            "MediaMTX is on another host and mediamtx.auth_host is unset: it cannot be "
            "given this run's auth URL, so every read it asks about is refused "
            "(docs/deployment.md, MediaMTX on another host)",
            extra={"api_url": s.mediamtx.api_url},
        )
    managed = (
        ManagedMediaMtx(binary, s.mediamtx, workdir, fields, auth) if binary is not None else None
    )
    desired = DesiredRecording(live.recording)
    source, device = monitor.source, monitor.device_path
    internal = res.internal
    controller = MediaController(
        live.mediamtx, cameras, events, health, res.db, source, device, fields, desired, internal,
        global_auth=auth.remote,
    )  # fmt: skip
    grabbers = GrabberPool(live.snapshots, live.mediamtx, cameras, controller, internal=internal)
    recording_level = functools.partial(disk.level, paths.recordings)
    recordings = RecordingManager(
        live, cameras, events, controller, desired, paths.recordings, recording_level,
        capacity=capacity, own_reader=grabbers.reading, db=res.db, health=health,
        internal=internal,
    )  # fmt: skip
    snapshot_level = functools.partial(disk.level, paths.snapshots)
    snapshots = SnapshotService(
        live, cameras, events, controller, grabbers, paths.snapshots, snapshot_level,
        device, source, res.executor, capacity=capacity, internal=internal,
    )  # fmt: skip
    retention = Retention(live.retention, res.db, disk, events, recordings.busy)
    disk.on_critical = retention.emergency_cleanup
    viewing = ViewingWindows(
        live.mediamtx, cameras, events, controller, capacity,
        own_reader=grabbers.reading, internal=internal,
    )  # fmt: skip
    discovery = Discovery(live.onvif, res.db, events)
    return Media(
        monitor, sources, assignments, managed, desired, controller, grabbers, recordings,
        snapshots, retention, viewing, Previews(snapshots, live.snapshots), discovery,
    )  # fmt: skip


def _wire(c: Components) -> None:
    """What listens to what, and the meters of what each limited resource has in use."""
    m = c.media
    for event_type in REGISTRY_EVENTS:
        c.events.subscribe(event_type, c.registration.changed)
    # Else a removed camera's last preview stays in memory until its id is asked for.
    c.events.subscribe(CameraRemoved, lambda e: m.previews.forget(e.camera.camera_id))
    c.live.listeners.extend(
        [
            apply_log_level,
            functools.partial(apply_rate_limit, c.front.ws),
            functools.partial(apply_sources, m.monitor, m.controller),
        ]
    )
    # A meter reads a count the part keeps; get_status reads every meter on every call,
    # so they are C callables (partials of len and getattr) where the part allows.
    monitor, recordings, snapshots, ws = m.monitor, m.recordings, m.snapshots, c.front.ws
    c.capacity.meter("usb_cameras", lambda: monitor.usb_cameras)
    c.capacity.track_devices(monitor.over_limit)
    c.capacity.track_streams(m.controller.streams_up)
    c.capacity.meter("recordings", functools.partial(len, recordings.active))
    c.capacity.meter("snapshots", functools.partial(getattr, snapshots, "in_flight"))
    c.capacity.meter("connections", functools.partial(len, ws.connections))
    c.metrics.meter(
        "camera_service_recordings_degraded",
        "gauge",
        "Recordings that are on and write nothing (a full disk, say).",
        lambda: recordings.degraded,
    )
    c.metrics.meter(
        "camera_service_recording_segments_removed_total",
        "counter",
        "Recording segments deleted because they held no media.",
        lambda: recordings.removed,
    )
