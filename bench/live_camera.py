"""Live test cameras for the media benches: the service as its own process
(``bench/server.py``) with test-pattern cameras (one, ``lab``, unless told), the MediaMTX
double and its real RTSP data plane (FFmpeg publishers, relay, recorders) in this
process, and an operator's WebSocket client once MediaMTX has every camera's path."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.rpc import RpcClient
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import MediaMtxDouble, RecordedRequest

from server import ServiceProcess

CAMERA = {"type": "test", "id": "lab", "resolution": "640x360", "fps": 15}


@dataclass(frozen=True, slots=True)
class LiveCamera:
    client: RpcClient  # authenticated as operator
    plane: DataPlane
    srv: ServiceProcess


def path_added(camera_id: str) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.path == f"/v3/config/paths/add/{camera_id}"


@asynccontextmanager
async def live_camera(
    prefix: str,
    overrides: dict[str, Any],
    cameras: Sequence[Mapping[str, Any]] = (CAMERA,),
    **plane_options: Any,
) -> AsyncIterator[LiveCamera]:
    """The stack, with the service's config ``overrides`` and ``cameras`` (its
    ``cameras.sources``); MediaMTX contract violations seen by the double fail the run
    once it is over."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        async with (
            DataPlane(work_dir=work, **plane_options) as plane,
            MediaMtxDouble(work_dir=work, data_plane=plane) as mtx,
        ):
            srv = ServiceProcess(
                overrides={
                    "mediamtx.api_url": mtx.api_url,
                    "mediamtx.rtsp_port": plane.rtsp_port,
                    "mediamtx.check_interval": 0.1,
                    "cameras.sources": [dict(c) for c in cameras],
                    **overrides,
                }
            )
            with srv:
                client = await RpcClient.connect(srv.ws_url)
                try:
                    await client.call("authenticate", {"auth_token": srv.mint_token("operator")})
                    for c in cameras:
                        await mtx.wait_for_request(path_added(c["id"]), timeout=30)
                    yield LiveCamera(client, plane, srv)
                finally:
                    await client.close()
            if mtx.violations:
                raise RuntimeError(f"MediaMTX contract violations: {mtx.violations}")
