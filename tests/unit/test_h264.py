"""H.264 SPS parsing on real encoder output and on synthesized edge cases."""

from __future__ import annotations

import base64

import pytest

from camera_service.net.h264 import (
    H264Error,
    parse_sprop_parameter_sets,
    parse_sps,
    sps_from_sprop,
    unescape_rbsp,
)

# Real SPS NAL units, base64 as in an SDP's sprop-parameter-sets. Produced on Debian 12
# (ffmpeg 5.1, libx264 164) with
#   ffmpeg -f lavfi -i testsrc2=size=WxH:rate=R -t 1 -c:v libx264 [extra] \
#          -bsf:v h264_mp4toannexb -f h264 out.h264
# and the first NAL of type 7 after a 00 00 01 start code, trailing zeros dropped.
# Columns: sprop, width, height, fps, profile_idc, chroma_format_idc, frame_mbs_only.
REAL_SPS = {
    # size=640x480:rate=15
    "640x480@15": ("Z2QAFqzZQKA9sBEAAAMAAQAAAwAeDxYtlg==", 640, 480, 15.0, 100, 1, True),
    # size=1280x720:rate=30
    "1280x720@30": ("Z2QAH6zZQFAFuwEQAAADABAAAAMDwPGDGWA=", 1280, 720, 30.0, 100, 1, True),
    # size=1920x1080:rate=25 -- coded 1920x1088, frame_crop_bottom_offset=4
    "1920x1080@25": ("Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY", 1920, 1080, 25.0, 100, 1, True),
    # size=640x360:rate=15, -profile:v baseline (no high-profile fields, POC type 2)
    "640x360@15 baseline": ("Z0LAFtkAoC/5cBEAAAMAAQAAAwAeDxYuSA==", 640, 360, 15.0, 66, 1, True),
    # size=1920x1080:rate=25, -flags +ildct+ilme -x264-params interlaced=1
    # (field pairs: 68 map units of 16 lines, crop unit 4 lines)
    "1920x1080i@25": ("Z2QAKKzZQHgET94CIAAAAwAgAAAGQ+LFssA=", 1920, 1080, 25.0, 100, 1, False),
    # size=854x480:rate=24000/1001, -pix_fmt yuv444p (High 4:4:4 Predictive)
    "854x480@23.976 4:4:4": (
        "Z/QAHpGbKBsHvF+AiAAAH0gABdwAeLFssA==",
        854,
        480,
        24000 / 1001,
        244,
        3,
        True,
    ),
    # size=1920x1080:rate=30000/1001, -pix_fmt yuv422p (High 4:2:2)
    "1920x1080@29.97 4:2:2": (
        "Z3oAKLzZQHgCJ+JwEQAAAwPpAADqYA8YMZY=",
        1920,
        1080,
        30000 / 1001,
        122,
        2,
        True,
    ),
    # size=642x362:rate=10 -- odd size: cropped right and bottom by 14 pixels
    "642x362@10": ("Z2QAFqzZQKQv4iTARAAAAwAEAAADAFA8WLZY", 642, 362, 10.0, 100, 1, True),
    # GStreamer 1.22 x264enc via tests/support/rtsp_camera.py --width 640 --height 360
    # --fps 15 (read from the server's DESCRIBE answer)
    "gstreamer 640x360@15": (
        "Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA==",
        640,
        360,
        15.0,
        66,
        1,
        True,
    ),
}


@pytest.mark.parametrize("name", list(REAL_SPS))
def test_real_sps(name: str) -> None:
    sprop, width, height, fps, profile, chroma, progressive = REAL_SPS[name]
    info = sps_from_sprop(sprop)
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps)
    assert info.profile_idc == profile
    assert info.chroma_format_idc == chroma
    assert info.frame_mbs_only is progressive


def test_real_sps_exercise_emulation_prevention() -> None:
    # All samples but the 4:4:4 one carry 00 00 03: parsing them tests unescaping too.
    escaped = [
        n for n, (sprop, *_) in REAL_SPS.items() if b"\x00\x00\x03" in base64.b64decode(sprop)
    ]
    assert len(escaped) == len(REAL_SPS) - 1


def test_sprop_with_pps_and_start_code_and_no_padding() -> None:
    sps = REAL_SPS["1280x720@30"][0]
    sprop = "aM48gA," + sps.rstrip("=")  # PPS first, SPS without its base64 padding
    assert sps_from_sprop(sprop).width == 1280
    raw = base64.b64decode(sps)
    assert parse_sps(b"\x00\x00\x00\x01" + raw).height == 720
    assert parse_sps(b"\x00\x00\x01" + raw).height == 720
    assert parse_sprop_parameter_sets(" aM48gA== , ") == [base64.b64decode("aM48gA==")]


def test_truncated_vui_keeps_size_drops_rate() -> None:
    raw = base64.b64decode(REAL_SPS["1280x720@30"][0])
    info = parse_sps(raw[:-6])  # cut inside the VUI timing info
    assert (info.width, info.height, info.fps) == (1280, 720, None)


def test_unescape_rbsp() -> None:
    assert (
        unescape_rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00\x00\x03")
        == b"\x00\x00\x01\x00\x00\x00\x00"
    )
    assert unescape_rbsp(b"\x00\x00\x03\x00\x00\x03") == b"\x00\x00\x00\x00"
    assert unescape_rbsp(b"\x01\x03\x00\x03") == b"\x01\x03\x00\x03"


