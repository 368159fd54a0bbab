"""Recording methods (operator): start_recording, stop_recording."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from camera_service.api.contract import StartResult, StopResult
from camera_service.api.jsonrpc import (
    ALREADY_RECORDING,
    CAMERA_NOT_FOUND,
    CAPACITY_EXCEEDED,
    INVALID_PARAMS,
    MEDIAMTX_FAILED,
    STORAGE_CRITICAL,
    STORAGE_LOW,
    RpcError,
    bad_param,
)
from camera_service.api.methods.cameras import DeviceParams
from camera_service.api.methods.system import capacity_error
from camera_service.api.methodtable import Call, CameraParam, MethodSpec
from camera_service.auth.identity import Role
from camera_service.limits import CapacityExceeded
from camera_service.observability.health import iso
from camera_service.record.manager import (
    AlreadyRecording,
    CameraUnavailable,
    MediaMtxFailed,
    NotRecording,
    RecordingError,
    StorageRefused,
)
from camera_service.record.recording import Recording
from camera_service.storage.disk import StorageLevel

# Each duration param and how many seconds one unit is.
DURATIONS = {"duration": 1, "duration_seconds": 1, "duration_minutes": 60, "duration_hours": 3600}


def _duration(maximum: int, unit: str) -> Any:
    return Field(None, ge=1, le=maximum, strict=True, allow_inf_nan=False, description=unit)


class StartParams(DeviceParams):
    duration: float | None = _duration(86400, "seconds (1-86400); absent: until stopped")
    duration_seconds: float | None = _duration(86400, "seconds (1-86400)")
    duration_minutes: float | None = _duration(1440, "minutes (1-1440)")
    duration_hours: float | None = _duration(24, "hours (1-24)")
    format: Literal["mp4", "ts"] | None = Field(None, description="container; default config")

    def seconds(self) -> float | None:
        given = [name for name in DURATIONS if getattr(self, name) is not None]
        if len(given) > 1:
            raise bad_param(
                given[1], f"cannot be combined with {given[0]}: give at most one duration"
            )
        if not given:
            return None
        return float(getattr(self, given[0]) * DURATIONS[given[0]])


def rpc_error(exc: RecordingError | CapacityExceeded) -> RpcError:
    message = str(exc)
    if isinstance(exc, CapacityExceeded):
        return capacity_error(exc)
    if isinstance(exc, CameraUnavailable):
        return RpcError(CAMERA_NOT_FOUND, message, {"reason": "camera_not_available"})
    if isinstance(exc, AlreadyRecording):
        return RpcError(
            ALREADY_RECORDING, message, {"camera_id": exc.camera_id, "session_id": exc.session_id}
        )
    if isinstance(exc, StorageRefused):
        if exc.level is StorageLevel.CRITICAL:
            return RpcError(STORAGE_CRITICAL, message, {"reason": "storage_critical"})
        return RpcError(STORAGE_LOW, message, {"reason": "storage_low"})
    if isinstance(exc, MediaMtxFailed):
        return RpcError(MEDIAMTX_FAILED, message, {"reason": "mediamtx_failed"})
    raise exc  # pragma: no cover - every kind is mapped above


def started_result(rec: Recording) -> StartResult:
    """start_recording's result: the first segment's expected name."""
    return {
        "device": rec.device,
        "camera_id": rec.camera_id,
        "session_id": rec.session_id,
        "filename": rec.expected,
        "format": rec.format,
        "start_time": iso(rec.start_time),
        "status": "STARTED",
        "duration": rec.duration,
        "success": True,
        "recording": {
            "device_path": rec.device,
            "recording_id": rec.session_id,
            "filename": rec.expected,
            "start_time": rec.start_time,
            "status": "STARTED",
        },
    }


def stopped_result(rec: Recording, recordings: Path) -> StopResult:
    """stop_recording's result: the segments known now and their sizes now."""
    end_time = iso(rec.ended_at or rec.start_time)
    return {
        "device": rec.device,
        "camera_id": rec.camera_id,
        "session_id": rec.session_id,
        "filename": rec.filename,
        "format": rec.format,
        "start_time": iso(rec.start_time),
        "status": "STOPPED",
        "end_time": end_time,
        "duration": rec.recorded_so_far(time.time()),  # the stalls left out
        "file_size": rec.file_size(recordings),
        "success": True,
        "files": rec.files,
        "recording_id": rec.session_id,
        "stopped_at": end_time,
    }


async def start_recording(call: Call[StartParams]) -> StartResult:
    p = call.params
    seconds = p.seconds()
    try:
        rec = await call.ctx.components.recordings.start(p.camera_id, seconds, p.format)
    except (RecordingError, CapacityExceeded) as exc:
        raise rpc_error(exc) from None
    return started_result(rec)


def unseen_start(call: Call[StartParams], camera_id: str) -> StartResult:
    """A camera the caller may not see: as one that does not exist."""
    call.params.seconds()
    raise rpc_error(CameraUnavailable(camera_id))


def unseen_stop(call: Call[DeviceParams], camera_id: str) -> StopResult:
    raise rpc_error(NotRecording(camera_id))


async def stop_recording(call: Call[DeviceParams]) -> StopResult:
    recordings = call.ctx.components.recordings
    try:
        rec = await recordings.stop(call.params.camera_id)
    except RecordingError as exc:
        raise rpc_error(exc) from None
    return stopped_result(rec, recordings.recordings)


METHODS = (
    MethodSpec(
        "start_recording",
        start_recording,
        "Start recording a camera with MediaMTX's recorder; STARTED follows with the "
        "real file name.",
        Role.OPERATOR,
        StartParams,
        StartResult,
        errors=(
            CAMERA_NOT_FOUND,
            ALREADY_RECORDING,
            CAPACITY_EXCEEDED,
            STORAGE_LOW,
            STORAGE_CRITICAL,
            MEDIAMTX_FAILED,
            INVALID_PARAMS,
        ),
        concurrent=True,
        camera=CameraParam(StartParams.scoped, unseen_start),
    ),
    MethodSpec(
        "stop_recording",
        stop_recording,
        "Stop a camera's recording; STOPPED follows once the last segment is final.",
        Role.OPERATOR,
        DeviceParams,
        StopResult,
        errors=(MEDIAMTX_FAILED, INVALID_PARAMS),
        concurrent=True,
        camera=CameraParam(DeviceParams.scoped, unseen_stop),
    ),
)
