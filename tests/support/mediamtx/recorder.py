"""MediaMTX's native recorder, emulated with FFmpeg for the double's data plane.

One :class:`Recorder` is what MediaMTX's ``recorder.Recorder`` is for one path: it reads the
path's stream and writes segments named from ``recordPath``. Here the reading and writing is
an ``ffmpeg -c copy -f segment`` reader of the path on the data plane's RTSP port:

* names: ``recordPath`` with ``%path`` replaced, plus ``.mp4`` (fmp4) or ``.ts`` (mpegts),
  placeholders expanded by :func:`~.double.encode_segment_path` (MediaMTX's
  ``recordstore.Path.Encode``) for each segment's start. MediaMTX's times are Go
  ``time.Time``s in **local time** (``%z`` exists for that reason, and the double's
  recordings listing decodes names in local time too), so these are local too (UTC
  where TZ is UTC). MediaMTX names a segment by its first sample's time; here the first
  segment's start is when FFmpeg was launched (its first kept keyframe arrives a moment,
  at most a GOP, later: a name is never in the future) and each later one starts where the
  previous one ended on the stream's timeline, so names and durations line up as
  MediaMTX's do. A relative
  ``recordPath`` resolves against ``work_dir`` (MediaMTX's working directory) and is
  reported relative (``MTX_SEGMENT_PATH``), as MediaMTX reports it;
* FFmpeg cannot put microseconds (``%f``) in a file name, so it writes hidden numbered
  files (``.mtxrec-<id>-000000.mp4``) in the fixed directory prefix of ``recordPath``. Each
  is created empty by us before FFmpeg opens it (FFmpeg opens with ``O_TRUNC``, which
  keeps the inode), and when FFmpeg logs ``Opening '<file>' for writing`` the final name is
  hard-linked to it and the hidden name then swapped (atomically) for a symlink to the
  final one: whether FFmpeg opens it before or after, it writes the inode that the
  MediaMTX name holds from its first byte, and that name is its only link, as with
  MediaMTX's own files (the service serves no file with a second name). The hidden name
  is removed when the segment is done;
* segment boundaries: ``-segment_time`` (cut at the first keyframe after it, like
  MediaMTX's minimum ``recordSegmentDuration``), ``-reset_timestamps 1``, and
  ``-avoid_negative_ts make_zero`` so the timeline starts at the first kept keyframe
  (FFmpeg's list would otherwise count the frames it dropped before it); fmp4 segments are
  fragmented (``empty_moov``, a fragment per keyframe or ``recordPartDuration``) so a cut
  short segment still plays, as MediaMTX's parts do;
* completion: FFmpeg's ``-segment_list`` (CSV, on its stdout) gives each finished segment
  with its start and end time; the duration goes to ``on_complete``;
* stop: ``on_stop``, with which the data plane ends FFmpeg's RTSP session: the end of
  its input makes FFmpeg write the trailer and the last list entry, even when the stream
  has stalled; and SIGINT once FFmpeg is past its set-up (a SIGINT earlier aborts its
  header write). SIGKILL after ``stop_timeout``; a segment FFmpeg never finished gets no
  completion, as MediaMTX would not complete a segment it could not close.

Not emulated: ``recordDeleteAfter`` (the cleaner), ``recordMaxPartSize``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import signal
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from .double import common_path, encode_segment_path, parse_go_duration

log = logging.getLogger(__name__)

# A change of any of these restarts the recorder (MediaMTX's path.doReloadConf).
RECORD_KEYS = (
    "record",
    "recordPath",
    "recordFormat",
    "recordPartDuration",
    "recordMaxPartSize",
    "recordSegmentDuration",
    "recordDeleteAfter",
)
DEFAULT_RECORD_PATH = "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f"

_OPENING = re.compile(r"Opening '(.*)' for writing")


def record_settings(conf: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(conf.get(k) for k in RECORD_KEYS)


def record_extension(conf: Mapping[str, Any]) -> str:
    """``recordstore.PathAddExtension``."""
    return ".ts" if conf.get("recordFormat") == "mpegts" else ".mp4"


def _seconds(value: Any, default: str) -> float:
    """A ``conf.Duration`` (``"2s"``, ``"1h0m0s"``, ``"1d"``) in seconds."""
    return parse_go_duration(str(value or default)) / 1e9


def go_seconds(seconds: float) -> str:
    """``strconv.FormatFloat(d.Seconds(), 'f', -1, 64)``: shortest form, no exponent."""
    text = format(Decimal(repr(float(seconds))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(eq=False)
class Segment:
    """One segment file as MediaMTX's recorder writes it."""

    path_name: str
    name: str  # MTX_SEGMENT_PATH: recordPath expanded (relative stays relative)
    file: Path  # where it is on disk
    start: datetime
    duration: float | None = None  # seconds, once complete


