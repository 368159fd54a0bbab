"""Camera methods: get_camera_list, get_camera_status, get_camera_capabilities."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import Field, field_validator
from typing_extensions import TypedDict

from camera_service.api.recording_base import CAMERA_RECORDING_FIELDS
from camera_service.api.registry import Call, MethodRegistry, MethodSpec, Params
from camera_service.api.session import Session
from camera_service.auth.identity import Role
from camera_service.cameras.model import (
    Camera,
    CameraStatus,
    SourceType,
    Validation,
    camera_id_for,
    stream_urls,
)
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig

K = TypeVar("K")
V = TypeVar("V")
_NO_RECORDING = b"," + orjson.dumps(dict.fromkeys(CAMERA_RECORDING_FIELDS))[1:]  # the end


class DeviceParams(Params):
    device: str = Field(
        description="/dev/videoN or a camera_id",
        json_schema_extra={"pattern": r"^(/dev/video[0-9]{1,4}|[A-Za-z0-9_-]{1,64})$"},
    )

    @field_validator("device", mode="before")
    @classmethod
    def _well_formed(cls, v: Any) -> Any:
        if camera_id_for(v) is None:
            raise ValueError("must be /dev/videoN or a camera id ([A-Za-z0-9_-], 1-64 chars)")
        return v

    @property
    def camera_id(self) -> str:
        if not self.device.startswith("/"):  # validated: already a camera id (no regex)
            return self.device
        camera_id = camera_id_for(self.device)
        assert camera_id is not None  # validated above
        return camera_id


class CameraInfo(TypedDict):
    device: str
    status: str
    name: str
    resolution: str
    fps: int
    streams: dict[str, str]
    camera_id: str
    source_type: str
    recording: bool


class CameraList(TypedDict):
    cameras: list[CameraInfo]
    total: int
    connected: int


class CameraStatusResult(CameraInfo):
    metrics: dict[str, Any]
    capabilities: dict[str, list[str]]
    recording_session: str | None
    current_file: str | None
    elapsed_time: float | None
    recording_state: str | None  # [new] starting, recording, degraded
    recording_reason: str | None  # [new] why degraded: storage_full, stalled
    resumed_at: str | None  # [new] taken up again after a service restart
    last_recording: dict[str, Any] | None  # [new] the last final recording_status_update


class Capabilities(TypedDict):
    device: str
    formats: list[str]
    resolutions: list[str]
    fps_options: list[float]
    validation_status: str
    fps_by_resolution: dict[str, list[float]]  # [new] frame rates each size offers


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


class Encoded(Generic[K, V]):
    """Encoded replies by key, each valid while the camera registry's version and the
    stream settings object are the ones it was built from. A reload replaces the
    settings object, so it is compared by identity: no settings model hashed per call."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[K, tuple[int, MediaMtxConfig, V]] = {}

    def get(self, key: K, version: int, cfg: MediaMtxConfig) -> V | None:
        hit = self._entries.get(key)
        return hit[2] if hit is not None and hit[0] == version and hit[1] is cfg else None

    def put(self, key: K, version: int, cfg: MediaMtxConfig, value: V) -> V:
        if len(self._entries) >= self.limit:  # many client hosts: start again, not grow
            self._entries.clear()
        self._entries[key] = (version, cfg, value)
        return value


