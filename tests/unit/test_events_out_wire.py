"""Events out: payload builders, topics and the command parser (no I/O)."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from camera_service.app.eventsout import node_id
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import MqttConfig
from camera_service.integrations import wire
from camera_service.record.events import RecordingEnded
from camera_service.record.recording import Reason
from camera_service.storage.disk import DiskUsage, StorageLevel, StorageStatus
from tests.support.properties import examples

TOPICS = wire.Topics("camera-service", "hub1")
LAB = Camera("lab", SourceType.TEST, "Lab", CameraStatus.CONNECTED, "640x360", 15)
CAMERA_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


def ended(reason: Reason) -> RecordingEnded:
    return RecordingEnded(
        "s1", "lab", "lab", "lab_1.mp4", "mp4", 100.0, 160.0, 59.5, reason, ("lab_1.mp4",), 1234
    )


def test_camera_status_sets_status_and_availability() -> None:
    out = wire.camera_status(LAB, 1_700_000_000.0)
    assert out.kind == "camera.status" and out.camera_id == "lab"
    assert out.data == {
        "camera_id": "lab",
        "name": "Lab",
        "source_type": "test",
        "status": "CONNECTED",
        "connected": True,
        "resolution": "640x360",
        "fps": 15,
        "error": "",
        "timestamp": "2023-11-14T22:13:20Z",
    }
    state = dict(wire.retained_state(TOPICS, out))
    assert state["camera-service/hub1/cameras/lab/status"] == out.data
    assert state["camera-service/hub1/cameras/lab/availability"] == b"online"


def test_a_removed_camera_clears_its_retained_topics() -> None:
    out = wire.camera_status(LAB, 1.0, removed=True)
    assert out.kind == "camera.removed" and out.data["connected"] is False
    cleared = wire.retained_state(TOPICS, out)
    assert {t for t, _ in cleared} == {
        f"camera-service/hub1/cameras/lab/{w}"
        for w in ("status", "availability", "recording", "snapshot", "image")
    }
    assert all(p == b"" for _, p in cleared)


def test_recording_end_is_stopped_or_failed() -> None:
    stopped = wire.recording_ended(ended(Reason.REQUESTED), 161.0)
    failed = wire.recording_ended(ended(Reason.NO_SEGMENT), 161.0)
    assert (stopped.kind, failed.kind) == ("recording.stopped", "recording.failed")
    assert stopped.data["state"] == "OFF" and stopped.data["reason"] == "requested"
    assert stopped.data["files"] == ["lab_1.mp4"] and stopped.data["duration"] == 59.5
    topic, payload = wire.retained_state(TOPICS, stopped)[0]
    assert topic == "camera-service/hub1/cameras/lab/recording" and payload == stopped.data


def test_storage_and_envelope() -> None:
    status = StorageStatus(StorageLevel.WARN, DiskUsage(100, 85, 15), 80.0, 90.0, 10.0)
    out = wire.storage_level(status)
    assert out.data["level"] == "warn" and out.data["used_percent"] == 85.0
    assert out.data["low_space_warning"] is True and out.data["critical_space_warning"] is False
    assert wire.retained_state(TOPICS, out) == [("camera-service/hub1/storage", out.data)]
    body = wire.envelope("hub1", out)
    assert set(body) == {"id", "event", "node_id", "camera_id", "timestamp", "data"}
    assert body["event"] == "storage.level" and body["camera_id"] is None
    orjson.dumps(body)  # JSON-ready


def test_events_without_state_only_go_to_the_event_topic() -> None:
    out = wire.availability("hub1", False, 1.0)
    assert out.data["status"] == "offline"
    assert wire.retained_state(TOPICS, out) == []
    assert set(wire.KINDS) >= {out.kind, "snapshot.taken", "recording.failed"}


def test_node_id_from_the_hostname() -> None:
    assert node_id(MqttConfig(node_id="x1")) == "x1"
    assert node_id(MqttConfig(), "hub.local") == "hub_local"
    assert node_id(MqttConfig(), "...") == "camera-service"


@given(CAMERA_IDS)
@examples(200)
def test_command_topic_names_its_camera(camera_id: str) -> None:
    assert TOPICS.command_camera(TOPICS.camera(camera_id, "recording/set")) == camera_id
    assert TOPICS.command_camera(TOPICS.camera(camera_id, "recording")) is None
    assert TOPICS.command_camera(TOPICS.camera(camera_id, "recording/set/x")) is None


@given(st.text(max_size=200))
@examples(300)
def test_command_topic_parser_never_fails(topic: str) -> None:
    camera_id = TOPICS.command_camera(topic)
    if camera_id is not None:
        assert topic == TOPICS.camera(camera_id, "recording/set")


def test_command_payloads() -> None:
    assert wire.parse_command(b"ON") is True and wire.parse_command(b" off\n") is False
    assert wire.parse_command(b"toggle") is None and wire.parse_command(b"\xff") is None


@given(st.binary(max_size=64))
@examples(300)
def test_command_parser_never_fails(payload: bytes) -> None:
    result = wire.parse_command(payload)
    assert result in (True, False, None)
    if result is not None:
        assert payload.strip().upper() == (b"ON" if result else b"OFF")


def test_snapshot_names_its_file() -> None:
    from camera_service.storage.events import SnapshotSaved

    e = SnapshotSaved("lab", "lab", "lab_1.jpg", 10, 5.0, "stream", "jpg", 640, 360)
    out = wire.snapshot_taken(e, 6.0)
    assert out.snapshot == "lab_1.jpg" and out.data["resolution"] == "640x360"
    assert Path(out.snapshot).name == out.snapshot
