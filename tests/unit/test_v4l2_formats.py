"""v4l2-ctl output parsing, on recorded outputs (tests/data/v4l2, see its README)."""

from __future__ import annotations

import pytest

from camera_service.cameras.v4l2.formats import (
    Capabilities,
    DeviceInfo,
    FormatParseError,
    Mode,
    expand_range,
    normalize_fps,
    parse_formats,
    parse_info,
)
from tests.support.v4l2tree import DATA_DIR


def info(name: str) -> DeviceInfo:
    return parse_info((DATA_DIR / f"{name}_info.txt").read_text())


def formats(name: str) -> Capabilities:
    return parse_formats((DATA_DIR / f"{name}_formats.txt").read_text())


UVC_VIDEO = frozenset({"Video Capture", "Streaming", "Extended Pix Format"})

INFO_CASES = {
    "c920": ("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1", UVC_VIDEO, True),
    "c920_meta": (
        "uvcvideo",
        "HD Pro Webcam C920",
        "usb-0000:00:14.0-1",
        frozenset({"Metadata Capture", "Streaming", "Extended Pix Format"}),
        False,
    ),
    "mjpeg_only": ("uvcvideo", "USB Camera: USB Camera", "usb-0000:01:00.0-1.2", UVC_VIDEO, True),
    "yuyv_stepwise": (
        "yuv-capture",
        "YUV Capture Bridge",
        "platform:yuv-capture.0",
        frozenset({"Video Capture", "Read/Write", "Streaming", "Extended Pix Format"}),
        True,
    ),
    "hdmi_capture": ("uvcvideo", "USB Capture HDMI", "usb-0000:00:14.0-2", UVC_VIDEO, True),
    "rpi_mmal": (
        "bm2835 mmal",
        "mmal service 16.1",
        "platform:bcm2835-v4l2-0",
        frozenset(
            {"Video Capture", "Video Overlay", "Read/Write", "Streaming", "Extended Pix Format"}
        ),
        True,
    ),
    "rkisp1_mplane": (
        "rkisp1",
        "rkisp1",
        "platform:rkisp1",
        frozenset({"Video Capture Multiplanar", "I/O MC", "Streaming", "Extended Pix Format"}),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(INFO_CASES))
def test_info_fixture(name: str) -> None:
    driver, card, bus, caps, capture = INFO_CASES[name]
    got = info(name)
    assert got == DeviceInfo(driver, card, bus, caps, capture, not capture)


def test_info_uses_device_caps_not_whole_device() -> None:
    # The C920's "Capabilities" include Metadata Capture (its other node); this node's don't.
    assert "Metadata Capture" in (DATA_DIR / "c920_info.txt").read_text()
    assert "Metadata Capture" not in info("c920").device_caps
    assert "Device Capabilities" not in info("c920").device_caps


def test_info_falls_back_to_capabilities_without_device_caps() -> None:
    text = (
        "Driver Info:\n"
        "\tDriver name      : oldcam\n"
        "\tCard type        : Old Camera\n"
        "\tBus info         : usb-0000:00:1d.0-1\n"
        "\tDriver version   : 3.2.0\n"
        "\tCapabilities     : 0x05000001\n"
        "\t\tVideo Capture\n"
        "\t\tRead/Write\n"
        "\t\tStreaming\n"
    )
    got = parse_info(text)
    assert got.is_capture and got.device_caps == {"Video Capture", "Read/Write", "Streaming"}


@pytest.mark.parametrize("text", ["", "ioctl: VIDIOC_ENUM_FMT\n", "Cannot open device x\n"])
def test_info_rejects_other_output(text: str) -> None:
    with pytest.raises(FormatParseError):
        parse_info(text)


def test_c920() -> None:
    caps = formats("c920")
    assert caps.formats == ["YUYV", "H264", "MJPG"]
    assert caps.buffer_type == "Video Capture"
    assert caps.descriptions["MJPG"] == "Motion-JPEG, compressed"
    assert caps.resolutions()[:4] == ["2304x1536", "2304x1296", "1920x1080", "1600x896"]
    assert caps.resolutions()[-1] == "160x90"
    assert len(caps.resolutions()) == 19
    assert caps.resolutions("H264")[0] == "1920x1080"
    assert caps.fps_options() == [30, 24, 20, 15, 10, 7.5, 5, 2]
    assert caps.fps_for("1920x1080") == [30, 24, 20, 15, 10, 7.5, 5]
    assert caps.fps_for("1920x1080", "YUYV") == [5]
    assert caps.fps_for("2304x1536") == [2]
    assert caps.fps_for("999x999") == [] and caps.fps_for("garbage") == []
    assert caps.best_mode() == Mode("H264", 1920, 1080, 30)
    assert caps.best_mode(prefer=("MJPG", "H264")) == Mode("MJPG", 1920, 1080, 30)
    # Uncompressed, the largest smooth (>= 15 fps) mode wins over 1080p at 5 fps.
    assert caps.best_mode(prefer=("YUYV",)) == Mode("YUYV", 960, 720, 15)
    assert caps.best_mode(max_pixels=1280 * 720) == Mode("H264", 1280, 720, 30)


def test_metadata_node_lists_nothing() -> None:
    caps = formats("meta")
    assert caps == Capabilities()
    assert caps.resolutions() == [] and caps.fps_options() == []
    assert caps.best_mode() is None
    meta = info("c920_meta")
    assert meta.is_metadata and not meta.is_capture


def test_mjpeg_only() -> None:
    caps = formats("mjpeg_only")
    assert caps.formats == ["MJPG"]
    assert caps.resolutions() == [
        "1920x1080",
        "1280x720",
        "1024x576",
        "800x600",
        "640x480",
        "640x360",
        "352x288",
        "320x240",
    ]
    assert caps.fps_options() == [30, 25, 20, 15, 10, 5]
    assert caps.best_mode() == Mode("MJPG", 1920, 1080, 30)


def test_yuyv_stepwise_is_expanded_within_range_and_step() -> None:
    caps = formats("yuyv_stepwise")
    assert caps.formats == ["YUYV"]
    assert caps.resolutions() == [
        "1920x1080",
        "1280x1024",
        "1280x960",
        "1280x720",
        "1024x768",
        "800x600",
        "720x576",
        "720x480",
        "640x480",
        "640x360",
        "352x288",
        "320x240",
        "176x144",
        "160x120",
    ]
    # v4l2-ctl prints no intervals for a size range.
    assert caps.fps_options() == [] and caps.fps_for("1920x1080") == []
    assert caps.best_mode() == Mode("YUYV", 1920, 1080, 30.0)
    assert caps.best_mode(default_fps=25) == Mode("YUYV", 1920, 1080, 25)


def test_fractional_rates() -> None:
    caps = formats("hdmi_capture")
    assert caps.formats == ["YUYV", "NV12"]
    assert caps.descriptions["NV12"] == "Y/UV 4:2:0"
    options = caps.fps_options()
    assert options == [60, 59.94, 50, 30, 29.97, 25, 24, 23.976, 15, 7.5]
    assert [type(r) for r in options[:3]] == [int, float, int]
    assert caps.fps_for("720x480") == [59.94, 29.97]
    assert caps.fps_for("720x576") == [50, 25]
    assert caps.best_mode() == Mode("YUYV", 1920, 1080, 30)
    assert caps.best_mode(max_fps=60) == Mode("YUYV", 1920, 1080, 60)
    assert caps.best_mode(max_fps=29.97) == Mode("YUYV", 1920, 1080, 29.97)


def test_raspberry_pi_mmal() -> None:
    caps = formats("rpi_mmal")
    assert caps.formats == [
        "YU12",
        "YUYV",
        "RGB3",
        "JPEG",
        "H264",
        "MJPG",
        "YVYU",
        "VYUY",
        "UYVY",
        "NV12",
        "BGR3",
        "YV12",
        "NV21",
        "RX24",
    ]
    assert caps.resolutions()[:3] == ["2592x1944", "2560x1440", "1920x1080"]
    assert "3840x2160" not in caps.resolutions()
    assert caps.best_mode() == Mode("H264", 1920, 1080, 30.0)
    assert caps.best_mode(max_pixels=5_000_000) == Mode("H264", 2560, 1440, 30.0)


def test_multiplanar() -> None:
    caps = formats("rkisp1_mplane")
    assert caps.buffer_type == "Video Capture Multiplanar"
    assert caps.formats[:3] == ["YUYV", "422P", "NV16"] and len(caps.formats) == 13
    assert caps.resolutions()[0] == "3840x2160"
    assert caps.best_mode() == Mode("YUYV", 1920, 1080, 30.0)
    assert info("rkisp1_mplane").is_capture


def test_continuous_sizes_and_interval_ranges() -> None:
    text = (
        "ioctl: VIDIOC_ENUM_FMT\n"
        "\tType: Video Capture\n"
        "\n"
        "\t[0]: 'GREY' (8-bit Greyscale)\n"
        "\t\tSize: Continuous 64x64 - 1280x1024\n"
        "\t[1]: 'Y16 ' (16-bit Greyscale)\n"
        "\t\tSize: Discrete 640x512\n"
        "\t\t\tInterval: Stepwise 0.017s - 1.000s with step 0.000s (1.000-60.000 fps)\n"
    )
    caps = parse_formats(text)
    assert caps.formats == ["GREY", "Y16"]
    assert caps.resolutions("GREY")[0] == "1280x1024"
    assert caps.resolutions("GREY")[-1] == "160x120"
    assert caps.fps_for("640x512") == [60, 50, 30, 25, 24, 20, 15, 10, 5]
    assert caps.best_mode() is None  # nothing a publisher can use
    assert caps.best_mode(prefer=("GREY",)) == Mode("GREY", 1280, 1024, 30.0)


def test_expand_range() -> None:
    assert expand_range(32, 32, 2592, 1944, 2, 2)[0] == (2592, 1944)
    # Only sizes on the 160x120 grid: 1280x1024, 1024x768, 720x576... are not on it.
    assert expand_range(160, 120, 1920, 1080, 160, 120) == [
        (1920, 1080),
        (1280, 960),
        (1280, 720),
        (800, 600),
        (640, 480),
        (640, 360),
        (320, 240),
        (160, 120),
    ]
    # A zero step (a driver bug) reads as 1, not a crash.
    assert expand_range(160, 120, 320, 240, 0, 0) == [(320, 240), (176, 144), (160, 120)]


def test_normalize_fps() -> None:
    assert normalize_fps(30.0) == 30 and isinstance(normalize_fps(30.0), int)
    assert normalize_fps(29.970) == 29.97
    assert normalize_fps(7.5) == 7.5
    assert normalize_fps(23.976) == 23.976


def test_best_mode_prefers_smaller_smooth_mode_over_larger_slideshow() -> None:
    text = (
        "ioctl: VIDIOC_ENUM_FMT\n"
        "\tType: Video Capture\n"
        "\n"
        "\t[0]: 'YUYV' (YUYV 4:2:2)\n"
        "\t\tSize: Discrete 1920x1080\n"
        "\t\t\tInterval: Discrete 0.200s (5.000 fps)\n"
        "\t\tSize: Discrete 1280x720\n"
        "\t\t\tInterval: Discrete 0.100s (10.000 fps)\n"
        "\t\tSize: Discrete 640x480\n"
        "\t\t\tInterval: Discrete 0.033s (30.000 fps)\n"
        "\t\tSize: Discrete 3840x2160\n"
        "\t\t\tInterval: Discrete 0.033s (30.000 fps)\n"
    )
    caps = parse_formats(text)
    assert caps.best_mode() == Mode("YUYV", 640, 480, 30)
    # Nothing fits: the smallest oversize mode is used rather than none.
    assert caps.best_mode(max_pixels=100) == Mode("YUYV", 640, 480, 30)