# --- synthesized SPS: fields x264 never writes ------------------------------------------


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> BitWriter:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, value: int) -> BitWriter:
        code = value + 1
        return self.u(code.bit_length() - 1, 0).u(code.bit_length(), code)

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def nal(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then zero alignment
        bits += [0] * (-len(bits) % 8)
        rbsp = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        out = bytearray([0x67])  # nal_ref_idc 3, nal_unit_type 7
        zeros = 0
        for byte in rbsp:
            if zeros >= 2 and byte <= 3:
                out.append(3)  # emulation prevention, as an encoder must write it
                zeros = 0
            out.append(byte)
            zeros = zeros + 1 if byte == 0 else 0
        return bytes(out)


def _vui(w: BitWriter, *, num_units: int, time_scale: int) -> None:
    w.u(1, 1).u(1, 1)  # vui present; aspect_ratio_info_present
    w.u(8, 255).u(16, 4).u(16, 3)  # Extended_SAR 4:3
    w.u(1, 1).u(1, 0)  # overscan_info_present, overscan_appropriate
    w.u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(8, 1).u(8, 1).u(8, 1)  # video signal + colour
    w.u(1, 1).ue(1).ue(1)  # chroma_loc_info
    w.u(1, 1).u(32, num_units).u(32, time_scale).u(1, 1)  # timing_info, fixed rate
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0)  # no HRD, no pic_struct, no restrictions


def test_scaling_lists_poc_type_1_interlaced_crop_and_full_vui() -> None:
    w = BitWriter().u(8, 100).u(8, 0).u(8, 40).ue(0)
    w.ue(1).ue(0).ue(0).u(1, 0)  # 4:2:0, 8-bit, no transform bypass
    w.u(1, 1)  # seq_scaling_matrix_present_flag: 8 lists
    w.u(1, 1)  # list 0 (4x4): deltas, then 0 -> next_scale 0 ends the list early
    w.se(5).se(-3).se(-10)
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0)  # lists 1-5 absent
    w.u(1, 1)  # list 6 (8x8): 64 explicit deltas
    for i in range(64):
        w.se(1 if i % 2 else -1)
    w.u(1, 0)  # list 7 absent
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(1).u(1, 0).se(-2).se(3).ue(3).se(1).se(-1).se(7)  # POC type 1, 3-frame cycle
    w.ue(4).u(1, 0)  # max_num_ref_frames, gaps
    w.ue(119).ue(33)  # 120 MBs wide, 34 map units (field pairs -> 1088 lines)
    w.u(1, 0).u(1, 1)  # frame_mbs_only=0, mb_adaptive_frame_field
    w.u(1, 1)  # direct_8x8_inference
    w.u(1, 1).ue(0).ue(0).ue(0).ue(2)  # crop bottom 2 units of 2*2 lines
    _vui(w, num_units=1001, time_scale=60000)
    info = parse_sps(w.nal())
    assert (info.width, info.height) == (1920, 1080)
    assert info.frame_mbs_only is False
    assert info.fps == pytest.approx(29.97, abs=0.001)
    assert info.fixed_frame_rate is True


def test_separate_colour_planes_crop_in_luma_units() -> None:
    w = BitWriter().u(8, 244).u(8, 0).u(8, 30).ue(0)
    w.ue(3).u(1, 1)  # 4:4:4 coded as three separate planes: ChromaArrayType 0
    w.ue(2).ue(2).u(1, 0)  # 10-bit
    w.u(1, 1)  # scaling matrix: 12 lists for 4:4:4, all absent but the last
    for _ in range(11):
        w.u(1, 0)
    w.u(1, 1)
    for _ in range(64):
        w.se(0)  # zero delta keeps the scale; never ends early
    w.ue(2).ue(2)  # log2_max_frame_num, POC type 2
    w.ue(1).u(1, 0).ue(39).ue(29).u(1, 1).u(1, 1)  # 640x480 coded, progressive
    w.u(1, 1).ue(3).ue(3).ue(1).ue(1)  # crop 3+3 columns, 1+1 rows (unit 1)
    w.u(1, 0)  # no VUI
    info = parse_sps(w.nal())
    assert (info.width, info.height, info.fps) == (634, 478, None)
    assert info.chroma_format_idc == 3


def test_vui_without_timing_info() -> None:
    w = BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(0).ue(0)
    w.ue(1).u(1, 0).ue(19).ue(14).u(1, 1).u(1, 1).u(1, 0)  # 320x240, no crop
    w.u(1, 1).u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0)  # VUI with nothing in it
    w.u(1, 0).u(1, 0).u(1, 0)
    info = parse_sps(w.nal())
    assert (info.width, info.height, info.fps, info.fixed_frame_rate) == (320, 240, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x67\x64", "too short"),
        (base64.b64decode("aM48gA=="), "not an SPS"),  # a PPS
        (b"\xe7\x64\x00\x1f\xac", "forbidden"),
        (b"\x67\x64\x00\x1f\xac\xd9", "truncated"),
        (b"\x67\x42\x00\x1f" + b"\x00" * 5 + b"\x01", "32 bits"),
    ],
)
def test_malformed_sps(data: bytes, message: str) -> None:
    with pytest.raises(H264Error, match=message):
        parse_sps(data)


def test_malformed_sprop() -> None:
    with pytest.raises(H264Error, match="base64"):
        sps_from_sprop("not*base64")
    with pytest.raises(H264Error, match="no SPS"):
        sps_from_sprop("aM48gA==")
    with pytest.raises(H264Error, match="too long"):
        sps_from_sprop("A" * 10_000)


def test_absurd_size_rejected() -> None:
    w = BitWriter().u(8, 66).u(8, 0).u(8, 30).ue(0).ue(0).ue(0).ue(0)
    w.ue(1).u(1, 0).ue(5000).ue(14).u(1, 1).u(1, 1).u(1, 0).u(1, 0)
    with pytest.raises(H264Error, match="size"):
        parse_sps(w.nal())
