"""SDP video description parsing: what real cameras put in DESCRIBE answers."""

from __future__ import annotations

import pytest

from camera_service.net.rtsp import VideoInfo, parse_sdp_video

SPS_1080_25 = "Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY"


def sdp(*lines: str) -> str:
    head = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=Media Presentation", "t=0 0"]
    return "\r\n".join([*head, *lines]) + "\r\n"


def test_sps_size_wins_over_attributes_and_framerate_over_sps_timing() -> None:
    text = sdp(
        "m=video 0 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        f"a=fmtp:96 profile-level-id=640028; sprop-parameter-sets={SPS_1080_25},aOvjyyLA",
        "a=x-dimensions:1280,720",  # stale attribute: the SPS is what gets decoded
        "a=framerate:12.5",
    )
    assert parse_sdp_video(text) == VideoInfo("H264", 1920, 1080, 12.5)


def test_attributes_when_no_sps() -> None:
    framesize = sdp("m=video 0 RTP/AVP 97", "a=rtpmap:97 H265/90000", "a=framesize:97 2560-1440")
    assert parse_sdp_video(framesize) == VideoInfo("H265", 2560, 1440, None)
    dims = sdp("m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=x-dimensions:704,576")
    assert parse_sdp_video(dims) == VideoInfo("H264", 704, 576, None)


def test_audio_first_session_framerate_and_static_payload() -> None:
    text = sdp(
        "a=framerate:10",  # session level applies when the media section says nothing
        "m=audio 0 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=framerate:99",  # another section's attributes never leak into video
        "m=video 0 RTP/AVP 26",  # static payload type: Motion JPEG, no rtpmap needed
        "a=control:trackID=1",
    )
    assert parse_sdp_video(text) == VideoInfo("JPEG", None, None, 10.0)


def test_only_the_first_video_section_and_its_payload_type() -> None:
    text = sdp(
        "m=video 0 RTP/AVP 98 96",
        "a=rtpmap:96 H264/90000",
        "a=rtpmap:98 H265/90000",
        f"a=fmtp:96 sprop-parameter-sets={SPS_1080_25}",
        "m=video 0 RTP/AVP 96",
        "a=rtpmap:96 MP4V-ES/90000",
    )
    assert parse_sdp_video(text) == VideoInfo("H265", None, None, None)


@pytest.mark.parametrize(
    "lines",
    [
        ("m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 sprop-parameter-sets=!!"),
        (
            "m=video 0 RTP/AVP 96",
            "a=rtpmap:96 H264/90000",
            "a=fmtp:96 sprop-parameter-sets=aOvjyyLA",
        ),
        ("m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=framerate:nan", "a=x-dimensions:0,9"),
        ("m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=framerate:", "a=framesize:96 axb"),
    ],
    ids=["bad-base64", "no-sps", "nan-zero", "empty"],
)
def test_junk_attributes_are_ignored(lines: tuple[str, ...]) -> None:
    assert parse_sdp_video(sdp(*lines)) == VideoInfo("H264", None, None, None)


def test_no_video() -> None:
    assert parse_sdp_video(sdp("m=audio 0 RTP/AVP 0")) is None
    assert parse_sdp_video("") is None
    assert parse_sdp_video(sdp("m=video 0 RTP/AVP 101")) == VideoInfo("UNKNOWN", None, None, None)
