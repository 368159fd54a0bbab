"""The camera as the service knows it, and its wire form (api.md §3)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

# Used with fullmatch only: ``$`` would also match before a final "\n" ("lab\n").
CAMERA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
V4L2_DEVICE = re.compile(r"/dev/video([0-9]{1,4})")


class SourceType(enum.StrEnum):
    USB = "usb"
    RTSP = "rtsp"
    TEST = "test"


class CameraStatus(enum.StrEnum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


class Validation(enum.StrEnum):
    NONE = "none"
    PROVISIONAL = "provisional"
    CONFIRMED = "confirmed"
    DISCONNECTED = "disconnected"
    ERROR = "error"


@dataclass(slots=True)
class Camera:
    camera_id: str
    source_type: SourceType
    name: str
    status: CameraStatus = CameraStatus.DISCONNECTED
    resolution: str = ""  # "WxH"
    fps: int = 0
    formats: list[str] = field(default_factory=list)
    resolutions: list[str] = field(default_factory=list)
    fps_options: list[float] = field(default_factory=list)
    fps_by_resolution: dict[str, list[float]] = field(default_factory=dict)
    validation: Validation = Validation.NONE
    identity: str | None = None  # a USB camera's stable physical identity
    error: str = ""  # why it is in ERROR or DISCONNECTED, for humans
    connected_at: float | None = None
    recording: bool = False
    # What a publisher needs to read the device (fourcc, width, height, fps); USB only.
    mode: tuple[str, int, int, float] | None = None

    @property
    def device(self) -> str:
        """``/dev/videoN`` for V4L2 cameras, the camera_id otherwise (api.md §3)."""
        if self.source_type is SourceType.USB:
            return "/dev/video" + self.camera_id.removeprefix("camera")
        return self.camera_id

    @property
    def connected(self) -> bool:
        return self.status is CameraStatus.CONNECTED


def camera_id_for(device: object) -> str | None:
    """The camera_id a ``device`` param names, or None when it is malformed."""
    if not isinstance(device, str):
        return None
    m = V4L2_DEVICE.fullmatch(device)
    if m:
        return f"camera{int(m.group(1))}"
    return device if CAMERA_ID.fullmatch(device) else None
