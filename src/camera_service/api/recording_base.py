"""The fields every recording reply and notification starts with (api.md "Recordings"):
which camera, which session, its first segment, its format and when it was asked for."""

from __future__ import annotations

from typing import Any, Protocol

from camera_service.observability.health import iso


class RecordingFacts(Protocol):
    """A session (``record.recording.Recording``) or an event about one."""

    @property
    def device(self) -> str: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def start_time(self) -> float: ...


def recording_base(r: RecordingFacts) -> dict[str, Any]:
    return {
        "device": r.device,
        "camera_id": r.camera_id,
        "session_id": r.session_id,
        "filename": r.filename,
        "format": r.format,
        "start_time": iso(r.start_time),
    }
