"""What the camera registry publishes when a camera comes, changes or goes."""

from __future__ import annotations

from dataclasses import dataclass

from camera_service.cameras.model import Camera
from camera_service.cameras.onvif import Device


@dataclass(frozen=True, slots=True)
class CameraAdded:
    camera: Camera


@dataclass(frozen=True, slots=True)
class CameraChanged:
    """Something a client sees changed: status, name, resolution or fps."""

    before: Camera
    after: Camera


@dataclass(frozen=True, slots=True)
class CameraCapabilitiesChanged:
    """Formats, sizes, frame rates or their validation changed (what a path needs)."""

    camera: Camera


@dataclass(frozen=True, slots=True)
class CameraRemoved:
    camera: Camera  # as it was last


@dataclass(frozen=True, slots=True)
class CameraSourceAdded:
    """A camera source stored by the API (add_camera); the camera itself follows as
    :class:`CameraAdded` when it is served."""

    camera_id: str
    source_type: str  # "rtsp" | "test"


@dataclass(frozen=True, slots=True)
class CameraSourceUpdated:
    camera_id: str
    source_type: str


@dataclass(frozen=True, slots=True)
class CameraSourceRemoved:
    camera_id: str


@dataclass(frozen=True, slots=True)
class CamerasDiscovered:
    """An ONVIF discovery finished: every device it found (:mod:`.discovery`)."""

    devices: tuple[Device, ...]
    at: float  # epoch seconds
    periodic: bool  # the periodic scan's, not a client's discover_cameras
    new: tuple[str, ...]  # endpoints the discovery before this one did not find
