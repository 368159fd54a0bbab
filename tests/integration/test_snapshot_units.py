"""Snapshot parts without the service: FFmpeg argv builders (and what real FFmpeg makes
of them), the capture's process, the image stream splitter, names, the atomic writer, the
grabber rule."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, Settings
from camera_service.events import EventBus
from camera_service.media.ffmpeg import (
    CommandError,
    grabber_argv,
    image_output,
    jpeg_qscale,
    snapshot_device_argv,
    snapshot_stream_argv,
)
from camera_service.media.grabber import GrabberPool, redact, wants_grabber
from camera_service.media.imagestream import PNG_SIGNATURE, ImageSplitter
from camera_service.media.mediamtx.models import PathState
from camera_service.media.pathconf import reader_url
from camera_service.media.snapshots import (
    CaptureFailed,
    SnapshotService,
    candidates,
    default_name,
    failure_reason,
    resolve_name,
    write_new,
)
from camera_service.storage.disk import StorageLevel
from camera_service.storage.names import BadName
from camera_service.storage.probe import image_info
from tests.support.processes import dead, state, until
from tests.support.system import require
from tests.support.tmpfs import Tmpfs, write_file

URL = "rtsp://127.0.0.1:8554/lab"


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --- argv builders ---------------------------------------------------------------------------


def test_jpeg_quality_maps_linearly_onto_qscale() -> None:
    assert jpeg_qscale(100) == 2 and jpeg_qscale(1) == 31
    scales = [jpeg_qscale(q) for q in range(1, 101)]
    assert scales == sorted(scales, reverse=True)
    for bad in (0, 101, -5):
        with pytest.raises(CommandError):
            jpeg_qscale(bad)


def test_image_output_per_format() -> None:
    jpg = image_output("jpg", 85)
    assert after(jpg, "-c:v") == "mjpeg" and after(jpg, "-q:v") == str(jpeg_qscale(85))
    assert after(jpg, "-frames:v") == "1" and after(jpg, "-f") == "image2pipe" and jpg[-1] == "-"
    png = image_output("png", 10)
    assert after(png, "-c:v") == "png" and "-q:v" not in png  # lossless: quality unused
    assert "-frames:v" not in image_output("jpg", 85, frames=None)
    assert after(png, "-fps_mode") == "passthrough"
    assert after(jpg, "-threads") == "1"  # the encoder's: one picture at a time


def test_stream_snapshot_reads_only_keyframes_over_tcp() -> None:
    argv = snapshot_stream_argv("ffmpeg", URL, "jpg", 85, 7.5)
    assert argv[0] == "ffmpeg" and after(argv, "-i") == URL
    i = argv.index("-i")
    # Input options come before -i: they apply to the stream and its decoder.
    assert argv.index("-skip_frame") < i and after(argv, "-skip_frame") == "nokey"
    assert argv.index("-rtsp_transport") < i and after(argv, "-rtsp_transport") == "tcp"
    assert after(argv, "-timeout") == "7500000"  # microseconds
    assert after(argv, "-analyzeduration") == "1"  # 0 would mean FFmpeg's 5 s default
    assert after(argv, "-frames:v") == "1"
    assert after(snapshot_stream_argv("ffmpeg", URL, "png", 85, 5, "udp"), "-rtsp_transport") == (
        "udp"
    )
    for url in ("http://x/y", "/dev/video0", "-i"):
        with pytest.raises(CommandError):
            snapshot_stream_argv("ffmpeg", url, "jpg", 85, 5)
    with pytest.raises(CommandError):
        snapshot_stream_argv("ffmpeg", URL, "jpg", 85, 5, "http")


def test_device_snapshot_uses_the_probed_mode() -> None:
    argv = snapshot_device_argv("ffmpeg", Path("/dev/video2"), "YUYV", 1280, 720, "png", 85)
    assert after(argv, "-f") == "v4l2" and after(argv, "-input_format") == "yuyv422"
    assert after(argv, "-video_size") == "1280x720" and after(argv, "-i") == "/dev/video2"
    assert after(argv, "-frames:v") == "1" and after(argv, "-c:v") == "png"
    assert after(
        snapshot_device_argv("ffmpeg", Path("/dev/video0"), "MJPG", 640, 480, "jpg", 85),
        "-input_format",
    ) == ("mjpeg")
    for device, fourcc, w in (
        (Path("/etc/passwd"), "YUYV", 640),
        (Path("/dev/video0;rm"), "YUYV", 640),
        (Path("/dev/video0"), "WHAT", 640),
        (Path("/dev/video0"), "YUYV", 0),
    ):
        with pytest.raises(CommandError):
            snapshot_device_argv("ffmpeg", device, fourcc, w, 480, "jpg", 85)


def test_grabber_reads_every_keyframe() -> None:
    argv = grabber_argv("/opt/ffmpeg", URL, "jpg", 60, 10)
    assert argv[0] == "/opt/ffmpeg" and after(argv, "-skip_frame") == "nokey"
    assert "-frames:v" not in argv and after(argv, "-q:v") == str(jpeg_qscale(60))
    # The decoder's too (an input option): threads cost memory, one keyframe a second.
    assert argv.index("-threads") < argv.index("-i") and after(argv, "-threads") == "1"


def test_reader_url_uses_the_control_api_host() -> None:
    assert reader_url(MediaMtxConfig(rtsp_port=9554), "lab") == "rtsp://127.0.0.1:9554/lab"
    cfg = MediaMtxConfig(api_url="http://[::1]:9997")
    assert reader_url(cfg, "cam0") == "rtsp://[::1]:8554/cam0"


async def run(argv: list[str]) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of 320x180 H.264 at 10 fps with a keyframe every second: 3 keyframes."""
    require("ffmpeg")
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    argv = [
        "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10",
        "-t", "3", "-c:v", "libx264", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    asyncio.run(run(argv))
    return path


def with_file_input(argv: list[str], path: Path) -> list[str]:
    """The builder's argv with the RTSP input swapped for a file (same decoder options)."""
    i = argv.index("-i")
    start = argv.index("-fflags")
    return [*argv[:start], "-skip_frame", "nokey", "-i", str(path), *argv[i + 2 :]]


@pytest.mark.parametrize("fmt", ["jpg", "png"])
async def test_real_ffmpeg_makes_one_image_of_the_asked_format(clip: Path, fmt: str) -> None:
    argv = with_file_input(snapshot_stream_argv("ffmpeg", URL, fmt, 85, 5), clip)  # type: ignore[arg-type]
    out = await run(argv)
    info = image_info(lambda o, n: out[o : o + n])
    assert info is not None and (info.format, info.width, info.height) == (fmt, 320, 180)
    assert len(ImageSplitter().feed(out)) == 1


async def test_quality_changes_the_jpeg(clip: Path) -> None:
    low = await run(with_file_input(snapshot_stream_argv("ffmpeg", URL, "jpg", 10, 5), clip))
    high = await run(with_file_input(snapshot_stream_argv("ffmpeg", URL, "jpg", 95, 5), clip))
    assert len(low) < len(high)


@pytest.mark.parametrize("fmt", ["jpg", "png"])
async def test_grabber_output_splits_into_one_image_per_keyframe(clip: Path, fmt: str) -> None:
    out = await run(with_file_input(grabber_argv("ffmpeg", URL, fmt, 85, 5), clip))  # type: ignore[arg-type]
    whole = ImageSplitter().feed(out)
    assert len(whole) == 3 and b"".join(whole) == out
    rng = random.Random(5)
    splitter, pieces, i = ImageSplitter(), [], 0
    while i < len(out):
        n = rng.choice((1, 2, 3, 7, 100, 4096, 65536))
        pieces += splitter.feed(out[i : i + n])
        i += n
    assert pieces == whole and splitter.buffered == 0 and splitter.dropped == 0


# --- the capture's process -----------------------------------------------------------------------


class NoGrabbers:
    """No warm keyframes: every capture runs FFmpeg."""

    async def fresh_frame(self, camera_id: str, fmt: str, quality: int, max_age: float) -> None:
        return None

    @contextlib.contextmanager
    def capturing(self, camera_id: str) -> Iterator[None]:
        yield


class Reachable:
    reachable = True


def snapshot_service(tmp_path: Path, ffmpeg: Path, timeout: float) -> SnapshotService:
    settings = Settings(mediamtx={"ffmpeg": str(ffmpeg)}, snapshots={"timeout": timeout})
    bus = EventBus()
    cameras = CameraRegistry(bus)
    cameras.put(Camera("lab", SourceType.TEST, "lab", CameraStatus.CONNECTED))
    (tmp_path / "snapshots").mkdir()
    return SnapshotService(
        lambda: settings,
        cameras,
        bus,
        Reachable(),
        cast(GrabberPool, NoGrabbers()),
        tmp_path / "snapshots",
        lambda: StorageLevel.OK,
        lambda camera_id: None,
        lambda camera_id: None,
    )


async def test_a_capture_past_its_timeout_kills_ffmpeg_and_what_it_started(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    ffmpeg = tmp_path / "ffmpeg"  # hangs, with a process of its own holding the pipes
    ffmpeg.write_text(f'#!/bin/sh\nsleep 60 & echo $$ $! > "{pids}"; wait\n')
    ffmpeg.chmod(0o755)
    service = snapshot_service(tmp_path, ffmpeg, timeout=2.0)
    capture = await service.take("lab", None, "jpg", 85)
    assert capture.path is None and capture.error == "no image within 2 s"
    assert capture.source == "stream" and service.processes == 1 and service.in_flight == 0
    child, grandchild = (int(p) for p in pids.read_text().split())
    assert state(child) is None  # killed and reaped before take returned
    await until(lambda: dead(grandchild), 20)
    assert os.listdir(tmp_path / "snapshots") == []


async def test_a_capture_without_ffmpeg_fails_and_starts_nothing(tmp_path: Path) -> None:
    service = snapshot_service(tmp_path, tmp_path / "no-such-ffmpeg", timeout=10.0)
    with pytest.raises(CaptureFailed, match=r"^cannot run FFmpeg \(No such file or directory\)$"):
        await service.grab("lab", "jpg", 85)
    assert service.processes == 0 and service.in_flight == 0


# --- the splitter on crafted streams --------------------------------------------------------


def jpeg(payload: bytes, *, extra: bytes = b"") -> bytes:
    """A structurally valid JPEG: APP0, SOF0 (8x8), SOS, entropy data, EOI."""
    app0 = b"\xff\xe0" + (16).to_bytes(2, "big") + b"JFIF\x00" + bytes(9)
    sof = b"\xff\xc0" + (11).to_bytes(2, "big") + b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    sos = b"\xff\xda" + (8).to_bytes(2, "big") + b"\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + extra + sof + sos + payload + b"\xff\xd9"


def png(data: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + b"\0\0\0\0"

    ihdr = (8).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_jpeg_entropy_data_may_hold_stuffed_ff_and_restart_markers() -> None:
    # 0xFF 0x00 (stuffed), RST0..RST7, fill bytes before EOI and an EOI-looking pair
    # inside an APPn segment: none of them ends the image early.
    tricky = jpeg(
        b"\x12\xff\x00\x34\xff\xd0\x56\xff\xd7\x78\xff\xff", extra=b"\xff\xe1\x00\x04\xff\xd9"
    )
    other = jpeg(b"\x01\x02")
    assert ImageSplitter().feed(tricky + other) == [tricky, other]
    splitter = ImageSplitter()
    got = [img for b in tricky + other for img in splitter.feed(bytes([b]))]
    assert got == [tricky, other]


def test_png_and_jpeg_interleaved_with_garbage() -> None:
    a, b, c = png(b"\x00" * 300), jpeg(b"\x10" * 50), png(b"\xff\xd9" * 10)  # EOI inside PNG data
    stream = b"garbage" + a + b"\x00\x01junk" + b + c
    splitter = ImageSplitter()
    assert splitter.feed(stream) == [a, b, c]
    assert splitter.buffered == 0 and splitter.dropped >= 2


def test_truncated_jpeg_is_dropped_at_the_next_start() -> None:
    whole = jpeg(b"\x10" * 40)
    cut = whole[:30]
    splitter = ImageSplitter()
    assert splitter.feed(cut + whole) == [whole]
    assert splitter.dropped >= 1


def test_partial_signature_waits_for_more_bytes() -> None:
    image = png(b"abc")
    splitter = ImageSplitter()
    assert splitter.feed(b"xx" + image[:3]) == []
    assert splitter.feed(image[3:]) == [image]


def test_memory_is_bounded() -> None:
    splitter = ImageSplitter(max_bytes=1000)
    big = jpeg(b"\x10" * 5000)
    small = jpeg(b"\x20" * 10)
    out: list[bytes] = []
    for i in range(0, len(big), 100):
        out += splitter.feed(big[i : i + 100])
        assert splitter.buffered <= 1100
    out += splitter.feed(small)
    assert out == [small] and splitter.dropped >= 1
    # A PNG chunk that claims more than the limit is refused at once.
    liar = PNG_SIGNATURE + (10**9).to_bytes(4, "big") + b"IDAT"
    splitter = ImageSplitter(max_bytes=1000)
    assert splitter.feed(liar + small) == [small]


# --- names -----------------------------------------------------------------------------------


def test_resolve_name() -> None:
    assert resolve_name(None, None, "png") == (None, "png")
    assert resolve_name(None, "jpg", "png") == (None, "jpg")
    assert resolve_name("door", None, "jpg") == ("door.jpg", "jpg")
    assert resolve_name("door", "png", "jpg") == ("door.png", "png")
    assert resolve_name("door.v2", None, "jpg") == ("door.v2.jpg", "jpg")
    assert resolve_name("door.png", None, "jpg") == ("door.png", "png")  # the name decides
    assert resolve_name("door.JPEG", "jpg", "png") == ("door.JPEG", "jpg")
    with pytest.raises(BadName, match="extension"):
        resolve_name("door.png", "jpg", "jpg")
    for bad in ("../x", "a/b", ".hidden", "x\x00", "%2e", "a" * 252):  # 252 + ".jpg" > 255
        with pytest.raises(BadName):
            resolve_name(bad, None, "jpg")


def test_default_name_is_utc() -> None:
    when = 1736951400.7  # 2025-01-15 14:30:00.7 UTC
    assert default_name("lab", when, "jpg") == "lab_snapshot_2025-01-15_14-30-00.jpg"
    assert default_name("camera0", when, "png") == "camera0_snapshot_2025-01-15_14-30-00.png"


def test_candidates_append_a_counter_and_stay_within_name_max() -> None:
    got = list(candidates("a.jpg"))
    assert got[:3] == ["a.jpg", "a_1.jpg", "a_2.jpg"] and got[-1] == "a_999.jpg"
    long = "b" * 249 + ".jpg"  # 253 bytes: "_1" fits, "_10" does not
    assert list(candidates(long)) == [long] + [f"{'b' * 249}_{n}.jpg" for n in range(1, 10)]


# --- the writer --------------------------------------------------------------------------------


def test_write_new_never_overwrites_and_leaves_no_temp(tmp_path: Path) -> None:
    assert write_new(tmp_path, "s.jpg", b"one") == "s.jpg"
    assert write_new(tmp_path, "s.jpg", b"two") == "s_1.jpg"
    (tmp_path / "s_2.jpg").write_bytes(b"someone else's")
    assert write_new(tmp_path, "s.jpg", b"three") == "s_3.jpg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jpg", "s_1.jpg", "s_2.jpg", "s_3.jpg"]
    assert [(tmp_path / n).read_bytes() for n in ("s.jpg", "s_1.jpg", "s_2.jpg", "s_3.jpg")] == [
        b"one",
        b"two",
        b"someone else's",
        b"three",
    ]


def test_write_new_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    media, outside = tmp_path / "media", tmp_path / "outside.txt"
    media.mkdir()
    outside.write_bytes(b"precious")
    (media / "s.jpg").symlink_to(outside)
    (media / "d.jpg").symlink_to(tmp_path / "dangling")
    assert write_new(media, "s.jpg", b"img") == "s_1.jpg"
    assert write_new(media, "d.jpg", b"img") == "d_1.jpg"
    assert outside.read_bytes() == b"precious" and not (tmp_path / "dangling").exists()


def test_write_new_gives_up_when_every_name_is_taken(tmp_path: Path) -> None:
    for name in candidates("x.jpg"):
        (tmp_path / name).touch()
    with pytest.raises(CaptureFailed, match="taken"):
        write_new(tmp_path, "x.jpg", b"img")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_new_on_a_full_disk_leaves_nothing(tmpfs: Tmpfs) -> None:
    media = tmpfs(256 * 1024)
    write_file(media / "filler.bin", 256 * 1024 - 8192)  # a couple of pages left
    before = sorted(p.name for p in media.iterdir())
    with pytest.raises(OSError, match=os.strerror(errno.ENOSPC)) as caught:
        write_new(media, "big.jpg", os.urandom(200 * 1024))
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in media.iterdir()) == before


# --- FFmpeg's words, the grabber rule ------------------------------------------------------------


def test_failure_reasons_never_quote_ffmpeg() -> None:
    stderr = (
        "[video4linux2,v4l2 @ 0x1] Cannot open video device /dev/video0: Device or resource busy"
    )
    assert failure_reason(stderr, 1) == "the camera device is busy (another program is using it)"
    secret = "rtsp://user:pw@10.0.0.5/x: 404 Not Found"
    assert failure_reason(secret, 1) == "the stream is not available"
    assert failure_reason("", 0) == "the stream ended before a keyframe arrived"
    other = failure_reason("/var/lib/x: weird", 183)
    assert other == "capture failed (FFmpeg exit status 183)" and "/" not in other
    assert redact("rtsp://user:pw@10.0.0.5/x: 401") == "rtsp://***@10.0.0.5/x: 401"


def rule(**kw: object) -> bool:
    base: dict[str, object] = {
        "warm": False,
        "when_watched": True,
        "connected": True,
        "reachable": True,
        "state": PathState("lab", available=True, readers=0),
        "running": False,
        "attached": False,
        "settled": True,
        "ours": 0,
    }
    base.update(kw)
    return wants_grabber(**base)  # type: ignore[arg-type]


def test_grabber_rule() -> None:
    watched = PathState("lab", available=True, readers=1)
    # warm cameras always, while connected; even with MediaMTX away
    assert rule(warm=True) and rule(warm=True, reachable=False, state=None)
    assert not rule(warm=True, connected=False)
    # others watching: attach; only ourselves: detach
    assert rule(state=watched)
    assert not rule(state=watched, running=True, attached=True)
    assert rule(state=PathState("lab", available=True, readers=2), running=True, attached=True)
    # our own readers (one-shot captures, recording holders) are not viewers
    assert not rule(state=watched, ours=1)
    # reader counts that may predate our last change are not judged
    assert rule(state=PathState("lab", readers=0), running=True, attached=True, settled=False)
    assert not rule(state=watched, settled=False)
    # connecting: worth it while the stream is up, not to a stream that is gone
    assert rule(state=watched, running=True)
    assert not rule(state=PathState("lab", available=False, readers=1), running=True)
    # switched off, MediaMTX away, no path: none
    assert not rule(state=watched, when_watched=False)
    assert not rule(state=watched, reachable=False)
    assert not rule(state=None)
