"""Properties of the v4l2-ctl output parsers (cameras/v4l2/formats.py): a format table
and a capability block printed in v4l-utils' layout read back as printed; any other
text gives Capabilities (or FormatParseError for --info), never another exception."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.cameras.v4l2.formats import (
    Capabilities,
    FormatParseError,
    parse_formats,
    parse_info,
)
from tests.support.properties import examples

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


def print_formats(table: Table, buffer_type: str) -> str:
    """The table as v4l2-ctl --list-formats-ext prints it (print_video_formats_ext)."""
    lines = ["ioctl: VIDIOC_ENUM_FMT", f"\tType: {buffer_type}", ""]
    for index, (fourcc, description, sizes) in enumerate(table):
        lines.append(f"\t[{index}]: '{fourcc}' ({description})")
        for (width, height), rates in sizes:
            lines.append(f"\t\tSize: Discrete {width}x{height}")
            lines += [f"\t\t\tInterval: Discrete {1 / r:.3f}s ({r:.3f} fps)" for r in rates]
        lines.append("")
    return "\n".join(lines) + "\n"


def shown(rate: float) -> float:
    """A rate as the API shows it: what %.3f printed, an int when whole."""
    value = float(f"{rate:.3f}")
    return int(value) if value.is_integer() else value


def expected(table: Table) -> dict[str, dict[tuple[int, int], list[float]]]:
    """Repeated formats and sizes merge, in the order first seen; rates are unique."""
    merged: dict[str, dict[tuple[int, int], list[float]]] = {}
    for fourcc, _description, sizes in table:
        for dims, rates in sizes:
            merged.setdefault(fourcc.rstrip(), {}).setdefault(dims, [])
            merged[fourcc.rstrip()][dims] += [shown(r) for r in rates]
        merged.setdefault(fourcc.rstrip(), {})
    return {f: {d: list(dict.fromkeys(r)) for d, r in s.items()} for f, s in merged.items()}


@examples(100)
@given(tables, st.sampled_from(["Video Capture", "Video Capture Multiplanar"]))
def test_a_printed_format_table_reads_back(table: Table, buffer_type: str) -> None:
    caps = parse_formats(print_formats(table, buffer_type))
    want = expected(table)
    assert caps.formats == list(want)
    assert caps.buffer_type == buffer_type
    got = {f: {(s.width, s.height): list(s.fps) for s in sizes} for f, sizes in caps.sizes.items()}
    assert got == want


@examples(80)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_ ", min_size=1, max_size=20).filter(
        lambda d: d == d.strip()
    ),
    DESCRIPTION,
    st.lists(st.sampled_from(["Video Capture", "Metadata Capture", "Streaming", "Video Output"])),
    st.one_of(
        st.none(),
        st.lists(st.sampled_from(["Video Capture", "Metadata Capture", "Streaming"])),
    ),
)
def test_a_printed_capability_block_reads_back(
    driver: str, card: str, caps: list[str], device_caps: list[str] | None
) -> None:
    lines = [
        "Driver Info:",
        f"\tDriver name      : {driver}",
        f"\tCard type        : {card}",
        "\tBus info         : usb-0000:00:14.0-1",
        "\tCapabilities     : 0x84a00001",
        *[f"\t\t{c}" for c in caps],
    ]
    if device_caps is not None:
        lines += ["\tDevice Caps      : 0x04200001", *[f"\t\t{c}" for c in device_caps]]
    lines += ["Media Driver Info:", "\tDriver name      : not-this-one"]
    info = parse_info("\n".join(lines) + "\n")
    assert (info.driver, info.card, info.bus_info) == (driver, card, "usb-0000:00:14.0-1")
    assert info.device_caps == frozenset(caps if device_caps is None else device_caps)
    assert info.is_capture == ("Video Capture" in info.device_caps)


NUMBER = st.one_of(
    st.integers(0, 99999).map(str),
    st.sampled_from(["9" * 400, "1" * 5000, "\u0663", "0.5", ""]),
)
LINES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda t: f"\tType: {t}", st.text(max_size=20)),
    st.builds(
        lambda i, f, d: f"\t[{i}]: '{f}' ({d})", NUMBER, st.text(max_size=6), st.text(max_size=10)
    ),
    st.builds(lambda w, h: f"\t\tSize: Discrete {w}x{h}", NUMBER, NUMBER),
    st.builds(
        lambda a, b, c, d, e, f: f"\t\tSize: Stepwise {a}x{b} - {c}x{d} with step {e}/{f}",
        *[NUMBER] * 6,
    ),
    st.builds(lambda a, b, c, d: f"\t\tSize: Continuous {a}x{b} - {c}x{d}", *[NUMBER] * 4),
    st.builds(lambda r: f"\t\t\tInterval: Discrete 0.033s ({r} fps)", NUMBER),
    st.builds(
        lambda lo, hi: f"\t\t\tInterval: Stepwise 0.033s - 1.000s with step 0.000s ({lo}-{hi} fps)",
        NUMBER,
        NUMBER,
    ),
    st.builds(
        lambda k, v: f"\t{k} : {v}",
        st.sampled_from(["Driver name", "Card type"]),
        st.text(max_size=10),
    ),
    st.sampled_from(
        ["Driver Info:", "\t\tVideo Capture", "\tDevice Caps      : 0x1", "\tCapabilities : 0"]
    ),
)


def check_caps(caps: Capabilities) -> None:
    for fourcc in caps.formats:
        for size in caps.sizes[fourcc]:
            assert size.width >= 0 and size.height >= 0
            assert all(r >= 0 for r in size.fps)
    caps.best_mode()  # what the publisher asks of it never raises either


@examples(150)
@given(st.lists(LINES, max_size=12).map("\n".join))
def test_any_text_gives_capabilities_or_format_parse_error(text: str) -> None:
    check_caps(parse_formats(text))
    with contextlib.suppress(FormatParseError):
        parse_info(text)


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
