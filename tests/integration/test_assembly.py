"""The assembly's start and stop order, in one process: the drain first (stop
accepting, deregister, requests, recordings, WebSockets 1001), then every part in the
reverse of its start; a start that fails half-way stops exactly what had started."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from camera_service.api.dispatch import Dispatcher
from camera_service.api.notifications import Notifier
from camera_service.api.websocket import WebSocketServer
from camera_service.app import Application
from camera_service.app.parts import Port
from camera_service.app.registration import Registration
from camera_service.cameras.monitor import CameraMonitor
from camera_service.config import MediaMtxConfig
from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.media.controller import MediaController
from camera_service.media.grabber import GrabberPool
from camera_service.observability.metrics import Metrics
from camera_service.record.manager import RecordingManager
from camera_service.storage.disk import DiskMonitor
from camera_service.storage.index import MediaIndex
from camera_service.storage.retention import Retention
from tests.conftest import make_settings

TRACED: list[tuple[type[Any], str]] = [
    (MediaIndex, "start"),
    (MediaIndex, "stop"),
    (Retention, "start"),
    (Retention, "stop"),
    (DiskMonitor, "start"),
    (DiskMonitor, "stop"),
    (Port, "start"),
    (Port, "stop_listening"),
    (Port, "close"),
    (CameraMonitor, "start"),
    (CameraMonitor, "stop"),
    (MediaController, "start"),
    (MediaController, "stop"),
    (GrabberPool, "start"),
    (GrabberPool, "stop"),
    (WebSocketServer, "start"),
    (WebSocketServer, "close_all"),
    (Registration, "start"),
    (Registration, "stop"),
    (Dispatcher, "drain"),
    (RecordingManager, "shutdown"),
    (AsyncDatabase, "close"),
]


class Trace:
    """Calls of the traced methods, in order, as (method, instance)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, object]] = []
        for cls, name in TRACED:
            monkeypatch.setattr(cls, name, self._wrap(getattr(cls, name), name))

    def _wrap(self, original: Any, name: str) -> Any:
        calls = self.calls
        if inspect.iscoroutinefunction(original):

            async def traced_async(part: object, *args: Any, **kwargs: Any) -> Any:
                calls.append((name, part))
                return await original(part, *args, **kwargs)

            return traced_async

        def traced(part: object, *args: Any, **kwargs: Any) -> Any:
            calls.append((name, part))
            return original(part, *args, **kwargs)

        return traced

    def named(self, app: Application) -> list[str]:
        """The calls as "part.method", the parts named as in Components."""
        c = app.parts
        parts = {
            "index": c.store.index,
            "retention": c.media.retention,
            "disk": c.store.disk,
            "health_port": c.front.health_port,
            "api_port": c.front.api_port,
            "monitor": c.media.monitor,
            "controller": c.media.controller,
            "grabbers": c.media.grabbers,
            "ws": c.front.ws,
            "registration": c.registration,
            "dispatcher": c.front.dispatcher,
            "recordings": c.media.recordings,
            "db": c.db,
        }
        names = {id(part): name for name, part in parts.items()}
        return [f"{names[id(part)]}.{method}" for method, part in self.calls]


STARTS = [
    "index.start",
    "retention.start",
    "disk.start",
    "health_port.start",
    "monitor.start",
    "controller.start",
    "grabbers.start",
    "api_port.start",
    "ws.start",
    "registration.start",
]
DRAIN = [
    "api_port.stop_listening",  # the API port first; the health port answers 503
    "registration.stop",
    "dispatcher.drain",
    "recordings.shutdown",  # its last segment hooks reach the health port
    "ws.close_all",  # 1001
]
STOPS = [
    "api_port.close",
    "grabbers.stop",
    "controller.stop",
    "monitor.stop",
    "health_port.close",
    "disk.stop",
    "retention.stop",
    "index.stop",
    "db.close",
]


async def test_the_drain_then_every_part_in_reverse_of_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = Trace(monkeypatch)
    app = Application(make_settings(tmp_path))
    await app.start()
    assert trace.named(app) == STARTS
    del trace.calls[:]
    await app.stop()
    assert trace.named(app) == DRAIN + STOPS
    assert app.phase == "stopped"
    # Each part that started stops in the reverse order (WebSockets and the API port
    # leave it for the drain, as DRAIN says).
    started = [s.split(".")[0] for s in STARTS if not s.startswith(("ws.", "registration."))]
    stopped = [s.split(".")[0] for s in STOPS if not s.startswith("db.")]
    assert stopped == started[::-1]


async def test_recordings_are_finalized_with_the_api_port_closed_and_probes_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Application(make_settings(tmp_path))
    seen: dict[str, Any] = {}
    shutdown = RecordingManager.shutdown

    async def looking(manager: RecordingManager, timeout: float) -> None:
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", app.ws_port)
        url = f"http://127.0.0.1:{app.health_port}/health/ready"
        async with aiohttp.ClientSession() as session, session.get(url) as r:
            seen["ready"] = (r.status, (await r.json())["details"]["reason"])
        await shutdown(manager, timeout)

    monkeypatch.setattr(RecordingManager, "shutdown", looking)
    await app.start()
    await app.stop()
    assert seen == {"ready": (503, "draining")}


async def test_a_failed_start_stops_what_had_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = Trace(monkeypatch)

    async def broken(monitor: CameraMonitor) -> None:
        raise RuntimeError("no cameras today")

    monkeypatch.setattr(CameraMonitor, "start", broken)
    app = Application(make_settings(tmp_path))
    with pytest.raises(RuntimeError, match="no cameras today"):
        await app.start()
    health_port = app.health_port
    del trace.calls[:]
    await app.stop()
    stops = ["health_port.close", "disk.stop", "retention.stop", "index.stop", "db.close"]
    assert trace.named(app) == stops
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", health_port)
    assert app.phase == "stopped"


async def test_the_notifier_hears_each_event_before_any_other_part(tmp_path: Path) -> None:
    """The fan-out histogram starts where the notifier is called: first, so its time
    runs from the event's publication and no other part's work is in it."""
    noted = EventBus()
    Notifier(cast(WebSocketServer, None), Metrics(), MediaMtxConfig).attach(noted)
    app = Application(make_settings(tmp_path))
    await app.start()
    try:
        handlers = app.parts.events._handlers
        for event_type in noted._handlers:
            first = handlers[event_type][0]
            assert first.__qualname__.startswith("Notifier."), (event_type, first)
    finally:
        await app.stop()
