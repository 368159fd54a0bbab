"""Fuzz the WebSocket frame parser against the RFC 6455 reference of the tests:
the same events and close code for the input whole and cut into pieces, no exception
but ProtocolError, and never more held than a message and a header."""

from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from camera_service.net.wsframes import FrameParser

from tests.fuzz._harness import pieces, run
from tests.support.wsreference import feed, reference


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    masked = fdp.ConsumeBool()
    max_size = fdp.ConsumeIntInRange(0, 1024)
    raw = fdp.ConsumeBytes(fdp.remaining_bytes() * 3 // 4)
    cut = pieces(fdp, raw)
    want_events, want_code = reference(raw, max_size, masked)
    events, code = feed(FrameParser(max_size, masked=masked), cut)
    assert code == want_code, (code, want_code)
    if code is None:
        assert events == want_events
    else:  # the events of the feed that failed are dropped with the connection
        assert events == want_events[: len(events)]


if __name__ == "__main__":
    run(test_one_input)
