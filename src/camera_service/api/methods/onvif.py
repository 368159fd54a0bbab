"""ONVIF discovery (admin): ``discover_cameras``, and the Go-era names for it
(``discover_external_streams``, ``get_external_streams``)."""

from __future__ import annotations

import time

from pydantic import Field

from camera_service.api.contract import (
    DiscoverCamerasResult,
    DiscoveredCamera,
    DiscoverExternalStreamsResult,
    ExternalStream,
    ExternalStreamsResult,
)
from camera_service.api.methodtable import Call, MethodSpec, NoParams, Params
from camera_service.auth.identity import Role
from camera_service.cameras import onvif


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
    state = call.ctx.discovery
    # One discovery at a time: a second caller waits for the socket and the devices
    # rather than doubling what the hub sends and the devices get.
    async with state.lock:
        devices = await onvif.discover(call.ctx.components.settings.onvif, credentials)
        state.devices, state.at = devices, time.time()
    return devices


async def discover_cameras(call: Call[DiscoverParams]) -> DiscoverCamerasResult:
    devices = await _discover(call)
    return {
        "devices": [_device(d) for d in devices],
        "count": len(devices),
        "scan_timestamp": call.ctx.discovery.at,
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
    at = call.ctx.discovery.at
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
    state = call.ctx.discovery
    streams = _streams(state.devices, state.at)
    return {
        "external_streams": streams,
        "skydio_streams": [],
        "generic_streams": streams,
        "total_count": len(streams),
        "timestamp": state.at,
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
)
