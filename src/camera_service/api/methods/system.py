"""Service-level methods: server info, status, metrics."""

from __future__ import annotations

import time
from typing import cast

from camera_service import __version__
from camera_service.api.contract import CapacityEntry, MetricsResult, ServerInfo, StatusResult
from camera_service.api.jsonrpc import CAPACITY_EXCEEDED, RpcError
from camera_service.api.methodtable import Call, MethodSpec, NoParams
from camera_service.auth.identity import Role
from camera_service.limits import CapacityExceeded

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


def get_status(call: Call[NoParams]) -> StatusResult:
    c = call.ctx.components
    health = c.health
    # The overall status and the components change rarely and get_status is asked
    # often: derived once per health version.
    version, overall, components = call.ctx.health_summary
    if version != health.version:
        version = health.version
        overall = health.overall().value
        components = {n: s.status.value for n, s in sorted(health.components.items())}
        call.ctx.health_summary = version, overall, components
    return {
        "status": overall,
        "uptime": round(time.monotonic() - c.started, 3),
        "version": __version__,
        "components": dict(components),
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
        "get_metrics",
        get_metrics,
        "Request, latency and resource figures.",
        Role.ADMIN,
        NoParams,
        MetricsResult,
    ),
)
