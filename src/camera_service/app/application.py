"""The service as the CLI, the tests and the benchmarks drive it: start, stop (the
drain), reload, signals, and its parts once started."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from camera_service import __version__
from camera_service.api.websocket import WebSocketServer
from camera_service.cameras.monitor import CameraMonitor
from camera_service.config import Settings
from camera_service.dirs import resolve_dirs
from camera_service.events import EventBus
from camera_service.media.controller import MediaController
from camera_service.media.grabber import GrabberPool
from camera_service.media.mediamtx.managed import ManagedMediaMtx
from camera_service.media.preview import Previews
from camera_service.media.snapshots import SnapshotService
from camera_service.observability.health import Health, Status
from camera_service.observability.metrics import Metrics
from camera_service.record.manager import RecordingManager
from camera_service.storage.index import MediaIndex

from . import lifecycle, meters
from .build import Components, build
from .live import LiveSettings

log = logging.getLogger("camera_service")

Phase = Literal["starting", "ready", "draining", "stopped"]


class Application:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.live = LiveSettings(settings, config_path, environ)
        self.paths = resolve_dirs(settings, create=False)
        self.started = time.monotonic()
        self.phase: Phase = "starting"
        self._stack = contextlib.AsyncExitStack()  # every stop, entered as its part starts
        self._parts: Components | None = None

    async def start(self) -> None:
        resources = await lifecycle.open_resources(self.live(), self.paths, self._stack)
        self._parts = build(self.live, resources, self.started, self.readiness)
        meters.install(self._parts)
        await lifecycle.start(self._parts, self._stack)
        lifecycle.release_startup_garbage()
        self.phase = "ready"
        log.info(
            "camera-service ready",
            extra={
                "version": __version__,
                "ws_port": self.ws_port,
                "health_port": self.health_port,
                "data_dir": str(self.paths.data_dir),
                "startup_ms": round((time.monotonic() - self.started) * 1000, 1),
            },
        )

    async def stop(self) -> None:
        """Drain, then stop every part that started, in reverse (see lifecycle.start)."""
        if self.phase in ("draining", "stopped"):
            return
        self.phase = "draining"
        in_flight = self._parts.front.dispatcher.busy if self._parts is not None else None
        log.info("shutting down", extra={"in_flight": in_flight})
        await self._stack.aclose()
        self.phase = "stopped"
        log.info("stopped")

    def reload(self) -> bool:
        """SIGHUP: apply what can change live; a bad file keeps the running config."""
        return self.live.reload()

    def readiness(self) -> tuple[bool, str]:
        if self.phase != "ready":
            return False, self.phase
        health = self.parts.health
        if health.overall() is Status.UNHEALTHY:
            bad = [n for n, c in health.components.items() if c.status is Status.UNHEALTHY]
            return False, "unhealthy: " + ", ".join(sorted(bad))
        return True, ""

    async def run_until_signal(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            await self.start()
        except Exception:
            log.exception("startup failed")
            await self.stop()
            return 1
        await stop.wait()
        await self.stop()
        return 0

    # --- the parts, once started (the ones tests and benchmarks reach for most) -------------

    @property
    def parts(self) -> Components:
        if self._parts is None:
            raise RuntimeError("the service has not been started")
        return self._parts

    @property
    def settings(self) -> Settings:
        return self.live.current

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self.live.current = settings  # what a reload does, without the listeners

    @property
    def ws_port(self) -> int:
        return self.parts.front.api_port.number

    @property
    def health_port(self) -> int:
        return self.parts.front.health_port.number

    @property
    def metrics(self) -> Metrics:
        return self.parts.metrics

    @property
    def health(self) -> Health:
        return self.parts.health

    @property
    def events(self) -> EventBus:
        return self.parts.events

    @property
    def index(self) -> MediaIndex:
        return self.parts.store.index

    @property
    def ws(self) -> WebSocketServer:
        return self.parts.front.ws

    @property
    def monitor(self) -> CameraMonitor:
        return self.parts.media.monitor

    @property
    def managed(self) -> ManagedMediaMtx | None:
        return self.parts.media.managed

    @property
    def media(self) -> MediaController:
        return self.parts.media.controller

    @property
    def grabbers(self) -> GrabberPool:
        return self.parts.media.grabbers

    @property
    def recordings(self) -> RecordingManager:
        return self.parts.media.recordings

    @property
    def snapshots(self) -> SnapshotService:
        return self.parts.media.snapshots

    @property
    def previews(self) -> Previews:
        return self.parts.media.previews


def run(settings: Settings, config_path: Path | None) -> int:
    """Run the service until SIGTERM/SIGINT; returns the process exit code."""
    try:
        import uvloop

        runner: Callable[[Any], int] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    lifecycle.one_malloc_arena()
    app = Application(settings, config_path, os.environ)
    return runner(app.run_until_signal())
