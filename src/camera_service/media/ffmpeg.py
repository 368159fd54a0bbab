"""FFmpeg publisher commands for MediaMTX's ``runOnDemand``.

MediaMTX splits the command like a POSIX shell would (without running one) and then
expands ``$MTX_PATH`` and ``$RTSP_PORT`` in each resulting part. So the command is built
as an argument list from validated values only and every part is quoted with
``shlex.quote``; quoting does not stop that expansion, which happens after the split.

Output is H.264 a browser can play over WebRTC and HLS: constrained baseline (the only
profile every WebRTC browser decodes), ``yuv420p``, no B-frames, and a keyframe every
second so snapshots and late joiners start fast.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Encoder = Literal["libx264", "h264_v4l2m2m", "h264_vaapi", "h264_nvenc", "h264_qsv"]

# V4L2 fourcc -> FFmpeg's -input_format name.
INPUT_FORMATS = {
    "MJPG": "mjpeg",
    "JPEG": "mjpeg",
    "YUYV": "yuyv422",
    "UYVY": "uyvy422",
    "NV12": "nv12",
    "YU12": "yuv420p",
    "H264": "h264",
    "RGB3": "rgb24",
    "BGR3": "bgr24",
}
PUBLISH_URL = "rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH"
_USERINFO = re.compile(r"[A-Za-z0-9._~-]+")  # unreserved: no quoting, no "$" to expand
_DEVICE = re.compile(r"/[A-Za-z0-9_./-]+/video[0-9]{1,4}")  # fullmatch: no final "\n"
_PATTERNS = ("testsrc", "testsrc2", "smptebars", "rgbtestsrc")


class CommandError(ValueError):
    """A value that must not reach a command line."""


def publish_url(user: str | None = None, password: str | None = None) -> str:
    """Where a publisher sends its path, with the service's credential when given."""
    if user is None or password is None:
        return PUBLISH_URL
    _check(bool(_USERINFO.fullmatch(user) and _USERINFO.fullmatch(password)), "bad userinfo")
    return PUBLISH_URL.replace("rtsp://", f"rtsp://{user}:{password}@", 1)


@dataclass(frozen=True, slots=True)
class Encoding:
    encoder: Encoder = "libx264"
    preset: str = "ultrafast"
    bitrate_kbps: int = 2000
    ffmpeg: str = "ffmpeg"

    def args(self, fps: float) -> list[str]:
        gop = str(max(1, round(fps)))  # one keyframe per second
        rate = f"{self.bitrate_kbps}k"
        common = [
            "-pix_fmt",
            "yuv420p",
            "-g",
            gop,
            "-keyint_min",
            gop,
            "-bf",
            "0",
            "-b:v",
            rate,
            "-maxrate",
            rate,
            "-bufsize",
            f"{2 * self.bitrate_kbps}k",
        ]
        if self.encoder == "libx264":
            return [
                "-c:v",
                "libx264",
                "-preset",
                self.preset,
                "-tune",
                "zerolatency",
                "-profile:v",
                "baseline",
                "-sc_threshold",
                "0",
                *common,
            ]
        if self.encoder == "h264_vaapi":
            # VAAPI encodes from GPU surfaces: upload first.
            return [
                "-vf",
                "format=nv12,hwupload",
                "-c:v",
                "h264_vaapi",
                "-profile:v",
                "constrained_baseline",
                *common[2:],
            ]
        return ["-c:v", self.encoder, "-profile:v", "baseline", *common]


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise CommandError(what)


def _fps(fps: float) -> str:
    _check(0 < fps <= 240, f"frame rate {fps!r} out of range")
    return f"{fps:g}"


def _size(width: int, height: int) -> str:
    _check(16 <= width <= 8192 and 16 <= height <= 8192, f"size {width}x{height} out of range")
    return f"{width}x{height}"


def v4l2_command(
    device: Path,
    fourcc: str,
    width: int,
    height: int,
    fps: float,
    enc: Encoding,
    url: str = PUBLISH_URL,
) -> str:
    """Publish a V4L2 device in the mode its probe chose."""
    _check(bool(_DEVICE.fullmatch(str(device))), f"not a V4L2 device path: {device}")
    _check(fourcc in INPUT_FORMATS, f"unsupported pixel format {fourcc!r}")
    size, rate = _size(width, height), _fps(fps)
    return _publisher(
        enc,
        fps,
        [
            "-f",
            "v4l2",
            "-input_format",
            INPUT_FORMATS[fourcc],
            "-video_size",
            size,
            "-framerate",
            rate,
            "-i",
            str(device),
        ],
        url,
    )


