"""Credentials split out of RTSP URLs (cameras/rtspurl.py): examples and properties."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.cameras.rtspurl import split_credentials
from camera_service.config import RtspSource
from tests.support.properties import examples

HOSTS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
PATHS = st.from_regex(r"(/[A-Za-z0-9._~=&?-]{0,20}){0,3}", fullmatch=True)
SECRETS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)


@pytest.mark.parametrize(
    ("url", "bare", "user", "password"),
    [
        ("rtsp://cam.local/stream1", "rtsp://cam.local/stream1", None, None),
        ("rtsp://10.0.0.5:554", "rtsp://10.0.0.5:554", None, None),
        ("RTSP://admin:s3cret@10.0.0.5:554/h264", "rtsp://10.0.0.5:554/h264", "admin", "s3cret"),
        ("rtsps://u@[::1]:8322/x", "rtsps://[::1]:8322/x", "u", None),
        ("rtsp://a%40b:p%3Aw%2F@h/p", "rtsp://h/p", "a@b", "p:w/"),
        ("rtsp://u:@h/p", "rtsp://h/p", "u", ""),
    ],
)
def test_credentials_are_split_out(url: str, bare: str, user: str | None, password: str) -> None:
    split = split_credentials(url)
    assert (split.url, split.username, split.password) == (bare, user, password)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://cam/x", "must start with rtsp:// or rtsps://"),
        ("rtsp:/cam/x", "must start with rtsp:// or rtsps://"),
        ("cam.local/x", "must start with rtsp:// or rtsps://"),
        ("rtsp://", "must name a host"),
        ("rtsp://:554/x", "must name a host"),
        ("rtsp://cam:99999/x", "valid port"),
        ("rtsp://cam:0/x", "valid port"),
        ("rtsp://cam:abc/x", "valid port"),
        ("rtsp://ca m/x", "spaces"),
        ("rtsp://cam/x\n", "spaces"),
        ("rtsp://:pw@cam/x", "without a user name"),
        ("rtsp://c$m/x", "must name a host"),
    ],
)
def test_malformed_urls_are_refused_in_words(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        split_credentials(url)


@examples(300)
@given(HOSTS, st.one_of(st.none(), st.integers(1, 65535)), PATHS, SECRETS, SECRETS)
def test_any_credentials_round_trip_and_never_stay_in_the_url(
    host: str, port: int | None, path: str, user: str, password: str
) -> None:
    netloc = host + (f":{port}" if port is not None else "")
    url = f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@{netloc}{path}"
    split = split_credentials(url)
    assert (split.username, split.password) == (user, password)
    assert split.url == f"rtsp://{netloc}{path}"
    assert "@" not in split.url.split("/")[2]
    RtspSource(id="x", url=split.url)  # what the config model accepts, too


@examples(300)
@given(st.text(max_size=80))
def test_anything_either_parses_to_a_bare_url_the_config_accepts_or_is_refused(
    text: str,
) -> None:
    try:
        split = split_credentials(text)
    except ValueError as exc:
        reason = str(exc)  # a reason, in words
    else:
        RtspSource(id="x", url=split.url)
        return
    assert reason
