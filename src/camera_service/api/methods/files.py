"""File methods: list_recordings, list_snapshots, get_recording_info, get_snapshot_info,
create_download_url (viewer), delete_recording, delete_snapshot (operator), over the
media index.

``create_download_url`` gives a URL a ``<video src>`` or ``<img src>`` can open (a
browser cannot put a header on those): the file's ``download_url`` with a link token
good for ``GET``/``HEAD`` of that one file only, for minutes, never past the caller's
own credential (``api/files.py`` checks it; the control API and MediaMTX refuse it).

Every ``filename`` is a plain basename (:func:`storage.names.check_basename`, else
-32602) of a media file of the method's kind; anything else, symlinks and directories
included, is -1005. Nothing outside the media directories is ever looked at.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import Field, field_validator

from camera_service.api.contract import (
    Deleted,
    DownloadUrlResult,
    FileInfo,
    FileList,
    ListedFile,
)
from camera_service.api.jsonrpc import (
    ALREADY_RECORDING,
    FILE_NOT_FOUND,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    RpcError,
    bad_param,
)
from camera_service.api.methods.tokens import lifetime, mint_scoped
from camera_service.api.methodtable import Call, CameraParam, MethodSpec, Params
from camera_service.api.wire import device_param
from camera_service.auth.identity import Role
from camera_service.cameras.model import camera_id_for
from camera_service.cameras.registry import CameraRegistry
from camera_service.observability.health import iso
from camera_service.storage.index import MediaEntry
from camera_service.storage.names import Kind, check_basename

MAX_OFFSET = 1_000_000_000
_USB_ID = re.compile(r"camera([0-9]{1,4})")
URL_PREFIX: dict[Kind, str] = {"recording": "/files/recordings/", "snapshot": "/files/snapshots/"}
DIR_SEGMENT: dict[Kind, str] = {"recording": "recordings", "snapshot": "snapshots"}
NOUN: dict[Kind, str] = {"recording": "Recording", "snapshot": "Snapshot"}


# --- params ----------------------------------------------------------------------------------


class ListParams(Params):
    limit: int = Field(100, ge=1, le=1000, strict=True, description="page size (1-1000)")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, strict=True, description="files to skip")
    device: str | None = Field(
        None,
        description="only this camera: /dev/videoN or a camera_id",
        json_schema_extra={"pattern": r"^(/dev/video[0-9]{1,4}|[A-Za-z0-9_-]{1,64})$"},
    )
    since: datetime | None = Field(
        None, description="ISO 8601; only files started at or after it (naive: UTC)"
    )
    until: datetime | None = Field(
        None, description="ISO 8601; only files started at or before it (naive: UTC)"
    )

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, v: Any) -> Any:
        return None if v is None else device_param(v)  # ValueError: -32602 naming device

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso(cls, v: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, str) or len(v) > 64:
            raise ValueError("must be an ISO 8601 date-time string")
        try:
            when = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time string") from None
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

    @property
    def camera_id(self) -> str | None:
        return None if self.device is None else camera_id_for(self.device)

    def scoped(self) -> str | None:
        """The camera a caller's camera scope is checked against (``CameraParam.of``)."""
        return self.camera_id


class FileParams(Params):
    filename: str = Field(description="a plain file name in the media directory")

    @field_validator("filename", mode="before")
    @classmethod
    def _basename(cls, v: Any) -> Any:
        return check_basename(v)  # BadName is a ValueError: -32602 naming filename


class DownloadUrlParams(FileParams):
    kind: Literal["recording", "snapshot"] = Field(
        description="which media directory: recording or snapshot"
    )
    ttl_seconds: float | None = Field(
        None,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="lifetime in seconds; default security.file_links.default_ttl, "
        "at most security.file_links.max_ttl",
    )


_P = TypeVar("_P", bound=FileParams)


# --- mapping -----------------------------------------------------------------------------------


