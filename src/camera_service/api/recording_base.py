"""Recordings on the wire (api.md "Recordings"): the fields every recording reply and
notification starts with (which camera, which session, its first segment, its format
and when it was asked for), a final session's params, and get_camera_status's
recording fields."""

from __future__ import annotations

import time
from typing import Any, Protocol

from camera_service.observability.health import iso
from camera_service.record.events import RecordingEnded
from camera_service.record.recording import Recording


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


def recording_ended(e: RecordingEnded) -> dict[str, Any]:
    """STOPPED (or FAILED): the session is final."""
    params = {
        **recording_base(e),
        "status": "FAILED" if e.failed else "STOPPED",
        "duration": e.duration,
        "reason": e.reason.value,
        "end_time": iso(e.end_time),
        "files": list(e.files),
        "file_size": e.file_size,
    }
    if e.error:
        params["error"] = e.error
    return params


# get_camera_status's recording fields; all null while the camera has no session and
# none ended.
CAMERA_RECORDING_FIELDS = (
    "recording_session",
    "current_file",
    "elapsed_time",
    "recording_state",  # [new]
    "recording_reason",  # [new]
    "resumed_at",  # [new]
    "last_recording",  # [new]
)


def camera_recording(
    session: Recording | None, last: RecordingEnded | None
) -> dict[str, Any] | None:
    """get_camera_status's recording fields: the session on now, if any, and the
    camera's last final one [new]; None when it has neither (every field null)."""
    if session is None and last is None:
        return None
    fields: dict[str, Any] = dict.fromkeys(CAMERA_RECORDING_FIELDS)
    if last is not None:
        fields["last_recording"] = recording_ended(last)
    if session is not None:
        fields |= {
            "recording_session": session.session_id,
            "current_file": session.current_file,
            "elapsed_time": round(session.elapsed(time.time()), 1),
            "recording_state": session.state.value,
            "recording_reason": session.degraded.value if session.degraded else None,
            "resumed_at": iso(session.resumed_at) if session.resumed_at is not None else None,
        }
    return fields
