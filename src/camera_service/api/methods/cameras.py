"""Camera methods: get_camera_list, get_camera_status, get_camera_capabilities."""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import Field, field_validator

from camera_service.api.context import ApiContext, Components, StatusParts
from camera_service.api.contract import CameraInfo, CameraList, CameraStatusResult, Capabilities
from camera_service.api.methodtable import Call, CameraParam, MethodSpec, NoParams, Params
from camera_service.api.session import Session
from camera_service.api.wire import camera_fields, device_param, recording_ended, stream_urls
from camera_service.auth.identity import Role
from camera_service.cameras.model import (
    Camera,
    CameraStatus,
    SourceType,
    Validation,
    camera_id_for,
)
from camera_service.config import MediaMtxConfig
from camera_service.observability.health import iso
from camera_service.record.events import RecordingEnded
from camera_service.record.recording import Recording

# The recording fields of a camera with no session now and none ended: all null.
_NO_RECORDING = (
    b',"recording_session":null,"current_file":null,"elapsed_time":null,'
    b'"recording_state":null,"recording_reason":null,"resumed_at":null,"last_recording":null,'
    b'"recording_duration":null}'
)


class DeviceParams(Params):
    memo = True  # device_param reads the value only

    device: str = Field(
        description="/dev/videoN or a camera_id",
        json_schema_extra={"pattern": r"^(/dev/video[0-9]{1,4}|[A-Za-z0-9_-]{1,64})$"},
    )

    @field_validator("device", mode="before")
    @classmethod
    def _well_formed(cls, v: Any) -> Any:
        return device_param(v)  # ValueError: -32602 naming device

    @property
    def camera_id(self) -> str:
        if not self.device.startswith("/"):  # validated: already a camera id (no regex)
            return self.device
        camera_id = camera_id_for(self.device)
        assert camera_id is not None  # validated above
        return camera_id

    def scoped(self) -> str:
        """The camera a caller's camera scope is checked against (``CameraParam.of``)."""
        return self.camera_id


def _placeholder(camera_id: str) -> Camera:
    """A well-formed id nobody has: reported DISCONNECTED, not an error (api.md §4)."""
    source = (
        SourceType.USB
        if camera_id.startswith("camera") and camera_id[6:].isdigit()
        else (SourceType.RTSP)
    )
    return Camera(
        camera_id, source, camera_id, CameraStatus.DISCONNECTED, validation=Validation.DISCONNECTED
    )


def camera_info(camera: Camera, session: Session, cfg: MediaMtxConfig) -> CameraInfo:
    return camera_fields(camera, stream_urls(camera.camera_id, session.host, cfg))


def get_camera_list(call: Call[NoParams]) -> orjson.Fragment:
    """The cameras the caller may see, encoded per client host and camera scope; a
    reply embeds the bytes as they are."""
    c = call.ctx.components
    cfg = c.settings.mediamtx
    session = call.session
    key = (session.host, session.cameras)
    cache = call.ctx.camera_list
    hit = cache.get(key, c.cameras.version, cfg)
    if hit is not None:
        return hit
    listed = [
        camera_info(camera, session, cfg) for camera in c.cameras if session.sees(camera.camera_id)
    ]
    result: CameraList = {
        "cameras": listed,
        "total": len(listed),
        "connected": sum(1 for camera in listed if camera["status"] == "CONNECTED"),
    }
    return cache.put(key, c.cameras.version, cfg, orjson.Fragment(orjson.dumps(result)))


def uptime_of(camera: Camera) -> float:
    """Seconds the camera has been connected, to the tenth (0 when it is not)."""
    if camera.connected and camera.connected_at:
        # round(x, 1)'s result, a few times faster (it is asked on every call)
        return int((time.time() - camera.connected_at) * 10 + 0.5) / 10
    return 0


def metrics_of(figures: dict[str, Any], uptime: float) -> dict[str, Any]:
    """The ``metrics`` of a status: MediaMTX's ``figures`` of the stream, and uptime."""
    return {"bytes_sent": 0, "readers": 0, "uptime": uptime, **figures}


