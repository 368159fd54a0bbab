"""get_camera_status and get_camera_list as the service encodes them: the cached parts
give the same bytes as the reply built field by field, and every change of a camera, of
the stream settings or of a recording shows in the next call."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, cast

import orjson
import pytest

from camera_service.api.context import ApiContext, Components
from camera_service.api.jsonrpc import result_reply
from camera_service.api.methods import cameras as camera_methods
from camera_service.api.methodtable import Call, MethodTable
from camera_service.api.session import Session
from camera_service.api.wire import camera_fields, recording_ended, stream_urls
from camera_service.auth.identity import Identity, Role
from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.cameras.registry import CameraRegistry
from camera_service.config import MediaMtxConfig, Settings
from camera_service.events import EventBus
from camera_service.record.events import RecordingEnded
from camera_service.record.recording import Reason, Recording


class Media:
    def __init__(self) -> None:
        self.figures: dict[str, dict[str, Any]] = {}

    def stream_metrics(self, camera_id: str) -> dict[str, Any]:
        return self.figures.get(camera_id, {})


class Recordings:
    def __init__(self) -> None:
        self.active: dict[str, Recording] = {}
        self.last: dict[str, RecordingEnded] = {}


class Service:
    """The camera methods over a registry, with settings, stream metrics and recordings
    a test can change (the parts of Components the camera methods use)."""

    def __init__(self) -> None:
        self.cameras = CameraRegistry(EventBus())
        self.settings = Settings()
        self.media = Media()
        self.recordings = Recordings()
        self.metrics = self.media.figures
        self.recording = self.recordings.active
        self.ctx = ApiContext()
        self.ctx.bind(cast(Components, self))  # as an assembly that builds the table first
        self.methods = MethodTable(camera_methods.METHODS, self.ctx)

    @property
    def cfg(self) -> MediaMtxConfig:
        return self.settings.mediamtx

    @cfg.setter
    def cfg(self, cfg: MediaMtxConfig) -> None:  # a reload: a new settings object
        self.settings = self.settings.model_copy(update={"mediamtx": cfg})

    def call(
        self, method: str, params: dict[str, Any], host: str, cameras: tuple[str, ...] | None = None
    ) -> bytes:
        """As the dispatcher calls it, for a viewer limited to ``cameras`` (None: all)."""
        spec = self.methods.get(method)
        assert spec is not None
        session = Session(1_000_000, host)
        session.authenticate(Identity("viewer", Role.VIEWER, "jwt", None, cameras=cameras))
        call = Call(spec.validate(params), session, self.ctx)
        unseen = spec.unseen(call)
        return result_reply(1, unseen() if unseen is not None else spec.handler(call))

    def status(self, device: str, host: str = "127.0.0.1") -> bytes:
        return self.call("get_camera_status", {"device": device}, host)

    def expected(self, camera_id: str, host: str = "127.0.0.1") -> bytes:
        """The reply as get_camera_status built it before it was cached, key by key."""
        camera = self.cameras.get(camera_id)
        assert camera is not None
        result = dict(camera_fields(camera, stream_urls(camera_id, host, self.cfg)))
        uptime = (
            time.time() - camera.connected_at if camera.connected and camera.connected_at else 0
        )
        result["metrics"] = {
            "bytes_sent": 0,
            "readers": 0,
            "uptime": round(uptime, 1),
            **self.metrics.get(camera_id, {}),
        }
        result["capabilities"] = {"formats": camera.formats, "resolutions": camera.resolutions}
        result["recording_session"] = None
        result["current_file"] = None
        result["elapsed_time"] = None
        result["recording_state"] = None
        result["recording_reason"] = None
        result["resumed_at"] = None
        result["last_recording"] = None
        result["recording_duration"] = None
        recording = self.recording.get(camera_id)
        if recording is not None:
            result["recording_session"] = recording.session_id
            result["current_file"] = recording.current_file
            result["elapsed_time"] = round(recording.elapsed(time.time()), 1)
            result["recording_state"] = recording.state.value
            result["recording_duration"] = recording.duration
        last = self.recordings.last.get(camera_id)
        if last is not None:
            result["last_recording"] = recording_ended(last)
        return result_reply(1, result)


def recording(camera_id: str, session_id: str, current_file: str, elapsed: float) -> Recording:
    """A recording of ``elapsed`` seconds so far (pinned: its end is set)."""
    now = time.time()
    return Recording(
        session_id,
        camera_id,
        camera_id,
        "mp4",
        None,
        now - elapsed,
        current_file,
        began=now - elapsed,
        ended_at=now,
    )


def lab(camera_id: str = "lab", **changes: Any) -> Camera:
    fields: dict[str, Any] = {
        "status": CameraStatus.CONNECTED,
        "resolution": "640x360",
        "fps": 15,
        "formats": ["H264"],
        "resolutions": ["640x360", "1280x720"],
    }
    fields.update(changes)
    return Camera(camera_id, SourceType.TEST, camera_id, **fields)


@pytest.mark.parametrize("host", ["127.0.0.1", "cams.example", "::1", ""])
def test_status_bytes_equal_the_reply_built_field_by_field(host: str) -> None:
    svc = Service()
    svc.cameras.put(lab())
    svc.cameras.put(lab("gone", status=CameraStatus.DISCONNECTED))
    svc.cameras.put(Camera("camera3", SourceType.USB, "usb cam", CameraStatus.CONNECTED))
    svc.metrics["lab"] = {"bytes_sent": 1234, "readers": 2}
    for device, camera_id in [("lab", "lab"), ("gone", "gone"), ("/dev/video3", "camera3")]:
        first = svc.status(device, host)
        assert first == svc.expected(camera_id, host)
        assert svc.status(device, host) == first  # from the cache: the same bytes


def test_every_camera_change_shows_in_the_next_status() -> None:
    svc = Service()
    svc.cameras.put(lab())
    svc.status("lab")  # cached now
    svc.cameras.update("lab", name="gate", resolution="1280x720", fps=30)
    status = orjson.loads(svc.status("lab"))["result"]
    assert (status["name"], status["resolution"], status["fps"]) == ("gate", "1280x720", 30)
    assert svc.status("lab") == svc.expected("lab")

    svc.cameras.update("lab", formats=["H264", "MJPEG"], resolutions=["320x240"])
    status = orjson.loads(svc.status("lab"))["result"]
    assert status["capabilities"] == {"formats": ["H264", "MJPEG"], "resolutions": ["320x240"]}

    svc.cameras.update("lab", status=CameraStatus.DISCONNECTED)
    status = orjson.loads(svc.status("lab"))["result"]
    assert status["status"] == "DISCONNECTED" and status["streams"] == {}
    assert svc.status("lab") == svc.expected("lab")

    svc.cameras.remove("lab")
    status = orjson.loads(svc.status("lab"))["result"]
    assert status["status"] == "DISCONNECTED" and status["source_type"] == "rtsp"


def test_a_settings_reload_shows_in_the_next_status() -> None:
    svc = Service()
    svc.cameras.put(lab())
    before = orjson.loads(svc.status("lab"))["result"]["streams"]["rtsp"]
    svc.cfg = MediaMtxConfig.model_validate({"rtsp_port": 9554, "public_host": "cams.example"})
    after = orjson.loads(svc.status("lab"))["result"]["streams"]["rtsp"]
    assert (before, after) == ("rtsp://127.0.0.1:8554/lab", "rtsp://cams.example:9554/lab")


def test_each_client_host_gets_its_own_urls() -> None:
    svc = Service()
    svc.cameras.put(lab())
    a = orjson.loads(svc.status("lab", "10.0.0.1"))["result"]["streams"]["hls"]
    b = orjson.loads(svc.status("lab", "10.0.0.2"))["result"]["streams"]["hls"]
    assert (a, b) == ("http://10.0.0.1:8888/lab/index.m3u8", "http://10.0.0.2:8888/lab/index.m3u8")


def test_metrics_and_recording_are_read_on_every_call() -> None:
    svc = Service()
    svc.cameras.put(lab(connected_at=time.time() - 5))
    first = orjson.loads(svc.status("lab"))["result"]
    assert first["metrics"]["readers"] == 0 and 5.0 <= first["metrics"]["uptime"] < 60
    assert first["recording_session"] is None and first["recording"] is False

    svc.metrics["lab"] = {"bytes_sent": 99, "readers": 3}
    svc.recording["lab"] = recording("lab", "s1", "a.mp4", elapsed=1.5)
    svc.cameras.update("lab", recording=True)
    now = orjson.loads(svc.status("lab"))["result"]
    assert now["metrics"]["bytes_sent"] == 99 and now["metrics"]["readers"] == 3
    assert (now["recording"], now["recording_session"], now["current_file"]) == (
        True,
        "s1",
        "a.mp4",
    )
    assert now["elapsed_time"] == 1.5

    assert now["recording_state"] == "recording" and now["last_recording"] is None
    assert svc.status("lab") == svc.expected("lab")

    ended = svc.recording.pop("lab")
    svc.recordings.last["lab"] = RecordingEnded.of(ended, Reason.REQUESTED, 4096)
    svc.cameras.update("lab", recording=False)
    done = orjson.loads(svc.status("lab"))["result"]
    assert done["recording"] is False and done["recording_session"] is None
    assert done["metrics"]["bytes_sent"] == 99
    # How the last one ended, for a client that was not there to hear it.
    assert done["last_recording"]["session_id"] == "s1"
    assert done["last_recording"]["status"] == "STOPPED"
    assert svc.status("lab") == svc.expected("lab")


def test_a_running_recording_gives_the_duration_it_was_asked_for() -> None:
    svc = Service()
    svc.cameras.put(lab(connected_at=time.time() - 5))
    assert orjson.loads(svc.status("lab"))["result"]["recording_duration"] is None
    running = recording("lab", "s1", "a.mp4", elapsed=1.0)
    svc.recording["lab"] = dataclasses.replace(running, duration=30.0)
    svc.cameras.update("lab", recording=True)
    assert orjson.loads(svc.status("lab"))["result"]["recording_duration"] == 30.0
    assert svc.status("lab") == svc.expected("lab")
    svc.recording["lab"] = running  # until stopped
    assert orjson.loads(svc.status("lab"))["result"]["recording_duration"] is None
    assert svc.status("lab") == svc.expected("lab")


def test_the_list_follows_camera_changes_settings_and_hosts() -> None:
    svc = Service()
    svc.cameras.put(lab())

    def listed(host: str = "127.0.0.1") -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(svc.call("get_camera_list", {}, host))["result"]
        return result

    assert listed()["cameras"][0]["streams"]["rtsp"] == "rtsp://127.0.0.1:8554/lab"
    assert listed("10.0.0.2")["cameras"][0]["streams"]["rtsp"] == "rtsp://10.0.0.2:8554/lab"
    svc.cameras.put(lab("zoo", status=CameraStatus.DISCONNECTED))
    assert (listed()["total"], listed()["connected"]) == (2, 1)
    svc.cfg = MediaMtxConfig.model_validate({"rtsp_port": 9554})
    assert listed()["cameras"][0]["streams"]["rtsp"] == "rtsp://127.0.0.1:9554/lab"


def test_a_limited_viewer_lists_and_counts_only_its_cameras() -> None:
    svc = Service()
    svc.cameras.put(lab())
    svc.cameras.put(lab("door-1"))
    svc.cameras.put(lab("door-2", status=CameraStatus.DISCONNECTED))

    def listed(cameras: tuple[str, ...] | None) -> tuple[list[str], int, int]:
        result = orjson.loads(svc.call("get_camera_list", {}, "127.0.0.1", cameras))["result"]
        return [c["camera_id"] for c in result["cameras"]], result["total"], result["connected"]

    # Each scope its own cached list: asking in one order and back gives the same.
    for _ in range(2):
        assert listed(None) == (["door-1", "door-2", "lab"], 3, 2)
        assert listed(("door-*",)) == (["door-1", "door-2"], 2, 1)
        assert listed(("lab", "gate")) == (["lab"], 1, 1)
        assert listed(()) == ([], 0, 0)


def test_a_camera_outside_the_scope_is_answered_as_one_that_does_not_exist() -> None:
    svc = Service()
    svc.cameras.put(lab())
    svc.recording["lab"] = recording("lab", "s1", "a.mp4", elapsed=1.5)
    svc.cameras.update("lab", recording=True)
    limited = ("door-*",)
    for method in ("get_camera_status", "get_camera_capabilities"):
        hidden = svc.call(method, {"device": "lab"}, "127.0.0.1", limited)
        # "nocam" is a well-formed id no camera has; its reply, with the id swapped.
        missing = svc.call(method, {"device": "nocam"}, "127.0.0.1", limited)
        assert hidden == missing.replace(b'"nocam"', b'"lab"'), method
        assert b"s1" not in hidden
        seen = svc.call(method, {"device": "lab"}, "127.0.0.1", ("lab",))
        assert seen != hidden
    status = orjson.loads(svc.call("get_camera_status", {"device": "lab"}, "h", limited))
    assert (status["result"]["status"], status["result"]["recording_session"]) == (
        "DISCONNECTED",
        None,
    )