def register(
    registry: MethodRegistry,
    cameras: CameraRegistry,
    mediamtx: Callable[[], MediaMtxConfig],
    stream_metrics: Callable[[str], dict[str, Any]] = lambda camera_id: {},
    recording_of: Callable[[str], dict[str, Any] | None] = lambda camera_id: None,
) -> None:
    def api(camera: Camera, session: Session) -> dict[str, Any]:
        return camera.to_api(stream_urls(camera.camera_id, session.host, mediamtx()))

    # The list changes rarely and is asked for often: keep it encoded per client host;
    # a reply embeds the bytes as they are.
    list_cache: Encoded[str, orjson.Fragment] = Encoded(limit=64)

    def get_camera_list(call: Call) -> Any:
        cfg = mediamtx()
        host = call.session.host
        hit = list_cache.get(host, cameras.version, cfg)
        if hit is not None:
            return hit
        listed = [api(c, call.session) for c in cameras]
        result: CameraList = {
            "cameras": listed,  # type: ignore[typeddict-item]
            "total": len(listed),
            "connected": sum(1 for c in listed if c["status"] == "CONNECTED"),
        }
        return list_cache.put(host, cameras.version, cfg, orjson.Fragment(orjson.dumps(result)))

    def status_dict(camera: Camera, session: Session) -> dict[str, Any]:
        """The reply built field by field: for a camera that is recording or unknown, and
        the reference the encoded form below must equal byte for byte."""
        camera_id = camera.camera_id
        result = api(camera, session)
        result["metrics"] = metrics_of(camera)
        result["capabilities"] = {"formats": camera.formats, "resolutions": camera.resolutions}
        result.update(dict.fromkeys(CAMERA_RECORDING_FIELDS))
        result.update(recording_of(camera_id) or {})
        return result

    def metrics_of(camera: Camera) -> dict[str, Any]:
        uptime = (
            time.time() - camera.connected_at if camera.connected and camera.connected_at else 0
        )
        return {
            "bytes_sent": 0,
            "readers": 0,
            "uptime": round(uptime, 1),
            **stream_metrics(camera.camera_id),
        }

    # Most of a status reply only changes with the camera or the stream settings: keep it
    # encoded, per camera and client host, as the JSON before and after "metrics" (the
    # part that changes by the second).
    status_cache: Encoded[tuple[str, str], tuple[bytes, bytes]] = Encoded(limit=256)

    def encoded_parts(camera: Camera, session: Session) -> tuple[bytes, bytes]:
        cfg = mediamtx()
        key = (camera.camera_id, session.host)
        hit = status_cache.get(key, cameras.version, cfg)
        if hit is not None:
            return hit
        head = orjson.dumps(api(camera, session))[:-1] + b',"metrics":'
        tail = (
            b',"capabilities":'
            + orjson.dumps({"formats": camera.formats, "resolutions": camera.resolutions})
            + _NO_RECORDING
        )
        return status_cache.put(key, cameras.version, cfg, (head, tail))

    def get_camera_status(call: Call) -> Any:
        camera_id = call.params.camera_id
        camera = cameras.get(camera_id)
        if camera is None or recording_of(camera_id) is not None:  # rare: build it
            return status_dict(camera or _placeholder(camera_id), call.session)
        head, tail = encoded_parts(camera, call.session)
        return orjson.Fragment(head + orjson.dumps(metrics_of(camera)) + tail)

    def get_camera_capabilities(call: Call) -> Capabilities:
        camera_id = call.params.camera_id
        camera = cameras.get(camera_id) or _placeholder(camera_id)
        return {
            "device": camera.device,
            "formats": camera.formats,
            "resolutions": camera.resolutions,
            "fps_options": camera.fps_options,
            "validation_status": camera.validation.value,
            "fps_by_resolution": camera.fps_by_resolution,
        }

    registry.add(
        MethodSpec(
            "get_camera_list",
            get_camera_list,
            "Every camera this service serves.",
            Role.VIEWER,
            result=CameraList,
        )
    )
    registry.add(
        MethodSpec(
            "get_camera_status",
            get_camera_status,
            "One camera with stream metrics and capabilities.",
            Role.VIEWER,
            DeviceParams,
            CameraStatusResult,
        )
    )
    registry.add(
        MethodSpec(
            "get_camera_capabilities",
            get_camera_capabilities,
            "Formats, resolutions and frame rates of a camera.",
            Role.VIEWER,
            DeviceParams,
            Capabilities,
        )
    )
