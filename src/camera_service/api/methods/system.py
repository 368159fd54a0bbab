"""Service-level methods: server info, status, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from typing_extensions import TypedDict

from camera_service import __version__
from camera_service.api.jsonrpc import CAPACITY_EXCEEDED, RpcError
from camera_service.api.registry import Call, MethodRegistry, MethodSpec
from camera_service.auth.identity import Role
from camera_service.config import Settings
from camera_service.limits import CapacityExceeded
from camera_service.observability.health import Health
from camera_service.observability.metrics import Metrics

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


class ServerInfo(TypedDict):
    name: str
    version: str
    capabilities: list[str]
    supported_formats: list[str]
    max_cameras: int


class CapacityEntry(TypedDict):
    limit: int
    active: int
    free: int


class StatusResult(TypedDict):
    status: str
    uptime: float
    version: str
    components: dict[str, str]
    # [new] usb_cameras, streams, recordings, snapshots, connections
    capacity: dict[str, CapacityEntry]


class MetricsResult(TypedDict):
    active_connections: int
    total_requests: int
    average_response_time: float
    error_rate: float
    memory_usage: float
    cpu_usage: float
    p50_ms: float
    p99_ms: float
    requests_per_second: float
    cameras: int
    streams: int
    recordings_active: int


Counts = Callable[[], dict[str, int]]
CapacityReport = Callable[[], dict[str, dict[str, int]]]


def capacity_error(exc: CapacityExceeded) -> RpcError:
    """-1012 with ``{limit, active}`` (api.md), plus which resource ran out."""
    data = {
        "reason": "capacity_exceeded",
        "resource": exc.resource,
        "limit": exc.limit,
        "active": exc.active,
    }
    return RpcError(CAPACITY_EXCEEDED, str(exc), data)


def register(
    registry: MethodRegistry,
    settings: Callable[[], Settings],
    metrics: Metrics,
    health: Health,
    started: float,
    counts: Counts,
    capacity: CapacityReport = dict,
) -> None:
    def get_server_info(call: Call) -> ServerInfo:
        return {
            "name": "camera-service",
            "version": __version__,
            "capabilities": CAPABILITIES,
            "supported_formats": SUPPORTED_FORMATS,
            "max_cameras": settings().resources.max_streams,
        }

    # The overall status and the components change rarely and get_status is asked often:
    # derived once per health version.
    health_cache: tuple[int, str, dict[str, str]] = (-1, "", {})

    def get_status(call: Call) -> StatusResult:
        nonlocal health_cache
        version, overall, components = health_cache
        if version != health.version:
            version = health.version
            overall = health.overall().value
            components = {n: c.status.value for n, c in sorted(health.components.items())}
            health_cache = version, overall, components
        return {
            "status": overall,
            "uptime": round(time.monotonic() - started, 3),
            "version": __version__,
            "components": dict(components),
            "capacity": cast(dict[str, CapacityEntry], capacity()),
        }

    def get_metrics(call: Call) -> MetricsResult:
        c = counts()
        result = {
            **metrics.summary(),
            "cameras": c.get("cameras", 0),
            "streams": c.get("streams", 0),
            "recordings_active": c.get("recordings_active", 0),
        }
        return cast(MetricsResult, result)

    registry.add(
        MethodSpec(
            "get_server_info",
            get_server_info,
            "Name, version, capabilities.",
            Role.ADMIN,
            result=ServerInfo,
        )
    )
    registry.add(
        MethodSpec(
            "get_status",
            get_status,
            "Overall health, uptime, components and capacity (limit, active, free).",
            Role.ADMIN,
            result=StatusResult,
        )
    )
    registry.add(
        MethodSpec(
            "get_metrics",
            get_metrics,
            "Request, latency and resource figures.",
            Role.ADMIN,
            result=MetricsResult,
        )
    )
