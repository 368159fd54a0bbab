"""Domain events in, :class:`wire.Outgoing` out: the one subscription of events out.

Each sink's ``put`` only appends to its own bounded queue, so the bus (and the API that
published on it) never waits on a broker or a webhook receiver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from camera_service.cameras.events import CameraAdded, CameraChanged, CameraRemoved
from camera_service.events import EventBus
from camera_service.record.events import (
    RecordingDegraded,
    RecordingEnded,
    RecordingResumed,
    RecordingStarted,
)
from camera_service.storage.disk import StorageLevelChanged
from camera_service.storage.events import SnapshotSaved

from . import wire
from .wire import Outgoing

E = TypeVar("E")


class Sink(Protocol):
    def put(self, out: Outgoing) -> None: ...


def attach(bus: EventBus, sinks: Sequence[Sink], clock: Callable[[], float] = time.time) -> None:
    """Subscribe every event that goes out; each is built once for all sinks."""

    def to(build: Callable[[E, float], Outgoing]) -> Callable[[E], None]:
        def send(event: E) -> None:
            out = build(event, clock())
            for sink in sinks:
                sink.put(out)

        return send

    bus.subscribe(CameraAdded, to(lambda e, at: wire.camera_status(e.camera, at)))
    bus.subscribe(CameraChanged, to(lambda e, at: wire.camera_status(e.after, at)))
    bus.subscribe(CameraRemoved, to(lambda e, at: wire.camera_status(e.camera, at, True)))
    bus.subscribe(RecordingStarted, to(wire.recording_started))
    bus.subscribe(RecordingEnded, to(wire.recording_ended))
    bus.subscribe(RecordingDegraded, to(wire.recording_degraded))
    bus.subscribe(RecordingResumed, to(wire.recording_resumed))
    bus.subscribe(SnapshotSaved, to(wire.snapshot_taken))
    bus.subscribe(StorageLevelChanged, to(lambda e, _at: wire.storage_level(e.status)))
