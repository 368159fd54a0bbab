"""A full disk, for real: the media directories on a small tmpfs.

Past the block threshold new recordings and snapshots are refused with -1010 and no
file is touched; a disk that fills up under the gate (the write itself hits ENOSPC)
fails the snapshot cleanly and leaves no partial file behind."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.rpc import RpcClient
from tests.support.media_stack import MediaStack, MediaStackFactory
from tests.support.tmpfs import Tmpfs, fill_to_percent


async def on_tmpfs(
    media_stack: MediaStackFactory, tmpfs: Tmpfs, size: int, **storage: Any
) -> tuple[Path, MediaStack, RpcClient]:
    """A media stack with its media directories on a new tmpfs of ``size`` bytes (and
    ``storage`` settings), its camera's stream ready: (mount point, stack, operator)."""
    root = tmpfs(size)
    stack = await media_stack(
        storage={
            "recordings_path": str(root / "recordings"),
            "snapshots_path": str(root / "snapshots"),
            **storage,
        }
    )
    await stack.path_ready()
    return root, stack, await stack.client("operator")


def digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


async def test_past_the_block_threshold_new_media_is_refused_and_nothing_changes(
    media_stack: MediaStackFactory, tmpfs: Tmpfs
) -> None:
    root, stack, client = await on_tmpfs(media_stack, tmpfs, 8 * 1024 * 1024)
    first = await client.call("take_snapshot", {"device": "lab"})
    assert first["status"] == "completed", first

    fill_to_percent(root, 95)  # block threshold: 90 %
    before = {d: digest(root / d) for d in ("recordings", "snapshots")}
    before_root = digest(root)

    snap = await client.request("take_snapshot", {"device": "lab"})
    assert snap["error"]["code"] == -1010, snap
    rec = await client.request("start_recording", {"device": "lab", "duration": 5})
    assert rec["error"]["code"] == -1010, rec
    conf = stack.mtx.path_conf("lab")
    assert conf is not None and not conf.get("record")

    assert {d: digest(root / d) for d in ("recordings", "snapshots")} == before
    assert digest(root) == before_root


async def test_a_snapshot_that_hits_enospc_fails_cleanly(
    media_stack: MediaStackFactory, tmpfs: Tmpfs
) -> None:
    # The gate lets it through (only a completely full disk is "critical"), the write
    # itself runs out of space.
    root, _, client = await on_tmpfs(
        media_stack, tmpfs, 4 * 1024 * 1024, warn_percent=99.0, block_percent=100.0
    )
    filler = fill_to_percent(root, 99.5)
    result = await client.call("take_snapshot", {"device": "lab", "format": "png"})
    assert result["status"] == "FAILED", result
    assert result["error"]
    assert "/" not in result["error"]
    assert list((root / "snapshots").iterdir()) == []
    assert filler.exists()