class Recorder:
    """FFmpeg recording one path into segments; see the module docstring."""

    def __init__(
        self,
        *,
        path_name: str,
        conf: Mapping[str, Any],
        url: str,
        ffmpeg: str = "ffmpeg",
        user_agent: str | None = None,
        work_dir: Path | None = None,
        stop_timeout: float = 5.0,
        on_create: Callable[[Segment], None] = lambda s: None,
        on_complete: Callable[[Segment], None] = lambda s: None,
        on_exit: Callable[[Recorder], None] = lambda r: None,
        on_stop: Callable[[str], None] = lambda agent: None,
    ) -> None:
        self.path_name, self.url, self.ffmpeg = path_name, url, ffmpeg
        self.settings = record_settings(conf)
        self.record_format = "mpegts" if conf.get("recordFormat") == "mpegts" else "fmp4"
        self.ext = record_extension(conf)
        record_path = str(conf.get("recordPath") or DEFAULT_RECORD_PATH)
        # recorderInstance.pathFormat2: %path first, then the extension.
        self.path_format = record_path.replace("%path", path_name) + self.ext
        self.segment_duration = max(_seconds(conf.get("recordSegmentDuration"), "1h"), 0.001)
        self.part_duration = _seconds(conf.get("recordPartDuration"), "1s")
        self.user_agent, self.stop_timeout = user_agent, stop_timeout
        self.work_dir = work_dir
        self._on_create, self._on_complete, self._on_exit = on_create, on_complete, on_exit
        self._on_stop = on_stop  # (user_agent): end the RTSP session of that User-Agent
        self.segments: list[Segment] = []
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self.process: asyncio.subprocess.Process | None = None
        self._prefix = f".mtxrec-{uuid.uuid4().hex[:12]}-"
        self._tmp_dir = self._resolve(common_path(self.path_format) or ".")
        self._open: dict[int, Segment] = {}  # hidden file index -> segment being written
        self._early: dict[int, float] = {}  # list entries seen before their "Opening" line
        self._opened: set[int] = set()  # indexes FFmpeg has opened
        self._created: set[int] = set()  # indexes given their MediaMTX name
        self._ends: dict[int, float] = {}  # index -> end on the output timeline (seconds)
        self._anchor = datetime.now().astimezone()
        self._stopping = asyncio.Event()
        self._initialized = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"recorder-{self.path_name}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Finalize the current segment and wait until FFmpeg and the bookkeeping are done."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def kill(self) -> None:
        """As when MediaMTX dies: FFmpeg is killed at once (nothing finalized, no segment
        completed), and the bookkeeping is done when this returns."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGKILL)
        if self._task is not None:
            await asyncio.shield(self._task)

    def argv(self) -> list[str]:
        pattern = str(self._tmp_dir).replace("%", "%%") + f"/{self._prefix}%06d{self.ext}"
        argv = [self.ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"]
        if self.user_agent:
            argv += ["-user_agent", self.user_agent]
        # 1 s of analysis: codec parameters come from the SDP (see the data plane).
        argv += ["-rtsp_transport", "tcp", "-analyzeduration", "1000000", "-i", self.url]
        argv += ["-map", "0:v?", "-map", "0:a?", "-c", "copy"]
        argv += ["-f", "segment", "-segment_time", f"{self.segment_duration:.6f}"]
        argv += ["-reset_timestamps", "1", "-avoid_negative_ts", "make_zero"]
        if self.record_format == "fmp4":
            flags = "movflags=+frag_keyframe+empty_moov+default_base_moof"
            if self.part_duration > 0:
                flags += f":frag_duration={int(self.part_duration * 1_000_000)}"
            argv += ["-segment_format", "mp4", "-segment_format_options", flags]
        else:
            argv += ["-segment_format", "mpegts"]
        argv += ["-segment_list", "pipe:1", "-segment_list_type", "csv"]
        argv += ["-segment_list_flags", "live", pattern]
        return argv

    async def _run(self) -> None:
        try:
            await self._run_ffmpeg()
        finally:
            self._finish()
            self._on_exit(self)

    async def _run_ffmpeg(self) -> None:
        try:
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
            self._touch(0)
            argv = self.argv()
            # The first kept frame arrives after this, so names never lie in the future.
            self._anchor = datetime.now().astimezone()  # MediaMTX: local time
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.output.append(f"cannot run ffmpeg: {exc}")
            log.warning("recorder %s: cannot run ffmpeg: %s", self.path_name, exc)
            return
        self.process = proc
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(self._read_log(proc.stderr)),
            asyncio.create_task(self._read_list(proc.stdout)),
        ]
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                await self._interrupt(proc.pid, exited)
            await exited
        finally:
            stopping.cancel()
            _signal_group(proc.pid, signal.SIGKILL)
            # The pipes end with the process; what is left in them still counts.
            _done, pending = await asyncio.wait(readers, timeout=self.stop_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        log.debug("recorder %s: ffmpeg exited with %s", self.path_name, proc.returncode)

    async def _interrupt(self, pid: int, exited: asyncio.Task[int]) -> None:
        # The end of its input is a clean end for FFmpeg at any stage, stalled stream
        # included. SIGINT (for when it has not connected yet) waits until FFmpeg is past
        # its set-up: before that, SIGINT aborts the header write, and a second SIGINT
        # would abort every write, trailer included.
        self._disconnect()
        initialized = asyncio.create_task(self._initialized.wait())
        try:
            async with asyncio.timeout(self.stop_timeout):
                await asyncio.wait({exited, initialized}, return_when=asyncio.FIRST_COMPLETED)
                if not exited.done():
                    _signal_group(pid, signal.SIGINT)
                    self._disconnect()
                    await asyncio.shield(exited)
        except TimeoutError:
            log.warning("recorder %s: ffmpeg did not stop", self.path_name)
            _signal_group(pid, signal.SIGKILL)
        finally:
            initialized.cancel()

    def _disconnect(self) -> None:
        if self.user_agent is not None:
            self._on_stop(self.user_agent)

    def _finish(self) -> None:
        for index, seg in sorted(self._open.items()):
            # MediaMTX completes only segments it could close; FFmpeg did not close these.
            tail = "\n".join(list(self.output)[-8:])
            log.warning(
                "recorder %s: segment %s not finalized:\n%s", self.path_name, seg.name, tail
            )
            self._unlink(index)
        self._open.clear()
        with contextlib.suppress(OSError):
            for leftover in self._tmp_dir.glob(f"{self._prefix}*"):
                leftover.unlink(missing_ok=True)

    # -- FFmpeg output

    async def _read_log(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self.output.append(text)
            log.debug("recorder %s: %s", self.path_name, text)
            if text.startswith("Stream mapping:"):
                self._initialized.set()  # printed once outputs are set up
            match = _OPENING.search(text)
            index = self._index(match.group(1)) if match else None
            if index is not None:
                self._opened.add(index)
                self._maybe_create(index)

    async def _read_list(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            fields = line.decode(errors="replace").strip().rsplit(",", 2)
            if len(fields) != 3:
                continue
            index = self._index(fields[0].strip('"'))
            try:
                begin, end = float(fields[1]), float(fields[2])
            except ValueError:
                continue
            if index is None:
                continue
            self._ends[index] = end
            if index in self._open:
                self._completed(index, round(end - begin, 6))
            else:
                self._early[index] = round(end - begin, 6)
            self._maybe_create(index + 1)

    def _index(self, file_name: str) -> int | None:
        base = os.path.basename(file_name)
        if not (base.startswith(self._prefix) and base.endswith(self.ext)):
            return None
        digits = base[len(self._prefix) : -len(self.ext)]
        return int(digits) if digits.isdigit() else None

    def _maybe_create(self, index: int) -> None:
        # Segment k starts where k-1 ended on the stream's timeline (FFmpeg writes that list
        # entry just before it opens k; the two arrive on different pipes, in either order).
        if index not in self._opened or index in self._created:
            return
        if index == 0:
            offset = 0.0
        elif index - 1 in self._ends:
            offset = self._ends[index - 1]
        else:
            return
        self._created.add(index)
        self._create(index, self._anchor + timedelta(seconds=offset))

    def _create(self, index: int, start: datetime) -> None:
        name = encode_segment_path(self.path_format, self.path_name, start)
        final = self._resolve(name)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._touch(index)  # normally ours already; FFmpeg keeps the inode either way
            with contextlib.suppress(FileNotFoundError):
                final.unlink()  # os.Create truncates an existing file; link needs it gone
            os.link(self._tmp(index), final)
            hidden = self._tmp(index)
            swap = hidden.with_name(hidden.name + ".link")
            os.symlink(final, swap)
            os.replace(swap, hidden)  # at no instant does the hidden name lead elsewhere
        except OSError as exc:
            log.warning("recorder %s: cannot create segment %s: %s", self.path_name, final, exc)
            return
        self._touch(index + 1)
        seg = Segment(self.path_name, name, final, start)
        self._open[index] = seg
        self.segments.append(seg)
        log.debug("recorder %s: segment %s created", self.path_name, name)
        self._on_create(seg)
        if index in self._early:
            self._completed(index, self._early.pop(index))

    def _completed(self, index: int, duration: float) -> None:
        seg = self._open.pop(index)
        seg.duration = max(duration, 0.0)
        self._unlink(index)
        log.debug("recorder %s: segment %s complete (%ss)", self.path_name, seg.name, duration)
        self._on_complete(seg)

    # -- files

    def _resolve(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else (self.work_dir or Path.cwd()) / path

    def _tmp(self, index: int) -> Path:
        return self._tmp_dir / f"{self._prefix}{index:06d}{self.ext}"

    def _touch(self, index: int) -> None:
        # Append mode: creates it if missing, never truncates what FFmpeg wrote.
        with open(self._tmp(index), "ab"):
            pass

    def _unlink(self, index: int) -> None:
        with contextlib.suppress(OSError):
            self._tmp(index).unlink(missing_ok=True)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
