"""Domain events as the notifications clients receive (api.md §5): topic, params and
frame of each, byte for byte."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from camera_service.api.methods.recordings import stopped_result
from camera_service.api.notifications import TOPICS, Frame, Notifier
from camera_service.api.session import NOTIFICATION_TOPICS
from camera_service.api.wire import recording_base
from camera_service.cameras.events import (
    CameraAdded,
    CameraCapabilitiesChanged,
    CameraChanged,
    CameraRemoved,
)
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import MediaMtxConfig
from camera_service.events import EventBus
from camera_service.net.wsframes import text_frame
from camera_service.observability.events import HealthChanged
from camera_service.observability.health import Health, Status
from camera_service.observability.metrics import Metrics
from camera_service.record.events import RecordingEnded, RecordingStarted
from camera_service.record.recording import Reason, Recording
from camera_service.storage.disk import DiskUsage, StorageLevel, StorageLevelChanged, StorageStatus
from camera_service.storage.events import SnapshotSaved

T0 = 1764037200.0  # 2025-11-25T02:20:00Z


class Clients:
    """Stands in for the WebSocket server: keeps what was broadcast."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Frame]] = []
        self.about: list[str | None] = []  # the camera each was about

    def broadcast(self, topic: str, frame: Frame, camera_id: str | None = None) -> tuple[int, int]:
        self.sent.append((topic, frame))
        self.about.append(camera_id)
        return 1, 0


class Rig:
    def __init__(self) -> None:
        self.bus = EventBus()
        self.clients = Clients()
        self.metrics = Metrics()
        Notifier(self.clients, self.metrics, lambda: MediaMtxConfig()).attach(self.bus)

    def publish(self, event: object, host: str = "hub.local") -> list[tuple[str, bytes]]:
        """The frames ``event`` produced, as a client connected to ``host`` gets them."""
        self.clients.sent.clear()
        self.clients.about.clear()
        self.bus.publish(event)
        return [(t, f if isinstance(f, bytes) else f(host)) for t, f in self.clients.sent]


def frame(method: str, params: str) -> bytes:
    return text_frame(
        b'{"jsonrpc":"2.0","method":"%s","params":%s}' % (method.encode(), params.encode())
    )


def test_topics_are_the_ones_clients_subscribe_to() -> None:
    assert sorted(TOPICS) == sorted(NOTIFICATION_TOPICS)


def test_camera_events_are_camera_status_updates_with_the_clients_host() -> None:
    rig = Rig()
    on = Camera("camera0", SourceType.USB, "C920", CameraStatus.CONNECTED, "1280x720", 30)
    urls = (
        '{"rtsp":"rtsp://hub.local:8554/camera0","webrtc":"http://hub.local:8889/camera0",'
        '"hls":"http://hub.local:8888/camera0/index.m3u8"}'
    )
    connected = frame(
        "camera_status_update",
        '{"device":"/dev/video0","status":"CONNECTED","name":"C920","resolution":"1280x720",'
        f'"fps":30,"streams":{urls},"camera_id":"camera0","device_path":"/dev/video0",'
        '"stream_url":"rtsp://hub.local:8554/camera0"}',
    )
    gone = frame(
        "camera_status_update",
        '{"device":"/dev/video0","status":"DISCONNECTED","name":"C920","resolution":"",'
        '"fps":0,"streams":{},"camera_id":"camera0","device_path":"/dev/video0",'
        '"stream_url":null}',
    )
    assert rig.publish(CameraAdded(on)) == [("camera_status_update", connected)]
    off = Camera("camera0", SourceType.USB, "C920", CameraStatus.DISCONNECTED)
    assert rig.publish(CameraChanged(on, off)) == [("camera_status_update", gone)]
    # Removed while connected: clients see it disconnected.
    assert rig.publish(CameraRemoved(on)) == [("camera_status_update", gone)]
    assert rig.publish(CameraCapabilitiesChanged(on)) == []  # not a client's concern
    assert rig.metrics.notifications_sent == 3


def test_recording_started_and_ended() -> None:
    rig = Rig()
    base = (
        '"device":"/dev/video0","camera_id":"camera0","session_id":"s1",'
        '"filename":"camera0_2025-11-25_02-20-01.mp4","format":"mp4",'
        '"start_time":"2025-11-25T02:20:00Z"'
    )
    started = RecordingStarted(
        "s1", "camera0", "/dev/video0", "camera0_2025-11-25_02-20-01.mp4", "mp4", T0, 5.0
    )
    assert rig.publish(started) == [
        (
            "recording_status_update",
            frame("recording_status_update", f'{{{base},"status":"STARTED","duration":5.0}}'),
        )
    ]
    stopped = RecordingEnded(
        "s1",
        "camera0",
        "/dev/video0",
        "camera0_2025-11-25_02-20-01.mp4",
        "mp4",
        T0,
        T0 + 7,
        5.067,
        Reason.DURATION,
        ("camera0_2025-11-25_02-20-01.mp4",),
        1501709,
    )
    assert rig.publish(stopped) == [
        (
            "recording_status_update",
            frame(
                "recording_status_update",
                f'{{{base},"status":"STOPPED","duration":5.067,"reason":"duration",'
                '"end_time":"2025-11-25T02:20:07Z","files":["camera0_2025-11-25_02-20-01.mp4"],'
                '"file_size":1501709}',
            ),
        )
    ]
    failed = RecordingEnded(
        "s1",
        "camera0",
        "/dev/video0",
        "camera0_2025-11-25_02-20-01.mp4",
        "mp4",
        T0,
        T0 + 20,
        0.0,
        Reason.NO_SEGMENT,
        (),
        0,
        "no segment was written within 20 s",
    )
    assert rig.publish(failed) == [
        (
            "recording_status_update",
            frame(
                "recording_status_update",
                f'{{{base},"status":"FAILED","duration":0.0,"reason":"no_segment",'
                '"end_time":"2025-11-25T02:20:20Z","files":[],"file_size":0,'
                '"error":"no segment was written within 20 s"}',
            ),
        )
    ]


