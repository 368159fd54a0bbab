"""Properties of the inotify event record parser (inotify.parse_events): records packed
as the kernel packs them read back as written, in any number; any other bytes give
records without raising."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from camera_service.inotify import parse_events
from tests.support.properties import examples

# struct inotify_event (inotify(7)): int wd; uint32_t mask, cookie, len; char name[len],
# the name NUL-terminated and padded with NULs, len counting the padding.
NAMES = st.binary(min_size=0, max_size=255).filter(lambda n: b"\0" not in n and b"/" not in n)


def pack(wd: int, mask: int, cookie: int, name: bytes, extra: int) -> bytes:
    field = b""
    if name:  # an event on the watched object itself carries no name: len 0
        field = name + b"\0" * (1 + extra)
        field += b"\0" * (-len(field) % 4)
    return struct.pack("iIII", wd, mask, cookie, len(field)) + field


records = st.tuples(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    NAMES,
    st.integers(0, 16),
)


@examples(100)
@given(st.lists(records, max_size=12))
def test_packed_records_read_back_as_written(
    events: list[tuple[int, int, int, bytes, int]],
) -> None:
    data = b"".join(pack(*e) for e in events)
    assert parse_events(data) == [(wd, mask, name) for wd, mask, _cookie, name, _pad in events]


@examples(150)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.lists(records, max_size=4)
        .map(lambda es: b"".join(pack(*e) for e in es))
        .flatmap(lambda data: st.integers(0, len(data)).map(lambda cut: data[:cut])),
    )
)
def test_any_bytes_give_records_without_raising(data: bytes) -> None:
    """A read is never cut by the kernel; still, a short or garbled buffer must give
    what it holds, not an exception, and nothing past its end."""
    events = parse_events(data)
    assert len(events) <= len(data) // 16
    for _wd, _mask, name in events:
        assert len(name) <= len(data) and not name.endswith(b"\0")
