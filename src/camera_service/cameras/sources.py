"""Cameras added, changed and removed at run time (add_camera and its kin).

What is added is stored (:mod:`.stored`) and handed to the camera monitor, which serves
it exactly as it serves a configured source: the same registry entry, MediaMTX path,
health checks and events. The config file wins: an id it (or the hub's assignments)
uses cannot be added, changed or removed here, and one it takes later shadows the
stored source until it goes again. Each change is checked first and changes nothing
when refused.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from camera_service.cameras.events import (
    CameraSourceAdded,
    CameraSourceRemoved,
    CameraSourceUpdated,
)
from camera_service.cameras.model import Camera
from camera_service.cameras.monitor import CameraMonitor, Origin, Source
from camera_service.cameras.registry import CameraRegistry
from camera_service.cameras.stored import SourceStore
from camera_service.config import ResourcesConfig
from camera_service.db import AsyncDatabase
from camera_service.events import EventBus
from camera_service.limits import CapacityExceeded

log = logging.getLogger(__name__)

_USB_ID = re.compile(r"camera[0-9]+")


class Refusal(enum.Enum):
    EXISTS = enum.auto()  # added before
    CONFIG = enum.auto()  # the config file's, the assignments', or a USB id
    NOT_FOUND = enum.auto()  # never added


class SourceRefused(Exception):
    """A change refused; the message is fit for a client and names no secret."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One RTSP or test-pattern camera as list_camera_sources shows it."""

    source: Source
    origin: Origin
    active: bool  # served: False for a stored source a configured one shadows
    camera: Camera | None  # its registry entry while served


class CameraSources:
    def __init__(
        self,
        db: AsyncDatabase,
        monitor: CameraMonitor,
        registry: CameraRegistry,
        resources: Callable[[], ResourcesConfig],
        events: EventBus,
    ) -> None:
        self.db = db
        self.store = SourceStore(db.database)
        self.monitor = monitor
        self.registry = registry
        self.resources = resources
        self.events = events
        self._lock = asyncio.Lock()  # one change at a time: check, store, apply

    async def load(self) -> None:
        """The stored sources, for the monitor to serve when it starts."""
        self.monitor.set_stored(await self.db.run(self.store.load))

    def entries(self) -> list[SourceEntry]:
        origins = self.monitor.origins()
        out = [self._entry(origin, source) for origin, source in origins.values()]
        out += [  # shadowed by a configured source: kept, not served
            SourceEntry(source, "api", False, None)
            for camera_id, source in self.monitor.stored().items()
            if origins[camera_id][0] != "api"
        ]
        return sorted(out, key=lambda e: (e.source.id, e.active))

    def entry(self, camera_id: str) -> SourceEntry | None:
        found = self.monitor.origins().get(camera_id)
        return self._entry(*found) if found is not None else None

    def _entry(self, origin: Origin, source: Source) -> SourceEntry:
        return SourceEntry(source, origin, True, self.registry.get(source.id))

    async def add(self, source: Source) -> SourceEntry:
        async with self._lock:
            self._check_id(source.id)
            if source.id in self.monitor.stored():
                raise SourceRefused(Refusal.EXISTS, f"camera {source.id!r} exists already")
            limit = self.resources().max_cameras
            active = len(self.monitor.origins())
            if active >= limit:
                raise CapacityExceeded("cameras", limit, active)
            await self._store(source)
        log.info("camera added", extra={"camera_id": source.id, "source_type": source.type})
        self.events.publish(CameraSourceAdded(source.id, source.type))
        return self._entry("api", source)

    async def update(self, source: Source) -> SourceEntry:
        """Replace a stored source (the caller has merged what was not sent)."""
        async with self._lock:
            self.check_stored(source.id)
            await self._store(source)
        log.info("camera updated", extra={"camera_id": source.id, "source_type": source.type})
        self.events.publish(CameraSourceUpdated(source.id, source.type))
        return self._entry("api", source)

    async def remove(self, camera_id: str) -> Source:
        async with self._lock:
            source = self.check_stored(camera_id)
            await self.db.run(self.store.delete, camera_id)
            stored = self.monitor.stored()
            del stored[camera_id]
            self.monitor.set_stored(stored.values())
            self.monitor.apply_sources()
        log.info("camera removed", extra={"camera_id": camera_id})
        self.events.publish(CameraSourceRemoved(camera_id))
        return source

    def stored(self, camera_id: str) -> Source | None:
        return self.monitor.stored().get(camera_id)

    def _check_id(self, camera_id: str) -> None:
        if _USB_ID.fullmatch(camera_id):
            raise SourceRefused(
                Refusal.CONFIG, f"{camera_id!r}: cameraN ids belong to /dev/videoN devices"
            )
        origin = self.monitor.origins().get(camera_id)
        if origin is not None and origin[0] != "api":
            raise SourceRefused(
                Refusal.CONFIG,
                f"camera {camera_id!r} comes from the {_ORIGIN[origin[0]]}; change it there",
            )

    def check_stored(self, camera_id: str) -> Source:
        self._check_id(camera_id)
        source = self.monitor.stored().get(camera_id)
        if source is None:
            raise SourceRefused(Refusal.NOT_FOUND, f"camera {camera_id!r} was not added")
        return source

    async def _store(self, source: Source) -> None:
        """Stored first: a failing write changes nothing served."""
        await self.db.run(self.store.put, source)
        stored = self.monitor.stored()
        stored[source.id] = source
        self.monitor.set_stored(stored.values())
        self.monitor.apply_sources()


_ORIGIN: dict[Origin, str] = {
    "config": "config file",
    "assignments": "hub's device assignments",
    "api": "API",
}
