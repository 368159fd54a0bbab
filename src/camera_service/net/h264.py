"""H.264 sequence parameter set parsing (ITU-T H.264 §7.3.2.1.1 and Annex E), pure.

Used to read the real resolution and frame rate of an RTSP camera from the
``sprop-parameter-sets`` of its SDP: cameras often omit or misstate the SDP's own
size attributes, while the SPS is what the decoder will actually use.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

__all__ = [
    "H264Error",
    "SpsInfo",
    "parse_sprop_parameter_sets",
    "parse_sps",
    "sps_from_sprop",
    "unescape_rbsp",
]

NAL_SPS = 7

# Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (§7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

# Decoders cap at 8192x4320-ish; 1024 macroblocks (16384 px) leaves room and rejects junk.
_MAX_MBS = 1024
_MAX_SPROP_CHARS = 8192


class H264Error(ValueError):
    """The bytes are not a parseable H.264 sequence parameter set."""


@dataclass(frozen=True, slots=True)
class SpsInfo:
    profile_idc: int
    level_idc: int
    chroma_format_idc: int
    width: int  # after frame cropping: the displayed size
    height: int
    frame_mbs_only: bool
    fps: float | None  # from VUI timing info; None when the SPS does not say
    fixed_frame_rate: bool | None


def unescape_rbsp(nal: bytes) -> bytes:
    """Drop emulation-prevention bytes: every 0x03 that follows two zero bytes."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    """MSB-first bit reader with exp-Golomb codes; running off the end raises H264Error."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._end = len(data) * 8

    def u(self, n: int) -> int:
        if self._pos + n > self._end:
            raise H264Error("SPS is truncated")
        value = 0
        for _ in range(n):
            byte = self._data[self._pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def flag(self) -> bool:
        return self.u(1) == 1

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:  # the standard's ue(v) values fit in 32 bits
                raise H264Error("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, next_ = 8, 8
    for _ in range(size):
        if next_ != 0:
            delta = bits.se()
            if not -128 <= delta <= 127:
                raise H264Error("delta_scale out of range")
            next_ = (last + delta + 256) % 256
        last = next_ if next_ != 0 else last


def _strip_start_code(nal: bytes) -> bytes:
    for prefix in (b"\x00\x00\x00\x01", b"\x00\x00\x01"):
        if nal.startswith(prefix):
            return nal[len(prefix) :]
    return nal


def parse_sps(nal: bytes) -> SpsInfo:
    """Parse one SPS NAL unit (with its one-byte NAL header, Annex-B start code allowed)."""
    nal = _strip_start_code(nal)
    if len(nal) < 4:
        raise H264Error("SPS is too short")
    if nal[0] & 0x80:
        raise H264Error("forbidden_zero_bit is set")
    if nal[0] & 0x1F != NAL_SPS:
        raise H264Error(f"NAL unit type {nal[0] & 0x1F} is not an SPS")
    bits = _Bits(unescape_rbsp(nal[1:]))

    profile_idc = bits.u(8)
    bits.u(8)  # constraint_set flags and reserved bits
    level_idc = bits.u(8)
    if bits.ue() > 31:
        raise H264Error("seq_parameter_set_id out of range")

    chroma_format_idc = 1  # inferred 4:2:0 for profiles without the field
    separate_colour_plane = False
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc > 3:
            raise H264Error("chroma_format_idc out of range")
        if chroma_format_idc == 3:
            separate_colour_plane = bits.flag()
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if bits.flag():  # seq_scaling_list_present_flag[i]
                    _skip_scaling_list(bits, 16 if i < 6 else 64)

    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        bits.u(1)  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        cycle = bits.ue()
        if cycle > 255:
            raise H264Error("num_ref_frames_in_pic_order_cnt_cycle out of range")
        for _ in range(cycle):
            bits.se()  # offset_for_ref_frame[i]
    elif poc_type != 2:
        raise H264Error("pic_order_cnt_type out of range")

    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    if width_mbs > _MAX_MBS or height_map_units > _MAX_MBS:
        raise H264Error("picture size out of range")
    frame_mbs_only = bits.flag()
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag

    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if bits.flag():  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        # Crop units follow ChromaArrayType (§7.4.2.1.1): chroma subsampling, and field
        # pairs double the vertical unit.
        chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
        sub_width = 2 if chroma_array_type in (1, 2) else 1
        sub_height = 2 if chroma_array_type == 1 else 1
        width -= (left + right) * sub_width
        height -= (top + bottom) * sub_height * (2 - frame_mbs_only)
        if width <= 0 or height <= 0:
            raise H264Error("frame cropping exceeds the picture")

    fps: float | None = None
    fixed: bool | None = None
    try:
        if bits.flag():  # vui_parameters_present_flag
            fps, fixed = _vui_timing(bits)
    except H264Error:
        pass  # a truncated VUI still leaves the size valid; the rate stays unknown
    return SpsInfo(
        profile_idc=profile_idc,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        width=width,
        height=height,
        frame_mbs_only=frame_mbs_only,
        fps=fps,
        fixed_frame_rate=fixed,
    )


def _vui_timing(bits: _Bits) -> tuple[float | None, bool | None]:
    """Read the VUI up to timing_info (Annex E.1.1); the rest is not needed."""
    if bits.flag() and bits.u(8) == 255:  # aspect_ratio_info, Extended_SAR
        bits.u(32)  # sar_width, sar_height
    if bits.flag():  # overscan_info_present_flag
        bits.u(1)
    if bits.flag():  # video_signal_type_present_flag
        bits.u(3)  # video_format
        bits.u(1)  # video_full_range_flag
        if bits.flag():  # colour_description_present_flag
            bits.u(24)
    if bits.flag():  # chroma_loc_info_present_flag
        bits.ue()
        bits.ue()
    if not bits.flag():  # timing_info_present_flag
        return None, None
    num_units_in_tick = bits.u(32)
    time_scale = bits.u(32)
    fixed = bits.flag()
    if num_units_in_tick == 0 or time_scale == 0:
        return None, fixed
    # One frame is two ticks (a tick is a field period), E.2.1.
    return time_scale / (2 * num_units_in_tick), fixed


def parse_sprop_parameter_sets(value: str) -> list[bytes]:
    """Decode the comma-separated base64 NAL units of an SDP ``sprop-parameter-sets``."""
    if len(value) > _MAX_SPROP_CHARS:
        raise H264Error("sprop-parameter-sets is too long")
    nals = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        part += "=" * (-len(part) % 4)  # some cameras drop the padding
        try:
            nals.append(base64.b64decode(part, validate=True))
        except (binascii.Error, ValueError):
            raise H264Error("sprop-parameter-sets is not valid base64") from None
    return nals


def sps_from_sprop(value: str) -> SpsInfo:
    """The parsed first SPS of an SDP ``sprop-parameter-sets`` value."""
    for nal in parse_sprop_parameter_sets(value):
        if nal and nal[0] & 0x1F == NAL_SPS:
            return parse_sps(nal)
    raise H264Error("sprop-parameter-sets holds no SPS")
