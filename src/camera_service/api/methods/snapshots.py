"""take_snapshot (operator)."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import Field, field_validator

from camera_service.api.contract import SnapshotResult
from camera_service.api.jsonrpc import (
    CAMERA_NOT_FOUND,
    CAPACITY_EXCEEDED,
    INVALID_PARAMS,
    STORAGE_CRITICAL,
    RpcError,
    bad_param,
)
from camera_service.api.methods.cameras import DeviceParams
from camera_service.api.methods.system import capacity_error
from camera_service.api.methodtable import Call, CameraParam, MethodSpec
from camera_service.auth.identity import Role
from camera_service.limits import CapacityExceeded
from camera_service.media.ffmpeg import ImageFormat
from camera_service.media.snapshots import (
    CameraUnavailable,
    Capture,
    SnapshotRefused,
    resolve_name,
)
from camera_service.observability.health import iso
from camera_service.storage.names import BadName, check_basename


class SnapshotParams(DeviceParams):
    filename: str | None = Field(
        None,
        description="plain basename; .jpg/.png appended if missing; default "
        "<camera_id>_snapshot_YYYY-MM-DD_HH-MM-SS.<ext> (UTC)",
    )
    format: Literal["jpg", "png"] | None = Field(
        None, description="image format; default from the name's extension, else the config"
    )
    quality: int | None = Field(
        None, ge=1, le=100, strict=True, description="JPEG quality 1-100 (default 85)"
    )

    @field_validator("filename", mode="before")
    @classmethod
    def _basename(cls, v: Any) -> Any:
        if v is not None:
            check_basename(v)  # BadName is a ValueError: -32602 naming the param
        return v


def _request(call: Call[SnapshotParams]) -> tuple[str | None, ImageFormat, int]:
    """(filename, format, quality) asked for, defaults applied; -32602 for a bad name."""
    p = call.params
    defaults = call.ctx.components.settings.snapshots
    try:
        filename, fmt = resolve_name(p.filename, p.format, defaults.format)
    except BadName as exc:
        raise bad_param("filename", str(exc)) from None
    return filename, fmt, p.quality if p.quality is not None else defaults.quality


def refused(exc: SnapshotRefused) -> RpcError:
    if isinstance(exc, CameraUnavailable):
        return RpcError(CAMERA_NOT_FOUND, str(exc), {"reason": "camera_not_available"})
    return RpcError(STORAGE_CRITICAL, str(exc), {"reason": "storage_critical"})


async def take_snapshot(call: Call[SnapshotParams]) -> SnapshotResult:
    filename, fmt, quality = _request(call)
    try:
        result = await call.ctx.components.snapshots.take(
            call.params.camera_id, filename, fmt, quality
        )
    except SnapshotRefused as exc:
        raise refused(exc) from None
    except CapacityExceeded as exc:
        raise capacity_error(exc) from None
    return snapshot_result(result)


def unseen(call: Call[SnapshotParams], camera_id: str) -> SnapshotResult:
    """A camera the caller may not see: as one that does not exist."""
    _request(call)
    raise refused(CameraUnavailable(camera_id))


def snapshot_result(c: Capture) -> SnapshotResult:
    source = cast(Literal["warm", "stream", "device"], c.source)
    fmt = cast(Literal["jpg", "png"], c.format)
    if c.path is None:
        return {
            "device": c.device,
            "camera_id": c.camera_id,
            "filename": c.filename,
            "status": "FAILED",
            "timestamp": iso(c.taken_at),
            "file_size": 0,
            "file_path": "",
            "error": c.error,
            "success": False,
            "capture_time_ms": c.capture_ms,
            "source": source,
            "format": fmt,
        }
    return {
        "device": c.device,
        "camera_id": c.camera_id,
        "filename": c.filename,
        "status": "completed",
        "timestamp": iso(c.taken_at),
        "file_size": c.size,
        "file_path": str(c.path),
        "success": True,
        "capture_time_ms": c.capture_ms,
        "source": source,
        "format": fmt,
        "resolution": f"{c.width}x{c.height}",
        "download_url": f"/files/snapshots/{c.filename}",
    }


METHODS = (
    MethodSpec(
        "take_snapshot",
        take_snapshot,
        "Capture one image of a camera (warm keyframe, stream or device).",
        Role.OPERATOR,
        SnapshotParams,
        SnapshotResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND, STORAGE_CRITICAL, CAPACITY_EXCEEDED),
        concurrent=True,
        camera=CameraParam(SnapshotParams.scoped, unseen),
    ),
)
