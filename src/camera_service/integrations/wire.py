"""The wire of events out: event names, payloads, MQTT topics and Home Assistant
discovery configs (docs/integrations.md). Nothing here does I/O.

An :class:`Outgoing` is one fact as MQTT and webhooks both send it: a ``kind`` (the
event name), the camera it is about and a JSON-ready ``data`` dict. Webhooks POST it
in an :func:`envelope`; MQTT puts it on the event topic and, for state, on a retained
state topic (:class:`Topics`).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from camera_service.cameras.model import Camera, CameraStatus
from camera_service.observability.health import iso
from camera_service.record.events import (
    RecordingDegraded,
    RecordingEnded,
    RecordingResumed,
    RecordingStarted,
)
from camera_service.storage.disk import StorageLevel, StorageStatus
from camera_service.storage.events import SnapshotSaved

CAMERA_STATUS = "camera.status"
CAMERA_REMOVED = "camera.removed"
RECORDING_STARTED = "recording.started"
RECORDING_STOPPED = "recording.stopped"
RECORDING_FAILED = "recording.failed"
RECORDING_DEGRADED = "recording.degraded"
RECORDING_RESUMED = "recording.resumed"
SNAPSHOT_TAKEN = "snapshot.taken"
STORAGE_LEVEL = "storage.level"
SERVICE_AVAILABILITY = "service.availability"
KINDS = (
    CAMERA_STATUS,
    CAMERA_REMOVED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    RECORDING_FAILED,
    RECORDING_DEGRADED,
    RECORDING_RESUMED,
    SNAPSHOT_TAKEN,
    STORAGE_LEVEL,
    SERVICE_AVAILABILITY,
)

ONLINE, OFFLINE = "online", "offline"  # the availability payloads (Home Assistant's)
ON, OFF = "ON", "OFF"  # recording state and the switch's commands


@dataclass(frozen=True, slots=True)
class Outgoing:
    kind: str
    data: dict[str, Any]
    at: float  # wall clock of the fact
    camera_id: str | None = None
    snapshot: str | None = None  # snapshot.taken: the file name, for the image topic
    camera: Camera | None = None  # camera.*: what Home Assistant discovery is built from
    event_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))


# --- payloads ---------------------------------------------------------------------------


def camera_status(camera: Camera, at: float, removed: bool = False) -> Outgoing:
    data = {
        "camera_id": camera.camera_id,
        "name": camera.name,
        "source_type": camera.source_type.value,
        "status": CameraStatus.DISCONNECTED.value if removed else camera.status.value,
        "connected": camera.connected and not removed,
        "resolution": camera.resolution,
        "fps": camera.fps,
        "error": camera.error,
        "timestamp": iso(at),
    }
    kind = CAMERA_REMOVED if removed else CAMERA_STATUS
    return Outgoing(kind, data, at, camera.camera_id, camera=camera)


def _recording(e: RecordingStarted | RecordingEnded | RecordingDegraded | RecordingResumed) -> Any:
    return {
        "camera_id": e.camera_id,
        "session_id": e.session_id,
        "filename": e.filename,
        "format": e.format,
        "start_time": iso(e.start_time),
    }


def recording_started(e: RecordingStarted, at: float) -> Outgoing:
    data = {**_recording(e), "state": ON, "duration": e.duration, "timestamp": iso(at)}
    return Outgoing(RECORDING_STARTED, data, at, e.camera_id)


def recording_ended(e: RecordingEnded, at: float) -> Outgoing:
    data = {
        **_recording(e),
        "state": OFF,
        "end_time": iso(e.end_time),
        "duration": round(e.duration, 3),
        "reason": e.reason.value,
        "error": e.error,
        "files": list(e.files),
        "file_size": e.file_size,
        "timestamp": iso(at),
    }
    return Outgoing(RECORDING_FAILED if e.failed else RECORDING_STOPPED, data, at, e.camera_id)


def recording_degraded(e: RecordingDegraded, at: float) -> Outgoing:
    data = {
        **_recording(e),
        "state": ON,
        "reason": e.reason.value,
        "error": e.error,
        "since": iso(e.since),
        "timestamp": iso(at),
    }
    return Outgoing(RECORDING_DEGRADED, data, at, e.camera_id)


def recording_resumed(e: RecordingResumed, at: float) -> Outgoing:
    data = {**_recording(e), "state": ON, "reason": e.reason.value, "timestamp": iso(at)}
    return Outgoing(RECORDING_RESUMED, data, at, e.camera_id)


def snapshot_taken(e: SnapshotSaved, at: float) -> Outgoing:
    data = {
        "camera_id": e.camera_id,
        "filename": e.filename,
        "file_size": e.size,
        "format": e.format,
        "resolution": f"{e.width}x{e.height}",
        "source": e.source,
        "timestamp": iso(e.taken_at),
    }
    return Outgoing(SNAPSHOT_TAKEN, data, at, e.camera_id, snapshot=e.filename)


def storage_level(s: StorageStatus) -> Outgoing:
    data = {
        "level": s.level.value,
        **s.figures(),
        "low_space_warning": s.level is not StorageLevel.OK,
        "critical_space_warning": s.level is StorageLevel.CRITICAL,
        "timestamp": iso(s.timestamp),
    }
    return Outgoing(STORAGE_LEVEL, data, s.timestamp)


def availability(node: str, online: bool, at: float) -> Outgoing:
    data = {"node_id": node, "status": ONLINE if online else OFFLINE, "timestamp": iso(at)}
    return Outgoing(SERVICE_AVAILABILITY, data, at)


def envelope(node: str, out: Outgoing) -> dict[str, Any]:
    """A webhook body (and the event topic's message): the fact and its context."""
    return {
        "id": out.event_id,
        "event": out.kind,
        "node_id": node,
        "camera_id": out.camera_id,
        "timestamp": iso(out.at),
        "data": out.data,
    }


# --- MQTT topics ------------------------------------------------------------------------


class Topics:
    """Every topic of one service: ``<prefix>/<node>/...``."""

    def __init__(self, prefix: str, node: str) -> None:
        self.base = f"{prefix}/{node}"
        self.status = f"{self.base}/status"  # retained online/offline, the last will
        self.events = f"{self.base}/events"  # every event, not retained
        self.storage = f"{self.base}/storage"
        self.commands = f"{self.base}/cameras/+/recording/set"

    def camera(self, camera_id: str, what: str) -> str:
        """``what``: status, availability, recording, snapshot, image, recording/set,
        recording/result."""
        return f"{self.base}/cameras/{camera_id}/{what}"

    def command_camera(self, topic: str) -> str | None:
        """The camera a recording command topic names, or None if it is not one."""
        head, sep, rest = topic.partition(f"{self.base}/cameras/")
        if head or not sep:
            return None
        camera_id, sep, tail = rest.partition("/")
        return camera_id if sep and tail == "recording/set" and camera_id else None


def retained_state(topics: Topics, out: Outgoing) -> list[tuple[str, bytes | dict[str, Any]]]:
    """The retained state topics an event sets: (topic, JSON-ready payload, or raw
    bytes). An empty payload clears a retained topic (a camera that is gone)."""
    cam = out.camera_id
    if out.kind == CAMERA_STATUS and cam is not None:
        avail = ONLINE if out.data["connected"] else OFFLINE
        return [
            (topics.camera(cam, "status"), out.data),
            (topics.camera(cam, "availability"), avail.encode()),
        ]
    if out.kind == CAMERA_REMOVED and cam is not None:
        return [
            (topics.camera(cam, what), b"")
            for what in ("status", "availability", "recording", "snapshot", "image")
        ]
    if out.kind.startswith("recording.") and cam is not None:
        return [(topics.camera(cam, "recording"), out.data)]
    if out.kind == SNAPSHOT_TAKEN and cam is not None:
        return [(topics.camera(cam, "snapshot"), out.data)]
    if out.kind == STORAGE_LEVEL:
        return [(topics.storage, out.data)]
    return []


def parse_command(payload: bytes) -> bool | None:
    """A recording switch command: True for ON, False for OFF, None for anything else
    (ASCII case and surrounding white space are forgiven)."""
    return {b"ON": True, b"OFF": False}.get(payload.strip().upper())


# --- Home Assistant MQTT discovery ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discovery:
    """What discovery configs are built from."""

    prefix: str  # Home Assistant's discovery prefix
    node: str
    topics: Topics
    version: str
    commands: bool  # a recording switch (True) or a read-only binary sensor


def hub_device(d: Discovery) -> dict[str, Any]:
    return {
        "identifiers": [f"camera-service_{d.node}"],
        "name": f"camera-service {d.node}",
        "manufacturer": "camera-service",
        "model": "camera hub",
        "sw_version": d.version,
    }


def camera_device(d: Discovery, camera: Camera) -> dict[str, Any]:
    return {
        "identifiers": [f"camera-service_{d.node}_{camera.camera_id}"],
        "name": camera.name or camera.camera_id,
        "manufacturer": "camera-service",
        "model": f"{camera.source_type.value} camera",
        "via_device": f"camera-service_{d.node}",
    }


def _origin(d: Discovery) -> dict[str, Any]:
    return {"name": "camera-service", "sw_version": d.version}


def _config_topic(d: Discovery, component: str, object_id: str) -> str:
    return f"{d.prefix}/{component}/{d.node}/{object_id}/config"


def _service_available(d: Discovery) -> list[dict[str, str]]:
    return [
        {"topic": d.topics.status, "payload_available": ONLINE, "payload_not_available": OFFLINE}
    ]


def camera_discovery(d: Discovery, camera: Camera) -> list[tuple[str, dict[str, Any]]]:
    """(config topic, config) of every entity of one camera."""
    cam, t = camera.camera_id, d.topics
    device, origin = camera_device(d, camera), _origin(d)
    # Entities that mean nothing while the camera is away are unavailable then too.
    both = [
        *_service_available(d),
        {
            "topic": t.camera(cam, "availability"),
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
        },
    ]

    def entity(component: str, what: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        config = {
            "unique_id": f"camera-service_{d.node}_{cam}_{what}",
            "device": device,
            "origin": origin,
            **fields,
        }
        config.setdefault("availability", both)
        config.setdefault("availability_mode", "all")
        return _config_topic(d, component, f"{cam}_{what}"), config

    configs = [
        entity("camera", "snapshot", name="Snapshot", topic=t.camera(cam, "image")),
        entity(
            "sensor",
            "status",
            name="Status",
            state_topic=t.camera(cam, "status"),
            value_template="{{ value_json.status }}",
            json_attributes_topic=t.camera(cam, "status"),
            device_class="enum",
            options=[s.value for s in CameraStatus],
            entity_category="diagnostic",
            availability=_service_available(d),
        ),
        entity(
            "binary_sensor",
            "connected",
            name="Connected",
            state_topic=t.camera(cam, "availability"),
            payload_on=ONLINE,
            payload_off=OFFLINE,
            device_class="connectivity",
            entity_category="diagnostic",
            availability=_service_available(d),
        ),
        entity(
            "sensor",
            "last_snapshot",
            name="Last snapshot",
            state_topic=t.camera(cam, "snapshot"),
            value_template="{{ value_json.timestamp }}",
            json_attributes_topic=t.camera(cam, "snapshot"),
            device_class="timestamp",
        ),
    ]
    recording = {
        "name": "Recording",
        "state_topic": t.camera(cam, "recording"),
        "value_template": "{{ value_json.state }}",
        "json_attributes_topic": t.camera(cam, "recording"),
        "icon": "mdi:record-rec",
    }
    if d.commands:
        configs.append(
            entity(
                "switch",
                "recording",
                **recording,
                command_topic=t.camera(cam, "recording/set"),
                payload_on=ON,
                payload_off=OFF,
                state_on=ON,
                state_off=OFF,
                qos=1,
            )
        )
    else:
        configs.append(
            entity("binary_sensor", "recording", **recording, payload_on=ON, payload_off=OFF)
        )
    return configs


def camera_discovery_topics(d: Discovery, camera_id: str) -> list[str]:
    """Every config topic a camera may have had: cleared (empty) when it goes."""
    objects = ("snapshot", "status", "connected", "last_snapshot", "recording")
    components = {
        "snapshot": ("camera",),
        "status": ("sensor",),
        "connected": ("binary_sensor",),
        "last_snapshot": ("sensor",),
        "recording": ("switch", "binary_sensor"),
    }
    return [
        _config_topic(d, component, f"{camera_id}_{what}")
        for what in objects
        for component in components[what]
    ]


def hub_discovery(d: Discovery) -> list[tuple[str, dict[str, Any]]]:
    """The service's own entities: storage use and level."""
    device, origin = hub_device(d), _origin(d)
    common = {"device": device, "origin": origin, "availability": _service_available(d)}
    return [
        (
            _config_topic(d, "sensor", "storage_used"),
            {
                "name": "Storage used",
                "unique_id": f"camera-service_{d.node}_storage_used",
                "state_topic": d.topics.storage,
                "value_template": "{{ value_json.used_percent }}",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "icon": "mdi:harddisk",
                **common,
            },
        ),
        (
            _config_topic(d, "sensor", "storage_level"),
            {
                "name": "Storage level",
                "unique_id": f"camera-service_{d.node}_storage_level",
                "state_topic": d.topics.storage,
                "value_template": "{{ value_json.level }}",
                "json_attributes_topic": d.topics.storage,
                "device_class": "enum",
                "options": [level.value for level in StorageLevel],
                **common,
            },
        ),
    ]
