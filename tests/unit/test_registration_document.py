"""The registration document is built from plain data: who, what, how full, how healthy."""

from __future__ import annotations

from pathlib import Path

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.observability.health import Health, Status
from camera_service.registration.document import (
    Instance,
    advertised_host,
    cameras_summary,
    capabilities_for,
    endpoints_for,
    health_summary,
    instance_id_for,
    registration_document,
    significant,
)
from tests.conftest import make_settings
from tests.support.aggregator import CAPACITY


def test_instance_id_defaults_to_hostname_and_port_and_is_made_safe() -> None:
    assert instance_id_for("hub-7", 8002, "ignored") == "hub-7"
    assert instance_id_for(None, 8002, "hub 7.local") == "hub-7.local-8002"
    assert instance_id_for(None, 9000, "") != ""


def test_endpoints_use_the_advertised_host_and_the_bound_ports(tmp_path: Path) -> None:
    s = make_settings(tmp_path, registry={"advertise_host": "hub-7.example"})
    host = advertised_host(s, "box")
    assert host == "hub-7.example"
    assert endpoints_for(s, host, 8002, 8003) == {
        "ws": "ws://hub-7.example:8002/ws",
        "http": "http://hub-7.example:8003",
        "rtsp": "rtsp://hub-7.example:8554",
        "webrtc": "http://hub-7.example:8889",
        "hls": "http://hub-7.example:8888",
    }
    public = make_settings(tmp_path, mediamtx={"public_host": "cams.example"})
    assert advertised_host(public, "box") == "cams.example"
    assert advertised_host(make_settings(tmp_path), "box") == "box"
    assert endpoints_for(make_settings(tmp_path), "::1", 1, 2)["ws"] == "ws://[::1]:1/ws"


def test_cameras_summary_counts_by_status_and_type() -> None:
    cams = [
        Camera("camera0", SourceType.USB, "c0", CameraStatus.CONNECTED, recording=True),
        Camera("gate", SourceType.RTSP, "gate", CameraStatus.DISCONNECTED),
        Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED),
    ]
    assert cameras_summary(cams) == {
        "total": 3,
        "connected": 2,
        "recording": 1,
        "by_type": {"usb": 1, "rtsp": 1, "test": 1},
    }


def test_document_carries_every_part_and_only_steady_changes_are_significant() -> None:
    health = Health()
    handle = health.register("mediamtx_controller")
    instance = Instance(
        "hub-7-8002",
        "1.2.3",
        0.0,
        {"ws": "ws://h:8002/ws"},
        capabilities_for(["ping", "authenticate"], ["json_rpc_2.0"]),
    )
    cams = cameras_summary([])

    def doc(capacity: dict[str, dict[str, int]]) -> dict[str, object]:
        return registration_document(instance, cams, capacity, health_summary(health), 60.0)

    d = doc(CAPACITY)
    assert d["instance_id"] == "hub-7-8002"
    assert d["started_at"] == "1970-01-01T00:00:00Z"
    assert d["updated_at"] == "1970-01-01T00:01:00Z"
    assert d["capabilities"] == {
        "methods": ["authenticate", "ping"],
        "features": ["json_rpc_2.0"],
        "formats": {"recording": ["mp4", "ts"], "snapshot": ["jpg", "png"]},
        "source_types": ["usb", "rtsp", "test"],
    }
    assert d["health"] == {"status": "healthy", "components": {"mediamtx_controller": "healthy"}}

    # A client connecting or a snapshot in flight is reported, not pushed.
    churn = {**CAPACITY, "connections": {"limit": 1000, "active": 4, "free": 996}}
    assert significant(doc(churn)) == significant(d)
    # A recording starting, or a component's health changing, is pushed at once.
    busier = {**CAPACITY, "recordings": {"limit": 8, "active": 1, "free": 7}}
    assert significant(doc(busier)) != significant(d)
    handle.set(Status.DEGRADED, "slow")
    assert significant(doc(CAPACITY)) != significant(d)
