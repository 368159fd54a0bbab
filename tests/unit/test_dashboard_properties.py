"""The dashboard's Accept-Encoding reading against an oracle written from RFC 9110
§12.5.3 (gzip is acceptable when listed, or covered by ``*``, with a q-value above 0),
and its CSP's hosts, for generated header values."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from camera_service.api.dashboard import Endpoints, _accepts_gzip, content_security_policy
from camera_service.net.httpserver import HttpRequest
from tests.support.properties import examples

CODINGS = st.sampled_from(["gzip", "GZIP", "br", "deflate", "identity", "*", "zstd"])
QVALUES = st.sampled_from(["", ";q=0", ";q=0.0", ";q=1", ";q=0.5", ";q=0.001", ";q=x"])


def oracle(items: list[tuple[str, str]]) -> bool:
    for coding, q in items:
        if coding.lower() not in ("gzip", "*"):
            continue
        if not q:
            return True
        try:
            return float(q.removeprefix(";q=")) > 0
        except ValueError:
            return False
    return False


@given(st.lists(st.tuples(CODINGS, QVALUES), max_size=5))
@example([("br", ""), ("gzip", ";q=0")])
@example([("*", ";q=0.5")])
@examples(300)
def test_accepts_gzip_follows_the_rfc(items: list[tuple[str, str]]) -> None:
    header = ", ".join(f"{c}{q}" for c, q in items)
    assert _accepts_gzip(header) is oracle(items)


def test_no_header_means_no_gzip() -> None:
    assert _accepts_gzip(None) is False and _accepts_gzip("") is False


ENDS = Endpoints(ws_port=8002, tls=False, media_host=None, hls_port=8888, webrtc_port=8889)


def request(host: bytes) -> HttpRequest:
    return HttpRequest("GET", "/", "/", {}, {b"host": host}, b"", "127.0.0.1")


@given(st.binary(max_size=60))
@examples(300)
def test_the_csp_never_carries_a_host_header_that_is_not_a_host(host: bytes) -> None:
    csp = content_security_policy(request(host), ENDS)
    directives = [d.strip().split(" ")[0] for d in csp.split(";")]
    assert directives == [
        "default-src", "script-src", "style-src", "img-src", "media-src", "worker-src",
        "connect-src", "base-uri", "form-action", "frame-ancestors",
    ]  # fmt: skip
    for source in csp.split("connect-src ", 1)[1].split(";")[0].split():
        assert source == "'self'" or source.count(":") >= 2  # scheme://host:port


def test_the_csp_names_the_api_and_media_ports_of_the_host_used() -> None:
    csp = content_security_policy(request(b"hub.local:8003"), ENDS)
    assert "connect-src 'self' ws://hub.local:8002 http://hub.local:8888" in csp
    ipv6 = content_security_policy(request(b"[::1]:8003"), ENDS)
    assert "ws://[::1]:8002" in ipv6
    public = Endpoints(8002, True, "cams.example", 8888, 8889)
    csp = content_security_policy(request(b"hub.local"), public)
    assert "wss://hub.local:8002" in csp and "https://cams.example:8888" in csp


def test_a_host_with_a_trailing_newline_adds_nothing_to_the_csp() -> None:
    # `$` matches before a final newline: the header would have carried a line break.
    csp = content_security_policy(request(b"hub.local\n"), ENDS)
    assert "\n" not in csp and "connect-src 'self';" in csp
