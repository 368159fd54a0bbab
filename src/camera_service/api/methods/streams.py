"""Stream methods: get_streams."""

from __future__ import annotations

from camera_service.api.contract import Stream
from camera_service.api.methodtable import Call, MethodSpec, NoParams
from camera_service.auth.identity import Role


def get_streams(call: Call[NoParams]) -> list[Stream]:
    return [
        {
            "name": name,
            "source": state.source_type if state else None,
            "ready": state.available if state else False,
            "readers": state.readers if state else 0,
            "bytes_sent": state.outbound_bytes if state else 0,
        }
        for name, state in call.ctx.components.media.managed_paths()
        if call.session.sees(name)  # a path is named after its camera
    ]


METHODS = (
    MethodSpec(
        "get_streams",
        get_streams,
        "Every MediaMTX path this service manages, with readiness and readers.",
        Role.VIEWER,
        NoParams,
        list[Stream],
    ),
)
