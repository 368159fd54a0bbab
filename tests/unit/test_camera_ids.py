"""What a ``device`` param may name: a camera id or /dev/videoN, nothing else."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from camera_service.cameras.model import camera_id_for
from camera_service.media.ffmpeg import CommandError, Encoding, v4l2_command

ID_CHARS = string.ascii_letters + string.digits + "_-"


@pytest.mark.parametrize(
    ("device", "camera_id"),
    [
        ("lab", "lab"),
        ("camera_2-b", "camera_2-b"),
        ("/dev/video0", "camera0"),
        ("/dev/video0042", "camera42"),
        ("x" * 64, "x" * 64),
    ],
)
def test_well_formed_devices(device: str, camera_id: str) -> None:
    assert camera_id_for(device) == camera_id


@pytest.mark.parametrize(
    "device",
    [
        "lab\n",  # Python's $ matches before a final newline: full match only
        "/dev/video0\n",
        "\nlab",
        "lab\r",
        "la b",
        "",
        "x" * 65,
        "/dev/video12345",
        "/dev/video",
        "/dev/video-1",
        "../lab",
        "lab\x00",
        0,
        None,
        ["lab"],
    ],
)
def test_malformed_devices_name_no_camera(device: object) -> None:
    assert camera_id_for(device) is None


def _oracle(text: str) -> str | None:
    """The rule written out by hand, without regular expressions."""
    prefix = "/dev/video"
    if text.startswith(prefix):
        digits = text[len(prefix) :]
        ok = 1 <= len(digits) <= 4 and all(c in string.digits for c in digits)
        return f"camera{int(digits)}" if ok else None
    ok = 1 <= len(text) <= 64 and all(c in ID_CHARS for c in text)
    return text if ok else None


@examples(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet=ID_CHARS + "\n\r /.", max_size=70),
        st.builds(lambda s: "/dev/video" + s, st.text(alphabet=string.digits + "\n", max_size=6)),
    )
)
def test_camera_id_for_matches_the_rule_written_by_hand(text: str) -> None:
    assert camera_id_for(text) == _oracle(text)


def test_the_usb_publisher_refuses_a_device_path_with_a_trailing_newline() -> None:
    v4l2_command(Path("/dev/video0"), "YUYV", 640, 480, 15, Encoding())
    with pytest.raises(CommandError, match="not a V4L2 device path"):
        v4l2_command(Path("/dev/video0\n"), "YUYV", 640, 480, 15, Encoding())
