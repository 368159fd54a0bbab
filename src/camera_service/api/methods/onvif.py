"""ONVIF discovery (admin): ``discover_cameras``, and the Go-era names for it and for
what follows it: ``discover_external_streams``, ``get_external_streams``,
``add_external_stream`` and ``remove_external_stream`` (``add_camera`` and
``remove_camera`` of an RTSP URL) and ``set_discovery_interval`` (the periodic scan)."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import Field

from camera_service.api.contract import (
    DiscoverCamerasResult,
    DiscoveredCamera,
    DiscoverExternalStreamsResult,
    DiscoveryIntervalResult,
    ExternalStream,
    ExternalStreamAddResult,
    ExternalStreamRemoveResult,
    ExternalStreamsResult,
)
from camera_service.api.jsonrpc import (
    CAMERA_NOT_FOUND,
    CAPACITY_EXCEEDED,
    INVALID_PARAMS,
    MEDIAMTX_FAILED,
    RpcError,
    bad_param,
)
from camera_service.api.methods.sources import SourceParams, add_source, build_source, remove_source
from camera_service.api.methodtable import Call, MethodSpec, NoParams, Params
from camera_service.auth.identity import Role
from camera_service.cameras import onvif
from camera_service.cameras.rtspurl import split_credentials
from camera_service.config import CAMERA_ID_PATTERN, MAX_SCAN_INTERVAL, RtspSource


class DiscoverParams(Params):
    username: str | None = Field(None, min_length=1, max_length=256)
    password: str | None = Field(None, max_length=256)


def _device(device: onvif.Device) -> DiscoveredCamera:
    return {
        "endpoint": device.endpoint,
        "address": device.address,
        "host": device.host,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "firmware": device.firmware,
        "serial": device.serial,
        "scopes": list(device.scopes),
        "profiles": [
            {
                "token": p.token,
                "name": p.name,
                "width": p.width,
                "height": p.height,
                "encoding": p.encoding,
                "rtsp_uri": p.rtsp_uri,
            }
            for p in device.profiles
        ],
        "error": device.error,
    }


async def _discover(call: Call[DiscoverParams]) -> list[onvif.Device]:
    params = call.params
    credentials = (
        onvif.Credentials(params.username, params.password or "") if params.username else None
    )
    # One discovery at a time (the periodic one included): a second caller waits for
    # the socket and the devices rather than doubling what the hub sends.
    return await call.ctx.components.discovery.run(credentials)


async def discover_cameras(call: Call[DiscoverParams]) -> DiscoverCamerasResult:
    devices = await _discover(call)
    return {
        "devices": [_device(d) for d in devices],
        "count": len(devices),
        "scan_timestamp": call.ctx.components.discovery.at,
    }


def _streams(devices: list[onvif.Device], at: float) -> list[ExternalStream]:
    streams: list[ExternalStream] = []
    for device in devices:
        described = _device(device)
        for profile in device.profiles:
            if profile.rtsp_uri:
                name = " ".join(filter(None, (device.manufacturer, device.model, profile.name)))
                streams.append(
                    {
                        "url": profile.rtsp_uri,
                        "type": "generic",
                        "name": name or profile.token,
                        "status": "discovered",
                        "discovered_at": at,
                        "device": described,
                    }
                )
    return streams


async def discover_external_streams(
    call: Call[DiscoverParams],
) -> DiscoverExternalStreamsResult:
    devices = await _discover(call)
    at = call.ctx.components.discovery.at
    streams = _streams(devices, at)
    return {
        "discovered_streams": streams,
        "skydio_streams": [],
        "generic_streams": streams,
        "scan_timestamp": at,
        "total_found": len(streams),
        "devices": [_device(d) for d in devices],
    }


def get_external_streams(call: Call[NoParams]) -> ExternalStreamsResult:
    state = call.ctx.components.discovery
    streams = _streams(state.devices, state.at)
    return {
        "external_streams": streams,
        "skydio_streams": [],
        "generic_streams": streams,
        "total_count": len(streams),
        "timestamp": state.at,
    }


class AddExternalParams(Params):
    stream_url: str = Field(max_length=2048, description="rtsp:// or rtsps:// URL")
    stream_name: str = Field(pattern=CAMERA_ID_PATTERN, description="camera_id and path name")
    stream_type: Literal["generic"] = "generic"
    name: str | None = Field(None, min_length=1, max_length=128)
    username: str | None = Field(None, max_length=256)
    password: str | None = Field(None, max_length=256)
    transport: Literal["tcp", "udp"] | None = None


class RemoveExternalParams(Params):
    stream_url: str = Field(max_length=2048)
    stream_name: str | None = Field(None, pattern=CAMERA_ID_PATTERN)


class IntervalParams(Params):
    scan_interval: float = Field(
        ge=0, le=MAX_SCAN_INTERVAL, strict=True, allow_inf_nan=False, description="Seconds; 0: off."
    )


_EXTERNAL_PARAM = {"url": "stream_url", "id": "stream_name"}


def _external_param(key: str) -> str:
    return _EXTERNAL_PARAM.get(key, key)


def _plain_url(url: str) -> str:
    """``url`` without credentials; -32602 naming ``stream_url`` if it is no RTSP URL."""
    try:
        return split_credentials(url).url
    except ValueError as exc:
        raise bad_param("stream_url", str(exc)) from None


def _discovered_name(call: Call[AddExternalParams], url: str) -> str | None:
    state = call.ctx.components.discovery
    for stream in _streams(state.devices, state.at):
        if stream["url"] == url:
            return stream["name"][:128]
    return None


async def add_external_stream(call: Call[AddExternalParams]) -> ExternalStreamAddResult:
    p = call.params
    url = _plain_url(p.stream_url)
    source = SourceParams(
        type="rtsp",
        url=p.stream_url,
        username=p.username,
        password=p.password,
        transport=p.transport,
    )
    name = p.name or _discovered_name(call, url)
    built = build_source(p.stream_name, name, source, _external_param)
    info = await add_source(call.ctx.components, built, "stream_name")
    return {
        "stream_url": url,
        "stream_name": p.stream_name,
        "stream_type": p.stream_type,
        "status": "added",
        "timestamp": time.time(),
        "device": p.stream_name,
        "camera_id": p.stream_name,
        "camera": info,
    }


def _added_with(call: Call[RemoveExternalParams], url: str) -> list[str]:
    """The ids of the cameras added through the API whose RTSP URL is ``url``."""
    return sorted(
        e.source.id
        for e in call.ctx.components.camera_sources.entries()
        if e.origin == "api" and isinstance(e.source, RtspSource) and e.source.url == url
    )


async def remove_external_stream(call: Call[RemoveExternalParams]) -> ExternalStreamRemoveResult:
    p = call.params
    url = _plain_url(p.stream_url)
    ids = _added_with(call, url)
    if p.stream_name is not None:
        ids = [i for i in ids if i == p.stream_name]
    if not ids:
        raise RpcError(
            CAMERA_NOT_FOUND,
            "no camera was added with this stream_url"
            + (f" as {p.stream_name!r}" if p.stream_name else ""),
            {"reason": "camera_not_found"},
        )
    if len(ids) > 1:
        raise bad_param(
            "stream_url", f"cameras {', '.join(ids)} have it; name one with stream_name"
        )
    [camera_id] = ids
    removed = await remove_source(call.ctx.components, camera_id)
    return {
        "stream_url": url,
        "stream_name": camera_id,
        "status": "removed",
        "timestamp": time.time(),
        "device": camera_id,
        "camera_id": camera_id,
        "recording": removed["recording"],
    }


async def set_discovery_interval(call: Call[IntervalParams]) -> DiscoveryIntervalResult:
    seconds = call.params.scan_interval
    identity = call.session.identity
    try:
        await call.ctx.components.discovery.set_interval(
            seconds, identity.user_id if identity is not None else None
        )
    except ValueError as exc:
        raise bad_param("scan_interval", str(exc)) from None
    return {
        "scan_interval": seconds,
        "status": "updated",
        "message": f"periodic discovery every {seconds:g} s"
        if seconds
        else "periodic discovery off",
        "timestamp": time.time(),
    }


METHODS = (
    MethodSpec(
        "discover_cameras",
        discover_cameras,
        "Find ONVIF cameras: a WS-Discovery probe, then each one's profiles and RTSP URIs.",
        Role.ADMIN,
        DiscoverParams,
        DiscoverCamerasResult,
        concurrent=True,
    ),
    MethodSpec(
        "discover_external_streams",
        discover_external_streams,
        "Go-era name of discover_cameras: the RTSP streams found, one per profile.",
        Role.ADMIN,
        DiscoverParams,
        DiscoverExternalStreamsResult,
        concurrent=True,
    ),
    MethodSpec(
        "get_external_streams",
        get_external_streams,
        "Go-era: the RTSP streams the last discovery found.",
        Role.ADMIN,
        NoParams,
        ExternalStreamsResult,
    ),
    MethodSpec(
        "add_external_stream",
        add_external_stream,
        "Go-era: add_camera of an RTSP URL (a discovered one, say), stream_name its id.",
        Role.ADMIN,
        AddExternalParams,
        ExternalStreamAddResult,
        errors=(INVALID_PARAMS, CAPACITY_EXCEEDED),
    ),
    MethodSpec(
        "remove_external_stream",
        remove_external_stream,
        "Go-era: remove_camera of the camera added with this RTSP URL.",
        Role.ADMIN,
        RemoveExternalParams,
        ExternalStreamRemoveResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND, MEDIAMTX_FAILED),
        concurrent=True,
    ),
    MethodSpec(
        "set_discovery_interval",
        set_discovery_interval,
        "Run ONVIF discovery every scan_interval seconds (0: off); kept across restarts.",
        Role.ADMIN,
        IntervalParams,
        DiscoveryIntervalResult,
        errors=(INVALID_PARAMS,),
    ),
)
