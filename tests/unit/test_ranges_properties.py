"""parse_range against an oracle written from RFC 9110 §14 (with the choices of
docs/api.md: one range only, an invalid or multiple Range sends the whole file), for
generated header values and file sizes."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from camera_service.net.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    etag_matches,
    parse_range,
)
from tests.support.properties import examples

# RFC 9110: Range = range-unit "=" range-set; range-set = 1#range-spec (a list: OWS
# around the commas, empty elements allowed); int-range = first-pos "-" [ last-pos ];
# suffix-range = "-" suffix-length; every number is 1*DIGIT, any length.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SPECIFIER = re.compile(rf"[ \t]*({_TOKEN})[ \t]*=(.*)", re.DOTALL)
_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX = re.compile(r"-([0-9]+)")

Answer = tuple[int, int] | str | None  # (start, stop), "416", or None: send it all


def oracle(header: str, size: int) -> Answer:
    m = _SPECIFIER.fullmatch(header)
    if m is None or m[1].lower() != "bytes":
        return None  # not a ranges-specifier in a unit we know: ignored (§14.2)
    specs = [e.strip(" \t") for e in m[2].split(",")]
    specs = [e for e in specs if e]
    if len(specs) != 1:
        return None  # several ranges: the whole file (docs/api.md)
    if r := _INT_RANGE.fullmatch(specs[0]):
        first = Decimal(r[1])  # Decimal: exact for any number of digits
        last = Decimal(r[2]) if r[2] else None
        if last is not None and last < first:
            return None  # invalid (§14.1.1), so ignored
        if first >= size:
            return "416"  # §14.1.1: satisfiable only if first-pos < length
        stop = size if last is None or last >= size else int(last) + 1
        return int(first), stop
    if r := _SUFFIX.fullmatch(specs[0]):
        length = Decimal(r[1])
        if length == 0 or size == 0:
            return "416"  # a zero-length suffix, or nothing to take it from
        return (0 if length >= size else size - int(length)), size
    return None


def answer(header: str, size: int) -> Answer:
    refused: RangeNotSatisfiable | None = None
    try:
        got = parse_range(header, size)
    except RangeNotSatisfiable as exc:
        refused = exc
    if refused is not None:
        assert refused.content_range == f"bytes */{size}"
        return "416"
    if got is None:
        return None
    assert got.size == size
    assert 0 <= got.start < got.stop <= size
    assert got.content_range == f"bytes {got.start}-{got.stop - 1}/{size}"
    return got.start, got.stop


def number(zeros: int, digits: str) -> str:
    return "0" * zeros + digits


NUMBERS = st.one_of(
    st.integers(0, 3000).map(str),
    st.builds(number, st.integers(0, 25), st.text(alphabet="0123456789", min_size=1, max_size=25)),
    st.integers(0, 2**64).map(str),
)
SPEC = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", NUMBERS, NUMBERS),
    NUMBERS.map(lambda a: f"{a}-"),
    NUMBERS.map(lambda n: f"-{n}"),
    st.sampled_from(["-", "", "1-2-3", "a-b", "-1-", "1 - 2", "0x1-2", "+1-2"]),
)
OWS = st.sampled_from(["", "", " ", "\t", "  "])
HEADERS = st.one_of(
    st.builds(
        lambda unit, pad, specs: f"{unit}={pad}" + ",".join(specs),
        st.sampled_from(["bytes", "BYTES", "Bytes", " bytes ", "items", "byte", ""]),
        OWS,
        st.lists(st.builds(lambda a, s, b: a + s + b, OWS, SPEC, OWS), min_size=1, max_size=3),
    ),
    st.lists(
        st.sampled_from(["bytes", "=", "-", ",", " ", "\t", "0", "1", "9", "00", "x"]), max_size=10
    ).map("".join),
)
SIZES = st.one_of(st.integers(0, 3000), st.integers(0, 2**62))


@examples(600)
@given(HEADERS, SIZES)
@example("bytes=" + "0" * 20 + "1-5", 100).via("leading zeros past 18 digits")
@example("bytes=" + "0" * 30 + "-", 100).via("a zero first-pos written long")
@example("bytes=10000000000000000001-10000000000000000000", 100).via("last < first, long")
def test_parse_range_agrees_with_the_rfc(header: str, size: int) -> None:
    assert answer(header, size) == oracle(header, size)


@examples(200)
@given(st.text(max_size=60), SIZES)
def test_any_text_is_a_range_the_whole_file_or_416(header: str, size: int) -> None:
    answer(header, size)  # its checks: within the file, and nothing else raised


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


ETAG = st.text(alphabet="abc0123", min_size=1, max_size=6).map(lambda t: f'"{t}"')


@examples(100)
@given(ETAG, st.lists(st.one_of(ETAG, ETAG.map(lambda t: "W/" + t), st.just("*")), max_size=4))
def test_if_none_match_is_a_weak_comparison_over_the_list(etag: str, tags: list[str]) -> None:
    want = any(t == "*" or t.removeprefix("W/") == etag for t in tags)
    assert etag_matches(" , ".join(tags), etag) is want
    assert etag_matches(",".join(tags), "W/" + etag) is want
