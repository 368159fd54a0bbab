"""Range, If-Range and If-None-Match rules (RFC 9110 §13-14), without sockets."""

from __future__ import annotations

import pytest

from camera_service.api.files import content_disposition
from camera_service.net.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    etag_matches,
    if_range_allows,
    parse_range,
)

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=0-499", 0, 500),
        ("bytes=500-999", 500, 1000),
        ("bytes=500-", 500, 1000),
        ("bytes=999-", 999, 1000),
        ("bytes=-1", 999, 1000),
        ("bytes=-500", 500, 1000),
        ("bytes=-5000", 0, 1000),  # a suffix longer than the file is the whole file
        ("bytes=900-5000", 900, 1000),  # the last position is clamped
        ("bytes=0-" + "9" * 40, 0, 1000),  # far beyond any int64, never converted
        ("BYTES=1-2", 1, 3),  # the unit is case-insensitive
        ("bytes= 1-2 ", 1, 3),
        ("bytes=,1-2,", 1, 3),  # empty list elements are ignored
    ],
)
def test_one_satisfiable_range(header: str, start: int, stop: int) -> None:
    got = parse_range(header, SIZE)
    assert got == ByteRange(start, stop, SIZE)
    assert got.length == stop - start
    assert got.content_range == f"bytes {start}-{stop - 1}/{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=5-1",  # last < first: invalid, so ignored
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=1 - 2",
        "bytes=0x10-20",
        "bytes=\u0661-\u0662",  # non-ASCII digits
        "items=0-1",
        "bytes 0-1",
        "bytes=0-1,5-6",  # several ranges: the whole file, no multipart
        "bytes=0-1,2000-3000",
        "bytes=-1,-2",
    ],
)
def test_ignored_headers_mean_the_whole_file(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=1000-2000", 1000),
        ("bytes=" + "9" * 40 + "-", 1000),
        ("bytes=-0", 1000),
        ("bytes=0-0", 0),
        ("bytes=-1", 0),
        ("bytes=0-", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, size)
    assert info.value.content_range == f"bytes */{size}"


ETAG = '"1f-3e8-abc"'
DATE = "Wed, 15 Jan 2025 14:30:00 GMT"


@pytest.mark.parametrize(
    ("if_range", "allowed"),
    [
        (None, True),
        (ETAG, True),
        (f" {ETAG} ", True),
        ('"other"', False),
        (f"W/{ETAG}", False),  # weak tags never match for If-Range
        (DATE, True),
        ("Wed, 15 Jan 2025 14:30:01 GMT", False),
        ("garbage", False),
    ],
)
def test_if_range(if_range: str | None, allowed: bool) -> None:
    assert if_range_allows(if_range, ETAG, DATE) is allowed


@pytest.mark.parametrize(
    ("if_none_match", "matches"),
    [
        (None, False),
        (ETAG, True),
        ("*", True),
        (f'"a", {ETAG}', True),
        (f"W/{ETAG}", True),  # weak comparison
        ('"a", "b"', False),
        ("", False),
    ],
)
def test_if_none_match(if_none_match: str | None, matches: bool) -> None:
    assert etag_matches(if_none_match, ETAG) is matches


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lab_2025-01-15_14-30-00.mp4", 'attachment; filename="lab_2025-01-15_14-30-00.mp4"'),
        ("my clip.mp4", 'attachment; filename="my clip.mp4"'),
        (
            "caméra.jpg",
            "attachment; filename=\"cam_ra.jpg\"; filename*=UTF-8''cam%C3%A9ra.jpg",
        ),
        (
            'say "hi".png',
            "attachment; filename=\"say _hi_.png\"; filename*=UTF-8''say%20%22hi%22.png",
        ),
        ("50%.ts", "attachment; filename=\"50_.ts\"; filename*=UTF-8''50%25.ts"),
    ],
)
def test_content_disposition(name: str, expected: str) -> None:
    value = content_disposition(name)
    assert value == expected
    value.encode("ascii")  # a header value: never anything but ASCII
