"""Properties of the MediaMTX hook payload (record/hooks.py): any JSON gives a segment
event inside the recordings directory, or ValueError/TypeError/KeyError (the handler's
400), never another exception; the handler answers 204 or 400 for any body."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from camera_service.events import EventBus
from camera_service.record.hooks import HookReceiver

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


def test_a_segment_through_a_symlink_loop_is_refused(tree: Tree) -> None:
    """Regression: Path.resolve() raises RuntimeError on a symlink loop (Python < 3.13),
    which the handler did not map to 400: it answered 500 and logged a traceback."""
    receiver = HookReceiver(TOKEN, tree.recordings, EventBus())
    for segment in (tree.recordings / "loop", tree.recordings / "loop" / "a.mp4"):
        with pytest.raises(ValueError, match="segment"):
            receiver.parse({"event": "create", "camera": "cam", "segment": str(segment)})
