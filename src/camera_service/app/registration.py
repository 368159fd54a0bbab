"""This instance's registration with the configured registry (etcd or the HTTP
aggregator), if there is one.

The instance id and the endpoints it advertises carry the ports the service got, so the
registrar is made when both listen. Until then, and without a registry, wake-ups are
ignored and the stop does nothing.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from camera_service import __version__
from camera_service.api.methods import system as system_methods
from camera_service.api.methodtable import MethodTable
from camera_service.cameras.events import CameraAdded, CameraChanged, CameraRemoved
from camera_service.cameras.registry import CameraRegistry
from camera_service.limits import Capacity
from camera_service.media.events import StreamsChanged
from camera_service.observability.events import HealthChanged
from camera_service.observability.health import Health, Status
from camera_service.record.events import RecordingEnded, RecordingStarted
from camera_service.registration.document import (
    Instance,
    advertised_host,
    cameras_summary,
    capabilities_for,
    endpoints_for,
    health_summary,
    instance_id_for,
    registration_document,
)
from camera_service.registration.registrar import Registrar, backend_for
from camera_service.storage.disk import StorageLevelChanged

from .live import LiveSettings
from .parts import Port

# What the document shows (cameras, health, steady capacity: USB cameras, streams,
# recordings) may have changed with these: pushed at once, not on the next beat.
REGISTRY_EVENTS = (
    CameraAdded,
    CameraChanged,
    CameraRemoved,
    StreamsChanged,
    RecordingStarted,
    RecordingEnded,
    StorageLevelChanged,
    HealthChanged,
)


class Registration:
    def __init__(
        self,
        live: LiveSettings,
        cameras: CameraRegistry,
        capacity: Capacity,
        health: Health,
        methods: MethodTable,
        api: Port,
        http: Port,
    ) -> None:
        self.live = live
        self.cameras = cameras
        self.capacity = capacity
        self.health = health
        self.methods = methods
        self.api = api
        self.http = http
        self.registrar: Registrar | None = None  # made by start, if a registry is set

    def start(self) -> None:
        """Register once the ports are known. An outage of the registry only degrades
        the ``registry`` component; the API never waits on it."""
        s = self.live()
        instance_id = instance_id_for(s.registry.instance_id, self.api.number)
        backend = backend_for(s.registry, instance_id)
        if backend is None:
            return
        instance = Instance(
            instance_id,
            __version__,
            time.time(),
            endpoints_for(s, advertised_host(s), self.api.number, self.http.number),
            capabilities_for(self.methods.names(), system_methods.CAPABILITIES),
        )
        health = self.health.register(
            "registry", critical=False, status=Status.DEGRADED, reason="registering"
        )
        document = functools.partial(self.document, instance)
        self.registrar = Registrar(backend, document, health, s.registry.retry_max)
        self.registrar.start()

    def document(self, instance: Instance) -> dict[str, Any]:
        return registration_document(
            instance,
            cameras_summary(self.cameras),
            self.capacity.report(),
            health_summary(self.health),
            time.time(),
        )

    def changed(self, event: object = None) -> None:
        """Something the document shows may have changed (``event``, if a bus says so):
        the registrar pushes it if it did."""
        if self.registrar is not None:
            self.registrar.changed(event)

    async def stop(self, timeout: float) -> None:
        """Deregister, bounded by ``timeout`` (past it the lease or the aggregator's
        expiry cleans up)."""
        if self.registrar is not None:
            await self.registrar.stop(timeout)