def test_snapshot_taken() -> None:
    rig = Rig()
    saved = SnapshotSaved(
        "lab", "lab", "lab_snapshot_2025-11-25_02-20-00.jpg", 16054, T0, "warm", "jpg", 640, 360
    )
    assert rig.publish(saved) == [
        (
            "snapshot_taken",
            frame(
                "snapshot_taken",
                '{"device":"lab","camera_id":"lab","filename":"lab_snapshot_2025-11-25_02-20-00.jpg",'
                '"file_size":16054,"timestamp":"2025-11-25T02:20:00Z","source":"warm",'
                '"format":"jpg","resolution":"640x360"}',
            ),
        )
    ]


def test_storage_level_changed() -> None:
    rig = Rig()
    status = StorageStatus(StorageLevel.WARN, DiskUsage(1000, 600, 300), 80.0, 90.0, T0)
    assert rig.publish(StorageLevelChanged(status, StorageLevel.OK)) == [
        (
            "storage_status_update",
            frame(
                "storage_status_update",
                '{"status":"warn","used_percent":66.67,"total_space":1000,"used_space":600,'
                '"available_space":300,"warn_threshold":80.0,"block_threshold":90.0,'
                '"low_space_warning":true,"critical_space_warning":false,'
                '"timestamp":"2025-11-25T02:20:00Z"}',
            ),
        )
    ]


def test_health_changed_is_a_snapshot_of_the_change() -> None:
    rig = Rig()
    health = Health()
    events: list[HealthChanged] = []
    health.listeners.append(lambda s: events.append(HealthChanged.of(s, health.overall())))
    ws = health.register("websocket_server", status=Status.UNHEALTHY, reason="starting")
    ws.set(Status.HEALTHY, port=8002)
    ws.set(Status.DEGRADED, "later", port=8002)
    first, _ = events
    assert first.state.status is Status.HEALTHY and first.state.reason == ""
    first.state.since = T0  # our copy: the component's own state is not touched
    assert ws.state.since != T0
    assert rig.publish(first) == [
        (
            "system_status_update",
            frame(
                "system_status_update",
                '{"component":"websocket_server","status":"healthy","details":{"port":8002},'
                '"timestamp":"2025-11-25T02:20:00Z","overall":"healthy"}',
            ),
        )
    ]


def test_every_topic_has_an_event() -> None:
    """Each topic clients may subscribe to is sent for some domain event."""
    rig = Rig()
    cam = Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED)
    status = StorageStatus(StorageLevel.OK, DiskUsage(1, 0, 1), 80.0, 90.0, T0)
    health = Health()
    events: list[object] = [
        CameraAdded(cam),
        RecordingStarted("s", "lab", "lab", "f.mp4", "mp4", T0, None),
        SnapshotSaved("lab", "lab", "x.jpg", 1, T0, "warm", "jpg", 1, 1),
        StorageLevelChanged(status, StorageLevel.WARN),
        HealthChanged.of(health.register("x").state, Status.HEALTHY),
    ]
    topics: set[str] = set()
    for event in events:
        topics.update(t for t, _ in rig.publish(event))
    assert topics == set(NOTIFICATION_TOPICS)


def test_recording_base_is_the_sessions_own(tmp_path: Path) -> None:
    """Notifications start with the fields stop_recording's result starts with."""
    session = Recording("s1", "camera0", "/dev/video0", "mp4", None, T0, "camera0_x.mp4")

    def result_base() -> dict[str, Any]:
        return dict(itertools.islice(stopped_result(session, tmp_path).items(), 6))

    assert recording_base(session) == result_base()
    session.segments["camera0_y.mp4"] = None
    assert recording_base(session) == result_base()
    assert recording_base(RecordingStarted.of(session)) == result_base()


def test_each_notification_says_which_camera_it_is_about() -> None:
    """The fan-out hands the camera to the server, which delivers only to connections
    that may see it; storage and health are about no camera and go to all."""
    rig = Rig()
    cam = Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED)
    status = StorageStatus(StorageLevel.OK, DiskUsage(1, 0, 1), 80.0, 90.0, T0)
    health = Health()
    expected: list[tuple[object, str | None]] = [
        (CameraAdded(cam), "lab"),
        (RecordingStarted("s", "door", "door", "f.mp4", "mp4", T0, None), "door"),
        (SnapshotSaved("gate", "gate", "x.jpg", 1, T0, "warm", "jpg", 1, 1), "gate"),
        (StorageLevelChanged(status, StorageLevel.WARN), None),
        (HealthChanged.of(health.register("x").state, Status.HEALTHY), None),
    ]
    for event, camera_id in expected:
        rig.publish(event)
        assert rig.clients.about == [camera_id], event
