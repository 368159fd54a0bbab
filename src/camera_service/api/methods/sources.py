"""Cameras at run time: add_camera, update_camera, remove_camera, list_camera_sources.

Params are checked here and become the config file's source models, so a camera added
through the API is validated as a configured one is. Credentials given in the URL are
split out (the URL kept, shown and logged holds none); a password is shown masked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field, ValidationError

from camera_service.api.context import Components
from camera_service.api.contract import (
    CameraRemoveResult,
    CameraSourceInfo,
    CameraSourceList,
    CameraSourceSpec,
)
from camera_service.api.jsonrpc import (
    CAMERA_NOT_FOUND,
    CAPACITY_EXCEEDED,
    INVALID_PARAMS,
    MEDIAMTX_FAILED,
    RpcError,
    bad_param,
)
from camera_service.api.methods.recordings import rpc_error, stopped_result
from camera_service.api.methods.system import capacity_error
from camera_service.api.methodtable import Call, MethodSpec, NoParams, Params, plain_reason
from camera_service.auth.identity import Role
from camera_service.cameras.model import CameraStatus
from camera_service.cameras.rtspurl import MASK, split_credentials
from camera_service.cameras.sources import Refusal, SourceEntry, SourceRefused
from camera_service.config import CAMERA_ID_PATTERN, RtspSource, TestPatternSource
from camera_service.limits import CapacityExceeded
from camera_service.record.manager import RecordingError

Source = RtspSource | TestPatternSource


class SourceParams(Params):
    """One flat object; which keys apply depends on ``type`` (checked on conversion)."""

    type: Literal["rtsp", "test"]
    url: str | None = Field(None, max_length=2048, description="rtsp:// or rtsps:// URL")
    username: str | None = Field(None, max_length=256)
    password: str | None = Field(None, max_length=256)
    transport: Literal["tcp", "udp"] | None = None
    pattern: str | None = None
    resolution: str | None = None
    fps: int | None = None


class AddParams(Params):
    camera_id: str = Field(pattern=CAMERA_ID_PATTERN, description="camera_id and path name")
    name: str | None = Field(None, min_length=1, max_length=128)
    source: SourceParams


class UpdateParams(Params):
    camera_id: str = Field(pattern=CAMERA_ID_PATTERN)
    name: str | None = Field(None, min_length=1, max_length=128)
    source: SourceParams | None = None


class CameraIdParams(Params):
    camera_id: str = Field(pattern=CAMERA_ID_PATTERN)


def _source_key(key: str) -> str:
    return f"source.{key}"


def build_source(
    camera_id: str, name: str | None, p: SourceParams, param: Callable[[str], str] = _source_key
) -> Source:
    """The config model of ``p``; -32602 naming the param (``param(key)``, by default
    ``source.<key>``) that is wrong."""
    fields: dict[str, object] = {"id": camera_id, "name": name}
    if p.type == "rtsp":
        if p.url is None:
            raise bad_param(param("url"), "is required for an rtsp source")
        try:
            split = split_credentials(p.url)
        except ValueError as exc:
            raise bad_param(param("url"), str(exc)) from None
        if split.username is not None and (p.username is not None or p.password is not None):
            raise bad_param(param("url"), "has credentials; do not also send username/password")
        fields |= {
            "url": split.url,
            "username": split.username if split.username is not None else p.username,
            "password": split.password if split.username is not None else p.password,
            "transport": p.transport or "tcp",
        }
        model: type[Source] = RtspSource
    else:
        for key in ("pattern", "resolution", "fps"):
            if (value := getattr(p, key)) is not None:
                fields[key] = value
        model = TestPatternSource
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = str(err["loc"][0]) if err["loc"] else "type"
        # Never echo a value back: it may be a password.
        reason = plain_reason(err["type"], err.get("ctx") or {}, None, key)
        raise bad_param(param(key), reason) from None


def source_spec(source: Source) -> CameraSourceSpec:
    if isinstance(source, TestPatternSource):
        return {
            "type": "test",
            "pattern": source.pattern,
            "resolution": source.resolution,
            "fps": source.fps,
        }
    return {
        "type": "rtsp",
        "url": source.url,
        "username": source.username,
        "password": MASK if source.password is not None else None,
        "transport": source.transport,
    }


def source_info(entry: SourceEntry) -> CameraSourceInfo:
    source, camera = entry.source, entry.camera
    return {
        "camera_id": source.id,
        "name": source.name or source.id,
        "origin": entry.origin,
        "active": entry.active,
        "editable": entry.origin == "api",
        "status": (camera.status if camera is not None else CameraStatus.DISCONNECTED).value,
        "error": camera.error if camera is not None else "",
        "source": source_spec(source),
    }


def refused(exc: SourceRefused | CapacityExceeded, id_param: str = "camera_id") -> RpcError:
    if isinstance(exc, CapacityExceeded):
        return capacity_error(exc)
    if exc.refusal is Refusal.NOT_FOUND:
        return RpcError(CAMERA_NOT_FOUND, str(exc), {"reason": "camera_not_found"})
    return bad_param(id_param, str(exc))  # the message says which refusal


async def add_source(
    components: Components, source: Source, id_param: str = "camera_id"
) -> CameraSourceInfo:
    """Store and serve ``source`` (add_camera, add_external_stream)."""
    try:
        return source_info(await components.camera_sources.add(source))
    except (SourceRefused, CapacityExceeded) as exc:
        raise refused(exc, id_param) from None


async def add_camera(call: Call[AddParams]) -> CameraSourceInfo:
    p = call.params
    return await add_source(call.ctx.components, build_source(p.camera_id, p.name, p.source))


async def update_camera(call: Call[UpdateParams]) -> CameraSourceInfo:
    p = call.params
    sources = call.ctx.components.camera_sources
    old = sources.stored(p.camera_id)
    if old is None:  # refused with the reason (config camera, never added)
        try:
            sources.check_stored(p.camera_id)
        except SourceRefused as exc:
            raise refused(exc) from None
    assert old is not None
    name = p.name if p.name is not None else old.name
    if p.source is None:
        source: Source = old.model_copy(update={"name": name})
    else:
        source = build_source(p.camera_id, name, p.source)
        if (
            isinstance(source, RtspSource)
            and isinstance(old, RtspSource)
            and source.password is None
            and p.source.password is None
            and source.username == old.username
        ):  # a client that was shown the mask can change the URL without the password
            source = source.model_copy(update={"password": old.password})
    try:
        return source_info(await sources.update(source))
    except SourceRefused as exc:
        raise refused(exc) from None


async def remove_camera(call: Call[CameraIdParams]) -> CameraRemoveResult:
    return await remove_source(call.ctx.components, call.params.camera_id)


async def remove_source(c: Components, camera_id: str) -> CameraRemoveResult:
    """Remove an added camera, its recording finalized first (remove_camera,
    remove_external_stream)."""
    try:
        c.camera_sources.check_stored(camera_id)
    except SourceRefused as exc:
        raise refused(exc) from None
    stopped = None
    if camera_id in c.recordings.active:  # finalized before its camera and path go
        try:
            stopped = stopped_result(await c.recordings.stop(camera_id), c.recordings.recordings)
        except RecordingError as exc:
            raise rpc_error(exc) from None
    try:
        await c.camera_sources.remove(camera_id)
    except SourceRefused as exc:
        raise refused(exc) from None
    return {"camera_id": camera_id, "removed": True, "recording": stopped}


def list_camera_sources(call: Call[NoParams]) -> CameraSourceList:
    listed = [source_info(e) for e in call.ctx.components.camera_sources.entries()]
    return {"sources": listed, "total": len(listed)}


METHODS = (
    MethodSpec(
        "add_camera",
        add_camera,
        "Add an RTSP or test-pattern camera; stored, served at once, kept across restarts.",
        Role.ADMIN,
        AddParams,
        CameraSourceInfo,
        errors=(INVALID_PARAMS, CAPACITY_EXCEEDED),
    ),
    MethodSpec(
        "update_camera",
        update_camera,
        "Change the name or source of a camera added with add_camera.",
        Role.ADMIN,
        UpdateParams,
        CameraSourceInfo,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND),
    ),
    MethodSpec(
        "remove_camera",
        remove_camera,
        "Remove a camera added with add_camera; its recording is finalized first.",
        Role.ADMIN,
        CameraIdParams,
        CameraRemoveResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND, MEDIAMTX_FAILED),
        concurrent=True,
    ),
    MethodSpec(
        "list_camera_sources",
        list_camera_sources,
        "Every RTSP and test-pattern camera: where it comes from, its source (masked).",
        Role.ADMIN,
        NoParams,
        CameraSourceList,
    ),
)
