"""Publisher commands and path specs: plain data, no processes."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from pydantic import SecretStr

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import MediaMtxConfig, RtspSource, TestPatternSource
from camera_service.media.ffmpeg import (
    PUBLISH_URL,
    CommandError,
    Encoding,
    pattern_command,
    v4l2_command,
)
from camera_service.media.pathconf import desired_path, differs, source_url

ENC = Encoding()


def argv(cmd: str) -> list[str]:
    # MediaMTX splits with POSIX shell rules (go-shellquote), then expands $VARS per part.
    return shlex.split(cmd)


def test_v4l2_command_is_browser_playable_h264_with_1s_gop() -> None:
    parts = argv(v4l2_command(Path("/dev/video2"), "MJPG", 1280, 720, 30, ENC))
    assert parts[0] == "ffmpeg"
    i = parts.index
    assert parts[i("-f") + 1] == "v4l2" and parts[i("-input_format") + 1] == "mjpeg"
    assert parts[i("-video_size") + 1] == "1280x720" and parts[i("-framerate") + 1] == "30"
    assert parts[i("-i") + 1] == "/dev/video2"
    assert parts[i("-pix_fmt") + 1] == "yuv420p"
    assert parts[i("-profile:v") + 1] == "baseline"
    assert parts[i("-g") + 1] == "30" and parts[i("-bf") + 1] == "0"
    assert parts[-1] == PUBLISH_URL == "rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH"


def test_gop_follows_fractional_frame_rates() -> None:
    parts = argv(v4l2_command(Path("/dev/video0"), "YUYV", 640, 480, 7.5, ENC))
    assert parts[parts.index("-framerate") + 1] == "7.5"
    assert parts[parts.index("-g") + 1] == "8"
    assert parts[parts.index("-input_format") + 1] == "yuyv422"


def test_pattern_command() -> None:
    parts = argv(pattern_command("smptebars", 640, 360, 15, Encoding(bitrate_kbps=800)))
    assert parts[parts.index("-i") + 1] == "smptebars=size=640x360:rate=15"
    assert "-re" in parts and parts[parts.index("-b:v") + 1] == "800k"


@pytest.mark.parametrize(
    ("device", "fourcc", "w", "h", "fps"),
    [
        (Path("/dev/video0; rm -rf /"), "MJPG", 640, 480, 30),
        (Path("/dev/sda"), "MJPG", 640, 480, 30),
        (Path("relative/video0"), "MJPG", 640, 480, 30),
        (Path("/dev/video0"), "M;PG", 640, 480, 30),
        (Path("/dev/video0"), "MJPG", 0, 480, 30),
        (Path("/dev/video0"), "MJPG", 640, 99999, 30),
        (Path("/dev/video0"), "MJPG", 640, 480, 0),
        (Path("/dev/video0"), "MJPG", 640, 480, 1000),
    ],
)
def test_unsafe_values_never_reach_a_command(
    device: Path, fourcc: str, w: int, h: int, fps: float
) -> None:
    with pytest.raises(CommandError):
        v4l2_command(device, fourcc, w, h, fps, ENC)


def test_unknown_pattern_refused() -> None:
    with pytest.raises(CommandError):
        pattern_command("testsrc;reboot", 640, 480, 15, ENC)


def test_hardware_encoders() -> None:
    vaapi = argv(v4l2_command(Path("/dev/video0"), "NV12", 640, 480, 30, Encoding("h264_vaapi")))
    assert vaapi[vaapi.index("-c:v") + 1] == "h264_vaapi" and "hwupload" in " ".join(vaapi)
    m2m = argv(v4l2_command(Path("/dev/video0"), "YUYV", 640, 480, 30, Encoding("h264_v4l2m2m")))
    assert m2m[m2m.index("-c:v") + 1] == "h264_v4l2m2m"


def test_rtsp_path_spec_carries_encoded_credentials_only_for_mediamtx() -> None:
    src = RtspSource(
        id="gate",
        url="rtsp://192.0.2.10:554/s1",
        username="us er",
        password=SecretStr("p@ss:/w"),
        transport="udp",
        on_demand=False,
    )
    cam = Camera("gate", SourceType.RTSP, "gate", CameraStatus.CONNECTED)
    conf = desired_path(cam, MediaMtxConfig(), source=src)
    assert conf == {
        "source": "rtsp://us%20er:p%40ss%3A%2Fw@192.0.2.10:554/s1",
        "sourceOnDemand": False,
        "rtspTransport": "udp",
    }
    assert source_url(RtspSource(id="x", url="rtsp://h/p")) == "rtsp://h/p"


def test_usb_camera_has_no_path_until_its_mode_is_known() -> None:
    cam = Camera("camera0", SourceType.USB, "cam", CameraStatus.CONNECTED)
    assert desired_path(cam, MediaMtxConfig(), "/dev/video0") is None
    cam.mode = ("MJPG", 1920, 1080, 30.0)
    conf = desired_path(cam, MediaMtxConfig(on_demand_close_after=5), "/dev/video0")
    assert conf is not None
    assert conf["runOnDemandCloseAfter"] == "5s" and conf["runOnDemandRestart"] is True
    assert "/dev/video0" in conf["runOnDemand"]


def test_test_pattern_spec_and_differs() -> None:
    src = TestPatternSource(id="lab", resolution="640x360", fps=15)
    cam = Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED)
    conf = desired_path(cam, MediaMtxConfig(), source=src)
    assert conf is not None and "testsrc2=size=640x360:rate=15" in conf["runOnDemand"]
    reported = {**conf, "record": False, "sourceOnDemand": False}  # MediaMTX adds defaults
    assert not differs(reported, conf)
    assert differs({**reported, "runOnDemandCloseAfter": "20s"}, conf)


def test_durations_compare_by_value() -> None:
    from camera_service.media.pathconf import duration_seconds

    assert duration_seconds("1m0s") == duration_seconds("60s") == 60
    assert duration_seconds("1h2m3.5s") == 3723.5 and duration_seconds("1d") == 86400
    assert duration_seconds("soon") is None
    # MediaMTX reports a zero duration as "": "0s" asked for is what it holds.
    assert duration_seconds("") == 0
    assert not differs({"recordDeleteAfter": ""}, {"recordDeleteAfter": "0s"})
    assert not differs({"runOnDemandCloseAfter": "1m0s"}, {"runOnDemandCloseAfter": "60s"})
    assert differs({"runOnDemandCloseAfter": "1m1s"}, {"runOnDemandCloseAfter": "60s"})