def download_url(kind: Kind, name: str) -> str:
    return URL_PREFIX[kind] + quote(name, safe="")


def _seconds(duration: float | None) -> float | None:
    return None if duration is None else round(duration, 3)


def _not_found(kind: Kind, name: str) -> RpcError:
    return RpcError(
        FILE_NOT_FOUND,
        f"{NOUN[kind]} file not found",
        {"reason": "file_not_found", "filename": name},
    )


def device_of(cameras: CameraRegistry, camera_id: str | None) -> str | None:
    """api.md §3: /dev/videoN for V4L2 cameras, the camera_id otherwise."""
    if camera_id is None:
        return None
    camera = cameras.get(camera_id)
    if camera is not None:
        return camera.device
    m = _USB_ID.fullmatch(camera_id)
    return f"/dev/video{int(m.group(1))}" if m else camera_id


def listed(cameras: CameraRegistry, entry: MediaEntry) -> ListedFile:
    item: ListedFile = {
        "filename": entry.name,
        "file_size": entry.size,
        "size_bytes": entry.size,
        "modified_time": iso(entry.mtime),
        "download_url": download_url(entry.kind, entry.name),
        "device": device_of(cameras, entry.camera_id),
    }
    if entry.kind == "recording":
        item["duration"] = _seconds(entry.duration)
    return item


def info(cameras: CameraRegistry, entry: MediaEntry) -> FileInfo:
    result: FileInfo = {
        "filename": entry.name,
        "file_size": entry.size,
        "size_bytes": entry.size,
        "created_time": iso(entry.start_time),
        "modified_time": iso(entry.mtime),
        "download_url": download_url(entry.kind, entry.name),
        "device": device_of(cameras, entry.camera_id),
        "format": entry.format,
    }
    if entry.kind == "recording":
        result["duration"] = _seconds(entry.duration)
    else:
        sized = entry.width and entry.height
        result["resolution"] = f"{entry.width}x{entry.height}" if sized else None
    return result


async def existing(call: Call[_P], kind: Kind) -> MediaEntry:
    """The index entry of the file named; -1005 when there is no such file, or it is of
    a camera the caller may not see."""
    name = call.params.filename
    entry = await call.ctx.components.index.get(kind, name)
    if entry is None or not call.session.sees(entry.camera_id):
        raise _not_found(kind, name)
    return entry


# --- the methods, the same for each kind ----------------------------------------------------


def _window(p: ListParams) -> tuple[float | None, float | None]:
    since = p.since.timestamp() if p.since is not None else None
    until = p.until.timestamp() if p.until is not None else None
    if since is not None and until is not None and until < since:
        raise bad_param("until", "must not be before since")
    return since, until


async def list_files(kind: Kind, call: Call[ListParams]) -> FileList:
    """The files of the cameras the caller may see (only those with a camera in their
    name, for a caller limited to some cameras)."""
    p = call.params
    since, until = _window(p)
    c = call.ctx.components
    page = await c.index.list(
        kind, p.limit, p.offset, p.camera_id, since, until, cameras=call.session.cameras
    )
    return {
        "files": [listed(c.cameras, e) for e in page.files],
        "total": page.total,
        "limit": p.limit,
        "offset": p.offset,
    }


def unseen_list(call: Call[ListParams], camera_id: str) -> FileList:
    """``device`` a camera the caller may not see: as one that never had a file."""
    _window(call.params)
    return {"files": [], "total": 0, "limit": call.params.limit, "offset": call.params.offset}


async def get_info(kind: Kind, call: Call[FileParams]) -> FileInfo:
    return info(call.ctx.components.cameras, await existing(call, kind))


