"""Capacity: the configured limits, what is in use, and the rules that refuse work past
them (``CapacityExceeded``, -1012 ``{limit, active}`` on the wire).

Five resources, each reported as ``{limit, active, free}`` in get_status,
``/health/system`` and the registration document:

``usb_cameras``
    USB capture devices claimed; the monitor leaves devices past
    ``resources.max_usb_cameras`` unclaimed, and an operation naming one is refused.
``streams``
    this service's MediaMTX streams that are up (MediaMTX's view, refreshed every
    ``mediamtx.check_interval``) plus those this service has just started bringing up
    and not yet seen up. An operation that would bring up one more is refused at
    ``resources.max_streams``; a stream already up is never refused.
``recordings``, ``snapshots``
    running recordings and FFmpeg snapshot captures; their owners refuse past the limit.
``connections``
    WebSocket connections; the server refuses the upgrade past the limit (HTTP 503).

Each part that uses a resource attaches a meter as it starts (:meth:`Capacity.meter`); a
part not running yet counts nothing in use.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Collection, Set
from typing import Literal, Protocol

from camera_service.config import Settings

# "cameras" (RTSP and test-pattern cameras, ``resources.max_cameras``) is checked by
# add_camera alone, and not among the reported figures (get_camera_list counts them).
Resource = Literal["usb_cameras", "streams", "recordings", "snapshots", "connections", "cameras"]
RESOURCES: tuple[Resource, ...] = (
    "usb_cameras",
    "streams",
    "recordings",
    "snapshots",
    "connections",
)
_NOUNS: dict[Resource, str] = {
    "usb_cameras": "USB cameras",
    "streams": "streams",
    "recordings": "recordings",
    "snapshots": "snapshot captures",
    "connections": "connections",
    "cameras": "RTSP and test-pattern cameras",
}


class CapacityExceeded(Exception):
    """An operation past a configured limit; the message is fit for a client."""

    def __init__(self, resource: Resource, limit: int, active: int) -> None:
        super().__init__(f"Capacity exceeded: {active} {_NOUNS[resource]} active, limit {limit}")
        self.resource: Resource = resource
        self.limit = limit
        self.active = active


class Admission(Protocol):
    """The checks the media parts ask before starting work (see :class:`Capacity`)."""

    def check_device(self, camera_id: str) -> None: ...

    def check_stream(self, camera_id: str) -> None: ...


class Unlimited:
    """Admits everything: for parts built without a :class:`Capacity` (unit tests)."""

    def check_device(self, camera_id: str) -> None:
        pass

    def check_stream(self, camera_id: str) -> None:
        pass


def entry(limit: int, active: int) -> dict[str, int]:
    """One resource's ``{limit, active, free}``; ``free`` is never negative (a limit
    lowered under the running use, or streams MediaMTX brought up for direct viewers)."""
    return {"limit": limit, "active": active, "free": max(0, limit - active)}


def report_of(limits: tuple[int, ...], actives: tuple[int, ...]) -> dict[str, dict[str, int]]:
    """The report of :meth:`Capacity.limits` and :meth:`Capacity.actives`."""
    return {
        name: entry(limit, active)
        for name, limit, active in zip(RESOURCES, limits, actives, strict=True)
    }


def _none() -> int:
    return 0  # a part not running yet: nothing in use


class Capacity:
    def __init__(
        self, settings: Callable[[], Settings], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._meters: dict[Resource, Callable[[], int]] = {}
        self._streams_up: Callable[[], Collection[str]] = frozenset
        self._over_limit: Callable[[str], bool] = lambda camera_id: False
        # Streams admitted and not seen up yet -> until when they count anyway.
        self._starting: dict[str, float] = {}
        self._limits_of: Settings | None = None
        self._limits: tuple[int, ...] = ()
        self._readers: tuple[Callable[[], int], ...] = ()
        self._read_in_order()

    # --- wiring ---------------------------------------------------------------------------

    def meter(self, resource: Resource, active: Callable[[], int]) -> None:
        """Count ``resource``'s use with ``active`` (not for ``streams``: see
        :meth:`track_streams`)."""
        self._meters[resource] = active
        self._read_in_order()

    def track_streams(self, up: Callable[[], Collection[str]]) -> None:
        """``up()``: the names (camera ids) of this service's streams up now."""
        self._streams_up = up

    def track_devices(self, over_limit: Callable[[str], bool]) -> None:
        """``over_limit(camera_id)``: a USB device present but left unclaimed because
        ``resources.max_usb_cameras`` are claimed."""
        self._over_limit = over_limit

    # --- figures --------------------------------------------------------------------------

    def report(self) -> dict[str, dict[str, int]]:
        """``{resource: {limit, active, free}}`` for every resource."""
        return report_of(self.limits(), self.actives())

    def limits(self) -> tuple[int, ...]:
        """Each resource's limit, in :data:`RESOURCES` order."""
        # Asked on every get_status: read once per settings object (a reload replaces it).
        s = self.settings()
        if s is not self._limits_of:
            r = s.resources
            self._limits = (
                r.max_usb_cameras,
                r.max_streams,
                r.max_recordings,
                r.max_snapshots,
                s.server.max_connections,
            )
            self._limits_of = s
        return self._limits

    def actives(self) -> tuple[int, ...]:
        """What each resource has in use now, in :data:`RESOURCES` order."""
        return tuple(map(operator.call, self._readers))

    def _read_in_order(self) -> None:
        """What :meth:`actives` calls, one per resource: get_status asks every call."""
        self._readers = tuple(
            self._stream_count if name == "streams" else self._meters.get(name, _none)
            for name in RESOURCES
        )

    def _stream_count(self) -> int:
        if not self._starting:  # _streams()'s usual case, without its frame
            return len(self._streams_up())
        return len(self._streams())

    def active(self, resource: Resource) -> int:
        if resource == "streams":
            return len(self._streams())
        meter = self._meters.get(resource)
        return meter() if meter is not None else 0

    def _streams(self) -> Set[str]:
        """Streams up, and those started by us and not seen up yet (within the time
        MediaMTX gives a publisher to start, plus one look of the controller)."""
        seen = self._streams_up()
        if not self._starting:  # the usual case: nothing to copy or expire
            return seen if isinstance(seen, set | frozenset) else set(seen)
        up = set(seen)
        now = self.clock()
        self._starting = {
            name: until for name, until in self._starting.items() if until > now and name not in up
        }
        return up | self._starting.keys()

    # --- admission ------------------------------------------------------------------------

    def check_device(self, camera_id: str) -> None:
        """Raise :class:`CapacityExceeded` when ``camera_id`` is a USB device present
        but unclaimed because of the USB camera limit (instead of "not found")."""
        if self._over_limit(camera_id):
            limit = self.settings().resources.max_usb_cameras
            raise CapacityExceeded("usb_cameras", limit, self.active("usb_cameras"))

    def check_stream(self, camera_id: str) -> None:
        """Before an operation that reads ``camera_id``'s stream: refuse it when the
        stream is not up and ``resources.max_streams`` are; otherwise the stream counts
        as up from now on (until seen up, or its start time passes)."""
        streams = self._streams()
        if camera_id in streams:
            return
        s = self.settings()
        limit = s.resources.max_streams
        if len(streams) >= limit:
            raise CapacityExceeded("streams", limit, len(streams))
        hold = s.mediamtx.on_demand_start_timeout + s.mediamtx.check_interval
        self._starting[camera_id] = self.clock() + hold
