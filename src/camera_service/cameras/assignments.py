"""Hub OS device assignments: which cameras this service may claim.

The hub OS writes a YAML (or JSON) file, its path ``cameras.assignments_file``, or an
etcd key, ``cameras.assignments_key`` (watched by ``cameras/assignments_etcd.py``)::

    usb:
      - vid: "046d"          # USB vendor and product id, 4 hex digits each
        pid: "0825"
        serial: "A1B2C3D4"   # optional: only the camera with this serial
      - device: /dev/video4  # or one device node
    rtsp:                    # extra RTSP cameras, same fields as cameras.sources
      - id: gate
        url: rtsp://192.0.2.10:554/stream1

Without a configured file or key every capture device is claimed. A configured file
or key that is missing claims no USB device until it appears (the platform owns the
decision). An invalid one is refused with a message and the last good assignments stay
in force.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from camera_service.config import RtspSource, Section, format_validation_error

HEX4 = r"^[0-9a-fA-F]{4}$"


class UsbAssignment(Section):
    vid: str | None = Field(None, pattern=HEX4, description="USB vendor id, e.g. 046d.")
    pid: str | None = Field(None, pattern=HEX4, description="USB product id, e.g. 0825.")
    serial: str | None = Field(None, min_length=1, max_length=128)
    device: str | None = Field(None, pattern=r"^/dev/video[0-9]{1,4}$")

    @model_validator(mode="after")
    def _one_way(self) -> UsbAssignment:
        by_id = self.vid is not None and self.pid is not None
        if by_id == (self.device is not None):
            raise ValueError("give either vid and pid (optionally serial) or device")
        if self.serial is not None and not by_id:
            raise ValueError("serial needs vid and pid")
        return self

    def matches(self, device: str, vid: str | None, pid: str | None, serial: str | None) -> bool:
        if self.device is not None:
            return self.device == device
        if vid is None or pid is None or vid.lower() != (self.vid or "").lower():
            return False
        if pid.lower() != (self.pid or "").lower():
            return False
        return self.serial is None or self.serial == serial


class Assignments(Section):
    usb: list[UsbAssignment] = Field([], description="USB cameras this service may claim.")
    rtsp: list[RtspSource] = Field([], description="RTSP cameras assigned by the hub.")

    def claims(self, device: str, vid: str | None, pid: str | None, serial: str | None) -> bool:
        return any(a.matches(device, vid, pid, serial) for a in self.usb)


class AssignmentError(Exception):
    pass


def load_assignments(path: Path) -> Assignments | None:
    """The assignments in ``path``; None when the file does not exist (yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AssignmentError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AssignmentError(f"{path} is not UTF-8 text") from None
    return parse_assignments(text, str(path))


def parse_assignments(text: str, origin: str) -> Assignments:
    """The assignments in ``text`` (YAML or JSON); ``origin`` (the file or the etcd key)
    names them in errors."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise AssignmentError(f"{origin} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AssignmentError(f"{origin} must hold a mapping with usb and rtsp lists")
    try:
        return Assignments.model_validate(data)
    except ValidationError as exc:
        detail = format_validation_error(exc).replace("invalid configuration", origin)
        raise AssignmentError(detail) from None


@dataclass(frozen=True, slots=True)
class FileStamp:
    """Enough to notice an edit, a replace-by-rename, a delete or a re-create."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)
