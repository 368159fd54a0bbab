"""Warm snapshots: each camera's latest keyframe, decoded before anyone asks.

A :class:`Grabber` is one long-lived FFmpeg reading a camera's stream on MediaMTX and
decoding only its keyframes (one a second with our publishers) into JPEG or PNG images
on a pipe; it keeps the latest one. A snapshot that matches it is a file write, with
no process started.

The :class:`GrabberPool` decides which cameras have one, after every look the MediaMTX
controller takes at the streams: always the ``snapshots.warm`` cameras (their stream
then stays up), and any camera someone else is watching (``readers`` beyond our own),
so a grabber never keeps an on-demand stream open on its own. Reader counts lag (they
are refreshed every ``mediamtx.check_interval``), so after a grabber starts, attaches
or stops its camera is left alone until two fresh counts have been seen.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, SnapshotsConfig
from camera_service.media.access import InternalCredential
from camera_service.media.ffmpeg import ImageFormat, grabber_argv
from camera_service.media.imagestream import ImageSplitter
from camera_service.media.mediamtx.models import PathState
from camera_service.media.pathconf import reader_url
from camera_service.media.supervise import keep_running, spawn, terminate

log = logging.getLogger(__name__)

IO_TIMEOUT = 10.0  # seconds without data that end a grabber's run (FFmpeg's RTSP timeout)
HEALTHY_RUN = 5.0  # a run this long resets the backoff
BACKOFF = (0.5, 10.0)  # first and longest pause before a restart, seconds
SETTLE_LOOKS = 2  # fresh reader counts to see after a change before judging them
READ_CHUNK = 64 * 1024
_USERINFO = re.compile(r"(rtsps?://)[^/@\s]+@")


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    format: ImageFormat
    quality: int
    received: float  # event loop clock
    wall: float  # time.time() when received


class Grabber:
    """One camera's keyframe reader, restarted with backoff until stopped."""

    def __init__(
        self,
        camera_id: str,
        argv: list[str],
        fmt: ImageFormat,
        quality: int,
        on_change: Callable[[Grabber], None] = lambda g: None,
        *,
        backoff: tuple[float, float] = BACKOFF,
        healthy_run: float = HEALTHY_RUN,
    ) -> None:
        self.camera_id = camera_id
        self.argv = argv
        self.format: ImageFormat = fmt
        self.quality = quality
        self.on_change = on_change
        self.backoff = backoff
        self.healthy_run = healthy_run
        self.latest: Frame | None = None  # one frame: memory is bounded per camera
        self.runs = 0  # processes started
        self.attached = False  # the running process has delivered a frame
        self.output: collections.deque[str] = collections.deque(maxlen=5)
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._frame_seen = asyncio.Event()

    def matches(self, fmt: str, quality: int) -> bool:
        return fmt == self.format and (fmt == "png" or quality == self.quality)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def reading(self) -> bool:
        """A process is running now (not between runs)."""
        return self.process is not None and self.process.returncode is None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not `await task` under suppress(CancelledError): that would
            # also swallow a cancellation of the caller and leave shutdown hanging.
            await asyncio.wait({task})
        self.latest = None

    async def next_frame(self, timeout: float) -> Frame | None:
        """The next frame, or None if none arrives within ``timeout`` seconds."""
        event = self._frame_seen
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return None
        return self.latest

    async def _run(self) -> None:
        await keep_running(self._run_once, self.backoff, self.healthy_run, self._ended)

    def _ended(self, why: str, pause: float, failures: int) -> bool:
        log.info(
            "snapshot grabber ended; restarting",
            extra={"camera_id": self.camera_id, "why": why, "pause": pause},
        )
        return True  # until stopped

    async def _run_once(self) -> str:
        try:
            proc = await spawn(self.argv, stdout=asyncio.subprocess.PIPE)
        except OSError as exc:
            return f"cannot run FFmpeg: {exc.strerror}"
        self.process = proc
        self.runs += 1
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.get_running_loop().create_task(self._collect(proc.stderr))
        splitter = ImageSplitter()
        try:
            while chunk := await proc.stdout.read(READ_CHUNK):
                for image in splitter.feed(chunk):
                    self._frame(image)
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                await terminate(proc)
            await errors
            self._set_attached(False)
        return f"exit {code}: {self.output[-1] if self.output else 'no output'}"

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.output.append(redact(line.decode(errors="replace").strip()))

    def _frame(self, image: bytes) -> None:
        now = asyncio.get_running_loop().time()
        self.latest = Frame(image, self.format, self.quality, now, time.time())
        event, self._frame_seen = self._frame_seen, asyncio.Event()
        event.set()
        self._set_attached(True)

    def _set_attached(self, attached: bool) -> None:
        if attached != self.attached:
            self.attached = attached
            self.on_change(self)


