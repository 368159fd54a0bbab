"""The MediaMTX double's recorder: ``record`` on a path writes real segments with FFmpeg.

Real processes throughout: the relay, an FFmpeg test-pattern runOnDemand publisher, the
FFmpeg recorder, ``sh`` segment hooks, ffprobe on the files.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.integration.test_mediamtx_dataplane import PUBLISH, media, rtsp_request
from tests.support.mediamtx.dataplane import DataPlane
from tests.support.mediamtx.double import decode_segment_path, go_time
from tests.support.mediamtx.recorder import Recorder, Segment, go_seconds
from tests.support.processes import run

if TYPE_CHECKING:
    from tests.support.mediamtx.fixtures import MediaMtxFactory

pytest_plugins = ("tests.support.mediamtx.fixtures",)


def hook(tag: str, log_file: Path | str, *variables: str) -> str:
    # MediaMTX expands $VARS itself (the double too), so sh gets the values in its script.
    return f"sh -c 'echo {tag} {' '.join('$' + v for v in variables)} >> {log_file}'"


def hook_lines(log_file: Path, tag: str) -> list[list[str]]:
    lines = log_file.read_text().splitlines() if log_file.exists() else []
    return [line.split()[1:] for line in lines if line.startswith(tag + " ")]


async def probe_file(path: Path) -> dict[str, Any]:
    code, out, err = await run(
        "ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_name",
        "-of", "json", str(path),
    )  # fmt: skip
    assert code == 0, err
    info: dict[str, Any] = json.loads(out)
    return info


async def assert_playable(path: Path, format_name: str) -> None:
    info = await probe_file(path)
    assert format_name in info["format"]["format_name"]
    assert float(info["format"]["duration"]) > 0
    assert [s["codec_name"] for s in info["streams"]] == ["h264"]


def assert_contiguous(segments: list[Segment]) -> None:
    # Each segment starts where the previous one ended, as MediaMTX's do.
    for prev, nxt in itertools.pairwise(segments):
        assert prev.duration is not None
        assert abs((nxt.start - prev.start).total_seconds() - prev.duration) < 0.001


# -- pure helpers


def test_durations_are_formatted_like_go_format_float() -> None:
    assert [go_seconds(x) for x in (2.0, 2.5, 0.133333, 1e-7, 0.0)] == [
        "2",
        "2.5",
        "0.133333",
        "0.0000001",
        "0",
    ]


def test_ffmpeg_segmenter_follows_the_record_conf(tmp_path: Path) -> None:
    fmp4 = Recorder(
        path_name="cam",
        conf={"recordPath": "rec/%path/%s", "recordSegmentDuration": "1m0s"},
        url="rtsp://127.0.0.1:1/cam",
        work_dir=tmp_path,
    )
    argv = fmp4.argv()
    assert argv[argv.index("-segment_time") + 1] == "60.000000"
    assert argv[argv.index("-segment_format") + 1] == "mp4"
    assert "empty_moov" in argv[argv.index("-segment_format_options") + 1]
    assert argv[-1].startswith(f"{tmp_path}/rec/cam/.mtxrec-") and argv[-1].endswith(".mp4")
    ts = Recorder(
        path_name="cam",
        conf={"recordPath": "/r/%path_%s", "recordFormat": "mpegts", "recordSegmentDuration": "1d"},
        url="rtsp://127.0.0.1:1/cam",
    )
    argv = ts.argv()
    assert argv[argv.index("-segment_time") + 1] == "86400.000000"
    assert argv[argv.index("-segment_format") + 1] == "mpegts"
    assert argv[-1].startswith("/r/.mtxrec-") and argv[-1].endswith(".ts")


# -- recording through the double


@media
async def test_patching_record_on_and_off_writes_finalized_segments(
    mediamtx_factory: MediaMtxFactory, tmp_path: Path
) -> None:
    rec_dir, log_file = tmp_path / "recordings", tmp_path / "hooks.log"
    record_path = f"{rec_dir}/%path_%Y-%m-%d_%H-%M-%S-%f"  # flat, as the service sets it
    conf = {
        "runOnDemand": PUBLISH,
        "runOnDemandCloseAfter": "30s",
        "recordPath": record_path,
        "recordSegmentDuration": "1s",
        "runOnRecordSegmentCreate": hook(
            "create", log_file, "MTX_PATH", "MTX_SEGMENT_PATH", "RTSP_PORT"
        ),
        "runOnRecordSegmentComplete": hook(
            "complete", log_file, "MTX_PATH", "MTX_SEGMENT_PATH", "MTX_SEGMENT_DURATION"
        ),
    }
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0, work_dir=tmp_path) as plane:
        mtx = await mediamtx_factory(work_dir=tmp_path, data_plane=plane)
        async with aiohttp.ClientSession(mtx.api_url) as http:
            async with http.post("/v3/config/paths/add/cam1", json=conf) as resp:
                assert resp.status == 200
            assert (await rtsp_request(plane.rtsp_port, "DESCRIBE", "cam1"))[0] == 200
            assert not plane.recording("cam1")  # the stream is up, record is off
            port = str(plane.rtsp_port)
            began = datetime.now().astimezone()

            async with http.patch("/v3/config/paths/patch/cam1", json={"record": True}) as resp:
                assert resp.status == 200
            assert plane.recording("cam1")
            await plane.wait_segments("cam1", 2, 10)
            state = plane.path_state("cam1")
            assert state is not None and state["ready"] and state["readers"] == []

            async with http.patch("/v3/config/paths/patch/cam1", json={"record": False}) as resp:
                assert resp.status == 200
            assert not plane.recording("cam1")
            segments = await plane.wait_recording_done("cam1", 10)

            async with http.get("/v3/recordings/list") as resp:
                listing = await resp.json()
            async with http.get("/v3/recordings/get/cam1") as resp:
                recording = await resp.json()

    files = [seg.file for seg in segments]
    assert len(files) >= 2 and files == plane.segments("cam1")
    assert sorted(rec_dir.iterdir()) == sorted(files)  # no hidden leftovers
    name_re = re.compile(r"^cam1_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}\.mp4$")
    for seg in segments:
        assert name_re.match(seg.file.name), seg.file
        assert seg.name == str(seg.file)  # absolute recordPath: reported as it is
        decoded = decode_segment_path(record_path.replace("%path", "cam1") + ".mp4", seg.name)
        assert decoded is not None and decoded[1] == seg.start
        assert began <= seg.start <= datetime.now().astimezone()  # never in the future
    assert_contiguous(segments)
    await assert_playable(files[-1], "mp4")  # the one cut short by record: false

    assert hook_lines(log_file, "create") == [["cam1", seg.name, port] for seg in segments]
    completes = hook_lines(log_file, "complete")
    assert sorted(completes) == sorted(
        ["cam1", seg.name, go_seconds(seg.duration or 0)] for seg in segments
    )
    assert all(float(duration) > 0 for _, _, duration in completes)

    starts = [{"start": go_time(seg.start)} for seg in segments]
    assert listing["items"] == [{"name": "cam1", "segments": starts}]
    assert recording == {"name": "cam1", "segments": starts}


@media
async def test_on_demand_path_records_only_while_its_stream_is_up(
    mediamtx_factory: MediaMtxFactory, tmp_path: Path
) -> None:
    # As MediaMTX: the recorder is not a reader, so record: true neither starts a
    # runOnDemand publisher nor keeps it running.
    async with DataPlane(restart_pause=0.2, stop_timeout=3.0, work_dir=tmp_path) as plane:
        mtx = await mediamtx_factory(work_dir=tmp_path, data_plane=plane)
        await mtx.add_path(
            "cam2",
            {
                "runOnDemand": PUBLISH,
                "runOnDemandCloseAfter": "3s",
                "record": True,  # default recordPath: ./recordings/%path/...
                "recordFormat": "mpegts",
                "recordSegmentDuration": "1s",
                "runOnRecordSegmentComplete": hook(
                    "complete", "hooks.log", "MTX_SEGMENT_PATH", "MTX_SEGMENT_DURATION"
                ),
            },
        )
        assert not plane.recording("cam2") and plane.publisher_process("cam2") is None

        assert (await rtsp_request(plane.rtsp_port, "DESCRIBE", "cam2"))[0] == 200
        assert plane.recording("cam2")  # started as the stream became available

        await plane.wait_state("cam2", lambda s: not s["ready"], 10)
        segments = await plane.wait_recording_done("cam2", 10)
        assert not plane.recording("cam2") and plane.publisher_process("cam2") is None
        async with (
            aiohttp.ClientSession(mtx.api_url) as http,
            http.get("/v3/recordings/get/cam2") as resp,
        ):
            recording = await resp.json()

    assert segments and all(seg.duration for seg in segments)
    for seg in segments:
        # Relative recordPath: written under work_dir, reported relative, as MediaMTX does.
        assert seg.name.startswith("./recordings/cam2/") and seg.name.endswith(".ts")
        assert seg.file == tmp_path / "recordings" / "cam2" / Path(seg.name).name
    assert sorted(hook_lines(tmp_path / "hooks.log", "complete")) == sorted(
        [seg.name, go_seconds(seg.duration or 0)] for seg in segments
    )
    await assert_playable(segments[-1].file, "mpegts")
    assert recording["segments"] == [{"start": go_time(seg.start)} for seg in segments]


@media
async def test_opt_in_demand_removal_and_shutdown_finalize(tmp_path: Path) -> None:
    log_file = tmp_path / "hooks.log"
    conf = {
        "runOnDemand": PUBLISH,
        "record": True,
        "recordPath": f"{tmp_path}/%path/%Y-%m-%d_%H-%M-%S-%f",
        "recordSegmentDuration": "1m0s",
        "runOnRecordSegmentComplete": hook(
            "complete", log_file, "MTX_PATH", "MTX_SEGMENT_PATH", "MTX_SEGMENT_DURATION"
        ),
    }
    async with DataPlane(
        restart_pause=0.2, stop_timeout=3.0, work_dir=tmp_path, record_demands_stream=True
    ) as plane:
        plane.path_configured("a", conf)
        plane.path_configured("b", conf)
        # Opted in: the recorder is an ordinary reader and brings the stream up itself.
        await plane.wait_publisher_process("a", 5)
        [seg_a] = await plane.wait_segments("a", 1, 10)
        [seg_b] = await plane.wait_segments("b", 1, 10)
        state = plane.path_state("a")
        assert state is not None and len(state["readers"]) == 1

        plane.path_removed("a")
        await plane.wait_recording_done("a", 10)
        assert [fields[0] for fields in hook_lines(log_file, "complete")] == ["a"]
        assert plane.recording("b")
    # Stopping the data plane finalizes b's segment and waits for its hook.
    completes = hook_lines(log_file, "complete")
    assert sorted(completes) == sorted(
        [seg.path_name, seg.name, go_seconds(seg.duration or 0)] for seg in (seg_a, seg_b)
    )
    for seg in (seg_a, seg_b):
        assert seg.duration and seg.duration > 0
        await assert_playable(seg.file, "mp4")
