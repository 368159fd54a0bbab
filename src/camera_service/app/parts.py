"""The small pieces the assembly puts between components: the two listening ports,
the fields that make a MediaMTX path record, the dispatcher's observer, the figures
get_status reports, the report of a recovered database, the etcd watch of device
assignments, and the reload listeners."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from camera_service.api.mediaauth import auth_url
from camera_service.api.websocket import WebSocketServer
from camera_service.auth.audit import AuditLog
from camera_service.cameras.monitor import CameraMonitor
from camera_service.config import MediaMtxConfig, Settings
from camera_service.db import Recovery
from camera_service.dirs import DataDirs
from camera_service.events import EventBus
from camera_service.media.controller import MediaController
from camera_service.media.mediamtx.managed import auth_fields
from camera_service.media.pathconf import PathConf, recording_fields
from camera_service.net.addresses import is_loopback
from camera_service.net.httpserver import HttpServer
from camera_service.observability.events import HealthChanged
from camera_service.observability.health import ComponentState, Health, Status
from camera_service.observability.logging import set_level
from camera_service.observability.metrics import Metrics
from camera_service.record.hooks import HOOK_PATH, hook_command

from .live import LiveSettings

if TYPE_CHECKING:
    from camera_service.net.etcd import EtcdClient

log = logging.getLogger("camera_service")

HOOK_TOKEN = "hook_token"  # in the data dir: the secret MediaMTX's hook commands send


class Port:
    """One listening HTTP port; ``number`` is the one it got (0 until it listens)."""

    def __init__(self, server: HttpServer, host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.wanted = port
        self.number = 0

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self.number = await self.server.start(self.host, self.wanted, tls)

    def stop_listening(self) -> None:
        self.server.stop_listening()

    def close(self) -> None:
        """Stop listening and close idle HTTP connections (upgraded ones belong to the
        WebSocket server)."""
        self.server.stop_listening()
        self.server.close_idle()


class RecordingFields:
    """Recording settings and segment hooks every managed MediaMTX path carries. The
    hooks call back on the health port, so they are complete once it listens."""

    def __init__(self, live: LiveSettings, paths: DataDirs, health: Port) -> None:
        self.live = live
        self.paths = paths
        self.health = health

    def __call__(self) -> PathConf:
        s = self.live()
        host = s.health.host
        if host in ("0.0.0.0", "::", "", "localhost"):
            host = "127.0.0.1"  # the hooks run next to MediaMTX, on this machine
        url = f"http://{host}:{self.health.number}{HOOK_PATH}"
        token_file = self.paths.data_dir / HOOK_TOKEN
        return recording_fields(
            self.paths.recordings,
            s.recording,
            hook_command("create", url, token_file),
            hook_command("complete", url, token_file),
        )


class MediaAuthFields:
    """The global auth settings of a managed MediaMTX: it asks the service's auth
    endpoint on the health port, with the per-run secret, about every action."""

    def __init__(self, live: LiveSettings, health: Port, secret: str) -> None:
        self.live = live
        self.health = health
        self.secret = secret

    def __call__(self) -> dict[str, Any]:
        host = self.live().health.host
        if host in ("0.0.0.0", "::", "", "localhost"):
            host = "127.0.0.1"  # a managed MediaMTX runs on this machine
        return auth_fields(auth_url(host, self.health.number, self.secret))

    def remote(self) -> dict[str, Any] | None:
        """What a MediaMTX on another host is given through its Control API (None: no
        ``mediamtx.auth_host``, nothing to give). Internal users are left alone."""
        host = self.live().mediamtx.auth_host
        if host is None:
            return None
        fields = auth_fields(auth_url(host, self.health.number, self.secret))
        del fields["authInternalUsers"]
        return fields


def mediamtx_is_local(cfg: Callable[[], MediaMtxConfig]) -> bool:
    """Whether MediaMTX runs on this machine (its Control API is on loopback): then the
    service's own media credential is good from loopback only."""
    return is_loopback(urlsplit(cfg().api_url).hostname or "127.0.0.1")


