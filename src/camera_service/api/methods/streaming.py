"""Streaming methods of the Go-era API: get_stream_url, get_stream_status (viewer),
start_streaming, stop_streaming (operator).

Every answer is the MediaMTX controller's view of the camera's path (refreshed every
``mediamtx.check_interval``, as in get_streams) and, for start and stop, a viewing
window (:mod:`camera_service.media.viewing`) that holds the on-demand stream up. A
camera that does not exist, or that the caller may not see, is -1000.
"""

from __future__ import annotations

import time
from typing import Literal

from camera_service.api.context import Components
from camera_service.api.contract import (
    MediaMtxPath,
    StreamMetrics,
    StreamStartResult,
    StreamStatusResult,
    StreamStopResult,
    StreamUrlResult,
)
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
from camera_service.api.wire import stream_urls
from camera_service.auth.identity import Role
from camera_service.cameras.model import Camera
from camera_service.limits import CapacityExceeded
from camera_service.media.mediamtx.client import MediaMtxUnavailable
from camera_service.media.viewing import CameraUnavailable, Phase, on_demand, phase
from camera_service.observability.health import iso

_STATUS: dict[Phase, Literal["ACTIVE", "INACTIVE", "ERROR", "STARTING", "STOPPING"]] = {
    Phase.ACTIVE: "ACTIVE",
    Phase.INACTIVE: "INACTIVE",
    Phase.ERROR: "ERROR",
    Phase.STARTING: "STARTING",
    Phase.STOPPING: "STOPPING",
}


def not_found(camera_id: str) -> RpcError:
    return RpcError(
        CAMERA_NOT_FOUND, str(CameraUnavailable(camera_id)), {"reason": "camera_not_available"}
    )


def _camera(call: Call[DeviceParams]) -> Camera:
    camera = call.ctx.components.cameras.get(call.params.camera_id)
    if camera is None:
        raise not_found(call.params.camera_id)
    return camera


def unseen(call: Call[DeviceParams], camera_id: str) -> object:
    """A camera the caller may not see: as one that does not exist."""
    raise not_found(camera_id)


def _rtsp_url(call: Call[DeviceParams], camera_id: str) -> str:
    return stream_urls(camera_id, call.session.host, call.ctx.components.settings.mediamtx)["rtsp"]


def get_stream_url(call: Call[DeviceParams]) -> StreamUrlResult:
    c = call.ctx.components
    camera = _camera(call)
    cid = camera.camera_id
    state = c.media.streams.get(cid)
    live = camera.connected and c.media.reachable
    return {
        "device": camera.device,
        "camera_id": cid,
        "stream_name": cid,
        "stream_url": _rtsp_url(call, cid),
        # Opening the URL now gets the stream (an on-demand one starts for the reader).
        "available": live and cid in c.media.owned,
        "active_consumers": state.readers if state is not None else 0,
        "stream_status": (
            "ERROR"
            if not live
            else "READY"
            if state is not None and state.available
            else "NOT_READY"
        ),
    }


def stream_status(c: Components, camera: Camera) -> StreamStatusResult:
    cid = camera.camera_id
    state = c.media.streams.get(cid)
    window = c.viewing.windows.get(cid)
    now_phase = phase(
        connected=camera.connected,
        reachable=c.media.reachable,
        state=state,
        held=window is not None,
        on_demand=on_demand(c.media.source_of(cid)),
    )
    ready = state is not None and state.available
    since = c.media.up_since.get(cid)
    path: MediaMtxPath = {
        "exists": state is not None,
        "ready": ready,
        "readers": state.readers if state is not None else 0,
    }
    metrics: StreamMetrics = {
        "bytes_sent": state.outbound_bytes if state is not None else 0,
        "frames_sent": 0,  # MediaMTX counts no frames
        "bitrate": round(c.media.bitrates.get(cid, 0.0)),
        "fps": camera.fps if ready else 0,
    }
    return {
        "device": camera.device,
        "camera_id": cid,
        "stream_name": cid,
        "status": _STATUS[now_phase],
        "ready": ready,
        "mediamtx_path": path,
        "metrics": metrics,
        "start_time": iso(since) if since is not None else None,
        "viewing_until": iso(window.until) if window is not None else None,
    }


