"""Whether each camera's MediaMTX path records, and in which format: the part of the
paths' desired state that the cameras do not give.

The recording manager writes it as sessions start and end; the MediaMTX controller
reads it on every reconcile, so a path a crashed run left recording is switched off
and a MediaMTX restart forgets nothing still wanted. It lives in media, beside the
controller that applies it, so record depends on media and never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable

from camera_service.config import RecordingConfig
from camera_service.media.pathconf import PathConf, record_format


class DesiredRecording:
    def __init__(self, recording: Callable[[], RecordingConfig]) -> None:
        # The default format, which a path carries while it does not record (as the
        # recording fields every path gets say), so switching off changes only ``record``.
        self._recording = recording
        self._formats: dict[str, str] = {}  # camera_id -> our format, while it records

    def record(self, camera_id: str, fmt: str) -> None:
        self._formats[camera_id] = fmt

    def stop(self, camera_id: str) -> None:
        self._formats.pop(camera_id, None)

    def records(self, camera_id: str) -> bool:
        return camera_id in self._formats

    def fields(self, camera_id: str) -> PathConf:
        """``record`` and ``recordFormat`` of the camera's path, as they should be now."""
        fmt = self._formats.get(camera_id, self._recording().format)
        return {"record": camera_id in self._formats, "recordFormat": record_format(fmt)}
