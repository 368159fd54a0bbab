"""What MediaMTX path each camera should have: plain data, derived from the camera and
the settings, compared key by key with what MediaMTX reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from camera_service.cameras.model import Camera, SourceType
from camera_service.config import (
    MediaMtxConfig,
    RecordingConfig,
    RtspSource,
    TestPatternSource,
)
from camera_service.media.access import InternalCredential
from camera_service.media.ffmpeg import Encoding, pattern_command, publish_url, v4l2_command

PathConf = dict[str, Any]
# MediaMTX writes a recording in parts of this length and creates a segment's file (and
# runs its create hook) when the first part is done: so a segment began this long
# before its create hook. Half a second also bounds what a crash can lose.
RECORD_PART_SECONDS = 0.5


def reader_url(
    cfg: MediaMtxConfig, camera_id: str, credential: InternalCredential | None = None
) -> str:
    """Where this service reads a camera's stream: MediaMTX's RTSP port on the host of
    its Control API (loopback unless MediaMTX runs elsewhere), with the service's own
    credential when given (never logged)."""
    host = urlsplit(cfg.api_url).hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    userinfo = ""
    if credential is not None:
        userinfo = f"{quote(credential.user, safe='')}:{quote(credential.secret, safe='')}@"
    return f"rtsp://{userinfo}{host}:{cfg.rtsp_port}/{camera_id}"


def record_format(fmt: str) -> str:
    """MediaMTX's ``recordFormat`` for one of our recording formats (mp4, ts)."""
    return "fmp4" if fmt == "mp4" else "mpegts"


def encoding(cfg: MediaMtxConfig) -> Encoding:
    return Encoding(cfg.encoder, cfg.preset, cfg.bitrate_kbps, cfg.ffmpeg)


def _seconds(value: float) -> str:
    return f"{value:g}s"  # MediaMTX durations are Go duration strings


def recording_fields(
    recordings: Path, cfg: RecordingConfig, on_create: str, on_complete: str
) -> PathConf:
    """How MediaMTX records any of our paths once ``record`` is switched on: flat in the
    recordings dir, named ``<camera_id>_YYYY-MM-DD_HH-MM-SS`` (MediaMTX adds the
    extension), segment length from the config, hooks calling back to the service.
    MediaMTX's own cleaner is off (its default deletes every segment after a day,
    behind the index): retention is the service's, by its policy."""
    return {
        "recordPath": f"{recordings}/%path_%Y-%m-%d_%H-%M-%S",
        "recordDeleteAfter": "0s",
        "recordFormat": record_format(cfg.format),
        "recordSegmentDuration": _seconds(cfg.segment_minutes * 60),
        "recordPartDuration": _seconds(RECORD_PART_SECONDS),
        "runOnRecordSegmentCreate": on_create,
        "runOnRecordSegmentComplete": on_complete,
    }


def desired_path(
    camera: Camera,
    cfg: MediaMtxConfig,
    device_path: str | None = None,
    source: RtspSource | TestPatternSource | None = None,
    recording: PathConf | None = None,
    credential: InternalCredential | None = None,
) -> PathConf | None:
    """The path config for ``camera``; None while it cannot be published yet (a USB
    camera whose formats are still being probed). Publishers present ``credential``."""
    conf = _publishing(camera, cfg, device_path, source, credential)
    if conf is not None and recording:
        conf.update(recording)
    return conf


def _publishing(
    camera: Camera,
    cfg: MediaMtxConfig,
    device_path: str | None,
    source: RtspSource | TestPatternSource | None,
    credential: InternalCredential | None,
) -> PathConf | None:
    url = publish_url(credential.user, credential.secret) if credential else publish_url()
    if camera.source_type is SourceType.RTSP:
        if not isinstance(source, RtspSource):
            return None
        return {
            "source": source_url(source),
            "sourceOnDemand": source.on_demand,
            "rtspTransport": source.transport,
        }
    on_demand = {
        "runOnDemandRestart": True,
        "runOnDemandStartTimeout": _seconds(cfg.on_demand_start_timeout),
        "runOnDemandCloseAfter": _seconds(cfg.on_demand_close_after),
    }
    if camera.source_type is SourceType.TEST:
        if not isinstance(source, TestPatternSource):
            return None
        w, h = (int(x) for x in source.resolution.split("x"))
        cmd = pattern_command(source.pattern, w, h, source.fps, encoding(cfg), url)
        return {"runOnDemand": cmd, **on_demand}
    if camera.mode is None or device_path is None:
        return None
    fourcc, width, height, fps = camera.mode
    cmd = v4l2_command(Path(device_path), fourcc, width, height, fps, encoding(cfg), url)
    return {"runOnDemand": cmd, **on_demand}


def source_url(source: RtspSource) -> str:
    """The camera URL MediaMTX pulls, credentials included (never logged)."""
    if not source.username:
        return source.url
    parts = urlsplit(source.url)
    password = source.password.get_secret_value() if source.password else ""
    userinfo = quote(source.username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def differs(current: PathConf, desired: PathConf) -> bool:
    """Only the keys we set matter: MediaMTX reports every field with its default, and
    prints durations its own way ("60s" comes back as "1m0s"), so those compare by value."""
    for key, want in desired.items():
        have = current.get(key)
        if isinstance(want, str) and isinstance(have, str) and _DURATION.fullmatch(want):
            if duration_seconds(have) != duration_seconds(want):
                return True
        elif have != want:
            return True
    return False


_DURATION = re.compile(r"(?:[0-9.]+(?:d|h|ms|m|s|us|µs|ns))+")
_UNITS = {
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}


def duration_seconds(text: str) -> float | None:
    """A Go/MediaMTX duration ("1m30s", "10s", "1d") in seconds; None if it is not one.
    MediaMTX prints a zero duration as "" (conf.Duration writes no unit for nothing)."""
    if text == "":
        return 0.0
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"([0-9.]+)(d|h|ms|m|s|us|µs|ns)", text))
