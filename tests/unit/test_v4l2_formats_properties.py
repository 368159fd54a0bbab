"""Properties of the v4l2-ctl output parsers (cameras/v4l2/formats.py): a format table
and a capability block printed in v4l-utils' layout read back as printed; any other
text gives Capabilities (or FormatParseError for --info), never another exception."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from camera_service.cameras.v4l2.formats import (
    parse_formats,
)

FOURCC = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=4).map(
    lambda f: f.ljust(4)
)
DESCRIPTION = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30
).filter(lambda d: d == d.strip())
SIZES = st.tuples(st.integers(1, 9999), st.integers(1, 9999))
RATES = st.lists(st.floats(0.001, 1000.0), max_size=4)
Table = list[tuple[str, str, list[tuple[tuple[int, int], list[float]]]]]
tables = st.lists(
    st.tuples(FOURCC, DESCRIPTION, st.lists(st.tuples(SIZES, RATES), max_size=4)), max_size=4
)


@pytest.mark.parametrize(
    "line",
    [
        "\t\tSize: Discrete " + "1" * 5000 + "x480",
        "\t\tSize: Stepwise 16x16 - " + "1" * 5000 + "x1080 with step 8/8",
        "\t\tSize: Continuous 16x16 - 1920x" + "1" * 5000,
        "\t\t\tInterval: Discrete 0.033s (" + "9" * 400 + " fps)",
        "\t\t\tInterval: Stepwise 0.033s - 1.000s with step 0.000s (1.000-" + "9" * 400 + " fps)",
    ],
)
def test_numbers_past_what_v4l2_can_report_are_ignored(line: str) -> None:
    """Regression: int() refuses more than 4,300 digits (ValueError) and a rate of 400
    digits is inf as a float (OverflowError when rounded); v4l2 reports 32-bit values,
    so such a line is not v4l2-ctl's and is skipped like any unknown line."""
    head = "\t[0]: 'YUYV' (YUYV 4:2:2)\n\t\tSize: Discrete 640x480\n"
    caps = parse_formats(head + line + "\n")
    assert caps.formats == ["YUYV"]
    assert caps.sizes["YUYV"][0].resolution == "640x480"
