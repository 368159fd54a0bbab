"""Domain events become client notifications (api.md §5).

The one place that knows notification topics and their params: each event type the
clients hear of is subscribed here with the topic it goes out as, and the camera it is
about: it reaches only the connections that may see that camera. Each notification is
serialized and framed once (per distinct client host when it carries stream URLs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from camera_service.api.jsonrpc import notification
from camera_service.api.wire import camera_fields, recording_base, recording_ended, stream_urls
from camera_service.cameras.events import CameraAdded, CameraChanged, CameraRemoved
from camera_service.cameras.model import Camera, CameraStatus
from camera_service.config import MediaMtxConfig
from camera_service.events import EventBus
from camera_service.net.wsframes import text_frame
from camera_service.observability.events import HealthChanged
from camera_service.observability.health import iso
from camera_service.observability.metrics import Metrics
from camera_service.record.events import (
    RecordingDegraded,
    RecordingEnded,
    RecordingResumed,
    RecordingStarted,
)
from camera_service.storage.disk import StorageLevel, StorageLevelChanged
from camera_service.storage.events import SnapshotSaved

E = TypeVar("E")
Frame = bytes | Callable[[str], bytes]  # a frame, or one built per client host

CAMERA = "camera_status_update"
RECORDING = "recording_status_update"
SNAPSHOT = "snapshot_taken"
STORAGE = "storage_status_update"
SYSTEM = "system_status_update"
TOPICS = (CAMERA, RECORDING, SNAPSHOT, STORAGE, SYSTEM)


class Broadcaster(Protocol):
    def broadcast(
        self, topic: str, frame: Frame, camera_id: str | None = None
    ) -> tuple[int, int]: ...


# --- params -----------------------------------------------------------------------------


def camera_status(camera: Camera, streams: dict[str, str]) -> dict[str, Any]:
    fields = camera_fields(camera, streams)
    return {
        k: fields[k]
        for k in (
            "device",
            "status",
            "name",
            "resolution",
            "fps",
            "streams",
            "camera_id",
            "device_path",
            "stream_url",
        )
    }


def recording_started(e: RecordingStarted) -> dict[str, Any]:
    return {**recording_base(e), "status": "STARTED", "duration": e.duration}


def recording_degraded(e: RecordingDegraded) -> dict[str, Any]:
    """DEGRADED [new]: on, but nothing is being written."""
    return {
        **recording_base(e),
        "status": "DEGRADED",
        "duration": e.duration,
        "reason": e.reason.value,
        "error": e.error,
        "since": iso(e.since),
    }


def recording_resumed(e: RecordingResumed) -> dict[str, Any]:
    """RESUMED [new]: writing again; ``reason`` is the interruption that is over."""
    return {
        **recording_base(e),
        "status": "RESUMED",
        "duration": e.duration,
        "reason": e.reason.value,
        "current_file": e.current_file,
    }


def snapshot_taken(e: SnapshotSaved) -> dict[str, Any]:
    return {
        "device": e.device,
        "camera_id": e.camera_id,
        "filename": e.filename,
        "file_size": e.size,
        "timestamp": iso(e.taken_at),
        "source": e.source,
        "format": e.format,
        "resolution": f"{e.width}x{e.height}",
    }


def storage_status(e: StorageLevelChanged) -> dict[str, Any]:
    s = e.status
    return {
        "status": s.level.value,
        **s.figures(),
        "low_space_warning": s.level is not StorageLevel.OK,
        "critical_space_warning": s.level is StorageLevel.CRITICAL,
        "timestamp": iso(s.timestamp),
    }


def system_status(e: HealthChanged) -> dict[str, Any]:
    return {"component": e.state.name, **e.state.to_dict(), "overall": e.overall.value}


# --- fan-out ----------------------------------------------------------------------------


class Notifier:
    """Subscribed to the bus before every other part (``app/build.py``), so the time it
    measures starts as the event is published: the fan-out histogram covers building
    the frame and queueing it on every connection, not the work of other subscribers."""

    def __init__(
        self,
        ws: Broadcaster,
        metrics: Metrics,
        mediamtx: Callable[[], MediaMtxConfig],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.ws = ws
        self.metrics = metrics
        self.mediamtx = mediamtx
        self.clock = clock

    def attach(self, bus: EventBus) -> None:
        """Subscribe to every event clients are told of."""
        bus.subscribe(CameraAdded, lambda e: self._camera(e.camera))
        bus.subscribe(CameraChanged, lambda e: self._camera(e.after))
        bus.subscribe(CameraRemoved, lambda e: self._camera(_gone(e.camera)))
        bus.subscribe(RecordingStarted, self._sender(RECORDING, recording_started, _camera_id))
        bus.subscribe(RecordingDegraded, self._sender(RECORDING, recording_degraded, _camera_id))
        bus.subscribe(RecordingResumed, self._sender(RECORDING, recording_resumed, _camera_id))
        bus.subscribe(RecordingEnded, self._sender(RECORDING, recording_ended, _camera_id))
        bus.subscribe(SnapshotSaved, self._sender(SNAPSHOT, snapshot_taken, _camera_id))
        bus.subscribe(StorageLevelChanged, self._sender(STORAGE, storage_status))
        bus.subscribe(HealthChanged, self._sender(SYSTEM, system_status))

    def _sender(
        self,
        topic: str,
        params: Callable[[E], dict[str, Any]],
        camera: Callable[[E], str] | None = None,
    ) -> Callable[[E], None]:
        """``camera``: the camera an event is about, so only connections that may see
        it hear of it."""

        def send(event: E) -> None:
            began = self.clock()
            frame = text_frame(notification(topic, params(event)))
            self._send(topic, frame, began, None if camera is None else camera(event))

        return send

    def _camera(self, camera: Camera) -> None:
        began = self.clock()
        cfg = self.mediamtx()

        def frame(host: str) -> bytes:
            streams = stream_urls(camera.camera_id, host, cfg)
            return text_frame(notification(CAMERA, camera_status(camera, streams)))

        self._send(CAMERA, frame, began, camera.camera_id)

    def _send(self, topic: str, frame: Frame, began: float, camera_id: str | None = None) -> None:
        sent, dropped = self.ws.broadcast(topic, frame, camera_id)
        self.metrics.notification_done(self.clock() - began, sent, dropped)


class _AboutCamera(Protocol):
    @property
    def camera_id(self) -> str: ...


def _camera_id(event: _AboutCamera) -> str:
    return event.camera_id


def _gone(camera: Camera) -> Camera:
    """A removed camera as clients last see it: disconnected."""
    if not camera.connected:
        return camera
    return Camera(camera.camera_id, camera.source_type, camera.name, CameraStatus.DISCONNECTED)
