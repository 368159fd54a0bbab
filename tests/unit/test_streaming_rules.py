"""The rules behind the Go-era methods, without I/O: a stream's phase, the dotted topic
aliases, and get_system_status's starting / partial / ready."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast, get_args

import pytest

from camera_service.api.context import ApiContext, Components
from camera_service.api.contract import TopicAlias
from camera_service.api.methods.session import TOPIC_ALIASES, TopicsParams
from camera_service.api.methods.system import get_system_status
from camera_service.api.methodtable import Call, NoParams
from camera_service.api.session import NOTIFICATION_TOPICS, Session
from camera_service.auth.identity import Identity, Role
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import RtspSource, TestPatternSource
from camera_service.media.mediamtx.models import PathState
from camera_service.media.viewing import Phase, on_demand, phase
from camera_service.observability.health import Health, Status

UP = PathState("lab", available=True, online=True, readers=1)
IDLE_UP = PathState("lab", available=True, online=True, readers=0)
DOWN = PathState("lab")
CONNECTING = PathState("lab", online=True)


@pytest.mark.parametrize(
    ("connected", "reachable", "state", "held", "demand", "expected"),
    [
        (False, True, UP, False, True, Phase.ERROR),
        (True, False, None, True, True, Phase.ERROR),
        (True, True, None, False, True, Phase.INACTIVE),
        (True, True, None, True, True, Phase.STARTING),
        (True, True, DOWN, False, True, Phase.INACTIVE),
        (True, True, DOWN, True, True, Phase.STARTING),
        (True, True, CONNECTING, False, True, Phase.STARTING),
        (True, True, UP, False, True, Phase.ACTIVE),
        (True, True, IDLE_UP, True, True, Phase.ACTIVE),  # the window keeps it
        (True, True, IDLE_UP, False, True, Phase.STOPPING),  # closes after close_after
        (True, True, IDLE_UP, False, False, Phase.ACTIVE),  # an always-on source
    ],
)
def test_phase(
    connected: bool, reachable: bool, state: PathState | None, held: bool, demand: bool,
    expected: Phase,
) -> None:  # fmt: skip
    got = phase(connected=connected, reachable=reachable, state=state, held=held, on_demand=demand)
    assert got is expected


def test_on_demand_is_the_sources() -> None:
    assert on_demand(None)  # a USB camera: our publisher, on demand
    assert on_demand(TestPatternSource(id="lab"))
    assert on_demand(RtspSource(id="gate", url="rtsp://cam/x"))
    assert not on_demand(RtspSource(id="gate", url="rtsp://cam/x", on_demand=False))


def test_every_alias_names_a_topic() -> None:
    assert sorted(TOPIC_ALIASES) == sorted(get_args(TopicAlias))
    assert set(TOPIC_ALIASES.values()) <= set(NOTIFICATION_TOPICS)
    params = TopicsParams.model_validate({"topics": ["camera.connected", "snapshot_taken"]})
    assert params.topics == ["camera_status_update", "snapshot_taken"]


class Media(SimpleNamespace):
    checks: int
    generation: int
    reachable: bool


def system_status(media: Media, health: Health, cameras: list[Camera]) -> dict[str, Any]:
    parts = SimpleNamespace(media=media, health=health, cameras=cameras)
    session = Session(60)
    session.authenticate(Identity("u", Role.VIEWER, "jwt", None))
    call = Call(NoParams(), session, ApiContext(cast(Components, parts)))
    return dict(get_system_status(call))


def test_system_status_starting_partial_ready() -> None:
    health = Health()
    monitor = health.register("camera_monitor")
    sync = health.register("mediamtx_controller", critical=False)
    lab = Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED)
    gate = Camera("gate", SourceType.RTSP, "gate", CameraStatus.DISCONNECTED)
    cameras = [lab, gate]

    # MediaMTX not looked at yet, or answering with our paths not applied yet.
    for media in (Media(checks=0, generation=0, reachable=False),
                  Media(checks=1, generation=0, reachable=True)):  # fmt: skip
        status = system_status(media, health, cameras)
        assert status["status"] == "starting"
    up = Media(checks=3, generation=1, reachable=True)
    assert system_status(up, health, cameras) == {
        "status": "ready",
        "message": "1 of 2 cameras connected",
        "available_cameras": ["lab"],
        "discovery_active": True,
    }
    sync.set(Status.DEGRADED, "path gate exists and was not created by this service")
    partial = system_status(up, health, cameras)
    assert partial["status"] == "partial"
    assert partial["message"] == (
        "camera paths not applied: path gate exists and was not created by this service; "
        "1 of 2 cameras connected"
    )
    sync.set(Status.HEALTHY)
    monitor.set(Status.DEGRADED, "waiting for the assignments in etcd key k")
    gone = Media(checks=3, generation=0, reachable=False)  # never reached
    partial = system_status(gone, health, cameras)
    assert partial["status"] == "partial" and partial["discovery_active"] is True
    assert partial["message"].startswith(
        "MediaMTX is unreachable; camera discovery: waiting for the assignments"
    )
