"""What is inside a media file: a recording's duration from its container (ffprobe), a
snapshot's resolution from its image header (pure Python, a few hundred bytes read).

Both read through a descriptor the caller opened with :func:`storage.names.open_media`
(``O_NOFOLLOW``, regular files only), so what is probed is the file that was checked,
even if the name is replaced meanwhile.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from camera_service import childproc

log = logging.getLogger(__name__)

ReadAt = Callable[[int, int], bytes]  # (offset, size) -> at most size bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG), CC (DAC) do not.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length
_MAX_JPEG_SEGMENTS = 256  # a real file has a dozen before its frame header


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # "jpg" or "png"
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float | None  # seconds, as the container says; None when it does not
    width: int | None
    height: int | None


# --- images: pure functions over a reader ------------------------------------------------------


def image_info(read_at: ReadAt) -> ImageInfo | None:
    """Format and size from a PNG IHDR or a JPEG start-of-frame; None if neither."""
    head = read_at(0, 24)
    if head.startswith(PNG_SIGNATURE):
        if len(head) < 24 or head[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", head[16:24])
        return ImageInfo("png", width, height) if width and height else None
    if head.startswith(b"\xff\xd8"):
        size = _jpeg_size(read_at)
        return ImageInfo("jpg", *size) if size else None
    return None


def _jpeg_size(read_at: ReadAt) -> tuple[int, int] | None:
    offset = 2
    for _ in range(_MAX_JPEG_SEGMENTS):
        header = read_at(offset, 9)
        if len(header) < 2 or header[0] != 0xFF:
            return None
        marker = header[1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _STANDALONE:
            offset += 2
            continue
        if marker in (0xD9, 0xDA) or len(header) < 4:  # end of image / scan data: no frame
            return None
        (length,) = struct.unpack(">H", header[2:4])
        if marker in _SOF:
            if len(header) < 9:
                return None
            height, width = struct.unpack(">HH", header[5:9])
            return (width, height) if width and height else None
        if length < 2:
            return None
        offset += 2 + length
    return None


def read_image_info(fd: int) -> ImageInfo | None:
    """:func:`image_info` of an open file. Blocking: call it in a thread."""
    return image_info(lambda offset, size: os.pread(fd, size, offset))


# --- videos: ffprobe ---------------------------------------------------------------------------


def ffprobe_beside(ffmpeg: str) -> str:
    """The ffprobe that comes with the configured ffmpeg (same directory)."""
    if os.sep not in ffmpeg:
        return "ffprobe"
    return str(Path(ffmpeg).with_name("ffprobe"))


def parse_ffprobe(output: bytes) -> VideoInfo:
    """The container's duration (else the longest stream's) and the video size."""
    data = orjson.loads(output)
    streams = [s for s in data.get("streams", ()) if isinstance(s, dict)]
    duration = _seconds(data.get("format", {}).get("duration"))
    if duration is None:
        durations = [d for d in (_seconds(s.get("duration")) for s in streams) if d is not None]
        duration = max(durations, default=None)
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    width, height = video.get("width"), video.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        width = height = None
    return VideoInfo(duration, width, height)


def _seconds(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds < 1e9 else None  # "N/A", NaN and garbage alike


async def probe_video(fd: int, ffprobe: str = "ffprobe", timeout: float = 15.0) -> VideoInfo | None:
    """Run ffprobe on an open file; None when it cannot read it (a cut-short file, not
    a video, ffprobe missing) or takes longer than ``timeout``."""
    # ffprobe reopens the inherited descriptor through /proc: the very inode we opened,
    # seekable (an MP4's index may be at its end), and no name for it to misread as
    # an option or a protocol.
    argv = [
        ffprobe,
        "-v",
        "error",
        "-show_entries",
        "format=duration:stream=codec_type,width,height,duration",
        "-of",
        "json",
        f"file:/proc/self/fd/{fd}",
    ]
    try:
        done = await childproc.run(argv, timeout=timeout, pass_fds=(fd,), stderr=False)
    except OSError as exc:
        log.warning("cannot run ffprobe", extra={"error": exc.strerror})
        return None
    except childproc.ChildTimeout:
        log.warning("ffprobe timed out", extra={"timeout": timeout})
        return None
    if done.returncode != 0:
        return None
    try:
        return parse_ffprobe(done.stdout)
    except (orjson.JSONDecodeError, AttributeError):
        return None
