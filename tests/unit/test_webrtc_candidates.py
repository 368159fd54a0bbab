"""The WHEP double's candidate filter: an offer keeps only its ICE candidates on
127.0.0.1, everything else of the SDP as it is; examples and properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.support.mediamtx.webrtc import loopback_candidates

OFFER = "\r\n".join(
    [
        "v=0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=candidate:1 1 udp 2113937151 192.0.2.2 39642 typ host generation 0",
        "a=candidate:2 1 udp 2122194687 127.0.0.1 47464 typ host generation 0",
        "a=candidate:3 1 udp 2122267903 ::1 49255 typ host generation 0",
        "a=candidate:4 1 udp 2122134271 5e3b.local 43652 typ host generation 0",
        "a=ice-ufrag:abcd",
        "",
    ]
)


def test_only_loopback_candidates_are_kept() -> None:
    sdp, dropped = loopback_candidates(OFFER)
    assert dropped == ["192.0.2.2", "::1", "5e3b.local"]
    assert sdp.split("\r\n") == [
        "v=0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=candidate:2 1 udp 2122194687 127.0.0.1 47464 typ host generation 0",
        "a=ice-ufrag:abcd",
        "",
    ]


def test_an_sdp_without_candidates_is_unchanged() -> None:
    plain = "v=0\r\na=ice-ufrag:abcd\r\n"
    assert loopback_candidates(plain) == (plain, [])


addresses = st.sampled_from(["127.0.0.1", "192.0.2.2", "10.0.0.1", "::1", "fd00::2", "x.local"])
candidate = st.builds(
    lambda n, addr, port: f"a=candidate:{n} 1 udp {n} {addr} {port} typ host",
    st.integers(0, 2**32),
    addresses,
    st.integers(1, 65535),
)
other = st.text(st.characters(blacklist_characters="\r\n"), max_size=30).filter(
    lambda line: not line.startswith("a=candidate:")
)


@given(st.lists(st.one_of(candidate, other), max_size=20))
def test_kept_lines_are_the_input_less_foreign_candidates(lines: list[str]) -> None:
    sdp, dropped = loopback_candidates("\r\n".join(lines))
    expected = [
        line
        for line in lines
        if not line.startswith("a=candidate:") or line.split()[4] == "127.0.0.1"
    ]
    assert sdp == "\r\n".join(expected)
    assert len(expected) + len(dropped) == len(lines)
    assert "127.0.0.1" not in dropped
    assert loopback_candidates(sdp) == (sdp, [])  # idempotent
