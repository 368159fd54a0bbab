"""Wire shapes that method results and notifications share, built from domain objects:
a camera's fields and stream URLs (api.md "Cameras", ``camera_status_update``,
``create_media_token``), the fields every recording reply and notification starts with
and a final session's params (api.md "Recordings": ``recording_status_update``,
get_camera_status's ``last_recording``)."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from camera_service.api.contract import CameraInfo
from camera_service.cameras.model import Camera, camera_id_for
from camera_service.config import MediaMtxConfig
from camera_service.observability.health import iso
from camera_service.record.events import RecordingEnded

MAX_VIDEO_NODE = 9999  # /dev/video[0-9]{1,4}
DEVICE_RULE = "must be /dev/videoN, a camera id ([A-Za-z0-9_-], 1-64 chars) or a number 0-9999"


def device_param(value: object) -> str:
    """A ``device`` param as sent: ``/dev/videoN``, a camera id, or (the original
    service's compatibility alias) the integer N for ``/dev/videoN``; the camera id it
    names. ValueError, saying why in plain words, for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_VIDEO_NODE:
            raise ValueError(f"device number must be 0-{MAX_VIDEO_NODE}")
        return f"/dev/video{value}"
    if camera_id_for(value) is None:
        raise ValueError(DEVICE_RULE)
    assert isinstance(value, str)  # camera_id_for accepts strings only
    return value


def stream_urls(camera_id: str, host: str, cfg: MediaMtxConfig) -> dict[str, str]:
    """A camera's RTSP, WebRTC and HLS URLs on MediaMTX, for a client that reached us
    at ``host`` (``mediamtx.public_host`` when set)."""
    h = cfg.public_host or host or "localhost"
    if ":" in h and not h.startswith("["):
        h = f"[{h}]"  # an IPv6 literal
    return {
        "rtsp": f"rtsp://{h}:{cfg.rtsp_port}/{camera_id}",
        "webrtc": f"http://{h}:{cfg.webrtc_port}/{camera_id}",
        "hls": f"http://{h}:{cfg.hls_port}/{camera_id}/index.m3u8",
    }


def media_urls(camera_id: str, host: str, cfg: MediaMtxConfig, token: str) -> dict[str, str]:
    """A camera's stream URLs that carry a media token in the ``jwt`` query parameter:
    what a browser can send on HLS and WebRTC, and on RTSP what MediaMTX's docs give for
    tokens (as the RTSP password it would be cut: FFmpeg, and the players built on it,
    keep at most 127 characters of ``user:password``, less than a media token)."""
    urls = stream_urls(camera_id, host, cfg)
    t = quote(token, safe="")
    return {
        "rtsp": f"{urls['rtsp']}?jwt={t}",
        "webrtc": f"{urls['webrtc']}?jwt={t}",
        "hls": f"{urls['hls']}?jwt={t}",
    }


def camera_fields(camera: Camera, streams: dict[str, str]) -> CameraInfo:
    """A camera as clients see it; ``streams``: its URLs for the client's host. A camera
    that is not connected shows no resolution, rate or streams."""
    connected = camera.connected
    return {
        "device": camera.device,
        "status": camera.status.value,
        "name": camera.name,
        "resolution": camera.resolution if connected else "",
        "fps": camera.fps if connected else 0,
        "streams": streams if connected else {},
        "camera_id": camera.camera_id,
        "source_type": camera.source_type.value,
        "recording": camera.recording,
        "device_path": camera.device,
        "stream_url": streams.get("rtsp") if connected else None,
    }


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
