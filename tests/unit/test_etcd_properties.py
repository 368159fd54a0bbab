"""Properties of the etcd watch-stream reader (etcd._WatchStream) over a scripted
connection: a valid stream gives the same changes however it is split (into HTTP chunks
and into reads), and anything malformed ends in EtcdError, never another exception."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, cast

import pytest

from camera_service.net.etcd import EtcdError, _Endpoint, _WatchStream

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


def chunked(body: bytes, cuts: list[int], end: bool) -> bytes:
    cuts = sorted(set(c for c in cuts if 0 < c < len(body)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + (b"0\r\n\r\n" if end else b"")


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