def pattern_command(
    pattern: str, width: int, height: int, fps: float, enc: Encoding, url: str = PUBLISH_URL
) -> str:
    """Publish an FFmpeg lavfi test pattern (a camera without hardware)."""
    _check(pattern in _PATTERNS, f"unknown test pattern {pattern!r}")
    source = f"{pattern}=size={_size(width, height)}:rate={_fps(fps)}"
    # -re: a generated source has no clock of its own; read it at its frame rate
    return _publisher(enc, fps, ["-re", "-f", "lavfi", "-i", source], url)


def _publisher(enc: Encoding, fps: float, source: list[str], url: str) -> str:
    """FFmpeg from ``source`` to this path on MediaMTX, encoded for browsers."""
    argv = [
        enc.ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        *source,
        *enc.args(fps),
        "-f",
        "rtsp",
        "-rtsp_transport",
        "tcp",
        url,
    ]
    return join(argv)


def join(argv: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in argv)


# --- snapshots: one image on stdout ----------------------------------------------------------

ImageFormat = Literal["jpg", "png"]
# Read an RTSP stream with the least start-up delay: no probing beyond the SDP (the
# default analyzeduration alone costs 5 s), no input buffering.
_RTSP_FAST_START = [
    "-fflags", "nobuffer", "-flags", "low_delay", "-probesize", "32", "-analyzeduration", "1",
]  # fmt: skip


# Decode and encode one picture at a time: FFmpeg's default of a thread per core (+1) for
# each codec costs every grabber ~3 MB of private memory on 2 cores, more on bigger
# hubs (bench/live_rss.py), and one keyframe a second needs no parallelism.
_ONE_THREAD = ["-threads", "1"]


def jpeg_qscale(quality: int) -> int:
    """JPEG quality 1-100 (100 best) as FFmpeg's MJPEG ``-q:v`` 31-2 (2 best), linearly."""
    _check(1 <= quality <= 100, f"quality {quality!r} out of range")
    return 2 + round((100 - quality) * 29 / 99)


def image_output(fmt: ImageFormat, quality: int, *, frames: int | None = 1) -> list[str]:
    """Encode video frames as ``fmt`` images, concatenated on stdout. PNG is lossless:
    ``quality`` applies to JPEG only."""
    codec = ["-c:v", "png"]
    if fmt == "jpg":
        codec = ["-c:v", "mjpeg", "-q:v", str(jpeg_qscale(quality))]
    count = ["-frames:v", str(frames)] if frames is not None else []
    # passthrough: one image per decoded frame, never duplicated to fill a frame rate
    return [
        "-an", "-sn", "-dn", *count, "-fps_mode", "passthrough", *codec, *_ONE_THREAD,
        "-f", "image2pipe", "-",
    ]  # fmt: skip


def rtsp_keyframes_input(url: str, timeout: float, transport: str = "tcp") -> list[str]:
    """Read ``url`` over RTSP and decode only its keyframes (a whole picture each, and
    the decoder skips everything between). ``timeout``: seconds without data that end it."""
    _check(url.startswith(("rtsp://", "rtsps://")), "not an RTSP URL")
    _check(0 < timeout <= 3600, f"timeout {timeout!r} out of range")
    _check(transport in ("tcp", "udp"), f"unknown RTSP transport {transport!r}")
    return [
        *_RTSP_FAST_START,
        "-rtsp_transport", transport,
        "-timeout", str(round(timeout * 1_000_000)),
        "-skip_frame", "nokey",
        *_ONE_THREAD,
        "-i", url,
    ]  # fmt: skip


def _ffmpeg_head(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"]


def snapshot_stream_argv(
    ffmpeg: str, url: str, fmt: ImageFormat, quality: int, timeout: float, transport: str = "tcp"
) -> list[str]:
    """One image of the first keyframe of an RTSP stream, on stdout."""
    return [
        *_ffmpeg_head(ffmpeg),
        *rtsp_keyframes_input(url, timeout, transport),
        *image_output(fmt, quality),
    ]


def snapshot_device_argv(
    ffmpeg: str,
    device: Path,
    fourcc: str,
    width: int,
    height: int,
    fmt: ImageFormat,
    quality: int,
) -> list[str]:
    """One image straight from a V4L2 device in the mode its probe chose, on stdout."""
    _check(bool(_DEVICE.fullmatch(str(device))), "not a V4L2 device path")
    _check(fourcc in INPUT_FORMATS, f"unsupported pixel format {fourcc!r}")
    source = [
        "-f", "v4l2", "-input_format", INPUT_FORMATS[fourcc],
        "-video_size", _size(width, height), "-i", str(device),
    ]  # fmt: skip
    return [*_ffmpeg_head(ffmpeg), *source, *image_output(fmt, quality)]


def grabber_argv(
    ffmpeg: str, url: str, fmt: ImageFormat, quality: int, timeout: float
) -> list[str]:
    """A long-lived reader: every keyframe of an RTSP stream as an image on stdout."""
    return [
        *_ffmpeg_head(ffmpeg),
        *rtsp_keyframes_input(url, timeout),
        *image_output(fmt, quality, frames=None),
    ]