class StreamView(Protocol):
    """What the pool needs of the MediaMTX controller."""

    @property
    def reachable(self) -> bool: ...

    @property
    def streams(self) -> Mapping[str, PathState]: ...

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None: ...


def wants_grabber(
    *,
    warm: bool,
    when_watched: bool,
    connected: bool,
    reachable: bool,
    state: PathState | None,
    running: bool,
    attached: bool,
    settled: bool,
    ours: int = 0,
) -> bool:
    """Whether a camera should have a grabber now (the pool's rule, without I/O).

    ``ours``: our own other readers of the stream (one-shot snapshot captures,
    recording stream holders), which are not viewers either."""
    if not connected:
        return False
    if warm:
        return True  # kept up even while MediaMTX is away: it retries with backoff
    if not when_watched or not reachable or state is None:
        return False
    if not settled:
        return running  # the counts may not show our last change yet: keep things as they are
    if running and not attached:
        return state.available  # still connecting: worth it while the stream is up
    others = state.readers - (1 if attached else 0) - ours
    return others > 0


class GrabberPool:
    def __init__(
        self,
        cfg: Callable[[], SnapshotsConfig],
        mediamtx: Callable[[], MediaMtxConfig],
        cameras: CameraRegistry,
        view: StreamView,
        *,
        io_timeout: float = IO_TIMEOUT,
        backoff: tuple[float, float] = BACKOFF,
        internal: InternalCredential | None = None,
    ) -> None:
        self.cfg = cfg
        self.mediamtx = mediamtx
        self.internal = internal  # what the grabbers present to MediaMTX
        self.cameras = cameras
        self.view = view
        self.io_timeout = io_timeout
        self.backoff = backoff
        self.grabbers: dict[str, Grabber] = {}
        self.looks = 0  # fresh stream states seen
        self._marks: dict[str, int] = {}  # camera -> ``looks`` at its last change
        self._ours: collections.Counter[str] = collections.Counter()  # see reading()
        self._retired_runs = 0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # --- lifetime -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not `await task` under suppress(CancelledError): that would
            # also swallow a cancellation of the caller and leave shutdown hanging.
            await asyncio.wait({task})
        await asyncio.gather(*(self._drop(cid) for cid in list(self.grabbers)))

    async def _loop(self) -> None:
        seen: object = None
        while True:
            streams = self.view.streams
            if streams is not seen:
                seen = streams
                self.looks += 1
            try:
                await self.sync()
            except Exception:
                log.exception("snapshot grabbers: sync failed")

            def fresh(last: object = seen) -> bool:
                return self.view.streams is not last

            # The controller refreshes the streams every check_interval; when MediaMTX
            # is away they stay as they were, and the timeout keeps us going.
            with contextlib.suppress(TimeoutError):
                await self.view.wait_until(fresh, 2 * self.mediamtx().check_interval)

    # --- deciding ----------------------------------------------------------------------------

    async def sync(self) -> None:
        """Start and stop grabbers to match the rule (:func:`wants_grabber`)."""
        cfg = self.cfg()
        warm = set(cfg.warm)
        reachable = self.view.reachable
        streams = self.view.streams
        for camera_id in sorted({c.camera_id for c in self.cameras} | set(self.grabbers)):
            camera = self.cameras.get(camera_id)
            grabber = self.grabbers.get(camera_id)
            want = wants_grabber(
                warm=camera_id in warm,
                when_watched=cfg.warm_when_watched,
                connected=camera is not None and camera.connected,
                reachable=reachable,
                state=streams.get(camera_id),
                running=grabber is not None,
                attached=grabber is not None and grabber.attached,
                settled=self.looks - self._marks.get(camera_id, -SETTLE_LOOKS) >= SETTLE_LOOKS,
                ours=self._ours[camera_id],
            )
            if grabber is not None and not (want and grabber.matches(cfg.format, cfg.quality)):
                await self._drop(camera_id)
                grabber = None
            if want and grabber is None:
                self._add(camera_id, cfg)

    def _add(self, camera_id: str, cfg: SnapshotsConfig) -> None:
        mtx = self.mediamtx()
        argv = grabber_argv(
            mtx.ffmpeg,
            reader_url(mtx, camera_id, self.internal),
            cfg.format,
            cfg.quality,
            self.io_timeout,
        )
        grabber = Grabber(
            camera_id, argv, cfg.format, cfg.quality, self._grabber_changed, backoff=self.backoff
        )
        self.grabbers[camera_id] = grabber
        grabber.start()
        log.info("snapshot grabber started", extra={"camera_id": camera_id})
        self._mark(camera_id)

    async def _drop(self, camera_id: str) -> None:
        grabber = self.grabbers.pop(camera_id)
        await grabber.stop()
        self._retired_runs += grabber.runs
        log.info("snapshot grabber stopped", extra={"camera_id": camera_id})
        self._mark(camera_id)

    def _grabber_changed(self, grabber: Grabber) -> None:
        if self.grabbers.get(grabber.camera_id) is grabber:
            self._mark(grabber.camera_id)

    def _mark(self, camera_id: str) -> None:
        self._marks[camera_id] = self.looks
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # --- what snapshots use ------------------------------------------------------------------

    def reading(self, camera_id: str) -> Callable[[], None]:
        """One more reader of ours on the camera's stream (a one-shot capture, a
        recording's stream holder): not a viewer that would make the camera worth a
        grabber. Returns the call that ends it (once)."""
        self._ours[camera_id] += 1
        self._mark(camera_id)
        done = False

        def release() -> None:
            nonlocal done
            if done:
                return
            done = True
            self._ours[camera_id] -= 1
            if not self._ours[camera_id]:
                del self._ours[camera_id]
            self._mark(camera_id)

        return release

    @contextlib.contextmanager
    def capturing(self, camera_id: str) -> Iterator[None]:
        """Around a one-shot capture from the stream (see :meth:`reading`)."""
        release = self.reading(camera_id)
        try:
            yield
        finally:
            release()

    @property
    def processes(self) -> int:
        """FFmpeg processes the grabbers have started so far."""
        return self._retired_runs + sum(g.runs for g in self.grabbers.values())

    def frame(self, camera_id: str, fmt: str, quality: int, max_age: float) -> Frame | None:
        """The camera's latest keyframe if it is in this format and younger than
        ``max_age`` seconds."""
        grabber = self.grabbers.get(camera_id)
        if grabber is None or not grabber.matches(fmt, quality) or grabber.latest is None:
            return None
        frame = grabber.latest
        if asyncio.get_running_loop().time() - frame.received > max_age:
            return None
        return frame

    async def fresh_frame(
        self, camera_id: str, fmt: str, quality: int, max_age: float
    ) -> Frame | None:
        """Like :meth:`frame`; when there is none yet but a matching grabber is reading
        (just started, say), its next frame if it comes within ``max_age``."""
        frame = self.frame(camera_id, fmt, quality, max_age)
        if frame is not None:
            return frame
        grabber = self.grabbers.get(camera_id)
        if grabber is None or not grabber.matches(fmt, quality) or not grabber.reading:
            return None
        return await grabber.next_frame(max_age)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds after some grabber change (start, stop,
        attach, detach); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()


def redact(text: str) -> str:
    """FFmpeg's messages may quote a URL with credentials: drop the user info."""
    return _USERINFO.sub(r"\1***@", text)
