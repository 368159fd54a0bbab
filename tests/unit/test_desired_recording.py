"""DesiredRecording: what each camera's path should carry for recording."""

from __future__ import annotations

from camera_service.config import RecordingConfig
from camera_service.media.desired import DesiredRecording


def test_a_path_records_while_a_session_says_so_in_its_format() -> None:
    desired = DesiredRecording(RecordingConfig)
    assert desired.fields("lab") == {"record": False, "recordFormat": "fmp4"}
    desired.record("lab", "ts")
    assert desired.records("lab") and not desired.records("yard")
    assert desired.fields("lab") == {"record": True, "recordFormat": "mpegts"}
    assert desired.fields("yard") == {"record": False, "recordFormat": "fmp4"}
    desired.stop("lab")
    desired.stop("lab")  # twice: nothing left to switch off
    assert desired.fields("lab") == {"record": False, "recordFormat": "fmp4"}


def test_a_path_not_recording_carries_the_default_format_in_force() -> None:
    config = RecordingConfig(format="mp4")
    desired = DesiredRecording(lambda: config)
    desired.record("lab", "mp4")
    config = RecordingConfig(format="ts")
    assert desired.fields("yard") == {"record": False, "recordFormat": "mpegts"}
    assert desired.fields("lab") == {"record": True, "recordFormat": "fmp4"}
