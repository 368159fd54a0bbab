"""Stream methods: get_streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typing_extensions import TypedDict

from camera_service.api.registry import Call, MethodRegistry, MethodSpec
from camera_service.auth.identity import Role


class Stream(TypedDict):
    name: str
    source: str | None
    ready: bool
    readers: int
    bytes_sent: int


def register(registry: MethodRegistry, streams: Callable[[], list[dict[str, Any]]]) -> None:
    def get_streams(call: Call) -> list[dict[str, Any]]:
        return streams()

    registry.add(
        MethodSpec(
            "get_streams",
            get_streams,
            "Every MediaMTX path this service manages, with readiness and readers.",
            Role.VIEWER,
            result=list[Stream],
        )
    )
