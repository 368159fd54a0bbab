"""The camera registry: the one place that says which cameras exist and how they are.

Every change goes through ``put`` or ``remove``, which publish what changed on the
event bus (:mod:`.events`): a camera added or removed, changed as a client sees it
(status, name, resolution, fps), or its capabilities changed (formats, sizes, validation).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from camera_service.cameras.events import (
    CameraAdded,
    CameraCapabilitiesChanged,
    CameraChanged,
    CameraRemoved,
)
from camera_service.cameras.model import Camera
from camera_service.events import EventBus

_VISIBLE = ("status", "name", "resolution", "fps")
_CAPABILITIES = ("formats", "resolutions", "fps_options", "fps_by_resolution", "validation")


def _natural(camera_id: str) -> tuple[str, int]:
    m = re.match(r"^(.*?)(\d+)$", camera_id)
    return (m.group(1), int(m.group(2))) if m else (camera_id, -1)


class CameraRegistry:
    def __init__(self, events: EventBus) -> None:
        self.events = events
        self._cameras: dict[str, Camera] = {}
        self.version = 0  # bumped on every change, so readers can cache what they derive

    def get(self, camera_id: str) -> Camera | None:
        return self._cameras.get(camera_id)

    def __iter__(self) -> Iterator[Camera]:
        return iter(sorted(self._cameras.values(), key=lambda c: _natural(c.camera_id)))

    def __len__(self) -> int:
        return len(self._cameras)

    def put(self, camera: Camera) -> None:
        """Add or replace a camera; events say what a client would see change."""
        old = self._cameras.get(camera.camera_id)
        self._cameras[camera.camera_id] = camera
        self.version += 1
        if old is None:
            self.events.publish(CameraAdded(camera))
            return
        if any(getattr(old, f) != getattr(camera, f) for f in _VISIBLE):
            self.events.publish(CameraChanged(old, camera))
        if any(getattr(old, f) != getattr(camera, f) for f in _CAPABILITIES):
            self.events.publish(CameraCapabilitiesChanged(camera))

    def update(self, camera_id: str, **changes: object) -> Camera | None:
        old = self._cameras.get(camera_id)
        if old is None:
            return None
        new = dataclasses.replace(old, **changes)  # type: ignore[arg-type]
        self.put(new)
        return new

    def remove(self, camera_id: str) -> Camera | None:
        camera = self._cameras.pop(camera_id, None)
        if camera is not None:
            self.version += 1
            self.events.publish(CameraRemoved(camera))
        return camera
