"""Snapshots: one image of a camera, from the best source there is, written atomically.

Sources, best first (``source`` in the result):

``warm``
    the camera's latest keyframe kept by its grabber (:mod:`.grabber`), when it is in
    the asked format and quality and younger than ``snapshots.warm_max_age``: a file
    write, no process.
``stream``
    a one-shot FFmpeg reading the camera's stream on MediaMTX and encoding its first
    keyframe; on an on-demand path this starts the publisher.
``device``
    MediaMTX is unreachable: FFmpeg reads the camera itself, a USB camera from its
    V4L2 node (free then, since its publisher runs under MediaMTX), an RTSP camera from
    its own URL. A test-pattern camera has nothing to read without MediaMTX.

A capture that fails is a ``FAILED`` result with a client-fit reason (never a path or
FFmpeg's own text, which may quote a URL with credentials). At most
``resources.max_snapshots`` captures run FFmpeg at once; one more is refused at once
(:class:`CapacityExceeded`), as is a stream capture that would bring up one stream more
than ``resources.max_streams`` (warm snapshots are never refused). The image is
written to a hidden temporary file in the snapshots directory and linked to its final
name, ``_1``, ``_2``... appended while that name exists, so no partial file is ever
visible and nothing is overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Protocol

from camera_service import childproc
from camera_service.cameras.model import Camera, SourceType
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import RtspSource, Settings, TestPatternSource
from camera_service.events import EventBus
from camera_service.limits import Admission, CapacityExceeded, Unlimited
from camera_service.media.access import InternalCredential
from camera_service.media.ffmpeg import (
    CommandError,
    ImageFormat,
    snapshot_device_argv,
    snapshot_stream_argv,
)
from camera_service.media.grabber import GrabberPool, redact
from camera_service.media.pathconf import reader_url, source_url
from camera_service.storage.disk import StorageLevel
from camera_service.storage.events import SnapshotSaved
from camera_service.storage.names import MAX_NAME_BYTES, BadName, check_basename
from camera_service.storage.probe import image_info

log = logging.getLogger(__name__)

MAX_SUFFIX = 999  # name_1 ... name_999, then the capture fails
EXTENSIONS: dict[str, ImageFormat] = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png"}


class SnapshotRefused(Exception):
    """Refused before any capture; the message is fit for a client."""


class CameraUnavailable(SnapshotRefused):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"Camera not found or not connected: {camera_id}")


class StorageRefused(SnapshotRefused):
    def __init__(self, level: StorageLevel) -> None:
        super().__init__("Storage critical: disk use is above the block threshold")
        self.level = level


class CaptureFailed(Exception):
    """A capture that did not produce an image; reported as a FAILED result."""


# --- names: pure --------------------------------------------------------------------------------


def resolve_name(
    filename: str | None, fmt: ImageFormat | None, default: ImageFormat
) -> tuple[str | None, ImageFormat]:
    """The asked file name (None: generate one) and the image format.

    A name ending in .jpg/.jpeg/.png keeps it, and that extension sets the format when
    ``fmt`` is not given; one that contradicts ``fmt`` is refused. Any other name gets
    the format's extension appended. Raises :class:`BadName`."""
    if filename is None:
        return None, fmt or default
    check_basename(filename)
    named = EXTENSIONS.get(PurePath(filename).suffix.lower())
    if named is not None:
        if fmt is not None and fmt != named:
            raise BadName(f"extension does not match format {fmt!r}")
        return filename, named
    fmt = fmt or default
    return check_basename(f"{filename}.{fmt}"), fmt


def default_name(camera_id: str, when: float, fmt: ImageFormat) -> str:
    """``<camera_id>_snapshot_YYYY-MM-DD_HH-MM-SS.<ext>`` in UTC (api.md §7)."""
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d_%H-%M-%S")
    return f"{camera_id}_snapshot_{stamp}.{fmt}"


def candidates(name: str) -> Iterator[str]:
    """``name``, then ``stem_1.ext`` ... while they fit a file name."""
    yield name
    path = PurePath(name)
    for n in range(1, MAX_SUFFIX + 1):
        candidate = f"{path.stem}_{n}{path.suffix}"
        if len(candidate.encode()) <= MAX_NAME_BYTES:
            yield candidate


# --- writing: blocking, run in a thread -----------------------------------------------------------


