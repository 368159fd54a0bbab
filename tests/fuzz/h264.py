"""Fuzz the H.264 SPS parser: any bytes (as an SPS NAL, or as sprop-parameter-sets
text) give H264Error or an SPS within the parser's bounds."""

from __future__ import annotations

import math

import atheris

with atheris.instrument_imports():
    from camera_service.net.h264 import H264Error, SpsInfo, parse_sps, sps_from_sprop

from tests.fuzz._harness import run


def check(info: SpsInfo) -> None:
    assert 1 <= info.width <= 1024 * 16 and 1 <= info.height <= 2 * 1024 * 16
    assert 0 <= info.chroma_format_idc <= 3
    assert info.fps is None or (math.isfinite(info.fps) and info.fps > 0)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    try:
        if fdp.ConsumeBool():
            check(parse_sps(b"\x67" + fdp.ConsumeBytes(fdp.remaining_bytes())))
        else:
            check(sps_from_sprop(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())))
    except H264Error:
        pass


if __name__ == "__main__":
    run(test_one_input)
