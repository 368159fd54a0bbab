"""The monitor's decisions keep the count of claimed cameras that get_status reads:
it equals counting the entries after any sequence of changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from camera_service.cameras.monitor import _Decisions, _Node

KINDS = ["camera", "metadata", "unassigned", "over_limit", "unprobed"]
changes = st.lists(
    st.tuples(st.sampled_from(["set", "del"]), st.sampled_from("abcd"), st.sampled_from(KINDS)),
    max_size=60,
)


def node(kind: str) -> _Node:
    return _Node(cast(Any, Path("/dev/video0")), "id", kind)


@given(changes)
def test_claimed_equals_the_cameras_among_the_entries(steps: list[tuple[str, str, str]]) -> None:
    decisions = _Decisions()
    for op, camera_id, kind in steps:
        if op == "set":
            decisions[camera_id] = node(kind)
        elif camera_id in decisions:
            del decisions[camera_id]
        assert decisions.claimed == sum(1 for n in decisions.values() if n.kind == "camera")
