"""V4l2Prober against the fake v4l2-ctl: success, unplug mid-probe, timeout, retries."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from camera_service.cameras.v4l2.probe import ProbeError, V4l2Prober
from tests.support.processes import faults_after
from tests.support.v4l2tree import FakeV4l2Tree


@pytest.fixture
def tree(tmp_path: Path) -> FakeV4l2Tree:
    t = FakeV4l2Tree(tmp_path / "root")
    t.add_camera(0, "HD Pro Webcam C920", "046d", "082d", serial="8E5F3C2A", port="1-1")
    t.add_metadata_node(1, of_port="1-1")
    return t


def prober(tree: FakeV4l2Tree, timeout: float = 20.0, retries: int = 0) -> V4l2Prober:
    return V4l2Prober(str(tree.v4l2_ctl), timeout, retries, backoff=0.01)


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped: no process, not even a zombie


async def test_info_and_formats(tree: FakeV4l2Tree) -> None:
    p = prober(tree)
    info = await p.info(tree.device_root / "video0")
    assert info.driver == "uvcvideo" and info.card == "HD Pro Webcam C920"
    assert info.is_capture and not info.is_metadata
    caps = await p.formats(tree.device_root / "video0")
    assert caps.formats == ["YUYV", "H264", "MJPG"]
    meta = await p.info(tree.device_root / "video1")
    assert meta.is_metadata and not meta.is_capture
    assert (await p.formats(tree.device_root / "video1")).formats == []
    assert len(tree.calls(0)) == 2 and len(tree.calls(1)) == 2


async def test_fake_reports_a_missing_node_like_v4l2_ctl(tree: FakeV4l2Tree) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(tree.v4l2_ctl),
        "-d",
        str(tree.device_root / "video9"),
        "--info",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1 and out == b""
    assert err.decode() == f"Cannot open device {tree.device_root / 'video9'}, exiting.\n"


async def test_missing_node_is_unplugged_without_running(tree: FakeV4l2Tree) -> None:
    tree.remove(0)
    with pytest.raises(ProbeError) as caught:
        await prober(tree, retries=3).info(tree.device_root / "video0")
    assert caught.value.kind == "unplugged"
    assert tree.calls(0) == []


@pytest.mark.parametrize("what", ["info", "formats"])
async def test_unplug_during_probe(tree: FakeV4l2Tree, what: str) -> None:
    tree.set_probe(0, delay=30)
    p = prober(tree, retries=3)
    device = tree.device_root / "video0"
    async with tree.probe_started(0) as started:
        task = asyncio.create_task(p.info(device) if what == "info" else p.formats(device))
        await asyncio.wait_for(started, 10)
        tree.remove(0)
        with pytest.raises(ProbeError) as caught:
            await asyncio.wait_for(task, 10)
    # --list-formats-ext exits 0 with a bare header when the node goes: still an unplug.
    assert caught.value.kind == "unplugged"
    assert len(tree.calls(0)) == 1  # no retry after an unplug


async def test_timeout_kills_the_process(tree: FakeV4l2Tree) -> None:
    tree.set_probe(0, delay=60)
    p = prober(tree, timeout=0.3, retries=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(ProbeError) as caught:
        await p.formats(tree.device_root / "video0")
    assert caught.value.kind == "timeout"
    assert loop.time() - began < 10  # nowhere near the fake's 60 s hold
    pids = tree.calls(0)
    assert len(pids) == 2  # first try + one retry
    assert_gone(pids)


async def test_cancel_kills_the_process(tree: FakeV4l2Tree) -> None:
    tree.set_probe(0, delay=60)
    async with tree.probe_started(0) as started:
        task = asyncio.create_task(prober(tree).info(tree.device_root / "video0"))
        await asyncio.wait_for(started, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert_gone(tree.calls(0))


async def test_retries_then_succeeds(tree: FakeV4l2Tree) -> None:
    tree.set_probe(0, fail_times=2)
    info = await prober(tree, retries=3).info(tree.device_root / "video0")
    assert info.is_capture
    assert len(tree.calls(0)) == 3


async def test_retries_exhausted(tree: FakeV4l2Tree) -> None:
    tree.set_probe(0, fail_times=10)
    with pytest.raises(ProbeError) as caught:
        await prober(tree, retries=2).formats(tree.device_root / "video0")
    assert caught.value.kind == "failed"
    assert "not a v4l2 node" in caught.value.message
    assert len(tree.calls(0)) == 3


async def test_unparsable_output_is_not_retried(tree: FakeV4l2Tree) -> None:
    tree.add_camera(4, "odd", "1234", "5678", port="1-3", info_fixture="meta_formats.txt")
    with pytest.raises(ProbeError) as caught:
        await prober(tree, retries=3).info(tree.device_root / "video4")
    assert caught.value.kind == "failed" and not caught.value.retryable
    assert len(tree.calls(4)) == 1


async def test_missing_executable(tree: FakeV4l2Tree, tmp_path: Path) -> None:
    p = V4l2Prober(str(tmp_path / "no-such-v4l2-ctl"), 5.0, 3, backoff=10.0)
    with pytest.raises(ProbeError) as caught:
        await asyncio.wait_for(p.info(tree.device_root / "video0"), 5)
    assert caught.value.kind == "failed" and "cannot run" in caught.value.message


async def test_device_argument_is_never_shell_parsed(
    tree: FakeV4l2Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node name full of shell syntax reaches v4l2-ctl as one argument.
    monkeypatch.chdir(tmp_path)  # where a shell would have created the marker
    odd = tree.device_root / "video0; touch pwned"
    odd.touch()
    with pytest.raises(ProbeError) as caught:
        await prober(tree).info(odd)
    assert caught.value.kind == "failed" and "not a v4l2 node" in caught.value.message
    assert not (tmp_path / "pwned").exists()


def test_a_probe_leaves_the_service_s_pages_as_they_were(tree: FakeV4l2Tree) -> None:
    """Under uvloop, as the service runs: starting v4l2-ctl must not fork this process,
    or every page it writes next (a fan-out to every client after a hot-plug) takes a
    copy-on-write page fault first."""
    assert faults_after(lambda: prober(tree).info(tree.device_root / "video0")) < 200