def write_new(directory: Path, name: str, data: bytes) -> str:
    """Write ``data`` as a new file named ``name`` (or the first free candidate) in
    ``directory``; the name it got. Nothing is left behind on failure."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    temp = f".snapshot-{os.urandom(8).hex()}.tmp"  # hidden: never listed nor served
    try:
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=dir_fd,
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)  # the content is on disk before its name appears
        finally:
            os.close(fd)
        for candidate in candidates(name):
            try:
                os.link(temp, candidate, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except FileExistsError:
                continue
            return candidate
        raise CaptureFailed(f"every name from {name} to _{MAX_SUFFIX} is taken")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)
        os.close(dir_fd)


# --- what FFmpeg said, for a client ---------------------------------------------------------------

_REASONS = (
    ("Device or resource busy", "the camera device is busy (another program is using it)"),
    ("Permission denied", "no permission to open the camera device"),
    ("No such file or directory", "the camera device is gone"),
    ("No such device", "the camera device is gone"),
    ("401 Unauthorized", "the camera refused the credentials"),
    ("404 Not Found", "the stream is not available"),
    ("Connection refused", "cannot connect to the stream (connection refused)"),
    ("timed out", "the stream sent no data in time"),
)


def failure_reason(stderr: str, returncode: int | None) -> str:
    for needle, reason in _REASONS:
        if needle in stderr:
            return reason
    if returncode == 0:
        return "the stream ended before a keyframe arrived"
    return f"capture failed (FFmpeg exit status {returncode})"


# --- the capture ----------------------------------------------------------------------------------


class StreamState(Protocol):
    @property
    def reachable(self) -> bool: ...


@dataclass(slots=True)
class _Attempt:
    source: str = "warm"  # the source being tried


@dataclass(frozen=True, slots=True)
class Shot:
    data: bytes
    source: str
    wall: float  # when the image was taken (received), time.time()
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Capture:
    """What one snapshot request did: the image it stored, or why it failed."""

    camera_id: str
    device: str
    filename: str  # the stored name; on failure the name that was asked for
    format: str
    source: str  # "warm", "stream" or "device"
    taken_at: float  # when the image was taken (or the capture failed), time.time()
    capture_ms: float
    path: Path | None = None  # where it is stored; None: it failed
    size: int = 0
    width: int = 0
    height: int = 0
    error: str = ""  # why it failed, fit for a client


class SnapshotService:
    def __init__(
        self,
        settings: Callable[[], Settings],
        cameras: CameraRegistry,
        events: EventBus,
        mediamtx: StreamState,
        grabbers: GrabberPool,
        directory: Path,
        storage_level: Callable[[], StorageLevel],
        device_of: Callable[[str], str | None],
        source_of: Callable[[str], RtspSource | TestPatternSource | None],
        executor: Executor | None = None,
        capacity: Admission | None = None,
        internal: InternalCredential | None = None,
    ) -> None:
        self.settings = settings
        self.internal = internal  # what one-shot captures present to MediaMTX
        self.cameras = cameras
        self.events = events
        self.mediamtx = mediamtx
        self.grabbers = grabbers
        self.directory = directory
        self.storage_level = storage_level
        self.device_of = device_of
        self.source_of = source_of
        self.executor = executor
        self.capacity = capacity or Unlimited()
        self.in_flight = 0  # one-shot FFmpeg captures running now
        self.processes = 0  # one-shot FFmpeg captures started

    async def take(
        self, camera_id: str, filename: str | None, fmt: ImageFormat, quality: int
    ) -> Capture:
        """Capture and store. Raises :class:`SnapshotRefused` or :class:`CapacityExceeded`
        before capturing; a failed capture is a :class:`Capture` without a path.
        ``filename`` has been through :func:`resolve_name`."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        camera = self.cameras.get(camera_id)
        if camera is None or not camera.connected:
            self.capacity.check_device(camera_id)  # a USB device past the limit: say so
            raise CameraUnavailable(camera_id)
        level = self.storage_level()
        if level is StorageLevel.CRITICAL:
            raise StorageRefused(level)  # WARN is allowed: a snapshot is small
        cfg = self.settings().snapshots
        attempt = _Attempt()
        try:
            async with asyncio.timeout(cfg.timeout):
                shot = await self._capture(camera, fmt, quality, attempt)
            name = filename or default_name(camera_id, shot.wall, fmt)
            stored = await loop.run_in_executor(
                self.executor, write_new, self.directory, name, shot.data
            )
        except (CaptureFailed, TimeoutError, OSError) as exc:
            why = _why(exc, cfg.timeout)
            log.warning(
                "snapshot failed",
                extra={"camera_id": camera_id, "source": attempt.source, "why": why},
            )
            now = time.time()
            return Capture(
                camera_id,
                camera.device,
                filename or default_name(camera_id, now, fmt),
                fmt,
                attempt.source,
                now,
                round((loop.time() - began) * 1000, 1),
                error=why,
            )
        capture = Capture(
            camera_id,
            camera.device,
            stored,
            fmt,
            shot.source,
            shot.wall,
            round((loop.time() - began) * 1000, 1),
            self.directory / stored,
            len(shot.data),
            shot.width,
            shot.height,
        )
        self.events.publish(
            SnapshotSaved(
                camera_id,
                camera.device,
                stored,
                len(shot.data),
                shot.wall,
                shot.source,
                fmt,
                shot.width,
                shot.height,
            )
        )
        return capture

    async def grab(self, camera_id: str, fmt: ImageFormat, quality: int) -> Shot:
        """One image of the camera, from the same sources as :meth:`take`, kept in
        memory only: no file, no listing, no event. Raises :class:`CameraUnavailable` or
        :class:`CapacityExceeded` before capturing, :class:`CaptureFailed` (with a
        client-fit reason) when the capture fails."""
        camera = self.cameras.get(camera_id)
        if camera is None or not camera.connected:
            raise CameraUnavailable(camera_id)
        timeout = self.settings().snapshots.timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._capture(camera, fmt, quality, _Attempt())
        except TimeoutError:
            raise CaptureFailed(_why(TimeoutError(), timeout)) from None

    async def _capture(
        self, camera: Camera, fmt: ImageFormat, quality: int, attempt: _Attempt
    ) -> Shot:
        s = self.settings()
        frame = await self.grabbers.fresh_frame(
            camera.camera_id, fmt, quality, s.snapshots.warm_max_age
        )
        if frame is not None:
            return _shot(frame.data, "warm", frame.wall)
        argv, attempt.source = self._command(camera, fmt, quality)
        limit = s.resources.max_snapshots
        if self.in_flight >= limit:
            raise CapacityExceeded("snapshots", limit, self.in_flight)
        if attempt.source == "stream":
            # A device read starts no stream (and MediaMTX's view of them is stale then).
            self.capacity.check_stream(camera.camera_id)
        self.in_flight += 1
        try:
            with self.grabbers.capturing(camera.camera_id):
                data = await self._run(argv)
        finally:
            self.in_flight -= 1
        return _shot(data, attempt.source, time.time())

    def _command(self, camera: Camera, fmt: ImageFormat, quality: int) -> tuple[list[str], str]:
        s = self.settings()
        ffmpeg, timeout = s.mediamtx.ffmpeg, s.snapshots.timeout
        try:
            if self.mediamtx.reachable:
                url = reader_url(s.mediamtx, camera.camera_id, self.internal)
                return snapshot_stream_argv(ffmpeg, url, fmt, quality, timeout), "stream"
            if camera.source_type is SourceType.USB:
                device = self.device_of(camera.camera_id)
                if device is None or camera.mode is None:
                    raise CaptureFailed("MediaMTX is unavailable and the device is not ready")
                fourcc, width, height, _fps = camera.mode
                argv = snapshot_device_argv(
                    ffmpeg, Path(device), fourcc, width, height, fmt, quality
                )
                return argv, "device"
            source = self.source_of(camera.camera_id)
            if isinstance(source, RtspSource):
                url = source_url(source)
                argv = snapshot_stream_argv(ffmpeg, url, fmt, quality, timeout, source.transport)
                return argv, "device"
        except CommandError as exc:
            raise CaptureFailed("cannot build the capture command") from exc
        raise CaptureFailed("MediaMTX is unavailable")

    async def _run(self, argv: list[str]) -> bytes:
        """FFmpeg's stdout; killed (its whole group) if the caller gives up (no timeout
        of its own: :meth:`take`'s and :meth:`grab`'s cancel it)."""
        # Counted as started: run starts it before its first await, and raises
        # OSError only when it could not.
        self.processes += 1
        try:
            done = await childproc.run(argv, timeout=None)
        except OSError as exc:
            self.processes -= 1
            raise CaptureFailed(f"cannot run FFmpeg ({exc.strerror})") from None
        if done.returncode != 0 or not done.stdout:
            text = done.stderr.decode(errors="replace")
            log.info("snapshot FFmpeg failed", extra={"output": redact(text[-500:])})
            raise CaptureFailed(failure_reason(text, done.returncode))
        return done.stdout


def _shot(data: bytes, source: str, wall: float) -> Shot:
    info = image_info(lambda offset, size: data[offset : offset + size])
    if info is None:
        raise CaptureFailed("FFmpeg produced no valid image")
    return Shot(data, source, wall, info.width, info.height)


def _why(exc: Exception, timeout: float) -> str:
    if isinstance(exc, CaptureFailed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"no image within {timeout:g} s"
    assert isinstance(exc, OSError)
    if exc.errno == errno.ENOSPC:
        return "no space left for the snapshot"
    return f"cannot write the snapshot ({exc.strerror or 'I/O error'})"
