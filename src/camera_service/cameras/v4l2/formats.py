"""Parsing of ``v4l2-ctl`` output: a node's capabilities and its format/size/rate table.

Pure functions over text, so they are tested on recorded outputs of real devices
(``tests/data/v4l2``). The layout parsed is the one v4l-utils prints (``cap2s`` for
capability lists, ``print_video_formats_ext`` for the format table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

CAPTURE_CAPS = frozenset({"Video Capture", "Video Capture Multiplanar"})
METADATA_CAP = "Metadata Capture"

# Stepwise/continuous sizes are ranges; a client needs a short list of sizes it can ask
# for, so a range is offered as these common sizes where the range and its step allow.
COMMON_RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (3840, 2160),
    (2592, 1944),
    (2560, 1440),
    (1920, 1080),
    (1600, 1200),
    (1280, 1024),
    (1280, 960),
    (1280, 720),
    (1024, 768),
    (800, 600),
    (720, 576),
    (720, 480),
    (640, 480),
    (640, 360),
    (352, 288),
    (320, 240),
    (176, 144),
    (160, 120),
)
# Rates offered for a stepwise/continuous interval range, when they fall inside it.
COMMON_RATES: tuple[float, ...] = (60, 50, 30, 25, 24, 20, 15, 10, 5)


class FormatParseError(ValueError):
    """The text is not the output of the v4l2-ctl command it is claimed to be."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    driver: str
    card: str
    bus_info: str
    device_caps: frozenset[str]
    is_capture: bool
    is_metadata: bool


def make_device_info(driver: str, card: str, bus_info: str, caps: Iterable[str]) -> DeviceInfo:
    """Build a DeviceInfo, deriving the capture/metadata flags from the cap names."""
    names = frozenset(caps)
    capture = bool(names & CAPTURE_CAPS)
    # uvcvideo gives each camera a second node that only carries metadata.
    return DeviceInfo(driver, card, bus_info, names, capture, METADATA_CAP in names and not capture)


@dataclass(frozen=True, slots=True)
class SizeRates:
    width: int
    height: int
    # Rates as printed (largest first for real devices); empty when the driver
    # enumerates no intervals for this size (v4l2-ctl prints none for ranges).
    fps: tuple[float, ...] = ()

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


class Mode(NamedTuple):
    """What a publisher opens the device with."""

    fourcc: str
    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class Capabilities:
    formats: list[str] = field(default_factory=list)  # fourccs in the driver's order
    sizes: dict[str, list[SizeRates]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)  # fourcc -> "(...)" text
    buffer_type: str = ""  # "Video Capture" or "Video Capture Multiplanar"

    def _sizes(self, fourcc: str | None) -> list[SizeRates]:
        if fourcc is not None:
            return self.sizes.get(fourcc, [])
        return [s for f in self.formats for s in self.sizes.get(f, [])]

    def resolutions(self, fourcc: str | None = None) -> list[str]:
        """Unique "WxH", largest first (by pixels, then width)."""
        dims = {(s.width, s.height) for s in self._sizes(fourcc)}
        ordered = sorted(dims, key=lambda d: (d[0] * d[1], d[0]), reverse=True)
        return [f"{w}x{h}" for w, h in ordered]

    def fps_options(self, fourcc: str | None = None) -> list[float]:
        """Unique rates, highest first; ints where integral (30, 29.97, 7.5)."""
        return sorted({r for s in self._sizes(fourcc) for r in s.fps}, reverse=True)

    def fps_for(self, resolution: str, fourcc: str | None = None) -> list[float]:
        """Rates offered at one "WxH" (any format unless one is given), highest first."""
        dims = parse_resolution(resolution)
        if dims is None:
            return []
        rates = {r for s in self._sizes(fourcc) if (s.width, s.height) == dims for r in s.fps}
        return sorted(rates, reverse=True)

    def best_mode(
        self,
        prefer: tuple[str, ...] = ("H264", "MJPG", "YUYV"),
        max_pixels: int = 1920 * 1080,
        *,
        max_fps: float = 30.0,
        min_fps: float = 15.0,
        default_fps: float = 30.0,
    ) -> Mode | None:
        """The mode a publisher should open, or None when no preferred format exists.

        Ranked by: smooth (>= min_fps) first, then most pixels within max_pixels, then
        rate (capped at max_fps), then the order of ``prefer``. So a 1080p MJPEG at 30
        beats a 1080p YUYV at 5, and H.264 wins a tie. Sizes above max_pixels are used
        only when nothing fits (smallest first). ``default_fps`` stands in for sizes whose
        driver enumerates no rates (ranges); the driver picks the nearest it can do.
        """
        best: tuple[tuple[float, ...], Mode] | None = None
        for rank, fourcc in enumerate(prefer):
            for size in self.sizes.get(fourcc, []):
                fps = _pick_rate(size.fps, max_fps, default_fps)
                pixels = size.width * size.height
                fits = pixels <= max_pixels
                key = (
                    float(fits),
                    float(fps >= min_fps),
                    float(pixels if fits else -pixels),
                    min(fps, max_fps),
                    float(-rank),
                )
                if best is None or key > best[0]:
                    best = (key, Mode(fourcc, size.width, size.height, fps))
        return best[1] if best is not None else None


def _pick_rate(rates: tuple[float, ...], max_fps: float, default: float) -> float:
    if not rates:
        return default
    within = [r for r in rates if r <= max_fps]
    return max(within) if within else min(rates)


def parse_resolution(text: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"([1-9][0-9]{0,5})x([1-9][0-9]{0,5})", text)
    return (int(m[1]), int(m[2])) if m else None


def normalize_fps(fps: float) -> float:
    """30.000 -> 30 (an int), 29.970 -> 29.97: what the API shows."""
    whole = round(fps)
    return whole if abs(fps - whole) < 0.0005 else round(fps, 3)