async def delete(kind: Kind, call: Call[FileParams]) -> Deleted:
    c = call.ctx.components
    name = call.params.filename
    entry = await existing(call, kind)
    # The recorder's word (busy) or the index's: inotify may see a new segment before
    # its create hook has reached the recording manager.
    if name in c.recordings.busy() or entry.written_now(time.time()):
        raise RpcError(
            ALREADY_RECORDING,
            "Recording in progress: the file is still being written",
            {"reason": "recording_in_progress", "filename": name},
        )
    try:
        await c.index.delete(kind, name)
    except FileNotFoundError:
        raise _not_found(kind, name) from None
    except OSError as exc:
        raise RpcError(
            INTERNAL_ERROR,
            f"{NOUN[kind]} could not be deleted: {exc.strerror}",
            {"reason": "delete_failed", "filename": name},
        ) from None
    return {"filename": name, "deleted": True, "message": f"{NOUN[kind]} {name} deleted"}


async def create_download_url(call: Call[DownloadUrlParams]) -> DownloadUrlResult:
    limits = call.ctx.components.settings.security.file_links
    ttl = lifetime(call.params.ttl_seconds, limits)
    kind: Kind = call.params.kind
    entry = await existing(call, kind)
    # cameras=[]: no camera's stream (MediaMTX refuses a link token anyway)
    token, expires_at = mint_scoped(call, ttl, cameras=[], file=(DIR_SEGMENT[kind], entry.name))
    return {
        "url": f"{download_url(kind, entry.name)}?token={token}",
        "kind": kind,
        "filename": entry.name,
        "expires_at": iso(expires_at),
    }


async def list_recordings(call: Call[ListParams]) -> FileList:
    return await list_files("recording", call)


async def list_snapshots(call: Call[ListParams]) -> FileList:
    return await list_files("snapshot", call)


async def get_recording_info(call: Call[FileParams]) -> FileInfo:
    return await get_info("recording", call)


async def get_snapshot_info(call: Call[FileParams]) -> FileInfo:
    return await get_info("snapshot", call)


async def delete_recording(call: Call[FileParams]) -> Deleted:
    return await delete("recording", call)


async def delete_snapshot(call: Call[FileParams]) -> Deleted:
    return await delete("snapshot", call)


_FOUND = (INVALID_PARAMS, FILE_NOT_FOUND)

METHODS = (
    MethodSpec(
        "list_recordings",
        list_recordings,
        "Recordings in the media directory, newest first, paged and filtered.",
        Role.VIEWER,
        ListParams,
        FileList,
        errors=(INVALID_PARAMS,),
        camera=CameraParam(ListParams.scoped, unseen_list),
    ),
    MethodSpec(
        "get_recording_info",
        get_recording_info,
        "One recording file: size, times, duration.",
        Role.VIEWER,
        FileParams,
        FileInfo,
        errors=_FOUND,
    ),
    MethodSpec(
        "delete_recording",
        delete_recording,
        "Delete one recording file.",
        Role.OPERATOR,
        FileParams,
        Deleted,
        errors=(*_FOUND, ALREADY_RECORDING),
    ),
    MethodSpec(
        "list_snapshots",
        list_snapshots,
        "Snapshots in the media directory, newest first, paged and filtered.",
        Role.VIEWER,
        ListParams,
        FileList,
        errors=(INVALID_PARAMS,),
        camera=CameraParam(ListParams.scoped, unseen_list),
    ),
    MethodSpec(
        "get_snapshot_info",
        get_snapshot_info,
        "One snapshot file: size, times, resolution.",
        Role.VIEWER,
        FileParams,
        FileInfo,
        errors=_FOUND,
    ),
    MethodSpec(
        "create_download_url",
        create_download_url,
        "A short-lived URL of one file that needs no header (for <video src>, <img src>).",
        Role.VIEWER,
        DownloadUrlParams,
        DownloadUrlResult,
        errors=_FOUND,
    ),
    MethodSpec(
        "delete_snapshot",
        delete_snapshot,
        "Delete one snapshot file.",
        Role.OPERATOR,
        FileParams,
        Deleted,
        errors=_FOUND,
    ),
)
