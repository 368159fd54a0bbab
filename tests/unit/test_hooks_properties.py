"""Properties of the MediaMTX hook payload (record/hooks.py): any JSON gives a segment
event inside the recordings directory, or ValueError/TypeError/KeyError (the handler's
400), never another exception; the handler answers 204 or 400 for any body."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.cameras.model import CAMERA_ID
from camera_service.events import EventBus
from camera_service.net.httpserver import HttpRequest
from camera_service.record.hooks import AT_TOLERANCE, TOKEN_HEADER, HookReceiver
from camera_service.storage.events import SegmentCompleted, SegmentCreated
from tests.support.properties import examples

TOKEN = "hook-secret"
REFUSED = (ValueError, TypeError, KeyError)  # what handle() answers with 400


@dataclass(frozen=True)
class Tree:
    """A recordings directory with traps beside it: symlinks out, a symlink loop."""

    recordings: Path
    outside: Path

    @classmethod
    def make(cls, root: Path) -> Tree:
        recordings, outside = root / "data" / "recordings", root / "outside"
        recordings.mkdir(parents=True)
        outside.mkdir()
        (outside / "seg.mp4").write_bytes(b"")
        (recordings / "dir-out").symlink_to(outside)
        (recordings / "file-out.mp4").symlink_to(outside / "seg.mp4")
        (recordings / "loop").symlink_to(recordings / "loop")
        (recordings / "sub").mkdir()
        return cls(recordings, outside)


@pytest.fixture(scope="module")
def tree() -> Iterator[Tree]:
    with tempfile.TemporaryDirectory() as root:
        yield Tree.make(Path(root))


# (path relative to the recordings directory or absolute, whether it is inside)
SEGMENTS: list[tuple[str, bool]] = [
    ("{rec}/cam_2024-01-01_00-00-00-000000.mp4", True),
    ("{rec}/./a.mp4", True),
    ("{rec}//a.mp4", True),
    ("{rec}/sub/../a.mp4", True),
    ("{rec}/sub/a.mp4", False),
    ("{rec}/../a.mp4", False),
    ("{rec}/../recordings-x/a.mp4", False),
    ("{rec}", False),
    ("{rec}/", False),
    ("{rec}/sub/..", False),
    ("{rec}/dir-out/seg.mp4", False),
    ("{rec}/file-out.mp4", False),
    ("{rec}/loop", False),
    ("{rec}/loop/a.mp4", False),
    ("{out}/seg.mp4", False),
    ("relative.mp4", False),
    ("/", False),
    ("{rec}/a\0.mp4", False),
    ("{rec}/" + "n" * 300 + ".mp4", True),
]


@st.composite
def bodies(draw: st.DrawFn, tree: Tree) -> tuple[dict[str, Any], bool]:
    """A hook payload and whether it must be accepted."""
    ok = True
    body: dict[str, Any] = {}
    event = draw(st.sampled_from(["create", "complete", "Create", "delete", 1, None]))
    ok &= event in ("create", "complete")
    if draw(st.integers(0, 9)):
        body["event"] = event
    else:
        ok = False
    camera = draw(
        st.one_of(
            st.from_regex(CAMERA_ID, fullmatch=True),
            st.sampled_from(["lab\n", "", "a/b", "x" * 65, "ok"]),
            st.integers(),
            st.none(),
        )
    )
    ok &= isinstance(camera, str) and CAMERA_ID.fullmatch(camera) is not None
    body["camera"] = camera
    template, inside = draw(st.sampled_from(SEGMENTS))
    ok &= inside
    body["segment"] = template.format(rec=tree.recordings, out=tree.outside)
    kind = draw(st.sampled_from(["none", "absent", "good", "bad", "text"]))
    if kind == "none":
        body["duration"] = None
    elif kind == "good":
        body["duration"] = draw(st.floats(0, 7 * 86400, exclude_max=True))
    elif kind == "bad":
        body["duration"] = draw(
            st.one_of(
                st.floats(max_value=-0.001), st.floats(min_value=7 * 86400), st.lists(st.none())
            )
        )
        ok = False
    elif kind == "text":
        duration = draw(st.sampled_from(["6.0", "nan", "inf", "-1", "x", "1e400"]))
        body["duration"] = duration
        ok &= duration == "6.0"
    at = draw(
        st.one_of(
            st.none(),
            st.floats(-1e12, 1e12),
            st.just("now"),
            st.sampled_from(["1.5", "x", "nan"]),
            st.dictionaries(st.text(max_size=2), st.none(), max_size=1),
        )
    )
    if at == "now":
        at = time.time()
    if at is not None:
        body["at"] = at
        ok &= not isinstance(at, dict) and at != "x"
    return body, ok


def parse(receiver: HookReceiver, body: Any) -> SegmentCreated | SegmentCompleted | None:
    try:
        event = receiver.parse(body)
    except REFUSED:
        return None
    recordings = receiver.recordings
    assert event.segment.parent == recordings
    assert Path(os.path.realpath(event.segment)).parent == recordings  # no symlink out
    assert CAMERA_ID.fullmatch(event.camera_id)
    if isinstance(event, SegmentCompleted) and event.duration is not None:
        assert 0 <= event.duration < 7 * 86400
    if event.at is not None:
        assert abs(event.at - time.time()) < AT_TOLERANCE + 5
    return event


@examples(100)
@given(st.data())
def test_a_payload_is_accepted_exactly_when_it_names_a_segment_of_ours(
    tree: Tree, data: st.DataObject
) -> None:
    body, ok = data.draw(bodies(tree))
    receiver = HookReceiver(TOKEN, tree.recordings, EventBus())
    event = parse(receiver, json.loads(json.dumps(body)))  # as orjson hands it over
    assert (event is not None) == ok, body
    if event is not None:
        assert type(event) is (SegmentCreated if body["event"] == "create" else SegmentCompleted)
        assert event.camera_id == body["camera"]


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(), st.text()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@examples(80)
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"event": JSON, "camera": JSON, "segment": JSON},
            optional={"duration": JSON, "at": JSON},
        ),
    )
)
def test_any_json_gives_an_event_or_a_refusal(tree: Tree, body: Any) -> None:
    parse(HookReceiver(TOKEN, tree.recordings, EventBus()), body)


@examples(60)
@given(st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode())))
def test_the_handler_answers_204_or_400_for_any_body(tree: Tree, raw: bytes) -> None:
    bus = EventBus()
    published: list[object] = []
    bus.subscribe(SegmentCreated, published.append)
    bus.subscribe(SegmentCompleted, published.append)
    request = HttpRequest(
        "POST",
        "/hooks/recording",
        "/hooks/recording",
        {},
        {TOKEN_HEADER: TOKEN.encode()},
        raw,
        "127.0.0.1",
    )
    response = asyncio.run(HookReceiver(TOKEN, tree.recordings, bus).handle(request))
    assert response.status in (204, 400)
    assert len(published) == (response.status == 204)


def test_a_segment_through_a_symlink_loop_is_refused(tree: Tree) -> None:
    """Regression: Path.resolve() raises RuntimeError on a symlink loop (Python < 3.13),
    which the handler did not map to 400: it answered 500 and logged a traceback."""
    receiver = HookReceiver(TOKEN, tree.recordings, EventBus())
    for segment in (tree.recordings / "loop", tree.recordings / "loop" / "a.mp4"):
        with pytest.raises(ValueError, match="segment"):
            receiver.parse({"event": "create", "camera": "cam", "segment": str(segment)})
