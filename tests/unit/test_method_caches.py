"""What get_status, get_metrics and get_camera_status keep between calls cannot go
stale: each change of what a reply reports shows in the next call, and the figures
taken on a timer (memory, CPU, request rate) or at most once a second (percentiles)
follow that clock."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, cast

import orjson
import pytest

from camera_service.api.context import ApiContext, Components
from camera_service.api.jsonrpc import result_reply
from camera_service.api.methods import cameras as camera_methods
from camera_service.api.methods import system
from camera_service.api.methodtable import MEMO_LIMIT, Call, MethodTable
from camera_service.api.session import Session
from camera_service.auth.identity import Identity, Role
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, RecordingConfig, Settings
from camera_service.events import EventBus
from camera_service.limits import Capacity
from camera_service.media.controller import MediaController
from camera_service.media.desired import DesiredRecording
from camera_service.media.mediamtx import PathState
from camera_service.observability.health import Health, Status
from camera_service.observability.metrics import PERCENTILE_MAX_AGE, Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Media:
    def __init__(self) -> None:
        self.figures: dict[str, dict[str, Any]] = {}
        self.active_streams = 0

    def stream_metrics(self, camera_id: str) -> dict[str, Any]:
        return dict(self.figures.get(camera_id, {}))  # a new dict per call, as MediaMTX's


class Recordings:
    def __init__(self) -> None:
        self.active: dict[str, Any] = {}
        self.last: dict[str, Any] = {}


class Service:
    """The parts of Components the three methods read, each changeable by a test."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.started = 0.0
        self.health = Health()
        self.capacity = Capacity(lambda: self.settings)
        self.connections = 3
        self.capacity.meter("connections", lambda: self.connections)
        self.metrics = Metrics(clock=Clock())
        self.cameras = CameraRegistry(EventBus())
        self.media = Media()
        self.recordings = Recordings()
        self.ctx = ApiContext(cast(Components, self))
        self.methods = MethodTable([*system.METHODS, *camera_methods.METHODS], self.ctx)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = self.methods.get(method)
        assert spec is not None
        session = Session(1_000_000, "127.0.0.1")
        session.authenticate(Identity("tester", Role.ADMIN, "jwt", None))
        call = Call(spec.validate(params or {}), session, self.ctx)
        result: dict[str, Any] = orjson.loads(result_reply(1, spec.handler(call)))["result"]
        return result


# --- get_status ------------------------------------------------------------------------


def test_status_shows_each_health_change_in_the_next_call() -> None:
    svc = Service()
    disk = svc.health.register("storage")
    assert svc.call("get_status")["components"] == {"storage": "healthy"}
    disk.set(Status.DEGRADED, "low space")
    after = svc.call("get_status")
    assert after["status"] == "degraded" and after["components"] == {"storage": "degraded"}
    svc.health.register("camera_monitor", status=Status.UNHEALTHY)
    after = svc.call("get_status")
    assert after["status"] == "unhealthy"
    assert after["components"] == {"camera_monitor": "unhealthy", "storage": "degraded"}


def test_status_shows_each_capacity_change_in_the_next_call() -> None:
    svc = Service()
    limit = svc.settings.server.max_connections
    first = svc.call("get_status")["capacity"]["connections"]
    assert first == {"limit": limit, "active": 3, "free": limit - 3}
    svc.connections = 4
    assert svc.call("get_status")["capacity"]["connections"]["active"] == 4
    # A reload replaces the settings: the new limits show at once.
    server = svc.settings.server.model_copy(update={"max_connections": 10})
    svc.settings = svc.settings.model_copy(update={"server": server})
    assert svc.call("get_status")["capacity"]["connections"] == {
        "limit": 10,
        "active": 4,
        "free": 6,
    }


def test_status_uptime_is_read_on_every_call() -> None:
    svc = Service()
    svc.started = -1000.0  # time.monotonic() is well past it
    one = svc.call("get_status")["uptime"]
    svc.started -= 50
    two = svc.call("get_status")["uptime"]
    assert two - one >= 50


def test_status_bytes_are_those_of_the_reply_built_as_a_dict() -> None:
    svc = Service()
    svc.health.register("storage")
    reply = svc.call("get_status")
    assert list(reply) == ["status", "uptime", "version", "components", "capacity"]
    assert reply["capacity"] == svc.capacity.report()


# --- get_metrics -------------------------------------------------------------------------


def test_metrics_counts_are_read_on_every_call() -> None:
    svc = Service()
    m = svc.metrics
    m.request_done("ping", 0, 0.001)
    first = svc.call("get_metrics")
    m.request_done("ping", -32601, 0.003)
    m.active_connections = 7
    svc.cameras.put(Camera("lab", SourceType.RTSP, "lab", CameraStatus.CONNECTED))
    svc.media.active_streams = 1
    svc.recordings.active["lab"] = object()
    now = svc.call("get_metrics")
    assert now["total_requests"] == first["total_requests"] + 1
    assert now["error_rate"] == 0.5 and now["active_connections"] == 7
    assert (now["cameras"], now["streams"], now["recordings_active"]) == (1, 1, 1)


