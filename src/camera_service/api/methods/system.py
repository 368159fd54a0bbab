"""Service-level methods: server info, status, metrics (admin); health and capacity,
the Go-era system status and subscription figures (viewer)."""

from __future__ import annotations

import time
from typing import Literal, cast

import orjson

from camera_service import __version__
from camera_service.api.contract import (
    CapacityEntry,
    ComponentReport,
    HealthResult,
    MetricsResult,
    ServerInfo,
    StatusResult,
    SubscriptionStatsResult,
    SystemStatusResult,
)
from camera_service.api.jsonrpc import CAPACITY_EXCEEDED, RpcError
from camera_service.api.methodtable import Call, MethodSpec, NoParams
from camera_service.api.redact import redact
from camera_service.api.session import NOTIFICATION_TOPICS
from camera_service.auth.identity import Role
from camera_service.limits import CapacityExceeded, report_of
from camera_service.observability.health import Status, iso

CAPABILITIES = [
    "json_rpc_2.0",
    "websocket",
    "batch_requests",
    "notifications",
    "event_subscriptions",
    "jwt_auth",
    "api_key_auth",
    "rpc_discover",
    "prometheus_metrics",
]
SUPPORTED_FORMATS = ["mp4", "ts", "jpg", "png"]


def capacity_error(exc: CapacityExceeded) -> RpcError:
    """-1012 with ``{limit, active}`` (api.md), plus which resource ran out."""
    data = {
        "reason": "capacity_exceeded",
        "resource": exc.resource,
        "limit": exc.limit,
        "active": exc.active,
    }
    return RpcError(CAPACITY_EXCEEDED, str(exc), data)


def get_server_info(call: Call[NoParams]) -> ServerInfo:
    return {
        "name": "camera-service",
        "version": __version__,
        "capabilities": CAPABILITIES,
        "supported_formats": SUPPORTED_FORMATS,
        "max_cameras": call.ctx.components.settings.resources.max_streams,
    }


def get_status(call: Call[NoParams]) -> orjson.Fragment:
    """Encoded once per state of what it reports (health, limits, resources in use):
    only the uptime is put in per call. The reply is the same for every admin."""
    c = call.ctx.components
    health, capacity = c.health, c.capacity
    limits, actives = capacity.limits(), capacity.actives()
    key = (health.version, limits, actives)
    cached, head, tail = call.ctx.status_parts
    if key != cached:
        components = {n: s.status.value for n, s in sorted(health.components.items())}
        head = b'{"status":' + orjson.dumps(health.overall().value) + b',"uptime":'
        capacity_now = report_of(limits, actives)
        rest = {"version": __version__, "components": components, "capacity": capacity_now}
        tail = b"," + orjson.dumps(rest)[1:]
        call.ctx.status_parts = key, head, tail
    uptime = int((time.monotonic() - c.started) * 1000 + 0.5) / 1000  # round(x, 3), faster
    return orjson.Fragment(head + orjson.dumps(uptime) + tail)


def get_health(call: Call[NoParams]) -> HealthResult:
    """What a person watching the cameras may know of the service's health: each
    component's status and its reason in words, and the capacity. The components'
    ``details`` (the MediaMTX URL, raw errors, ports) stay with get_status and
    /health/system; below admin, addresses and paths are taken out of the reasons."""
    c = call.ctx.components
    health = c.health
    identity = call.session.identity
    shown = str if identity is not None and identity.role >= Role.ADMIN else redact
    components: dict[str, ComponentReport] = {
        name: {"status": s.status.value, "reason": shown(s.reason), "since": iso(s.since)}
        for name, s in sorted(health.components.items())
    }
    return {
        "status": health.overall().value,
        "components": components,
        "capacity": cast(dict[str, CapacityEntry], c.capacity.report()),
    }


def get_metrics(call: Call[NoParams]) -> MetricsResult:
    c = call.ctx.components
    result = {
        **c.metrics.summary(),
        "cameras": len(c.cameras),
        "streams": c.media.active_streams,
        "recordings_active": len(c.recordings.active),
    }
    return cast(MetricsResult, result)


def get_system_status(call: Call[NoParams]) -> SystemStatusResult:
    """``starting`` until MediaMTX has been looked at and, when it answers, our paths
    applied once; ``ready`` when MediaMTX answers, the paths match and discovery is
    healthy; ``partial`` otherwise (the message says what is missing)."""
    c = call.ctx.components
    media, components = c.media, c.health.components
    monitor = components.get("camera_monitor")
    sync = components.get("mediamtx_controller")
    discovery = monitor is not None and monitor.status is not Status.UNHEALTHY
    session = call.session
    seen = [camera for camera in c.cameras if session.sees(camera.camera_id)]
    available = [camera.device for camera in seen if camera.connected]
    cameras = f"{len(available)} of {len(seen)} cameras connected"
    missing: list[str] = []
    if not media.reachable:
        missing.append("MediaMTX is unreachable")
    elif sync is not None and sync.status is not Status.HEALTHY:
        missing.append(f"camera paths not applied: {sync.reason}")
    if monitor is not None and monitor.status is not Status.HEALTHY:
        missing.append(f"camera discovery: {monitor.reason or monitor.status.value}")
    status: Literal["starting", "partial", "ready"]
    if media.checks == 0 or (media.reachable and media.generation == 0):
        status, message = "starting", "starting: camera paths not applied yet"
    elif missing:
        status, message = "partial", "; ".join([*missing, cameras])
    else:
        status, message = "ready", cameras
    return {
        "status": status,
        "message": message,
        "available_cameras": available,
        "discovery_active": discovery,
    }


def get_subscription_stats(call: Call[NoParams]) -> SubscriptionStatsResult:
    """Who receives which notification topics: every authenticated connection, and
    this one."""
    counts = dict.fromkeys(NOTIFICATION_TOPICS, 0)
    clients = 0
    for session in call.ctx.components.sessions():
        if session.identity is None:
            continue  # notifications go to authenticated connections only
        clients += 1
        for topic in NOTIFICATION_TOPICS:
            if session.wants(topic):
                counts[topic] += 1
    return {
        "global_stats": {
            "total_subscriptions": sum(counts.values()),
            "active_clients": clients,
            "topic_counts": counts,
        },
        "client_topics": [t for t in NOTIFICATION_TOPICS if call.session.wants(t)],
        "client_id": call.session.session_id or "",
    }


METHODS = (
    MethodSpec(
        "get_server_info",
        get_server_info,
        "Name, version, capabilities.",
        Role.ADMIN,
        NoParams,
        ServerInfo,
    ),
    MethodSpec(
        "get_status",
        get_status,
        "Overall health, uptime, components and capacity (limit, active, free).",
        Role.ADMIN,
        NoParams,
        StatusResult,
    ),
    MethodSpec(
        "get_health",
        get_health,
        "Overall health, each component's status and reason, and capacity, for any role.",
        Role.VIEWER,
        NoParams,
        HealthResult,
    ),
    MethodSpec(
        "get_metrics",
        get_metrics,
        "Request, latency and resource figures.",
        Role.ADMIN,
        NoParams,
        MetricsResult,
    ),
    MethodSpec(
        "get_system_status",
        get_system_status,
        "Whether the service is starting, partly or fully ready, and the cameras up.",
        Role.VIEWER,
        NoParams,
        SystemStatusResult,
    ),
    MethodSpec(
        "get_subscription_stats",
        get_subscription_stats,
        "Notification subscriptions: counts over every client, and this one's topics.",
        Role.VIEWER,
        NoParams,
        SubscriptionStatsResult,
    ),
)
