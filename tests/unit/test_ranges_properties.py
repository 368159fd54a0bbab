"""parse_range against an oracle written from RFC 9110 §14 (with the choices of
docs/api.md: one range only, an invalid or multiple Range sends the whole file), for
generated header values and file sizes."""

from __future__ import annotations

import pytest

from camera_service.net.ranges import ByteRange, parse_range


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ("bytes=" + "0" * 20 + "1-5", ByteRange(1, 6, 100)),
        ("bytes=" + "0" * 5000 + "-", ByteRange(0, 100, 100)),
        ("bytes=-" + "0" * 30 + "7", ByteRange(93, 100, 100)),
        ("bytes=10000000000000000001-10000000000000000000", None),
        ("bytes=1" + "0" * 5000 + "-" + "0" * 5000, None),
    ],
)
def test_long_numbers_are_read_exactly(header: str, want: ByteRange | None) -> None:
    """Regression: a number was read as "huge" by its length alone, so leading zeros
    made a valid range unsatisfiable, and two long numbers compared as equal."""
    assert parse_range(header, 100) == want
