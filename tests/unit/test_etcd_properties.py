"""Properties of the etcd watch-stream reader (etcd._WatchStream) over a scripted
connection: a valid stream gives the same changes however it is split (into HTTP chunks
and into reads), and anything malformed ends in EtcdError, never another exception."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.net.etcd import EtcdError, _Endpoint, _WatchStream
from tests.support.properties import examples

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
ENDPOINT = _Endpoint.parse("http://127.0.0.1:2379")


class ScriptedReader:
    """What the socket delivers, one read at a time; then the end of the stream."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = list(reads)

    async def read(self, n: int) -> bytes:
        if not self.reads:
            return b""
        data = self.reads.pop(0)
        if len(data) > n:
            data, self.reads[0:0] = data[:n], [data[n:]]
        return data


class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True


class ScriptedWriter:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.transport = _Transport()

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def watch(reads: list[bytes]) -> tuple[list[bytes | None], EtcdError | None, bool]:
    """Run a watch over ``reads``: the changes it gave, the EtcdError it ended with, and
    whether the watch was created."""

    async def run() -> tuple[list[bytes | None], EtcdError | None, bool]:
        reader, writer = ScriptedReader(reads), ScriptedWriter()
        stream = _WatchStream(
            cast(asyncio.StreamReader, reader), cast(asyncio.StreamWriter, writer), "etcd"
        )
        changes: list[bytes | None] = []
        created = False
        try:
            await stream.create(ENDPOINT, b'{"create_request":{}}')
            created = True
            for _ in range(10_000):  # every call consumes a message; the input ends
                changes += await stream.events()
        except EtcdError as exc:
            return changes, exc, created
        raise AssertionError("the watch never ended")

    return asyncio.run(run())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def result(**fields: Any) -> bytes:
    return json.dumps({"result": {"header": {"revision": "7"}, **fields}}).encode() + b"\n"


@st.composite
def change_messages(draw: st.DrawFn) -> tuple[bytes, list[bytes | None]]:
    """One watch message with some events (or a progress notice with none)."""
    events: list[dict[str, Any]] = []
    values: list[bytes | None] = []
    for _ in range(draw(st.integers(0, 3))):
        value = draw(st.binary(max_size=40))
        kind = draw(st.sampled_from(["PUT", "default", "DELETE"]))
        kv = {"key": b64(b"/cameras/hub"), "mod_revision": "8"}
        if kind == "DELETE":
            events.append({"type": "DELETE", "kv": kv})
            values.append(None)
        else:
            kv["value"] = b64(value)
            # the gateway omits a field at its default: a PUT has no "type"
            events.append({"type": "PUT", "kv": kv} if kind == "PUT" else {"kv": kv})
            values.append(value)
    return (result(events=events) if events else result()), values


def chunked(body: bytes, cuts: list[int], end: bool) -> bytes:
    cuts = sorted(set(c for c in cuts if 0 < c < len(body)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + (b"0\r\n\r\n" if end else b"")


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Reads of ``data``: never empty, which is the end of the stream."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(len(data) - 1, 1)), max_size=12))))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return [p for p in pieces if p]


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes | None], bool]:
    """A whole watch response: the bytes, the changes it carries, and whether it ends
    with the last chunk (etcd stopping) rather than a dropped connection."""
    messages = draw(st.lists(change_messages(), max_size=5))
    body = result(created=True) + b"".join(m for m, _ in messages)
    if draw(st.booleans()):
        body = b"\n" + body.replace(b"\n", b"\r\n")  # blank lines and CRLFs are no messages
    end = draw(st.booleans())
    cuts = draw(st.lists(st.integers(0, len(body)), max_size=6))
    return HEAD + chunked(body, cuts, end), [v for _, vs in messages for v in vs], end


@examples(100)
@given(st.data(), streams())
def test_any_split_of_a_watch_stream_gives_the_same_changes(
    data: st.DataObject, stream: tuple[bytes, list[bytes | None], bool]
) -> None:
    raw, values, end = stream
    changes, error, created = watch(data.draw(split(raw)))
    assert created
    assert changes == values
    assert error is not None
    assert ("stream ended" if end else "connection closed") in str(error)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        edit = draw(st.sampled_from(["flip", "insert", "delete"]))
        if edit == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=6))
        else:
            del out[at : at + draw(st.integers(1, 6))]
    return bytes(out)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
# Watch messages with the right outline and any content where etcd puts values.
ODD_EVENTS = st.one_of(
    JSON,
    st.lists(
        st.one_of(
            JSON,
            st.fixed_dictionaries({"type": JSON, "kv": JSON}),
            st.fixed_dictionaries({"kv": st.fixed_dictionaries({"value": JSON})}),
            st.fixed_dictionaries({"kv": st.fixed_dictionaries({"value": st.text(max_size=8)})}),
        ),
        max_size=3,
    ),
)
ODD_MESSAGES = st.one_of(
    JSON,
    st.fixed_dictionaries({"result": JSON}),
    ODD_EVENTS.map(lambda events: {"result": {"events": events}}),
    st.fixed_dictionaries({"error": JSON}),
    st.fixed_dictionaries({"result": st.fixed_dictionaries({"canceled": JSON})}),
)


@examples(120)
@given(
    st.data(),
    st.one_of(
        streams().map(lambda s: s[0]).flatmap(mutated),
        st.lists(ODD_MESSAGES, max_size=3).map(
            lambda ms: (
                HEAD
                + chunked(
                    result(created=True) + b"".join(json.dumps(m).encode() + b"\n" for m in ms),
                    [],
                    True,
                )
            )
        ),
        st.binary(max_size=100).map(lambda junk: HEAD + junk),
        st.binary(max_size=100),
    ),
)
def test_any_malformed_watch_stream_ends_in_etcd_error(data: st.DataObject, raw: bytes) -> None:
    _changes, error, _created = watch(data.draw(split(raw)))
    assert error is not None and str(error).startswith("etcd")


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        (["PUT"], "malformed"),  # not an object
        ([{"kv": ["value"]}], "malformed"),  # a kv that is not an object
        ({"kv": {"value": "eA=="}}, "malformed"),  # events as an object, not a list
        (7, "malformed"),
        ([{"kv": {"value": "\u00e9"}}], "not base64"),  # not even ASCII
    ],
)
def test_an_odd_event_is_an_etcd_error(events: Any, reason: str) -> None:
    """Regression: these raised AttributeError, TypeError or ValueError, which ended the
    watch task of the device assignments for good instead of retrying."""
    confirmed = HEAD + chunked(result(created=True), [], False)
    changes, error, created = watch([confirmed, chunked(result(events=events), [], True)])
    assert created and changes == []
    assert error is not None and reason in str(error)


def test_changes_in_the_read_that_confirms_the_watch_are_kept() -> None:
    """Regression: etcd may send the watch's confirmation and the first changes (those
    since the revision asked for) in one read; create() dropped all but the first."""
    put = {"kv": {"key": b64(b"k"), "value": b64(b"v1")}}
    body = result(created=True) + result(events=[put]) + result(events=[{"type": "DELETE"}])
    changes, error, created = watch([HEAD + chunked(body, [], True)])
    assert created and changes == [b"v1", None]
    assert error is not None and "stream ended" in str(error)
