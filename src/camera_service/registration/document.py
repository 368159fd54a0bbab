"""The registration document: who this instance is, what it can do, how healthy and how
full it is. Plain functions over data; the shape is written down in docs/registry.md
and held by the JSON schemas in ``registration/schemas.py``.

The etcd value and the HTTP aggregator's register body are this document; heartbeats
carry its volatile part (:data:`VOLATILE`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import Settings
from camera_service.observability.health import Health, iso

SCHEMA_VERSION = 1
VOLATILE = ("health", "capacity", "cameras")  # what a heartbeat carries
# Capacity that moves with every client or capture: reported, but not worth a push.
_CHURN = ("connections", "snapshots")

Capacity = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class Instance:
    """What does not change while the service runs."""

    instance_id: str
    version: str
    started_at: float  # wall clock
    endpoints: dict[str, str]
    capabilities: dict[str, Any] = field(default_factory=dict)


def instance_id_for(configured: str | None, ws_port: int, hostname: str | None = None) -> str:
    """The configured id, else ``<hostname>-<ws port>``: unique per host and port, and
    stable across restarts so the platform sees the same instance come back."""
    if configured:
        return configured
    host = hostname or socket.gethostname() or "localhost"
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in host)[:100]
    return f"{safe}-{ws_port}"


def advertised_host(s: Settings, hostname: str | None = None) -> str:
    return s.registry.advertise_host or s.mediamtx.public_host or hostname or socket.gethostname()


def endpoints_for(s: Settings, host: str, ws_port: int, http_port: int) -> dict[str, str]:
    tls = s.server.tls.cert_file is not None and s.server.tls.key_file is not None
    h = f"[{host}]" if ":" in host else host  # an IPv6 literal
    m = s.mediamtx
    return {
        "ws": f"{'wss' if tls else 'ws'}://{h}:{ws_port}/ws",
        "http": f"http://{h}:{http_port}",
        "rtsp": f"rtsp://{h}:{m.rtsp_port}",
        "webrtc": f"http://{h}:{m.webrtc_port}",
        "hls": f"http://{h}:{m.hls_port}",
    }


def capabilities_for(methods: Iterable[str], features: Iterable[str]) -> dict[str, Any]:
    return {
        "methods": sorted(methods),
        "features": list(features),
        "formats": {"recording": ["mp4", "ts"], "snapshot": ["jpg", "png"]},
        "source_types": [t.value for t in SourceType],
    }


def cameras_summary(cameras: Iterable[Camera]) -> dict[str, Any]:
    by_type = {t.value: 0 for t in SourceType}
    total = connected = recording = 0
    for camera in cameras:
        total += 1
        by_type[camera.source_type.value] += 1
        connected += camera.status is CameraStatus.CONNECTED
        recording += camera.recording
    return {"total": total, "connected": connected, "recording": recording, "by_type": by_type}


def health_summary(health: Health) -> dict[str, Any]:
    return {
        "status": health.overall().value,
        "components": {n: c.status.value for n, c in sorted(health.components.items())},
    }


def registration_document(
    instance: Instance,
    cameras: Mapping[str, Any],
    capacity: Capacity,
    health: Mapping[str, Any],
    now: float,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "instance_id": instance.instance_id,
        "service": "camera-service",
        "version": instance.version,
        "started_at": iso(instance.started_at),
        "updated_at": iso(now),
        "endpoints": dict(instance.endpoints),
        "capabilities": instance.capabilities,
        "cameras": dict(cameras),
        "capacity": {k: dict(v) for k, v in capacity.items()},
        "health": dict(health),
    }


def significant(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """The part whose change is pushed at once rather than on the next beat: health,
    cameras, and capacity but for the churn of connections and in-flight captures."""
    capacity = document.get("capacity", {})
    steady = tuple(
        sorted((k, tuple(sorted(v.items()))) for k, v in capacity.items() if k not in _CHURN)
    )
    health = document.get("health", {})
    cams = document.get("cameras", {})
    return (
        health.get("status"),
        tuple(sorted(health.get("components", {}).items())),
        tuple(sorted((k, v) for k, v in cams.items() if k != "by_type")),
        tuple(sorted(cams.get("by_type", {}).items())),
        steady,
    )
