"""Fuzz the HTTP connection (HttpProtocol with the tests' fake transport): any bytes,
whole or in pieces, give well-formed answers in order or a close, never an exception,
and the pieces do not change the answer."""

from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from camera_service.net import httpserver  # noqa: F401  (instrumented before use)

from tests.fuzz._harness import pieces, run
from tests.support.httpdrive import check_outcome, drive, final_writes


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    raw = fdp.ConsumeBytes(fdp.remaining_bytes() * 3 // 4)
    cut = pieces(fdp, raw)
    whole = drive([raw])
    check_outcome(whole)
    split = drive(cut, [fdp.ConsumeBool() for _ in cut])
    check_outcome(split)
    assert (final_writes(split), split.closed) == (final_writes(whole), whole.closed)


if __name__ == "__main__":
    run(test_one_input)
