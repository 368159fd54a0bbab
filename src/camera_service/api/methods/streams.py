"""Stream methods: get_streams."""

from __future__ import annotations

from typing import cast

from camera_service.api.contract import Stream
from camera_service.api.methodtable import Call, MethodSpec, NoParams
from camera_service.auth.identity import Role


def get_streams(call: Call[NoParams]) -> list[Stream]:
    # The media controller lists its paths with the contract's field names.
    return cast(list[Stream], call.ctx.components.media.managed_streams())


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