# --- v4l2-ctl --info ------------------------------------------------------------------

_FIELD = re.compile(r"^\t([A-Za-z][A-Za-z /]*?)\s*: ?(.*)$")


def parse_info(text: str) -> DeviceInfo:
    """Parse ``v4l2-ctl --device D --info``.

    Uses the "Device Caps" list (this node) rather than "Capabilities" (the whole
    device, which for a UVC camera includes its metadata node); falls back to
    "Capabilities" for old drivers that report no device caps.
    """
    fields: dict[str, str] = {}
    caps: dict[str, list[str]] = {}
    in_driver_info = False
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("\t"):
            # Top-level section headers; "Media Driver Info:" has its own Driver name.
            in_driver_info = line.rstrip() == "Driver Info:"
            current = None
            continue
        if not in_driver_info:
            continue
        if line.startswith("\t\t"):
            if current is not None and line.strip():
                current.append(line.strip())
            continue
        current = None
        m = _FIELD.match(line)
        if m is None:
            continue
        key = m[1]
        fields.setdefault(key, m[2].strip())
        if key in ("Capabilities", "Device Caps"):
            current = caps.setdefault(key, [])
    if "Driver name" not in fields:
        raise FormatParseError("no 'Driver Info' block with a driver name")
    names = caps["Device Caps"] if "Device Caps" in caps else caps.get("Capabilities", [])
    return make_device_info(
        fields["Driver name"], fields.get("Card type", ""), fields.get("Bus info", ""), names
    )


# --- v4l2-ctl --list-formats-ext --------------------------------------------------------

_TYPE = re.compile(r"^\s*Type: (.+?)\s*$")
# fcc2s prints 4 characters (maybe with trailing spaces) and "-BE" for big-endian ones.
_FORMAT = re.compile(r"^\s*\[\d+\]: '(.{4}(?:-BE)?)' \((.*)\)\s*$")
# Sizes and rates are 32-bit in v4l2: a longer number is not v4l2-ctl's (and int() refuses
# over 4,300 digits, a float of 400 digits is inf), so such a line is an unknown line.
_N = r"(\d{1,10})"
_RATE = r"(\d{1,10}(?:\.\d+)?)"
_DISCRETE = re.compile(rf"^\s*Size: Discrete {_N}x{_N}\s*$")
_STEPWISE = re.compile(rf"^\s*Size: Stepwise {_N}x{_N} - {_N}x{_N} with step {_N}/{_N}\s*$")
_CONTINUOUS = re.compile(rf"^\s*Size: Continuous {_N}x{_N} - {_N}x{_N}\s*$")
_IVAL_DISCRETE = re.compile(rf"^\s*Interval: Discrete \S+s \({_RATE} fps\)\s*$")
# "Interval: Stepwise 0.033s - 1.000s with step 0.000s (1.000-30.000 fps)", same for
# Continuous without the step.
_IVAL_RANGE = re.compile(rf"^\s*Interval: (?:Stepwise|Continuous) .*\({_RATE}-{_RATE} fps\)\s*$")


def expand_range(
    min_w: int, min_h: int, max_w: int, max_h: int, step_w: int = 1, step_h: int = 1
) -> list[tuple[int, int]]:
    """The common resolutions a stepwise/continuous size range can produce."""
    step_w, step_h = max(step_w, 1), max(step_h, 1)
    return [
        (w, h)
        for w, h in COMMON_RESOLUTIONS
        if min_w <= w <= max_w
        and min_h <= h <= max_h
        and (w - min_w) % step_w == 0
        and (h - min_h) % step_h == 0
    ]


def parse_formats(text: str) -> Capabilities:
    """Parse ``v4l2-ctl --device D --list-formats-ext``.

    A node with no formats of the capture type (a UVC metadata node) prints only the
    ``ioctl:`` header and yields empty Capabilities; unknown lines are ignored.
    """
    # fourcc -> (width, height) -> rates; dicts keep the driver's order and merge repeats.
    table: dict[str, dict[tuple[int, int], list[float]]] = {}
    descriptions: dict[str, str] = {}
    buffer_type = ""
    sizes: dict[tuple[int, int], list[float]] | None = None  # of the current format
    rates: list[float] | None = None  # of the current discrete size
    for line in text.splitlines():
        if m := _TYPE.match(line):
            buffer_type = buffer_type or m[1]
        elif m := _FORMAT.match(line):
            fourcc = m[1].rstrip()
            sizes = table.setdefault(fourcc, {})
            descriptions.setdefault(fourcc, m[2])
            rates = None
        elif sizes is None:
            continue
        elif m := _DISCRETE.match(line):
            rates = sizes.setdefault((int(m[1]), int(m[2])), [])
        elif (m := _STEPWISE.match(line)) or (m := _CONTINUOUS.match(line)):
            # v4l2-ctl prints no intervals for ranges, so these sizes carry no rates.
            rates = None
            for dims in expand_range(*(int(g) for g in m.groups())):
                sizes.setdefault(dims, [])
        elif rates is None:
            continue
        elif m := _IVAL_DISCRETE.match(line):
            rates.append(normalize_fps(float(m[1])))
        elif m := _IVAL_RANGE.match(line):
            low, high = float(m[1]), float(m[2])
            rates.append(normalize_fps(high))
            rates.extend(r for r in COMMON_RATES if low <= r < high)
    return Capabilities(
        formats=list(table),
        sizes={
            fourcc: [SizeRates(w, h, tuple(dict.fromkeys(r))) for (w, h), r in dims.items()]
            for fourcc, dims in table.items()
        },
        descriptions=descriptions,
        buffer_type=buffer_type,
    )
