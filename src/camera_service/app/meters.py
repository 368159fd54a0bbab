"""What each part exports to ``/metrics``: per camera, MediaMTX, storage, the registry,
every health component and the standard ``process_*`` figures.

Collectors read what the parts already keep (the registry's cameras, the controller's
last look at MediaMTX, the health components) when scraped, so nothing is counted twice
and nothing runs between scrapes. Label sets are bounded: cameras by the camera limits,
directories and components by the code.
"""

from __future__ import annotations

from collections.abc import Iterable

from camera_service.app.build import Components
from camera_service.cameras.model import CameraStatus
from camera_service.observability.health import Status
from camera_service.observability.metrics import Family
from camera_service.observability.process import process_families
from camera_service.storage.disk import disk_usage
from camera_service.storage.events import SnapshotSaved


def install(c: Components) -> None:
    last_snapshot: dict[str, float] = {}

    def snapshot_saved(event: SnapshotSaved) -> None:
        last_snapshot[event.camera_id] = event.taken_at

    c.events.subscribe(SnapshotSaved, snapshot_saved)
    c.metrics.collect(lambda: camera_families(c, last_snapshot))
    c.metrics.collect(lambda: mediamtx_families(c))
    c.metrics.collect(lambda: storage_families(c))
    c.metrics.collect(lambda: component_families(c))
    c.metrics.collect(process_families)


def camera_families(c: Components, last_snapshot: dict[str, float]) -> Iterable[Family]:
    streams = c.media.controller.streams
    cameras = sorted(c.cameras, key=lambda cam: cam.camera_id)
    for gone in set(last_snapshot) - {cam.camera_id for cam in cameras}:
        del last_snapshot[gone]  # bounded by the cameras there are
    connected, up, readers, received, sent, recording, snapshot = ([] for _ in range(7))
    for cam in cameras:
        labels = {"camera": cam.camera_id}
        state = streams.get(cam.camera_id)
        connected.append((labels, int(cam.status is CameraStatus.CONNECTED)))
        up.append((labels, int(state is not None and state.available)))
        readers.append((labels, state.readers if state else 0))
        received.append((labels, state.inbound_bytes if state else 0))
        sent.append((labels, state.outbound_bytes if state else 0))
        recording.append((labels, int(cam.recording)))
        if cam.camera_id in last_snapshot:
            snapshot.append((labels, round(last_snapshot[cam.camera_id], 3)))
    return [
        Family(
            "camera_service_camera_connected",
            "gauge",
            "1 while the camera is CONNECTED.",
            connected,
        ),
        Family(
            "camera_service_camera_stream_up",
            "gauge",
            "1 while MediaMTX has the camera's stream up (readers can read it).",
            up,
        ),
        Family(
            "camera_service_camera_stream_readers",
            "gauge",
            "Readers of the camera's stream on MediaMTX, the service's own included.",
            readers,
        ),
        Family(
            "camera_service_camera_stream_received_bytes_total",
            "counter",
            "Bytes MediaMTX received from the camera's source (resets with MediaMTX).",
            received,
        ),
        Family(
            "camera_service_camera_stream_sent_bytes_total",
            "counter",
            "Bytes MediaMTX sent to the camera's readers (resets with MediaMTX).",
            sent,
        ),
        Family(
            "camera_service_camera_recording", "gauge", "1 while the camera records.", recording
        ),
        Family(
            "camera_service_camera_last_snapshot_timestamp_seconds",
            "gauge",
            "When the camera's newest snapshot since start was taken (unix time).",
            snapshot,
        ),
    ]


def mediamtx_families(c: Components) -> Iterable[Family]:
    controller = c.media.controller
    return [
        Family(
            "camera_service_mediamtx_up",
            "gauge",
            "1 while MediaMTX's Control API answered the service's last look.",
            [({}, int(controller.reachable))],
        ),
        Family(
            "camera_service_mediamtx_api_request_duration_seconds",
            "histogram",
            "Round trip of each Control API request (answered or failed).",
            [({}, controller.client.latency)],
        ),
    ]


def storage_families(c: Components) -> Iterable[Family]:
    directories = {
        "data": c.paths.data_dir,
        "recordings": c.paths.recordings,
        "snapshots": c.paths.snapshots,
    }
    size, used, free = [], [], []
    for name, path in directories.items():
        try:
            usage = disk_usage(path)
        except OSError:
            continue  # gone or unreadable: the storage health component says so
        labels = {"directory": name}
        size.append((labels, usage.total))
        used.append((labels, usage.used))
        free.append((labels, usage.available))
    return [
        Family(
            "camera_service_storage_size_bytes",
            "gauge",
            "Size of the file system holding the directory.",
            size,
        ),
        Family(
            "camera_service_storage_used_bytes",
            "gauge",
            "Bytes used on the file system holding the directory.",
            used,
        ),
        Family(
            "camera_service_storage_free_bytes",
            "gauge",
            "Bytes available to the service on the file system holding the directory.",
            free,
        ),
    ]


def component_families(c: Components) -> Iterable[Family]:
    components = sorted(c.health.components.values(), key=lambda s: s.name)
    families = [
        Family(
            "camera_service_component_up",
            "gauge",
            "1 while the health component is healthy, 0.5 degraded, 0 unhealthy.",
            [({"component": s.name}, _UP[s.status]) for s in components],
        )
    ]
    registry = c.health.components.get("registry")
    families.append(
        Family(
            "camera_service_registry_up",
            "gauge",
            "1 while this hub's registration is current with the registry (no sample: none).",
            [] if registry is None else [({}, int(registry.status is Status.HEALTHY))],
        )
    )
    return families


_UP = {Status.HEALTHY: 1.0, Status.DEGRADED: 0.5, Status.UNHEALTHY: 0.0}
