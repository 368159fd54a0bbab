"""HTTP byte ranges (RFC 9110 §14): parsing a Range header against a file size, and the
If-Range check. Pure functions over strings and integers, no I/O.

Choices where the RFC lets the server choose (documented in docs/api.md):
- A Range header we cannot parse, another unit than ``bytes`` or a ``b < a`` range is
  ignored: the whole file is sent with 200 (RFC 9110 §14.2 allows ignoring Range).
- Several ranges are ignored too (200, whole file): no multipart/byteranges bodies.
  Media players ask for one range at a time.
- One syntactically valid range that does not overlap the file (``a-`` with a >= size,
  ``-0``, anything on an empty file) is unsatisfiable: 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"(?:([0-9]+)-([0-9]*)|-([0-9]+))", re.ASCII)
_WEAK = "W/"
_HUGE = 1 << 63  # beyond any file; longer digit strings are not even converted


def _number(digits: str) -> int:
    # int() refuses more than 4,300 digits (CVE-2020-10735 guard): cap instead. Leading
    # zeros are no magnitude: "0000000000000000000001" is 1.
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > 18 else int(digits)


def _less(a: str, b: str) -> bool:
    """``a < b`` for digit strings of any length (capped numbers would compare equal)."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` up to, not including, ``stop`` of a file of ``size`` bytes."""

    start: int
    stop: int
    size: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


class RangeNotSatisfiable(Exception):
    """A valid single range outside the file: answer 416 with ``bytes */size``."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range of ``header`` within ``size`` bytes, or None for "send it all".

    Raises :class:`RangeNotSatisfiable` for a valid single range beyond the file.
    """
    if header is None:
        return None
    unit, eq, ranges = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    # A list may carry empty elements (RFC 9110 §5.6.1): skip them, count the rest.
    specs = [s.strip() for s in ranges.split(",") if s.strip()]
    if len(specs) != 1:
        return None
    match = _SPEC.fullmatch(specs[0])
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = _number(suffix)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(size - length, 0), size, size)
    start = _number(first)
    if last:
        if _less(last, first):
            return None  # invalid, not unsatisfiable (RFC 9110 §14.1.1)
        stop = min(_number(last) + 1, size)
    else:
        stop = size
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, stop, size)


def if_range_allows(if_range: str | None, etag: str, last_modified: str) -> bool:
    """Whether a Range may be honoured under ``If-Range`` (RFC 9110 §13.1.5).

    An entity tag must match ours strongly (a weak one never does); a date must equal
    our Last-Modified exactly. Otherwise the file changed: the whole file is sent."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"') or value.startswith(_WEAK):
        return value == etag
    return value == last_modified


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` lists ``etag`` (weak comparison, RFC 9110 §13.1.2) or is ``*``."""
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix(_WEAK) == etag.removeprefix(_WEAK):
            return True
    return False
