"""get_preview (viewer): a recent image of a camera, for a page with no live stream."""

from __future__ import annotations

import base64
from typing import Literal, cast

from camera_service.api.contract import PreviewResult
from camera_service.api.jsonrpc import (
    CAMERA_NOT_FOUND,
    CAPACITY_EXCEEDED,
    INVALID_PARAMS,
    MEDIAMTX_FAILED,
    RpcError,
)
from camera_service.api.methods.cameras import DeviceParams
from camera_service.api.methods.system import capacity_error
from camera_service.api.methodtable import Call, CameraParam, MethodSpec
from camera_service.auth.identity import Role
from camera_service.limits import CapacityExceeded
from camera_service.media.snapshots import CameraUnavailable, CaptureFailed
from camera_service.observability.health import iso


def _missing(camera_id: str) -> RpcError:
    return RpcError(
        CAMERA_NOT_FOUND,
        f"Camera not found or not connected: {camera_id}",
        {"reason": "camera_not_available"},
    )


async def get_preview(call: Call[DeviceParams]) -> PreviewResult:
    camera_id = call.params.camera_id
    c = call.ctx.components
    camera = c.cameras.get(camera_id)
    try:
        shot = await c.previews.get(camera_id)
    except CameraUnavailable:
        if camera is None:
            raise _missing(camera_id) from None
        raise RpcError(
            CAMERA_NOT_FOUND,
            f"Camera disconnected: {camera_id} has no picture until it is back",
            {"reason": "camera_disconnected", "camera_id": camera_id},
        ) from None
    except CapacityExceeded as exc:
        raise capacity_error(exc) from None
    except CaptureFailed as exc:
        raise RpcError(
            MEDIAMTX_FAILED,
            f"No preview of {camera_id}: {exc}",
            {"reason": "preview_failed", "camera_id": camera_id},
        ) from None
    return {
        "device": camera.device if camera is not None else camera_id,
        "camera_id": camera_id,
        "format": "jpg",
        "resolution": f"{shot.width}x{shot.height}",
        "taken_at": iso(shot.wall),
        "source": cast(Literal["warm", "stream", "device"], shot.source),
        "image": base64.b64encode(shot.data).decode("ascii"),
    }


def unseen(call: Call[DeviceParams], camera_id: str) -> PreviewResult:
    """A camera the caller may not see: as one that does not exist."""
    raise _missing(camera_id)


METHODS = (
    MethodSpec(
        "get_preview",
        get_preview,
        "A recent JPEG of a camera (shared by every caller for a few seconds; not stored).",
        Role.VIEWER,
        DeviceParams,
        PreviewResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND, MEDIAMTX_FAILED, CAPACITY_EXCEEDED),
        concurrent=True,
        camera=CameraParam(DeviceParams.scoped, unseen),
    ),
)