def test_metrics_percentiles_follow_requests_at_most_once_per_max_age() -> None:
    svc = Service()
    m, clock = svc.metrics, cast(Clock, svc.metrics.clock)
    m.request_done("ping", 0, 0.001)
    first = svc.call("get_metrics")
    assert first["p50_ms"] == pytest.approx(1.0, rel=0.1)  # the first call computes them
    for _ in range(10):
        m.request_done("ping", 0, 0.020)
    assert svc.call("get_metrics")["p50_ms"] == first["p50_ms"]  # within the max age
    clock.now += PERCENTILE_MAX_AGE
    assert svc.call("get_metrics")["p50_ms"] == pytest.approx(20.0, rel=0.1)


def test_metrics_process_figures_are_those_of_the_last_sample() -> None:
    svc = Service()
    m, clock = svc.metrics, cast(Clock, svc.metrics.clock)
    assert svc.call("get_metrics")["memory_usage"] > 1  # taken when Metrics was made
    for _ in range(50):
        m.request_done("ping", 0, 0.001)
    assert svc.call("get_metrics")["requests_per_second"] == 0.0  # not sampled yet
    clock.now += 1.0
    m.sample()
    assert svc.call("get_metrics")["requests_per_second"] == 50.0


# --- get_camera_status -------------------------------------------------------------------


def lab(**changes: Any) -> Camera:
    camera = Camera("lab", SourceType.RTSP, "Lab", CameraStatus.CONNECTED, connected_at=1.0)
    return dataclasses.replace(camera, **changes)


def test_camera_status_shows_new_stream_figures_in_the_next_call() -> None:
    svc = Service()
    svc.cameras.put(lab())
    assert svc.call("get_camera_status", {"device": "lab"})["metrics"]["readers"] == 0
    svc.media.figures["lab"] = {"bytes_sent": 10, "readers": 2}
    metrics = svc.call("get_camera_status", {"device": "lab"})["metrics"]
    assert (metrics["bytes_sent"], metrics["readers"]) == (10, 2)
    svc.media.figures["lab"]["readers"] = 1  # even changed in place
    assert svc.call("get_camera_status", {"device": "lab"})["metrics"]["readers"] == 1


def test_camera_status_uptime_moves_with_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = Service()
    svc.cameras.put(lab(connected_at=1.0))
    clock = Clock()
    monkeypatch.setattr("time.time", clock)
    assert svc.call("get_camera_status", {"device": "lab"})["metrics"]["uptime"] == 999.0
    clock.now += 0.04  # within the tenth: the same reply
    assert svc.call("get_camera_status", {"device": "lab"})["metrics"]["uptime"] == 999.0
    clock.now += 0.1
    assert svc.call("get_camera_status", {"device": "lab"})["metrics"]["uptime"] == 999.1


def test_camera_status_of_a_status_change_is_seen_next() -> None:
    svc = Service()
    svc.cameras.put(lab())
    assert svc.call("get_camera_status", {"device": "lab"})["status"] == "CONNECTED"
    svc.cameras.put(lab(status=CameraStatus.DISCONNECTED, connected_at=None))
    after = svc.call("get_camera_status", {"device": "lab"})
    assert after["status"] == "DISCONNECTED" and after["metrics"]["uptime"] == 0


# --- params validated once per distinct params ----------------------------------------------


def test_string_params_are_validated_once_and_other_values_each_time() -> None:
    spec = MethodTable(camera_methods.METHODS, ApiContext()).get("get_camera_status")
    assert spec is not None
    one = spec.validate({"device": "lab"})
    assert spec.validate({"device": "lab"}) is one
    assert spec.validate({"device": "yard"}).device == "yard"
    # 1 and True are equal keys: an integer is never kept, so True is still refused.
    assert spec.validate({"device": 1}).device == "/dev/video1"
    with pytest.raises(Exception, match="device"):
        spec.validate({"device": True})
    with pytest.raises(Exception, match="device"):
        spec.validate({"device": ["lab"]})  # unhashable: validated, and refused


def test_kept_params_stay_bounded() -> None:
    spec = MethodTable(camera_methods.METHODS, ApiContext()).get("get_camera_status")
    assert spec is not None
    for i in range(MEMO_LIMIT * 3):
        assert spec.validate({"device": f"cam{i}"}).device == f"cam{i}"
    assert len(spec._memo or {}) <= MEMO_LIMIT


# --- the controller's streams up -------------------------------------------------------------


class Db:
    async def run(self, fn: Any, *args: Any) -> None:
        pass  # what is stored does not matter here


def test_streams_up_follow_each_snapshot_and_each_owned_path() -> None:
    events = EventBus()
    cfg = MediaMtxConfig()
    controller = MediaController(
        lambda: cfg,
        CameraRegistry(events),
        events,
        Health(),
        cast(Any, Db()),
        lambda _: None,
        lambda _: None,
        dict,
        DesiredRecording(RecordingConfig),
    )
    up = PathState("lab", available=True)
    asyncio.run(controller._own("lab"))
    assert controller.streams_up() == frozenset() and controller.active_streams == 0
    controller.streams = {"lab": up}  # a check's new snapshot
    assert controller.streams_up() == {"lab"} and controller.active_streams == 1
    controller.streams = {"lab": up, "yard": PathState("yard", available=True)}
    asyncio.run(controller._own("yard"))
    assert controller.streams_up() == {"lab", "yard"}
    asyncio.run(controller._disown("lab"))
    assert controller.streams_up() == {"yard"}
