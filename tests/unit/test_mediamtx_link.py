"""Whether MediaMTX is up has one signal, the controller's check: what clients see
(the ``mediamtx`` health component), requests failing at once while it is down, and
everything back at the first answer. The Control API client is a stand-in here."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, RecordingConfig
from camera_service.events import EventBus
from camera_service.media.controller import MediaController
from camera_service.media.desired import DesiredRecording
from camera_service.media.mediamtx import Info, MediaMtxUnavailable, PathState
from camera_service.observability.health import ComponentState, Health, Status


class StandIn:
    """The client calls the controller makes; ``down`` makes each one fail."""

    def __init__(self) -> None:
        self.down: str | None = None
        self.tries = 0
        self.patches: list[tuple[str, dict[str, Any]]] = []

    async def info(self) -> Info:
        self.tries += 1
        if self.down is not None:
            raise MediaMtxUnavailable(f"GET /v3/info: {self.down} (try {self.tries})")
        return Info("v1.20.1", "2026-01-01T00:00:00Z")

    async def list_paths(self) -> dict[str, PathState]:
        return {}

    async def patch_path(self, name: str, conf: dict[str, Any]) -> None:
        self.patches.append((name, conf))
        if self.down is not None:
            raise MediaMtxUnavailable(f"PATCH /v3/config/paths/patch/{name}: {self.down}")

    async def close(self) -> None:
        pass


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
def api(controller: MediaController, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    stand_in = StandIn()
    monkeypatch.setattr(controller, "client", stand_in)
    return stand_in


@pytest.fixture
def controller(health: Health) -> MediaController:
    events = EventBus()
    cfg = MediaMtxConfig()
    db: Any = None  # only start() reads it
    return MediaController(
        lambda: cfg,
        CameraRegistry(events),
        events,
        health,
        db,
        lambda _: None,
        lambda _: None,
        dict,
        DesiredRecording(RecordingConfig),
    )


def link_changes(health: Health) -> list[tuple[Status, str]]:
    seen: list[tuple[Status, str]] = []

    def listener(state: ComponentState) -> None:
        if state.name == "mediamtx":
            seen.append((state.status, state.reason))

    health.listeners.append(listener)
    return seen


async def test_mediamtx_down_is_one_health_change_with_a_stable_reason(
    controller: MediaController, api: StandIn, health: Health
) -> None:
    await controller.check()
    changes = link_changes(health)
    for cause in ("connection refused", "no response within 5 s", "HTTP 503", "refused"):
        api.down = cause
        await controller.check()
    # One push to clients, however the tries failed; the last error is in the details.
    assert changes == [(Status.UNHEALTHY, "unreachable")]
    link = health.components["mediamtx"]
    assert link.details["error"] == "GET /v3/info: refused (try 5)"
    assert not controller.reachable


async def test_requests_fail_at_once_while_mediamtx_is_down(
    controller: MediaController, api: StandIn
) -> None:
    await controller.check()
    api.down = "no response within 5 s"  # hung: each request would wait 3 x 5 s
    await controller.check()
    with pytest.raises(MediaMtxUnavailable, match="MediaMTX is unreachable"):
        await controller.patch_path("lab", {"record": True})
    assert api.patches == []  # refused without asking MediaMTX


async def test_the_first_answer_brings_mediamtx_back_at_once(
    controller: MediaController, api: StandIn, health: Health
) -> None:
    api.down = "connection refused"
    for _ in range(5):
        await controller.check()
    changes = link_changes(health)
    api.down = None
    await controller.check()  # no cool-down: the very next check
    assert changes == [(Status.HEALTHY, "")] and controller.reachable
    assert health.components["mediamtx"].details["version"] == "v1.20.1"
    await controller.patch_path("lab", {"record": True})
    assert api.patches == [("lab", {"record": True})]


async def test_a_mediamtx_never_reached_is_explained_once(
    controller: MediaController,
    api: StandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [100.0]
    monkeypatch.setattr("camera_service.media.controller.time.monotonic", lambda: clock[0])
    api.down = "connection refused"

    def hints() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("MediaMTX is not")]

    await controller.check()
    clock[0] += 4.9  # a managed MediaMTX still starting: nothing said yet
    await controller.check()
    assert hints() == []
    for _ in range(5):
        clock[0] += 1.0
        await controller.check()
    (hint,) = hints()
    assert "camera-service doctor" in hint.next_step  # type: ignore[attr-defined]
    # Reached once, it is never said again, even when it goes away later.
    api.down = None
    await controller.check()
    api.down = "connection refused"
    clock[0] += 60
    await controller.check()
    assert len(hints()) == 1