def status_result(
    c: Components,
    camera: Camera,
    session: Session,
    recording: Recording | None,
    last: RecordingEnded | None,
) -> CameraStatusResult:
    """The reply built field by field: for a camera that is recording, has recorded, or
    is unknown, and the reference the encoded form below must equal byte for byte."""
    degraded = recording.degraded if recording else None
    resumed_at = recording.resumed_at if recording else None
    return {
        **camera_info(camera, session, c.settings.mediamtx),
        "metrics": metrics_of(c.media.stream_metrics(camera.camera_id), uptime_of(camera)),
        "capabilities": {"formats": camera.formats, "resolutions": camera.resolutions},
        "recording_session": recording.session_id if recording else None,
        "current_file": recording.current_file if recording else None,
        "elapsed_time": round(recording.elapsed(time.time()), 1) if recording else None,
        "recording_state": recording.state.value if recording else None,
        "recording_reason": degraded.value if degraded else None,
        "resumed_at": iso(resumed_at) if resumed_at is not None else None,
        "last_recording": recording_ended(last) if last else None,
        "recording_duration": recording.duration if recording else None,
    }


def encoded_parts(ctx: ApiContext, camera: Camera, session: Session) -> StatusParts:
    """A status reply of a camera with no recording (on now, or ended), as the JSON
    before and after its metrics, per camera and client host."""
    c = ctx.components
    cfg = c.settings.mediamtx
    key = (camera.camera_id, session.host)
    hit = ctx.camera_status.get(key, c.cameras.version, cfg)
    if hit is not None:
        return hit
    head = orjson.dumps(camera_info(camera, session, cfg))[:-1] + b',"metrics":'
    tail = (
        b',"capabilities":'
        + orjson.dumps({"formats": camera.formats, "resolutions": camera.resolutions})
        + _NO_RECORDING
    )
    return ctx.camera_status.put(key, c.cameras.version, cfg, StatusParts(head, tail))


def get_camera_status(call: Call[DeviceParams]) -> orjson.Fragment | CameraStatusResult:
    c = call.ctx.components
    camera_id = call.params.camera_id
    camera = c.cameras.get(camera_id)
    recordings = c.recordings
    if camera is None or camera_id in recordings.active or camera_id in recordings.last:
        return status_result(  # rarer: build it
            c,
            camera or _placeholder(camera_id),
            call.session,
            recordings.active.get(camera_id),
            recordings.last.get(camera_id),
        )
    parts = encoded_parts(call.ctx, camera, call.session)
    # The metrics change with MediaMTX's figures (bytes, readers: at each look) and the
    # uptime's tenth of a second: the reply is encoded once for each, not per call.
    figures = c.media.stream_metrics(camera_id)
    uptime = uptime_of(camera)
    reply = parts.reply
    if reply is None or parts.figures != figures or parts.uptime != uptime:
        metrics = orjson.dumps(metrics_of(figures, uptime))
        reply = orjson.Fragment(parts.head + metrics + parts.tail)
        parts.reply, parts.figures, parts.uptime = reply, dict(figures), uptime
    return reply


def unseen_status(call: Call[DeviceParams], camera_id: str) -> CameraStatusResult:
    """A camera the caller may not see: as one that does not exist."""
    return status_result(call.ctx.components, _placeholder(camera_id), call.session, None, None)


def get_camera_capabilities(call: Call[DeviceParams]) -> Capabilities:
    camera_id = call.params.camera_id
    return capabilities(call.ctx.components.cameras.get(camera_id) or _placeholder(camera_id))


def unseen_capabilities(call: Call[DeviceParams], camera_id: str) -> Capabilities:
    return capabilities(_placeholder(camera_id))


def capabilities(camera: Camera) -> Capabilities:
    return {
        "device": camera.device,
        "formats": camera.formats,
        "resolutions": camera.resolutions,
        "fps_options": camera.fps_options,
        "validation_status": camera.validation.value,
        "fps_by_resolution": camera.fps_by_resolution,
    }


METHODS = (
    MethodSpec(
        "get_camera_list",
        get_camera_list,
        "Every camera this service serves.",
        Role.VIEWER,
        NoParams,
        CameraList,
    ),
    MethodSpec(
        "get_camera_status",
        get_camera_status,
        "One camera with stream metrics and capabilities.",
        Role.VIEWER,
        DeviceParams,
        CameraStatusResult,
        camera=CameraParam(DeviceParams.scoped, unseen_status),
    ),
    MethodSpec(
        "get_camera_capabilities",
        get_camera_capabilities,
        "Formats, resolutions and frame rates of a camera.",
        Role.VIEWER,
        DeviceParams,
        Capabilities,
        camera=CameraParam(DeviceParams.scoped, unseen_capabilities),
    ),
)