SECURITY_LOG_PER_SECOND = 10  # past it a flood of bad credentials is counted, not logged
_SECURITY_TEXT = {"auth_failure": "authentication failed", "role_denied": "permission denied"}


class Observer:
    """Feeds dispatcher outcomes into metrics, the audit trail and the log."""

    def __init__(self, metrics: Metrics, audit: AuditLog) -> None:
        self.request_done = metrics.request_done
        self._metrics = metrics
        self._audit = audit
        self._second = 0
        self._logged = 0
        self._suppressed = 0

    def security_event(self, event: str, actor: str | None, **detail: Any) -> None:
        """A refused credential or a denied call: counted, audited, and logged as a
        warning (ip, identity, method, reason; never the credential) up to
        SECURITY_LOG_PER_SECOND lines a second, so a flood cannot fill the disk."""
        self._metrics.security_event(event)
        self._audit.record(event, actor, **detail)
        now = int(time.monotonic())
        if now != self._second:
            self._second, self._logged = now, 0
        if self._logged >= SECURITY_LOG_PER_SECOND:
            self._suppressed += 1
            return
        self._logged += 1
        extra: dict[str, Any] = {"event": event, "user_id": actor, **detail}
        if self._suppressed:
            extra["suppressed"], self._suppressed = self._suppressed, 0
        log.warning(_SECURITY_TEXT.get(event, event), extra=extra)


def publish_health(events: EventBus, health: Health, state: ComponentState) -> None:
    """A health listener: every component's change goes on the bus (clients and the
    registrar hear of it)."""
    log.info(
        "component health changed",
        extra={"component": state.name, "status": state.status.value, "reason": state.reason},
    )
    events.publish(HealthChanged.of(state, health.overall()))


def report_recovery(recovery: Recovery, health: Health) -> None:
    """A corrupt database was moved aside: the media index rebuilds itself from the
    disk, but API keys, the retention policy set through the API and the audit trail
    cannot be rebuilt. Say it where an operator looks: the log and /health."""
    lost = "API keys, the retention policy set through the API and the audit trail are lost"
    log.error(
        "database was unreadable and has been moved aside; started a new one. "
        "The media index is rebuilt from the media directories; " + lost + ": "
        "create new API keys (camera-service keys create) and set the policy again, or "
        "restore a backup (docs/operations.md)",
        extra={"moved_to": str(recovery.moved_to), "error": recovery.error},
    )
    health.register(
        "database",
        critical=False,
        status=Status.DEGRADED,
        reason=f"recovered from a corrupt database (kept as {recovery.moved_to.name}); {lost}",
    )


class AssignmentsWatch:
    """Hub device assignments held in etcd (``cameras.assignments_key``), followed for
    as long as the service runs. The etcd modules are imported only when it is made: a
    hub without etcd pays no memory for them."""

    def __init__(self, key: str, endpoints: list[str], monitor: CameraMonitor) -> None:
        from camera_service.net.etcd import EtcdClient

        self.key = key
        self.monitor = monitor
        self.client: EtcdClient = EtcdClient(endpoints)

    async def run(self) -> None:
        from camera_service.cameras.assignments_etcd import watch_assignments

        await watch_assignments(self.client, self.key, self.monitor)


# --- reload listeners (after LiveSettings has replaced the settings) --------------------------


def apply_log_level(settings: Settings, applied: list[str]) -> None:
    if "logging.level" in applied:
        set_level(settings.logging.level)


def apply_rate_limit(ws: WebSocketServer, settings: Settings, applied: list[str]) -> None:
    if "security.rate_limit.requests_per_minute" in applied:
        ws.set_rate_limit(settings.security.rate_limit.requests_per_minute)


def apply_sources(
    monitor: CameraMonitor, media: MediaController, settings: Settings, applied: list[str]
) -> None:
    if "cameras.sources" in applied:
        monitor.apply_sources()
        media.reconcile_soon()
