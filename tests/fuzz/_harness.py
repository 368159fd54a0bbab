"""What the fuzz harnesses share: cutting one input into the pieces a transport would
deliver, and starting atheris. Run a harness with
``uv run --group fuzz python -m tests.fuzz.NAME -max_total_time=SECONDS``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris


def pieces(fdp: atheris.FuzzedDataProvider, data: bytes) -> list[bytes]:
    """``data`` cut at points the fuzzer chooses (as arbitrary reads would cut it)."""
    cuts = sorted({fdp.ConsumeIntInRange(0, len(data)) for _ in range(fdp.ConsumeIntInRange(0, 8))})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def run(test_one_input: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