def get_stream_status(call: Call[DeviceParams]) -> StreamStatusResult:
    return stream_status(call.ctx.components, _camera(call))


async def start_streaming(call: Call[DeviceParams]) -> StreamStartResult:
    c = call.ctx.components
    camera_id = call.params.camera_id
    try:
        window = c.viewing.open(camera_id)
    except CameraUnavailable:
        raise not_found(camera_id) from None
    except MediaMtxUnavailable as exc:
        message = f"MediaMTX operation failed: {exc}"
        raise RpcError(MEDIAMTX_FAILED, message, {"reason": "mediamtx_failed"}) from None
    except CapacityExceeded as exc:
        raise capacity_error(exc) from None
    camera = c.cameras.get(camera_id)
    mtx = c.settings.mediamtx
    # The publisher's start, then the controller's next look at the streams.
    timeout = mtx.on_demand_start_timeout + 2 * mtx.check_interval
    up = await c.viewing.until_up(camera_id, timeout)
    result: StreamStartResult = {
        "device": camera.device if camera is not None else camera_id,
        "camera_id": camera_id,
        "stream_name": camera_id,
        "stream_url": _rtsp_url(call, camera_id),
        "status": "STARTED",
        "start_time": iso(window.opened_at),
        "auto_close_after": f"{window.length:g}s",
    }
    if not up:
        if c.viewing.windows.get(camera_id) is window:
            await c.viewing.close(camera_id, count=False)
        result["status"] = "FAILED"
        result["error"] = f"the stream did not come up within {timeout:g} s"
    return result


async def stop_streaming(call: Call[DeviceParams]) -> StreamStopResult:
    c = call.ctx.components
    camera = _camera(call)
    cid = camera.camera_id
    closed = await c.viewing.close(cid)
    now = time.time()
    if closed is None:
        state = c.media.streams.get(cid)
        readers = state.readers if state is not None else 0
        return {
            "device": camera.device,
            "camera_id": cid,
            "stream_name": cid,
            "status": "FAILED",
            "start_time": None,
            "end_time": iso(now),
            "duration": 0.0,
            "stream_continues": readers > 0,
            "message": f"{cid} is not streaming: start_streaming opens a viewing window",
        }
    others = closed.others
    return {
        "device": camera.device,
        "camera_id": cid,
        "stream_name": cid,
        "status": "STOPPED",
        "start_time": iso(closed.opened_at),
        "end_time": iso(closed.closed_at),
        "duration": round(closed.closed_at - closed.opened_at, 3),
        "stream_continues": others > 0,
        "message": (
            f"streaming stopped; {others} other reader(s) keep the stream up"
            if others
            else "streaming stopped"
        ),
    }


METHODS = (
    MethodSpec(
        "get_stream_url",
        get_stream_url,
        "A camera's RTSP URL, whether it can be read now, and its readers.",
        Role.VIEWER,
        DeviceParams,
        StreamUrlResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND),
        camera=CameraParam(DeviceParams.scoped, unseen),
    ),
    MethodSpec(
        "get_stream_status",
        get_stream_status,
        "What a camera's stream is doing: phase, MediaMTX's path, metrics.",
        Role.VIEWER,
        DeviceParams,
        StreamStatusResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND),
        camera=CameraParam(DeviceParams.scoped, unseen),
    ),
    MethodSpec(
        "start_streaming",
        start_streaming,
        "Bring a camera's stream up and keep it up for mediamtx.viewing_window seconds.",
        Role.OPERATOR,
        DeviceParams,
        StreamStartResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND, MEDIAMTX_FAILED, CAPACITY_EXCEEDED),
        concurrent=True,
        camera=CameraParam(DeviceParams.scoped, unseen),
    ),
    MethodSpec(
        "stop_streaming",
        stop_streaming,
        "End the viewing window start_streaming opened; others may still read the stream.",
        Role.OPERATOR,
        DeviceParams,
        StreamStopResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND),
        concurrent=True,
        camera=CameraParam(DeviceParams.scoped, unseen),
    ),
)
