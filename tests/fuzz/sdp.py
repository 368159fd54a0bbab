"""Fuzz the SDP video description parser: any text gives None or a VideoInfo within
bounds (size up to 16384 wide, rate in (0, 1000]), never an exception."""

from __future__ import annotations

import math

import atheris

with atheris.instrument_imports():
    from camera_service.net.rtsp import parse_sdp_video

from tests.fuzz._harness import run

# A video section to start from, so mutations reach the attribute parsing.
SEED_HEAD = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    head = SEED_HEAD if fdp.ConsumeBool() else ""
    info = parse_sdp_video(head + fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()))
    if info is None:
        return
    assert info.codec and (info.width is None) == (info.height is None)
    if info.width is not None and info.height is not None:
        assert 0 < info.width <= 16384 and 0 < info.height <= 32768
    assert info.fps is None or (math.isfinite(info.fps) and 0 < info.fps <= 1000)


if __name__ == "__main__":
    run(test_one_input)
