"""The camera monitor keeps the registry true to the world: V4L2 devices as they are
plugged and unplugged, configured and assigned RTSP and test-pattern sources as they
come and go (with those added through the API: :mod:`.sources`), and the hub's
assignments as they are edited.

USB: a change under the device dir (udev, inotify, or the poll safety net) triggers a
rescan; a new capture node is claimed if assigned, listed at once as ``provisional``,
and its formats are probed in the background (``confirmed`` when done). Metadata nodes
are never listed. RTSP: each source has a task that probes it with OPTIONS/DESCRIBE,
at ``rtsp_check_interval`` while healthy and with backoff while not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

from camera_service.cameras.assignments import (
    AssignmentError,
    Assignments,
    FileStamp,
    load_assignments,
)
from camera_service.cameras.model import Camera, CameraStatus, SourceType, Validation
from camera_service.cameras.registry import CameraRegistry
from camera_service.cameras.v4l2 import ioctl
from camera_service.cameras.v4l2.formats import DeviceInfo
from camera_service.cameras.v4l2.hotplug import DeviceWatcher
from camera_service.cameras.v4l2.probe import ProbeError, V4l2Prober
from camera_service.cameras.v4l2.sysfs import V4l2Node, identity, scan
from camera_service.config import CamerasConfig, ResourcesConfig, RtspSource, TestPatternSource
from camera_service.lazy import import_off_loop
from camera_service.observability.health import ComponentHealth, Status
from camera_service.retry import RetrySchedule

RTSP = "camera_service.net.rtsp"
log = logging.getLogger(__name__)

Source = RtspSource | TestPatternSource
Origin = Literal["config", "assignments", "api"]


@dataclass(slots=True)
class _Node:
    """What the monitor decided about one /dev/videoN it has seen."""

    node: V4l2Node
    identity: str
    kind: str  # camera | metadata | unassigned | over_limit | unprobed


class _Decisions(dict[str, _Node]):
    """camera_id -> decision, counting the claimed cameras as entries are set and
    deleted (get_status asks the count on every call). Changed by ``[]=`` and ``del``
    only."""

    __slots__ = ("claimed",)

    def __init__(self) -> None:
        super().__init__()
        self.claimed = 0

    def __setitem__(self, camera_id: str, node: _Node) -> None:
        old = self.get(camera_id)
        super().__setitem__(camera_id, node)
        self.claimed += (node.kind == "camera") - (old is not None and old.kind == "camera")

    def __delitem__(self, camera_id: str) -> None:
        old = self[camera_id]
        super().__delitem__(camera_id)
        self.claimed -= old.kind == "camera"


class CameraMonitor:
    def __init__(
        self,
        cfg: Callable[[], CamerasConfig],
        resources: Callable[[], ResourcesConfig],
        registry: CameraRegistry,
        health: ComponentHealth,
        executor: Executor | None = None,
    ) -> None:
        self.cfg = cfg
        self.resources = resources
        self.registry = registry
        self.health = health
        self.executor = executor
        c = cfg()
        self.prober = V4l2Prober(c.v4l2_ctl, c.probe_timeout, c.probe_retries)
        # The poll safety net always runs; udev/inotify only when hot-plug is on.
        self.watcher = DeviceWatcher(
            c.device_root, c.poll_interval, use_udev=c.hotplug, use_inotify=c.hotplug
        )
        self._nodes = _Decisions()
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._sources: dict[str, Source] = {}
        self._source_tasks: dict[str, asyncio.Task[None]] = {}
        self._stored: dict[str, Source] = {}  # added through the API (cameras/sources.py)
        self._tasks: list[asyncio.Task[None]] = []
        self._assignments: Assignments | None = None
        self._assignments_error = ""
        self._stamp: FileStamp | None = None
        self._scan_lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if (file := self._read_file()) is not None:
            self._apply_assignments(*file)
        key = self.cfg().assignments_key
        if key is not None:  # no USB device is ours until set_assignments is first called
            self._assignments_error = f"waiting for the assignments in etcd key {key}"
        self.apply_sources()
        self.watcher.start()
        await self.rescan()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._watch_devices()))
        if self.cfg().assignments_file is not None:
            self._tasks.append(loop.create_task(self._watch_assignments()))
        self._report()

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._probes.values(), *self._source_tasks.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.watcher.stop()

    # --- what publishers need -----------------------------------------------------------

    def device_path(self, camera_id: str) -> str | None:
        """The device node a USB camera's publisher opens."""
        seen = self._nodes.get(camera_id)
        return str(seen.node.device) if seen is not None and seen.kind == "camera" else None

    def source(self, camera_id: str) -> Source | None:
        """The configured or assigned source behind a camera."""
        return self._sources.get(camera_id)

    # --- what capacity needs ------------------------------------------------------------

    @property
    def usb_cameras(self) -> int:
        """USB cameras claimed (what ``resources.max_usb_cameras`` bounds)."""
        return self._nodes.claimed

    def over_limit(self, camera_id: str) -> bool:
        """A capture device present but not claimed: the USB camera limit was reached."""
        seen = self._nodes.get(camera_id)
        return seen is not None and seen.kind == "over_limit"

    # --- USB / V4L2 ----------------------------------------------------------------------

    async def _watch_devices(self) -> None:
        while True:
            await self.watcher.changed()
            try:
                await self.rescan()
            except Exception:
                log.exception("device rescan failed")

    async def rescan(self) -> None:
        """Bring the registry in line with the device tree (serialized)."""
        async with self._scan_lock:
            c = self.cfg()
            present = {f"camera{n.number}": n for n in scan(c.sysfs_root, c.device_root)}
            for camera_id, seen in list(self._nodes.items()):
                node = present.get(camera_id)
                if node is None or identity(node) != seen.identity:
                    self._unplugged(camera_id)
            self._free_waiting()
            fresh = [(cid, n) for cid, n in present.items() if cid not in self._nodes]
            # Each node is decided as soon as it is identified: a slow or vanishing one
            # (a retry backoff) must not hold back the announcement of the others.
            await asyncio.gather(*(self._identify(cid, n) for cid, n in fresh))
            self._report()

    async def _identify(self, camera_id: str, node: V4l2Node) -> None:
        self._decide(camera_id, node, await self._device_info(node))

    async def _device_info(self, node: V4l2Node) -> DeviceInfo | None:
        # The ioctl answers in microseconds on a real device; v4l2-ctl is the fallback
        # (and what answers in the test tree, where nodes are plain files).
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, ioctl.query_caps, node.device)
        except OSError:
            pass
        try:
            return await self.prober.info(node.device)
        except ProbeError as exc:
            if exc.kind != "unplugged":
                log.warning(
                    "cannot identify device", extra={"device": str(node.device), "error": str(exc)}
                )
            return None

    def _decide(self, camera_id: str, node: V4l2Node, info: DeviceInfo | None) -> None:
        ident = identity(node)
        if info is None:
            kind = "unprobed"
        elif not info.is_capture:
            kind = "metadata"
        elif not self._claimed(camera_id, node):
            kind = "unassigned"
        elif self._usb_count() >= self.resources().max_usb_cameras:
            kind = "over_limit"
            log.warning(
                "USB camera limit reached; device not claimed",
                extra={"device": camera_id, "limit": self.resources().max_usb_cameras},
            )
        else:
            kind = "camera"
        self._nodes[camera_id] = _Node(node, ident, kind)
        if kind == "unprobed":
            del self._nodes[camera_id]  # try again on the next scan
        if kind != "camera":
            return
        name = (info.card if info is not None else "") or node.name or camera_id
        self.registry.put(
            Camera(
                camera_id,
                SourceType.USB,
                name,
                CameraStatus.CONNECTED,
                validation=Validation.PROVISIONAL,
                identity=ident,
                connected_at=time.time(),
            )
        )
        log.info("camera connected", extra={"camera_id": camera_id, "identity": ident})
        self._probes[camera_id] = asyncio.get_running_loop().create_task(
            self._probe_formats(camera_id, node)
        )

    def _claimed(self, camera_id: str, node: V4l2Node) -> bool:
        c = self.cfg()
        if c.assignments_file is None and c.assignments_key is None:
            return True
        if self._assignments is None:
            return False
        device = "/dev/video" + camera_id.removeprefix("camera")
        return self._assignments.claims(device, node.usb_vid, node.usb_pid, node.serial)

    def _usb_count(self) -> int:
        return self._nodes.claimed

    def _free_waiting(self) -> None:
        """Devices left out by the USB limit are decided afresh, lowest first, as far as
        claimed ones have gone (an unplug makes room for the next in line)."""
        room = self.resources().max_usb_cameras - self._usb_count()
        waiting = sorted(
            (seen.node.number, cid)
            for cid, seen in self._nodes.items()
            if seen.kind == "over_limit"
        )
        for _number, camera_id in waiting[: max(room, 0)]:
            del self._nodes[camera_id]

    async def _probe_formats(self, camera_id: str, node: V4l2Node) -> None:
        try:
            caps = await self.prober.formats(node.device)
        except ProbeError as exc:
            if exc.kind != "unplugged":
                self.registry.update(
                    camera_id,
                    status=CameraStatus.ERROR,
                    validation=Validation.ERROR,
                    error=str(exc),
                )
            return
        finally:
            self._probes.pop(camera_id, None)
        mode = caps.best_mode()
        self.registry.update(
            camera_id,
            formats=caps.formats,
            resolutions=caps.resolutions(),
            fps_options=caps.fps_options(),
            fps_by_resolution={r: caps.fps_for(r) for r in caps.resolutions()},
            validation=Validation.CONFIRMED,
            resolution=f"{mode[1]}x{mode[2]}" if mode else "",
            fps=round(mode[3]) if mode else 0,
            mode=mode,
        )

    def _unplugged(self, camera_id: str) -> None:
        seen = self._nodes.get(camera_id)
        if seen is not None:
            del self._nodes[camera_id]
        task = self._probes.pop(camera_id, None)
        if task is not None:
            task.cancel()
        if seen is not None and seen.kind == "camera":
            log.info("camera disconnected", extra={"camera_id": camera_id})
            self.registry.remove(camera_id)

    # --- assignments ---------------------------------------------------------------------------

    async def set_assignments(self, new: Assignments | None, error: str = "") -> None:
        """New assignments from the file or the etcd key: ``new`` None when absent (no USB
        device is claimed until they appear); ``error`` when refused (the last good ones
        stay in force, the reason shows in health). Cameras are claimed and released."""
        if self._apply_assignments(new, error):
            await self.reassign()

    def _apply_assignments(self, new: Assignments | None, error: str) -> bool:
        """Take ``new`` unless ``error``; True when the assignments changed."""
        c = self.cfg()
        key = c.assignments_key
        origin = str(c.assignments_file) if key is None else f"etcd key {key}"
        if error:
            self._assignments_error = error
            log.error(
                "device assignments rejected; keeping the last good ones",
                extra={"origin": origin, "error": error},
            )
            self._report()
            return False
        self._assignments_error = "" if new is not None else f"{origin} does not exist"
        changed = new != self._assignments
        self._assignments = new
        if changed:
            log.info("device assignments loaded", extra={"origin": origin})
        else:
            self._report()  # an error may have cleared
        return changed

    def _read_file(self) -> tuple[Assignments | None, str] | None:
        """The assignments file's content and error; None when unchanged or not set."""
        path = self.cfg().assignments_file
        if path is None:
            return None
        stamp = FileStamp.of(path)
        if stamp == self._stamp and self._stamp is not None:
            return None
        self._stamp = stamp
        try:
            return load_assignments(path), ""
        except AssignmentError as exc:
            return None, str(exc)

    async def _watch_assignments(self) -> None:
        while True:
            await asyncio.sleep(self.cfg().assignments_poll)
            if (file := self._read_file()) is not None:
                await self.set_assignments(*file)

    async def reassign(self) -> None:
        """Assignments changed: release what is no longer ours, claim what now is."""
        async with self._scan_lock:
            for camera_id, seen in list(self._nodes.items()):
                if seen.kind in ("camera", "unassigned", "over_limit"):
                    if seen.kind == "camera" and not self._claimed(camera_id, seen.node):
                        self._unplugged(camera_id)
                    elif seen.kind != "camera":
                        del self._nodes[camera_id]  # decided afresh by the rescan
        self.apply_sources()
        await self.rescan()

    # --- configured and assigned sources ---------------------------------------------------------

    def set_stored(self, sources: Iterable[Source]) -> None:
        """The sources added through the API; :meth:`apply_sources` serves them."""
        self._stored = {s.id: s for s in sources}

    def origins(self) -> dict[str, tuple[Origin, Source]]:
        """Every RTSP and test-pattern source by id, and where it comes from: the config
        file wins over the assignments, and both over a source added through the API."""
        out: dict[str, tuple[Origin, Source]] = {s.id: ("config", s) for s in self.cfg().sources}
        for s in self._assignments.rtsp if self._assignments else []:
            out.setdefault(s.id, ("assignments", s))
        for stored in self._stored.values():
            out.setdefault(stored.id, ("api", stored))
        return out

    def stored(self) -> dict[str, Source]:
        return dict(self._stored)

    def apply_sources(self) -> None:
        """Start, restart or stop sources to match config + assignments + the sources
        added through the API (on SIGHUP and on every API change too)."""
        config = {s.id for s in self.cfg().sources}
        for s in self._assignments.rtsp if self._assignments else []:
            if s.id in config:
                log.warning(
                    "assigned RTSP id clashes with a configured source; ignored",
                    extra={"camera_id": s.id},
                )
        desired = {camera_id: source for camera_id, (_, source) in self.origins().items()}
        for camera_id, source in self._stored.items():
            if desired[camera_id] is not source:
                log.warning(
                    "camera added through the API is shadowed by a configured one; not served",
                    extra={"camera_id": camera_id},
                )
        for camera_id in list(self._sources):
            if desired.get(camera_id) != self._sources[camera_id]:
                self._stop_source(camera_id)
        for camera_id, source in desired.items():
            if camera_id not in self._sources:
                self._start_source(source)

    def _start_source(self, source: Source) -> None:
        self._sources[source.id] = source
        name = source.name or source.id
        if isinstance(source, TestPatternSource):
            w, h = source.resolution.split("x")
            self.registry.put(
                Camera(
                    source.id,
                    SourceType.TEST,
                    name,
                    CameraStatus.CONNECTED,
                    resolution=source.resolution,
                    fps=source.fps,
                    formats=["H264"],
                    resolutions=[source.resolution],
                    fps_options=[float(source.fps)],
                    validation=Validation.CONFIRMED,
                    connected_at=time.time(),
                    mode=("lavfi", int(w), int(h), float(source.fps)),
                )
            )
            return
        self.registry.put(Camera(source.id, SourceType.RTSP, name, CameraStatus.DISCONNECTED))
        self._source_tasks[source.id] = asyncio.get_running_loop().create_task(
            self._watch_rtsp(source)
        )

    def _stop_source(self, camera_id: str) -> None:
        self._sources.pop(camera_id, None)
        task = self._source_tasks.pop(camera_id, None)
        if task is not None:
            task.cancel()
        self.registry.remove(camera_id)

    async def _watch_rtsp(self, source: RtspSource) -> None:
        await import_off_loop(RTSP)  # a service without RTSP cameras never loads it
        c = self.cfg()
        schedule = RetrySchedule(c.rtsp_check_interval, c.rtsp_max_backoff)
        password = source.password.get_secret_value() if source.password else None
        while True:
            ok = await self._check_rtsp(source, password)
            self._report()
            await asyncio.sleep(schedule.next_delay(ok))

    async def _check_rtsp(self, source: RtspSource, password: str | None) -> bool:
        from camera_service.net import rtsp  # imported by _watch_rtsp

        camera = self.registry.get(source.id)
        if camera is None:
            return False
        try:
            probe = await rtsp.probe(
                source.url, source.username, password, self.cfg().probe_timeout
            )
        except rtsp.RtspError as exc:
            status = (
                CameraStatus.DISCONNECTED
                if exc.kind in ("unreachable", "timeout")
                else CameraStatus.ERROR
            )
            if camera.status is not status:
                log.warning(
                    "RTSP camera unavailable", extra={"camera_id": source.id, "reason": exc.kind}
                )
            self.registry.update(
                source.id, status=status, error=str(exc), validation=Validation.DISCONNECTED
            )
            return False
        if not probe.ok:  # reachable, but it will not serve us (e.g. 503 max clients)
            self.registry.update(
                source.id,
                status=CameraStatus.ERROR,
                error=f"RTSP DESCRIBE answered {probe.status}",
                validation=Validation.ERROR,
            )
            return False
        video = probe.video
        resolution = camera.resolution
        fps = camera.fps
        if video is not None and video.width and video.height:
            resolution = f"{video.width}x{video.height}"
        if video is not None and video.fps:
            fps = round(video.fps)
        if camera.status is not CameraStatus.CONNECTED:
            log.info("RTSP camera connected", extra={"camera_id": source.id})
        self.registry.update(
            source.id,
            status=CameraStatus.CONNECTED,
            resolution=resolution,
            fps=fps,
            formats=[video.codec.upper()] if video is not None else camera.formats,
            resolutions=[resolution] if resolution else [],
            fps_options=[float(fps)] if fps else [],
            validation=Validation.CONFIRMED,
            error="",
            connected_at=camera.connected_at or time.time(),
        )
        return True

    # --- health --------------------------------------------------------------------------------

    def _report(self) -> None:
        cameras = list(self.registry)
        details = {
            "cameras": len(cameras),
            "connected": sum(1 for c in cameras if c.connected),
            "usb": self._usb_count(),
            "hotplug": self.watcher.mechanism,
        }
        if self._assignments_error:
            self.health.set(Status.DEGRADED, self._assignments_error, **details)
        else:
            self.health.set(Status.HEALTHY, "", **details)
