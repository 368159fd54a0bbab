"""Properties of the H.264 SPS parser (h264.py): an SPS encoded for any valid
parameters reads back as written; any other bytes give H264Error or values within the
parser's bounds, never another exception."""

from __future__ import annotations

import base64
import math

from hypothesis import given
from hypothesis import strategies as st

from camera_service.net.h264 import H264Error, SpsInfo, parse_sps, sps_from_sprop, unescape_rbsp
from tests.support.properties import examples
from tests.support.sps import HIGH_PROFILES, Sps, escape, sps_params


def within_bounds(info: SpsInfo) -> None:
    assert 1 <= info.width <= 1024 * 16
    assert 1 <= info.height <= 2 * 1024 * 16  # field pairs: two map units a macroblock
    assert 0 <= info.chroma_format_idc <= 3
    assert 0 <= info.profile_idc <= 255 and 0 <= info.level_idc <= 255
    assert info.fps is None or (math.isfinite(info.fps) and info.fps > 0)


def parsed_or_refused(data: bytes) -> SpsInfo | None:
    try:
        info = parse_sps(data)
    except H264Error:
        return None
    within_bounds(info)
    return info


@examples(150)
@given(sps_params(), st.booleans())
def test_an_encoded_sps_reads_back_as_written(sps: Sps, start_code: bool) -> None:
    info = parse_sps(sps.encode(start_code))
    assert info.profile_idc == sps.profile_idc
    assert info.level_idc == sps.level_idc
    assert info.chroma_format_idc == (
        sps.chroma_format_idc if sps.profile_idc in HIGH_PROFILES else 1
    )
    assert (info.width, info.height) == sps.size()
    assert info.frame_mbs_only is sps.frame_mbs_only
    assert info.fps == sps.fps()
    timing = sps.vui.timing if sps.vui is not None else None
    assert info.fixed_frame_rate == (timing[2] if timing is not None else None)
    within_bounds(info)


@examples(50)
@given(sps_params(), st.binary(min_size=1, max_size=8))
def test_sprop_parameter_sets_give_the_first_sps(sps: Sps, pps: bytes) -> None:
    nals = [b"\x68" + pps, sps.encode(), Sps(width_mbs=1, height_map_units=1).encode()]
    sprop = ",".join(base64.b64encode(n).decode().rstrip("=") for n in nals)
    assert (sps_from_sprop(sprop).width, sps_from_sprop(sprop).height) == sps.size()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    out = bytearray(draw(sps_params()).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(out) - 1))
        edit = draw(st.sampled_from(["flip", "cut", "insert"]))
        if edit == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del out[max(at, 1) :]
        else:
            out[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(out)


@examples(150)
@given(
    st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=64).map(lambda b: b"\x67" + b),
        damaged(),
    )
)
def test_any_bytes_give_an_sps_within_bounds_or_h264error(data: bytes) -> None:
    parsed_or_refused(data)


@examples(150)
@given(
    st.one_of(
        st.text(max_size=80),
        st.lists(st.binary(max_size=40)).map(
            lambda nals: ",".join(base64.b64encode(b"\x67" + n).decode() for n in nals)
        ),
    )
)
def test_any_sprop_text_gives_an_sps_or_h264error(text: str) -> None:
    try:
        info = sps_from_sprop(text)
    except H264Error:
        return
    within_bounds(info)


@examples(150)
@given(st.binary(max_size=64))
def test_emulation_prevention_round_trips(rbsp: bytes) -> None:
    escaped = escape(rbsp)
    assert b"\0\0\0" not in escaped and b"\0\0\1" not in escaped and b"\0\0\2" not in escaped
    assert unescape_rbsp(escaped) == rbsp
